#!/usr/bin/env python3
"""The connection attacks of the hardening issue, against a running gateway (docs/performance.md,
"Hardening"): 1,000 bare TCP connections that send nothing, 300 that send 380 KB of a header
never finished, and one user creating sessions as fast as it can for 5 s. Prints the gateway's
resident memory and open files (from /proc) as each attack holds, and when the gateway closed
the connections.

Usage: load-tests/connection_attacks.py GATEWAY_PID PORT   (dev auth, on 127.0.0.1)

Standard library only.
"""

import socket
import sys
import time
import urllib.error
import urllib.request

pid, port = int(sys.argv[1]), int(sys.argv[2])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1])
def open_fds(): 
    import os
    return len(os.listdir(f"/proc/{pid}/fd"))
base = rss(); fds0 = open_fds()
socks = []
for i in range(1000):
    s = socket.create_connection(("127.0.0.1", port)); socks.append(s)
time.sleep(1)
print(f"1,000 bare connections: RSS {base} -> {rss()} KiB (+{rss()-base} KiB), gateway fds {fds0} -> {open_fds()}")
def wait_closed(held_s):
    """Seconds until the gateway has closed them all (polled, at most 60 s), plus `held_s`."""
    t0 = time.time()
    while open_fds() > fds0 + 5 and time.time() - t0 < 60: time.sleep(0.2)
    return time.time() - t0 + held_s
print(f"  all closed by the gateway after {wait_closed(1):.1f} s (fds {open_fds()}), RSS {rss()} KiB")
for s in socks: s.close()
# slowloris: 300 connections each sending a 380 KB header never finished
socks = []
for i in range(300):
    s = socket.create_connection(("127.0.0.1", port)); s.setblocking(False)
    try: s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 380_000)
    except BlockingIOError: pass
    socks.append(s)
time.sleep(1)
print(f"300 slowloris (380 KB unfinished header): RSS {rss()} KiB, gateway fds {open_fds()}")
print(f"  all closed after {wait_closed(1):.1f} s, RSS {rss()} KiB")
for s in socks: s.close()
# one user creating sessions as fast as it can
ok = refused = 0; t0 = time.time(); retry = None
while time.time() - t0 < 5:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/sessions", data=b'{"plan":"senior-backend"}', headers={"Authorization":"Bearer dev:mallory","Content-Type":"application/json"})
    try:
        urllib.request.urlopen(req); ok += 1
    except urllib.error.HTTPError as e:
        refused += 1; retry = e.headers.get("Retry-After")
print(f"one user for 5 s: {ok} sessions created, {refused} refused with 429 (Retry-After {retry} s)")
