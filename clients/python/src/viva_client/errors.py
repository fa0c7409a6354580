"""The exceptions the client raises: all are `VivaError`s."""

from __future__ import annotations

import json
from typing import Any


class VivaError(Exception):
    """Base class of every error of this package."""


class ApiError(VivaError):
    """A REST request or a WebSocket handshake the server refused.

    `status` is the HTTP status; `code` and `message` come from the API's error body
    `{"error": {"code", "message"}}` (docs/protocol.md section 7), which `body` holds whole
    (None when the response had no JSON body: then `code` is `""`).
    """

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        error = body.get("error") if isinstance(body, dict) else None
        self.code: str = error.get("code", "") if isinstance(error, dict) else ""
        self.message: str = error.get("message", "") if isinstance(error, dict) else ""
        super().__init__(f"HTTP {status} {self.code or 'error'}: {self.message or body!r}")

    @classmethod
    def from_response(cls, status: int, raw: bytes) -> ApiError:
        """From a refusal's status and raw body (JSON, or anything else from a proxy)."""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        return cls(status, body)


class SessionClosed(VivaError):
    """The server closed the socket with a code that says not to reconnect.

    4009: another connection took the session over (reconnecting would take it back, and the
    two would replace each other forever); 4010: the session was deleted; 1002, 1007, 1009,
    4002, 4029: the client is at fault (docs/protocol.md section 7, close codes).
    """

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"the server closed the socket: {code} {reason!r}")


class ReconnectFailed(VivaError):
    """Every reconnect attempt allowed by the backoff failed; the last error is the cause."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        super().__init__(f"could not reconnect after {attempts} attempts")
