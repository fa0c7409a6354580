#!/usr/bin/env python3
"""A webhook receiver for trying Viva's webhooks and for its tests.

Listens on 127.0.0.1, verifies every request with the Standard Webhooks reference package
(`pip install standardwebhooks`), answers 204 when it verifies (401 when not) and prints one JSON
line per request: {"id", "type", "session_id", "verified", "status", "latency_ms"} (from the
event's `timestamp` to the request's arrival).

    python3 scripts/webhook-receiver.py --secret whsec_... [--port 9000] [--mode ok|fail|hang]

`POST /mode` with a body of `ok`, `fail` (answer 503) or `hang` (never answer) changes what it
does next; the first line it prints is `listening on http://127.0.0.1:<port>/hook`.
"""

import argparse
import datetime
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret", required=True, help="the whsec_ secret the gateway signs with")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=["ok", "fail", "hang"], default="ok")
    args = parser.parse_args()
    verifier = Webhook(args.secret)
    state = {"mode": args.mode}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        # Keep-alive: the gateway reuses its connections.
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def answer(self, status):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if self.path == "/mode":
                state["mode"] = body.decode().strip()
                self.answer(204)
                return
            try:
                payload = verifier.verify(body, dict(self.headers.items()))
                verified = True
            except WebhookVerificationError:
                payload, verified = {}, False
            latency_ms = None
            if payload.get("timestamp"):
                at = datetime.datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
                latency_ms = round((datetime.datetime.now(datetime.timezone.utc) - at).total_seconds() * 1000, 1)
            mode = state["mode"]
            status = 401 if not verified else {"ok": 204, "fail": 503, "hang": None}[mode]
            with lock:
                line = {
                    "id": self.headers.get("webhook-id"),
                    "type": payload.get("type"),
                    "session_id": (payload.get("data") or {}).get("session_id"),
                    "verified": verified,
                    "status": status,
                    "latency_ms": latency_ms,
                }
                print(json.dumps(line), flush=True)
            if status is None:
                time.sleep(3600)
                return
            self.answer(status)

    # A backlog of 5 (the default) overflows under load: connects then wait for SYN retries.
    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/hook", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
