#!/usr/bin/env python3
"""runtime_attach.py BIN_DIR N: attach time per container through the CNI plugin
(netctl-cni ADD, as a runtime executes it) and through the OCI hook (netctl
oci-hook createRuntime, as runc runs it), each measured from the exec of the
plugin/hook to its exit: the container is on the network, its names are in
the resolver, and (hook) its resolv.conf and hosts are written. Runs inside a
throwaway sandbox with netctld running and network `bench` made; prints medians.
"""
import json, os, statistics, subprocess, sys, time

bin_dir, n = sys.argv[1], int(sys.argv[2])
cni = os.path.join(bin_dir, "netctl-cni")
netctl = os.path.join(bin_dir, "netctl")
conf = json.dumps({"cniVersion": "1.0.0", "name": "bench", "type": "netctl-cni",
                   "runtimeConfig": {"aliases": {"bench": ["alias"]}}}).encode()
base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_PATH": "/usr/lib/cni", "CNI_IFNAME": "eth0"}

def timed(cmd, env, stdin):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, input=stdin, capture_output=True)
    dt = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"{cmd} failed: {r.stdout.decode()} {r.stderr.decode()}")
    return dt

def report(what, add, rm):
    q = statistics.quantiles(add, n=10)
    print(f"{what}: n={len(add)} median {statistics.median(add):.2f} ms, p10 {q[0]:.2f}, p90 {q[-1]:.2f}, "
          f"max {max(add):.2f}; removal median {statistics.median(rm):.2f} ms")

# The floor: the plugin's exec and exit alone (VERSION asks nothing of the daemon).
floor = [timed([cni], dict(base, CNI_COMMAND="VERSION"), b'{"cniVersion":"1.0.0"}') for _ in range(n)]
print(f"exec floor (netctl-cni VERSION): median {statistics.median(floor):.2f} ms")

# CNI: one `ip netns add` namespace per container, as podman makes them.
add, rm = [], []
for i in range(n):
    subprocess.run(["ip", "netns", "add", f"cni{i}"], check=True)
for i in range(n):
    env = dict(base, CNI_COMMAND="ADD", CNI_CONTAINERID=f"bench{i:04d}", CNI_NETNS=f"/run/netns/cni{i}",
               CNI_ARGS=f"IgnoreUnknown=1;K8S_POD_NAME=cni{i}")
    add.append(timed([cni], env, conf))
for i in range(n):
    env = dict(base, CNI_COMMAND="DEL", CNI_CONTAINERID=f"bench{i:04d}", CNI_NETNS=f"/run/netns/cni{i}")
    rm.append(timed([cni], env, conf))
    subprocess.run(["ip", "netns", "del", f"cni{i}"], check=True)
report("CNI ADD", add, rm)

# OCI hook: a process in its own network namespace per container, and a bundle.
add, rm = [], []
procs = [subprocess.Popen(["unshare", "--net", "sleep", "600"]) for _ in range(n)]
time.sleep(0.5)
states = []
for i, p in enumerate(procs):
    bundle = f"/run/bench-bundles/h{i}"
    os.makedirs(f"{bundle}/rootfs/etc", exist_ok=True)
    with open(f"{bundle}/config.json", "w") as f:
        json.dump({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "hostname": f"h{i}"}, f)
    states.append(json.dumps({"ociVersion": "1.0.2", "id": f"h{i}", "status": "creating", "pid": p.pid,
                              "bundle": bundle, "annotations": {"io.netctl.networks": "bench",
                                                                "io.netctl.aliases": "alias"}}).encode())
for s in states:
    add.append(timed([netctl, "oci-hook", "createRuntime"], {}, s))
for s in states:
    rm.append(timed([netctl, "oci-hook", "poststop"], {}, s))
for p in procs:
    p.kill()
report("OCI hook createRuntime", add, rm)
