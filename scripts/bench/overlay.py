#!/usr/bin/env python3
"""Overlay benchmark, run inside a sandbox after overlay_hosts.sh made hosts a and b.

  propagation N: `netctl network connect mesh pI` on host a, N times (pI made with
      --net none first); a thread inside a container's namespace on host b asks b's
      resolver (127.0.0.11) for pI every 100 us from before the connect starts; the
      time from the connect starting (and returning) on a to the first answer on b is
      recorded per container, and from the endpoint's put reaching an etcd watcher of
      the benchmark's own (etcdctl watch, in etcd's namespace): etcd's commit, give or
      take one watch delivery.
  transfer REPS: iperf3 (5 s, TCP) and ping RTT (200 x 10 ms) between a container on
      a and one on b, over the overlay and over a veth joining the same two
      namespaces directly, interleaved.
Prints one JSON object per line.
"""
import ctypes
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

STATE = os.environ["STATE"]
ON = os.path.join(STATE, "on")
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def on(host, cmd):
    return subprocess.run([ON, host, cmd], check=True, capture_output=True, text=True).stdout.strip()


def netns_of(host, container):
    """The container's namespace pin as seen from here (through the host's mount namespace)."""
    pin = on(host, f"netctl inspect -f '{{{{.NetworkSettings.SandboxKey}}}}' {container}")
    holder = open(os.path.join(STATE, f"{host}.pid")).read().strip()
    return f"/proc/{holder}/root{pin}"


def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def etcd_observer():
    """Arrival times of endpoint puts at an etcd watcher of our own (in etcd's
    namespace): when the endpoint's transaction was committed, give or take one
    watch delivery."""
    seen = {}
    proc = subprocess.Popen(
        ["ip", "netns", "exec", "et", "etcdctl", "--endpoints", "http://192.168.77.100:2379", "watch", "--prefix", "/netctl/v1/endpoints/"],
        env={**os.environ, "ETCDCTL_API": "3"}, stdout=subprocess.PIPE, text=True, bufsize=1)

    def read():
        for line in proc.stdout:
            if line.startswith("{"):
                try:
                    seen.setdefault(json.loads(line)["container_name"], time.monotonic())
                except (ValueError, KeyError):
                    pass

    threading.Thread(target=read, daemon=True).start()
    time.sleep(0.5)
    return seen, proc


def propagation(n):
    on("a", "true")
    on("b", "netctl run -d --name probe --net mesh -- sleep infinity >/dev/null")
    path = netns_of("b", "probe")
    committed, observer = etcd_observer()
    rows = []
    for i in range(n):
        name = f"p{i}"
        seen = {}
        go = threading.Event()

        def poll():
            fd = os.open(path, os.O_RDONLY)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            os.close(fd)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.0001)
            s.connect(("127.0.0.11", 53))
            go.set()
            qid = 0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                qid = (qid + 1) & 0xFFFF
                s.send(query(name, qid))
                try:
                    while True:
                        r = s.recv(512)
                        if struct.unpack(">H", r[:2])[0] == qid:
                            break
                except socket.timeout:
                    continue
                if r[3] & 0x0F == 0 and struct.unpack(">H", r[6:8])[0] > 0:
                    seen["t"] = time.monotonic()
                    return
                time.sleep(0.0001)

        on("a", f"netctl run -d --name {name} --net none -- sleep infinity >/dev/null")
        t = threading.Thread(target=poll)
        t.start()
        go.wait()
        t0 = time.monotonic()
        on("a", f"netctl network connect mesh {name}")
        t1 = time.monotonic()
        t.join()
        if "t" not in seen:
            raise SystemExit(f"{name} never resolved on b")
        time.sleep(0.05)
        row = {"connect_ms": (t1 - t0) * 1e3, "after_return_ms": (seen["t"] - t1) * 1e3, "after_start_ms": (seen["t"] - t0) * 1e3}
        if name in committed:
            row["after_commit_ms"] = (seen["t"] - committed[name]) * 1e3
        rows.append(row)
    observer.kill()
    print(json.dumps({"kind": "propagation", "rows": rows}), flush=True)


def transfer(reps):
    on("b", "netctl run -d --name srv --net mesh -- iperf3 -s >/dev/null")
    on("a", "netctl run -d --name cli --net mesh -- sleep infinity >/dev/null")
    srv_pid = on("b", "netctl inspect -f '{{.State.Pid}}' srv")
    cli_ns, srv_ns = netns_of("a", "cli"), netns_of("b", "srv")
    srv_ip = on("b", "netctl inspect -f '{{(index .NetworkSettings.Networks \"mesh\").IPAddress}}' srv")
    # The direct veth between the same two namespaces.
    subprocess.run(["nsenter", f"--net={cli_ns}", "ip", "link", "add", "direct0", "type", "veth", "peer", "name", "direct1", "netns", srv_pid], check=True)
    subprocess.run(["nsenter", f"--net={cli_ns}", "sh", "-c", "ip addr add 10.99.0.1/30 dev direct0 && ip link set direct0 up"], check=True)
    subprocess.run(["nsenter", f"--net={srv_ns}", "sh", "-c", "ip addr add 10.99.0.2/30 dev direct1 && ip link set direct1 up"], check=True)
    time.sleep(1)
    for rep in range(reps):
        for path, ip in (("overlay", srv_ip), ("veth", "10.99.0.2")):
            out = subprocess.run(["nsenter", f"--net={cli_ns}", "iperf3", "-c", ip, "-t", "5", "-J"], check=True, capture_output=True, text=True).stdout
            bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
            ping = subprocess.run(["nsenter", f"--net={cli_ns}", "ping", "-q", "-c", "200", "-i", "0.01", ip], check=True, capture_output=True, text=True).stdout
            rtt = [float(x) for x in ping.strip().splitlines()[-1].split("=")[1].split()[0].split("/")]
            print(json.dumps({"kind": "transfer", "path": path, "rep": rep, "gbps": bps / 1e9, "rtt_avg_ms": rtt[1], "rtt_min_ms": rtt[0]}), flush=True)


if __name__ == "__main__":
    what, n = sys.argv[1], int(sys.argv[2])
    {"propagation": propagation, "transfer": transfer}[what](n)
