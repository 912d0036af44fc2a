#!/usr/bin/env python3
"""One rep of the attach benchmark for one peer, inside a fresh sandbox.

usage: attach_peers.py netctl|netavark-nft|netavark-none|ip N
Prints one JSON line {"peer", "setup_ms": [N values], "teardown_ms": [first 100]}.
netctl: the connect/disconnect API calls (netctld must run). netavark: `netavark
setup`/`teardown` per namespace, as podman calls it. ip: the same kernel work with
`ip -b` (veth into the namespace, bridge port, address, route, up).
"""
import json
import os
import subprocess
import sys
import time

N = int(sys.argv[2])
PEER = sys.argv[1]
TEARDOWN = min(100, N)


def addr(i):
    n = i + 2
    return f"10.88.{n // 256}.{n % 256}"


def timed(fn):
    t = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t) / 1e6


def run_netctl(dual=False):
    sys.path.insert(0, os.path.dirname(__file__))
    from netctl_attach import UnixHTTPConnection, SOCK, call

    conn = UnixHTTPConnection(SOCK)
    subnets = [{"Subnet": "10.88.0.0/16"}] + ([{"Subnet": "fd00:88::/64"}] if dual else [])
    net = {"Name": "bench", "IPAM": {"Config": subnets}}
    if dual:
        net["EnableIPv6"] = True
    call(conn, "POST", "/v1/networks", net)
    for i in range(N):
        call(conn, "POST", "/v1/containers", {"Name": f"c{i}", "Cmd": ["true"], "NetworkMode": "none"})
    setup = [timed(lambda: call(conn, "POST", "/v1/networks/bench/connect", {"Container": f"c{i}"})) for i in range(N)]
    down = [timed(lambda: call(conn, "POST", "/v1/networks/bench/disconnect", {"Container": f"c{i}"})) for i in range(TEARDOWN)]
    return setup, down


def netavark_config(i):
    return json.dumps({
        "container_id": f"{i:012x}",
        "container_name": f"c{i}",
        "networks": {"bench": {"static_ips": [addr(i)], "interface_name": "eth0"}},
        "network_info": {"bench": {
            "name": "bench", "id": "b" * 64, "driver": "bridge", "network_interface": "nvbr0",
            "subnets": [{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}],
            "ipv6_enabled": False, "internal": False, "dns_enabled": False,
            "ipam_options": {"driver": "host-local"},
        }},
    }).encode()


def run_netavark(fw):
    env = dict(os.environ, NETAVARK_FW=fw)
    exe = os.environ.get("NETAVARK", "/opt/netavark/bin/netavark")
    os.makedirs("/run/netavark-bench", exist_ok=True)
    for i in range(N):
        subprocess.run(["ip", "netns", "add", f"c{i}"], check=True)

    def call(verb, i):
        subprocess.run([exe, "--config", "/run/netavark-bench", verb, f"/run/netns/c{i}"],
                       input=netavark_config(i), env=env, check=True, stdout=subprocess.DEVNULL)

    setup = [timed(lambda: call("setup", i)) for i in range(N)]
    down = [timed(lambda: call("teardown", i)) for i in range(TEARDOWN)]
    return setup, down


def run_ip():
    subprocess.run(["ip", "-b", "-"], check=True, input=b"link add ipbr0 type bridge\naddr add 10.88.0.1/16 dev ipbr0\nlink set ipbr0 up\n")
    for i in range(N):
        subprocess.run(["ip", "netns", "add", f"c{i}"], check=True)

    def setup(i):
        subprocess.run(["ip", "-b", "-"], check=True, input=(
            f"link add v{i} type veth peer name eth0 netns c{i}\nlink set v{i} master ipbr0 up\n").encode())
        subprocess.run(["ip", "-n", f"c{i}", "-b", "-"], check=True, input=(
            f"addr add {addr(i)}/16 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via 10.88.0.1\n").encode())

    times = [timed(lambda: setup(i)) for i in range(N)]
    down = [timed(lambda: subprocess.run(["ip", "link", "del", f"v{i}"], check=True)) for i in range(TEARDOWN)]
    return times, down


if PEER == "netctl":
    s, d = run_netctl()
elif PEER == "netctl-dual":
    s, d = run_netctl(dual=True)
elif PEER == "netavark-nft":
    s, d = run_netavark("nftables")
elif PEER == "netavark-none":
    s, d = run_netavark("none")
elif PEER == "ip":
    s, d = run_ip()
else:
    sys.exit(f"unknown peer {PEER}")
print(json.dumps({"peer": PEER, "setup_ms": s, "teardown_ms": d}))
