"""Docker's Python SDK (docker on PyPI) against netctld: networks and containers
through client.networks and client.containers, as a script of a Docker user would
drive them. Prints one JSON document of what the SDK saw; the Rust test
(tests/tests/docker_sdk.rs) checks it and the kernel.

Usage: DOCKER_HOST=unix:///run/netctl/netctl.sock python3 sdk.py CONTAINER
"""

import json
import sys
import time

import docker
from docker.types import IPAMConfig, IPAMPool


def api_error(fn):
    try:
        fn()
    except docker.errors.APIError as e:
        return {"status": e.status_code, "explanation": e.explanation, "not_found": isinstance(e, docker.errors.NotFound)}
    return None


def main():
    start = int(time.time())
    client = docker.from_env()
    out = {"sdk": docker.__version__, "api_version": client.api.api_version, "ping": client.ping()}

    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet="10.77.0.0/24", iprange="10.77.0.128/25",
                                             gateway="10.77.0.254", aux_addresses={"router": "10.77.0.129"})])
    net = client.networks.create("pynet", driver="bridge", ipam=ipam, attachable=True, labels={"team": "py"},
                                 options={"com.docker.network.bridge.name": "pybr0"}, check_duplicate=True)
    out["created"] = {"id": net.id, "name": net.name, "ipam": net.attrs["IPAM"]["Config"],
                      "labels": net.attrs["Labels"], "options": net.attrs["Options"],
                      "attachable": net.attrs["Attachable"]}
    out["duplicate"] = api_error(lambda: client.networks.create("pynet"))
    out["by_label"] = sorted(n.name for n in client.networks.list(filters={"label": "team=py"}))
    out["all_names"] = sorted(n.name for n in client.networks.list())
    out["by_prefix"] = client.networks.get(net.id[:10]).name
    out["missing"] = api_error(lambda: client.networks.get("nope"))

    web = client.containers.get(sys.argv[1])
    net.connect(web, aliases=["pydb"], ipv4_address="10.77.0.200")
    net.reload()
    out["members"] = {c["Name"]: c["IPv4Address"] for c in net.attrs["Containers"].values()}
    web.reload()
    eps = web.attrs["NetworkSettings"]["Networks"]
    out["web_networks"] = {k: {"IPAddress": v["IPAddress"], "Aliases": v["Aliases"]} for k, v in eps.items()}
    out["listed"] = sorted((c.name, c.status) for c in client.containers.list(all=True))
    out["running"] = sorted(c.name for c in client.containers.list())

    web.stop(timeout=1)
    web.reload()
    out["after_stop"] = web.status
    web.start()
    web.reload()
    out["after_start"] = web.status
    out["top"] = [row[-1] for row in web.top()["Processes"]]

    net.disconnect(web, force=True)
    net.reload()
    out["after_disconnect"] = len(net.attrs["Containers"])
    out["create"] = api_error(lambda: client.containers.create("alpine", "true"))
    net.remove()
    out["after_remove"] = sorted(n.name for n in client.networks.list())

    pid = web.attrs["State"]["Pid"]
    web.restart(timeout=1)
    web.reload()
    out["restarted"] = web.status == "running" and web.attrs["State"]["Pid"] != pid
    web.kill(signal="SIGTERM")
    for _ in range(100):
        web.reload()
        if web.status == "exited":
            break
        time.sleep(0.05)
    out["killed"] = [web.status, web.attrs["State"]["ExitCode"]]
    out["logs"] = web.logs().decode()
    web.remove()
    out["after_rm"] = client.containers.list(all=True)

    client.networks.create("pyprune", labels={"prune": "yes"})
    client.networks.create("pykeep")
    out["pruned"] = client.networks.prune(filters={"label": "prune=yes"})["NetworksDeleted"]
    time.sleep(1)
    events = client.events(since=start, until=int(time.time()), decode=True, filters={"type": "network"})
    out["events"] = [(e["Action"], e["Actor"]["Attributes"].get("name")) for e in events]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
