"""Writes the committed seed corpus of the fuzz targets (fuzz/corpus/<target>/): valid inputs
of each kind, so that a short run starts from messages the gateway really sees. Run from the
repository root: python3 fuzz/seeds.py (needs the msgpack package). libFuzzer adds its own
finds to a scratch directory, never here (scripts/fuzz.sh)."""

import hashlib
import json
import pathlib

import msgpack

root = pathlib.Path(__file__).resolve().parent / "corpus"


def write(target, data):
    folder = root / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


client_messages = [
    {"type": "session.start", "id": "c1"},
    {"type": "answer.submit", "id": "a1", "text": "An LRU cache with a TTL so entries expire."},
    {"type": "code.submit", "id": "a2", "language": "python", "source": "def total(xs):\n    return sum(xs)\n"},
    {"type": "turn.interrupt"},
    {"type": "ack", "seq": 7},
    {"type": "ping", "id": "p1"},
    {"type": "session.end", "id": "e1"},
    {"type": "answer.submit", "id": "a3", "text": "caf\u00e9 \u2014 \U0001F600", "extra": [1, {"x": None}]},
]
for message in client_messages:
    write("client_frame", b"\x00" + json.dumps(message).encode())
    write("client_frame", b"\x01" + msgpack.packb(message))

fixtures = pathlib.Path(__file__).resolve().parent.parent / "engine/src/store/fixtures/v1"
for path in sorted(fixtures.glob("*.msgpack")):
    data = path.read_bytes()
    if path.name.startswith("log-"):
        for entry in msgpack.unpackb(data, strict_map_key=False):
            write("stored_forms", bytes(entry))
    else:
        write("stored_forms", data)


def chunk(text):
    return "data: " + json.dumps({"choices": [{"delta": {"content": text}}]}) + "\n\n"


streams = [
    chunk("Hel") + ": keep-alive\r\n" + chunk("lo") + "data: [DONE]\n\n",
    'data: {"choices":[{"delta":{"role":"assistant"}}]}\r\n\r\n' + chunk("x") + "data: [DONE]\r\n",
    'data: {"error":{"message":"overloaded"}}\n\n',
    "<html>502 Bad Gateway</html>\n",
]
for stream in streams:
    # The first byte seeds where the stream is cut.
    write("sse_stream", b"\x07" + stream.encode())

replies = [
    {"dimensions": [{"name": "system_design", "score": 7.5, "evidence": "a token bucket per key"},
                    {"name": "technical_depth", "score": 6, "evidence": ""},
                    {"name": "communication", "score": 10, "evidence": "clear"}],
     "key_points_hit": ["algorithm", "atomicity"]},
]
for reply in replies:
    write("llm_score_reply", json.dumps(reply).encode())
    write("llm_score_reply", ("```json\n" + json.dumps(reply) + "\n```").encode())

# The core target reads structured operations; any bytes make a valid sequence.
# The first byte chooses who decides follow-ups (0 rubric, 1 scorer, 2 interviewer).
for mode in (0, 2):
    write("session_core", bytes([mode]) + bytes(range(256)))
    write("session_core", bytes([mode]) + bytes([0, 1, 0, 9, 9, 9, 1, 2, 9, 9, 12, 13, 9, 1, 3, 9, 17, 9]) * 4)

# Tickets: made up ones (real ones are made by the target itself).
write("ticket", b"\x00" * 8 + b"AQAAAZLd3xS4k4C8m0mXfGgGk7ODAPdxcMwFYWxpY2U.qk3vZl0yE7ZbT1KzOQ8C7Lw1oKq0FJcXb6v3yXj0t8Y")

# JWTs: mode byte 0 = the token as is; 1 = "header\nclaims", signed by the target's key.
good = {"sub": "auth0|123", "iss": "https://idp.test", "aud": "viva", "azp": "https://app.example",
        "exp": 0, "iat": 0, "sid": "sess_1"}
claims = json.dumps(good).replace('"exp": 0', '"exp": EXP').replace('"iat": 0', '"iat": IAT')
write("jwt", b"\x01" + ('{"alg":"ES256","kid":"k1","typ":"JWT"}\n' + claims).encode())
write("jwt", b"\x01" + ('{"alg":"ES256","kid":"k1"}\n' + claims.replace('"viva"', '["x", "viva"]')).encode())
write("jwt", b"\x01" + ('{"alg":"RS256","kid":"k1"}\n' + claims).encode())
write("jwt", b"\x00" + b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")

# Answers to score: prose, code, and the shape that was once quadratic (comment markers).
write("heuristic_score", b"\x00" + "An LRU cache with a TTL so entries expire; shard by key.".encode())
write("heuristic_score", b"\x01" + b"def total(xs):\n    # sum them\n    s = 0\n    for x in xs:\n        s += x\n    return s\n")
write("heuristic_score", b"\x02" + b"fn main() { /* a */ let x = 1; // b\n }\n")
write("heuristic_score", b"\x01" + b"#\n" * 2000)
