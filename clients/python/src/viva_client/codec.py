"""Messages ↔ WebSocket frames, for both encodings (docs/protocol.md section 2, "Encodings")."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Literal, cast

import msgpack

from .protocol import ClientMessage, ServerMessage

Encoding = Literal["json", "msgpack"]

SUBPROTOCOLS: dict[Encoding, str] = {"json": "viva.v1.json", "msgpack": "viva.v1.msgpack"}

# The server closes the socket (1009) on a bigger frame; checked before sending, because an
# answer that is re-sent after every reconnect would close every socket.
MAX_FRAME_BYTES = 128 * 1024

# The messages whose `audio` is base64 text in JSON and `bin` in MessagePack; here it is bytes.
_AUDIO = ("turn.audio", "input_audio.append")


def encode(message: ClientMessage, encoding: Encoding) -> str | bytes:
    """One frame: text for JSON, binary for MessagePack. ValueError when it is too big."""
    fields: dict[str, Any] = dict(message)
    frame: str | bytes
    if encoding == "json":
        if fields["type"] in _AUDIO:
            fields["audio"] = base64.b64encode(fields["audio"]).decode("ascii")
        frame = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        size = len(frame.encode("utf-8"))
    else:
        frame = msgpack.packb(fields, use_bin_type=True)
        size = len(frame)
    if size > MAX_FRAME_BYTES:
        raise ValueError(f"a {fields['type']} of {size} bytes is over the {MAX_FRAME_BYTES}-byte frame limit")
    return frame


def decode(frame: str | bytes, encoding: Encoding) -> ServerMessage:
    """The message in one frame from the server."""
    if encoding == "json":
        fields = json.loads(frame)
        if fields.get("type") in _AUDIO:
            fields["audio"] = base64.b64decode(fields["audio"])
    else:
        fields = _f32_as_json(msgpack.unpackb(frame, raw=False))
    return cast(ServerMessage, fields)


def _f32_as_json(value: Any) -> Any:
    """Every number with a fraction on the socket is a score, sent as float32 in MessagePack
    (6.8 arrives as 6.800000190734863): give the shortest decimal that is the same float32,
    the number the JSON encoding carries, so both encodings give equal messages."""
    if isinstance(value, float):
        single = struct.unpack("<f", struct.pack("<f", value))[0]
        for digits in range(1, 10):
            shortest = float(f"{value:.{digits}g}")
            if struct.unpack("<f", struct.pack("<f", shortest))[0] == single:
                return shortest
        return value
    if isinstance(value, dict):
        return {key: _f32_as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_f32_as_json(item) for item in value]
    return value
