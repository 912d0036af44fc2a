#!/usr/bin/env python3
"""Times netctld's connect (endpoint ready) and disconnect calls for N containers.

Run inside a throwaway namespace with netctld already running. Prints one JSON
line: {"connect_ms": [...], "disconnect_ms": [...]} in container order.
"""
import http.client
import json
import socket
import sys
import time

SOCK = "/run/netctl/netctl.sock"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(conn, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    payload = resp.read()
    if resp.status >= 300:
        sys.exit(f"{method} {path}: {resp.status} {payload!r}")
    return payload


def main():
    n = int(sys.argv[1])
    net = sys.argv[2]
    conn = UnixHTTPConnection(SOCK)
    call(conn, "POST", "/v1/networks", {"Name": net, "IPAM": {"Config": [{"Subnet": "10.88.0.0/16"}]}})
    for i in range(n):
        call(conn, "POST", "/v1/containers", {"Name": f"c{i}", "Cmd": ["true"], "NetworkMode": "none"})
    connect, disconnect = [], []
    for i in range(n):
        t = time.perf_counter_ns()
        call(conn, "POST", f"/v1/networks/{net}/connect", {"Container": f"c{i}"})
        connect.append((time.perf_counter_ns() - t) / 1e6)
    for i in range(n):
        t = time.perf_counter_ns()
        call(conn, "POST", f"/v1/networks/{net}/disconnect", {"Container": f"c{i}"})
        disconnect.append((time.perf_counter_ns() - t) / 1e6)
    print(json.dumps({"connect_ms": connect, "disconnect_ms": disconnect}))


if __name__ == "__main__":
    main()
