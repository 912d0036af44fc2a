#!/usr/bin/env python3
"""A visit counter: each request is stored in Redis (host `redis` unless REDIS_HOST
says otherwise) and answered with the count so far. Standard library only, so it
runs anywhere python3 does; it speaks just enough RESP for INCR and RPUSH.

    netctl run -d -p 3000:3000 --link redis-server:redis -- python3 examples/visit-counter/app.py
    curl http://127.0.0.1:3000/
"""

import datetime
import http.server
import os
import socket

REDIS_HOST = os.environ.get("REDIS_HOST", "redis")
REDIS_PORT = int(os.environ.get("REDIS_PORT_NUMBER", "6379"))
PORT = int(os.environ.get("PORT", "3000"))


def redis_command(*args):
    """Sends one command, returns the reply (int or str); raises on a Redis error."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=3) as s:
        s.sendall(out)
        reply = s.makefile("rb").readline().rstrip(b"\r\n")
    kind, body = reply[:1], reply[1:].decode()
    if kind == b"-":
        raise RuntimeError(body)
    return int(body) if kind == b":" else body


class Counter(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            count = redis_command("INCR", "hits")
            stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            redis_command("RPUSH", "visits", f"{stamp} {self.client_address[0]} {self.path}")
            status, text = 200, f"Hello from netctl! This page has been visited {count} times.\n"
        except (OSError, RuntimeError) as e:
            status, text = 503, f"cannot reach redis at {REDIS_HOST}:{REDIS_PORT}: {e}\n"
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(f"{self.client_address[0]} {fmt % args}", flush=True)


if __name__ == "__main__":
    print(f"visit counter on :{PORT}, redis at {REDIS_HOST}:{REDIS_PORT}", flush=True)
    http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Counter).serve_forever()
