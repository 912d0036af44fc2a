#!/usr/bin/env python3
"""Opens N connections to the API socket, each sending half a request (a request
line and one header, no blank line), then times a normal request with the CLI
while they are held, then waits up to WAIT seconds for the server to close them.
Prints JSON: how many were opened, the CLI's exit code and time, and how many the
server had closed after WAIT seconds (and when the last one closed).

usage: half_open.py SOCKET N WAIT
"""
import json, select, socket, subprocess, sys, time

path, n, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
conns = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"GET /v1/networks HTTP/1.1\r\nHost: netctld\r\n")
    conns.append(s)
opened = time.monotonic()
t = time.monotonic()
cli = subprocess.run(["netctl", "network", "ls", "-q"], capture_output=True, timeout=30)
cli_ms = round((time.monotonic() - t) * 1000)
closed, last_close = set(), None
deadline = opened + wait
while len(closed) < n and time.monotonic() < deadline:
    open_ = [s for i, s in enumerate(conns) if i not in closed]
    ready, _, _ = select.select(open_, [], [], max(0.0, deadline - time.monotonic()))
    for s in ready:
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            closed.add(conns.index(s))
            last_close = time.monotonic() - opened
print(json.dumps({"opened": n, "cli_code": cli.returncode, "cli_ms": cli_ms, "closed": len(closed),
                  "last_close_s": None if last_close is None else round(last_close, 2)}))
