#!/usr/bin/env python3
"""Slow readers for the "a slow reader does not move the others' p99" measurement
(docs/performance.md): opens N sessions whose sockets never read after the handshake, with a
tiny receive buffer, and keeps sending answers blindly so the gateway keeps writing to them.

Usage: load-tests/slow_readers.py --url http://127.0.0.1:8080 --sessions 200 --seconds 60

Standard library only. Prints how many sockets the gateway dropped (a send failed) at the end.
"""

import argparse
import base64
import json
import os
import socket
import threading
import time
import urllib.request


def create_session(base, token):
    body = json.dumps({"plan": "senior-backend"}).encode()
    request = urllib.request.Request(
        base + "/v1/sessions",
        data=body,
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["session_id"]


def frame(text):
    """A masked text frame, as a client must send."""
    payload = text.encode()
    mask = os.urandom(4)
    header = bytearray([0x81])
    if len(payload) < 126:
        header.append(0x80 | len(payload))
    else:
        header.append(0x80 | 126)
        header += len(payload).to_bytes(2, "big")
    return bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def slow_reader(host, port, token, session_id, seconds, stats):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /v1/sessions/{session_id}/ws HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)  # the handshake only; never read again
    if b" 101 " not in response.split(b"\r\n", 1)[0]:
        stats["refused"] += 1
        return
    sock.settimeout(15)
    deadline = time.monotonic() + seconds
    try:
        sock.sendall(frame(json.dumps({"type": "session.start"})))
        n = 0
        while time.monotonic() < deadline:
            n += 1
            answer = {"type": "answer.submit", "id": f"a{n}", "text": "caching and sharding " * 20}
            sock.sendall(frame(json.dumps(answer)))
            time.sleep(0.5)
        stats["held"] += 1
    except OSError:
        stats["dropped"] += 1
    finally:
        sock.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    host, port = args.url.split("://", 1)[1].rstrip("/").split(":")
    stats = {"held": 0, "dropped": 0, "refused": 0}
    threads = []
    for i in range(args.sessions):
        token = f"dev:slow-{i}"
        session_id = create_session(args.url.rstrip("/"), token)
        thread = threading.Thread(target=slow_reader, args=(host, int(port), token, session_id, args.seconds, stats))
        thread.start()
        threads.append(thread)
    print(f"slow readers: {args.sessions} open, never reading, answering every 0.5 s", flush=True)
    for thread in threads:
        thread.join()
    print(f"slow readers: {stats['held']} held to the end, {stats['dropped']} dropped by the gateway, "
          f"{stats['refused']} refused", flush=True)


if __name__ == "__main__":
    main()
