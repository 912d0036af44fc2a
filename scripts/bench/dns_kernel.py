#!/usr/bin/env python3
"""Body of scripts/bench-dns-kernel.sh, run inside a throwaway namespace.

2000 names (1000 containers with an alias each on 5 networks) served by one
netctld; two askers on all 5 networks: `kasker`, whose lo carries the kernel
fast path, and `uasker`, whose tc filter is removed (the userspace resolver
answers it, as with the fast path off); and the naive responder (recvfrom, set
QR, sendto) on 127.0.0.1 inside kasker's namespace. Side by side, reps
interleaved:
 (a) a synchronous client (one query outstanding), pinned to CPU 0 with every
     server thread on CPU 0, and unpinned: whole-machine CPU per query and
     latency (p50, p99);
 (b) dnsperf at -Q 20000 and unthrottled: whole-machine CPU per query at 20k,
     average latency, max qps.
Whole-machine CPU is busy time from /proc/stat (wall x CPUs - idle - iowait -
steal) over completed queries, with an idle run's rate subtracted.
Prints one JSON line per measurement.
"""
import json, os, re, subprocess, sys, time

REPS = int(sys.argv[1]); SECS = float(sys.argv[2]); SYNC = int(sys.argv[3]); NC = 1000; NETS = 5
ROOT = os.path.dirname(os.path.abspath(__file__))
TMP = "/run/dnskbench"; os.makedirs(TMP, exist_ok=True)
TICK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count()


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True, **kw).stdout


def busy_us():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = f
    return (user + nice + system + irq + softirq) * 1e6 / TICK


def ip_of(i):
    n = i + 2
    return f"10.{100 + i % NETS}.{n // 256}.{n % 256}"


names = [f"c{i}" for i in range(NC)] + [f"alias-{i}" for i in range(NC)]
import random
random.seed(1)
with open(f"{TMP}/names.txt", "w") as f:
    for _ in range(4000):
        f.write(random.choice(names) + "\n")
with open(f"{TMP}/queries.txt", "w") as f:
    for _ in range(20000):
        f.write(f"{random.choice(names)} A\n")

sh(f"gcc -O2 -o {TMP}/naive {ROOT}/naive_responder.c")
sh(f"gcc -O2 -o {TMP}/sync {ROOT}/sync_client.c")
os.makedirs("/etc/netctl", exist_ok=True)
open("/etc/netctl/netctl.toml", "w").write('[dns]\nforward_single_label = false\n')
d = subprocess.Popen([os.environ["NETCTLD"]], stderr=open(f"{TMP}/netctld.log", "w"))
netctl = os.environ["NETCTL"]
for _ in range(200):
    if subprocess.run([netctl, "network", "ls", "-q"], capture_output=True).returncode == 0:
        break
    time.sleep(0.05)
sys.path.insert(0, ROOT)
from netctl_attach import UnixHTTPConnection, SOCK, call
conn = UnixHTTPConnection(SOCK)
for net in range(NETS):
    call(conn, "POST", "/v1/networks", {"Name": f"net{net}", "IPAM": {"Config": [{"Subnet": f"10.{100 + net}.0.0/16"}]}})
t = time.time()
for i in range(NC):
    call(conn, "POST", "/v1/containers", {"Name": f"c{i}", "Cmd": ["true"], "NetworkMode": f"net{i % NETS}",
                                          "Aliases": [f"alias-{i}"], "IPAddress": ip_of(i)})
print(f"# {NC} containers created in {time.time() - t:.1f} s", file=sys.stderr)
ns = {}
for asker in ["kasker", "uasker", "nasker"]:
    call(conn, "POST", "/v1/containers", {"Name": asker, "Cmd": ["sleep", "100000"], "NetworkMode": "net0", "Detach": True})
    for net in range(1, NETS):
        call(conn, "POST", f"/v1/networks/net{net}/connect", {"Container": asker})
    ns[asker] = sh(f"{netctl} inspect -f '{{{{.NetworkSettings.SandboxKey}}}}' {asker}").strip()
sh(f"nsenter --net={ns['uasker']} tc filter del dev lo egress")
# What the namespace's stateless port rewrite (nft, output hook; it is there for the
# userspace path) costs the kernel path: a third asker without it.
sh(f"nsenter --net={ns['nasker']} nft delete table ip netctl_dns")
info = sh(f"{netctl} info")
print("# " + next(l for l in info.splitlines() if "Resolver" in l).strip(), file=sys.stderr)
naive = subprocess.Popen(["nsenter", f"--net={ns['kasker']}", f"{TMP}/naive", "5301"])
time.sleep(0.5)
targets = {
    "kernel fast path": (ns["kasker"], "127.0.0.11", 53),
    "userspace resolver": (ns["uasker"], "127.0.0.11", 53),
    "naive responder": (ns["kasker"], "127.0.0.1", 5301),
    "kernel fast path, no nft rewrite": (ns["nasker"], "127.0.0.11", 53),
}
# The servers' threads: netctld's (all) and the naive responder's.
server_pids = [d.pid, naive.pid]


def pin_servers(cpus):
    for pid in server_pids:
        sh(f"taskset -a -p -c {cpus} {pid}")
        for child in sh(f"pgrep -P {pid} || true").split():
            sh(f"taskset -a -p -c {cpus} {child} || true")


def idle_rate():
    b, t = busy_us(), time.time()
    time.sleep(2)
    return (busy_us() - b) / (time.time() - t)


def measured(run):
    """run() -> (queries, extra dict); returns CPU µs per query less the idle rate."""
    b, t = busy_us(), time.time()
    n, extra = run()
    wall = time.time() - t
    cpu = (busy_us() - b - IDLE * wall) / max(n, 1)
    return cpu, extra


def sync(name, pinned):
    netns, ip, port = targets[name]
    pin = "taskset -c 0 " if pinned else ""

    def run():
        out = json.loads(sh(f"nsenter --net={netns} {pin}{TMP}/sync {ip} {port} {TMP}/names.txt {SYNC}"))
        return out["queries"], out
    return measured(run)


def dnsperf(name, qps=None, threads=1):
    netns, ip, port = targets[name]
    limit = f" -Q {qps}" if qps else ""

    def run():
        out = sh(f"nsenter --net={netns} dnsperf -s {ip} -p {port} -d {TMP}/queries.txt -l {SECS} -c 4 -q 200 -T {threads}{limit}")
        done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
        rate = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
        lat = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1))
        return done, {"qps": rate, "avg_latency_us": lat * 1e6}
    return measured(run)


IDLE = idle_rate()
print(f"# idle: {IDLE:.0f} µs busy per second", file=sys.stderr)
for rep in range(REPS):
    for name in targets:
        row = {"path": name, "rep": rep}
        pin_servers("0")
        cpu, out = sync(name, True)
        row.update(sync_pinned_cpu_us=cpu, sync_pinned_p50_us=out["p50_ns"] / 1e3, sync_pinned_p99_us=out["p99_ns"] / 1e3)
        pin_servers(f"0-{NCPU - 1}")
        cpu, out = sync(name, False)
        row.update(sync_cpu_us=cpu, sync_p50_us=out["p50_ns"] / 1e3, sync_p99_us=out["p99_ns"] / 1e3)
        cpu, out = dnsperf(name, 20000)
        row.update(cpu_us_at_20k=cpu, avg_latency_us_at_20k=out["avg_latency_us"])
        _, out = dnsperf(name)
        row.update(max_qps=out["qps"])
        # Two sending threads: in the kernel path the answer is made in the sender's
        # own sendto(), so one dnsperf thread is one core's worth at most.
        _, out = dnsperf(name, threads=2)
        row.update(max_qps_2t=out["qps"])
        print(json.dumps(row), flush=True)
        print(f"# rep {rep}: {name}", file=sys.stderr, flush=True)
info = sh(f"{netctl} info")
print("# " + next(l for l in info.splitlines() if "Resolver" in l).strip(), file=sys.stderr)
# The program's cost on a packet it does not answer (TCP on lo), by BPF_PROG_TEST_RUN.
pkt = bytes(12) + b"\x08\x00" + bytes([0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]) + bytes(20)
open(f"{TMP}/tcp.pkt", "wb").write(pkt)
out = sh(f"bpftool prog run pinned /sys/fs/bpf/netctl/v1/netctl_dns data_in {TMP}/tcp.pkt repeat 1000000 2>&1 || true")
m = re.search(r"duration[^0-9]*(\d+)\s*ns", out)
if m:
    print(json.dumps({"path": "other packet on lo", "test_run_ns": int(m.group(1))}), flush=True)
naive.terminate()
d.terminate(); d.wait()
