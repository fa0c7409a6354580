"""The REST API (docs/protocol.md section 8), and the door to a session's socket.

Requests go through the standard library's urllib, run in a worker thread
(`asyncio.to_thread`) so the event loop never blocks. A client makes a handful of small JSON
requests per interview, which does not call for an HTTP library and its dependencies: the
package needs only what the socket needs (websockets, msgpack).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, cast

from .codec import Encoding
from .errors import ApiError
from .interview import Backoff, Interview
from .protocol import Candidate, MySessions, Plans, Report, SessionCreated, SessionView, SocketTicket


class Viva:
    """A Viva server, as one user.

    `base_url` is the server's `http://` or `https://` address; `token` the bearer token
    (`dev:<user>` with `--auth dev`, a JWT with `--auth jwt`).
    """

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """Any route: the parsed JSON response (None when it has no body). A status other
        than 2xx raises `ApiError` with the API's error body."""
        return await asyncio.to_thread(self._request, method, path, body)

    def _request(self, method: str, path: str, body: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as refused:
            with refused:
                raise ApiError.from_response(refused.code, refused.read()) from None

    async def plans(self) -> Plans:
        return cast(Plans, await self.request("GET", "/v1/plans"))

    async def create_session(self, plan: str, *, candidate: Candidate | None = None, adapt: bool = False) -> SessionCreated:
        body: dict[str, Any] = {"plan": plan, "adapt": adapt}
        if candidate is not None:
            body["candidate"] = candidate
        return cast(SessionCreated, await self.request("POST", "/v1/sessions", body))

    async def session(self, session_id: str) -> SessionView:
        return cast(SessionView, await self.request("GET", f"/v1/sessions/{_segment(session_id)}"))

    async def ticket(self, session_id: str) -> SocketTicket:
        """A single-use credential for the session's socket, valid 60 s."""
        return cast(SocketTicket, await self.request("POST", f"/v1/sessions/{_segment(session_id)}/ticket"))

    async def report(self, session_id: str) -> Report:
        """The report, from `report.ready` on (before: `ApiError` 409 `not_ready`)."""
        return cast(Report, await self.request("GET", f"/v1/sessions/{_segment(session_id)}/report"))

    async def my_sessions(self, *, limit: int | None = None, cursor: str | None = None) -> MySessions:
        """One page of the caller's sessions, newest first; pass `next_cursor` for the next."""
        query = urllib.parse.urlencode({k: v for k, v in (("limit", limit), ("cursor", cursor)) if v is not None})
        return cast(MySessions, await self.request("GET", "/v1/me/sessions" + (f"?{query}" if query else "")))

    def connect(
        self,
        session_id: str,
        *,
        encoding: Encoding = "json",
        last_seq: int | None = None,
        backoff: Backoff | None = None,
    ) -> Interview:
        """The session's socket, opened by `async with` with a fresh ticket for every
        (re)connect. `last_seq`: the highest seq this user already processed (say, in an
        earlier process), to get every durable event after it; None for none."""
        async def ticket() -> str:
            return (await self.ticket(session_id))["ticket"]

        return Interview(
            self.base_url, session_id, ticket, encoding=encoding, last_seq=last_seq, backoff=backoff or Backoff()
        )


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")
