#!/usr/bin/env python3
"""DNS benchmark body, run inside a throwaway namespace by scripts/bench-dns.sh.

Serves the same 1000 container names + 1000 aliases (10 networks) from netctl's
resolver and from dnsmasq, unbound, aardvark-dns 2.1.0 and a naive responder, then
runs dnsperf against each, reps interleaved: max queries/s, and at a fixed 20,000 qps
the server's CPU time per query (from /proc/PID/stat), average latency and RSS.
netctl is asked from inside a container at 127.0.0.11, the peers on 127.0.0.1.
Prints one JSON line per measurement.
"""
import json, os, re, subprocess, sys, time

REPS = int(sys.argv[1]); SECS = int(sys.argv[2]); NC = 1000
ROOT = os.path.dirname(os.path.abspath(__file__))
TMP = "/run/dnsbench"; os.makedirs(TMP, exist_ok=True)
TICK = os.sysconf("SC_CLK_TCK")
def sh(cmd, **kw): return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True, **kw).stdout
def ip_of(i): n = i + 2; return f"10.{100 + i % 10}.{n // 256}.{n % 256}"
def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
def rss_kib(pid):
    m = re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read())
    if not m:
        sys.exit(f"server pid {pid} is gone (exited or crashed)")
    return int(m.group(1))

# the 2000 names, and a query file mixing them at random
names = [(f"c{i}", ip_of(i)) for i in range(NC)] + [(f"alias-{i}", ip_of(i)) for i in range(NC)]
import random; random.seed(1)
with open(f"{TMP}/queries.txt", "w") as f:
    for _ in range(20000):
        f.write(f"{random.choice(names)[0]} A\n")
with open(f"{TMP}/cached.txt", "w") as f:
    for i in range(100):
        f.write(f"ext{i}.example.test A\n")

servers = {}  # name -> (pid, dnsperf prefix)
# naive responder
sh(f"gcc -O2 -o {TMP}/naive {ROOT}/naive_responder.c")
p = subprocess.Popen([f"{TMP}/naive", "5301"]); servers["naive responder"] = (p.pid, "dnsperf -s 127.0.0.1 -p 5301")
# dnsmasq
with open(f"{TMP}/hosts", "w") as f:
    for i in range(NC): f.write(f"{ip_of(i)} c{i} alias-{i}\n")
p = subprocess.Popen(["dnsmasq", "-k", "--no-resolv", "--no-hosts", f"--addn-hosts={TMP}/hosts", "--port=5302",
                      "--listen-address=127.0.0.1", "--bind-interfaces", "--cache-size=10000", "--pid-file="])
servers["dnsmasq"] = (p.pid, "dnsperf -s 127.0.0.1 -p 5302")
# unbound, one thread
with open(f"{TMP}/unbound.conf", "w") as f:
    f.write(f"server:\n  interface: 127.0.0.1@5303\n  num-threads: 1\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n"
            f"  access-control: 127.0.0.0/8 allow\n  use-syslog: no\n  logfile: \"\"\n  pidfile: \"\"\n  verbosity: 0\n")
    for n, a in names: f.write(f"  local-data: \"{n}. 600 IN A {a}\"\n")
p = subprocess.Popen(["unbound", "-d", "-c", f"{TMP}/unbound.conf"]); servers["unbound"] = (p.pid, "dnsperf -s 127.0.0.1 -p 5303")
# aardvark-dns 2.1.0
aard = os.environ.get("AARDVARK", "/opt/aardvark/bin/aardvark-dns")
if os.path.exists(aard):
    os.makedirs(f"{TMP}/aardvark", exist_ok=True)
    # One network file: aardvark binds one listener per network's gateway address.
    with open(f"{TMP}/aardvark/bench", "w") as f:
        f.write("127.0.0.1\n")
        for i in range(NC): f.write(f"{i:064x} {ip_of(i)}  c{i},alias-{i}\n")
    subprocess.run([aard, "--config", f"{TMP}/aardvark", "-p", "5304", "run"], env=dict(os.environ, RUST_LOG="error"), check=True)
    time.sleep(0.5)
    # `run` forks into the background, as netavark expects: find the server itself.
    apid = int(sh('pgrep -n -x aardvark-dns').split()[0])
    servers["aardvark-dns 2.1.0"] = (apid, "dnsperf -s 127.0.0.1 -p 5304")
# upstream for netctl's cached-name test: dnsmasq in a namespace of its own
sh("ip netns add up && ip link add upv type veth peer name upp netns up && ip addr add 10.250.0.1/24 dev upv && ip link set upv up"
   " && ip -n up addr add 10.250.0.2/24 dev upp && ip -n up link set upp up && ip -n up link set lo up")
sh("ip netns exec up dnsmasq --no-resolv --no-hosts --listen-address=10.250.0.2 --bind-interfaces --address=/example.test/10.9.9.9 --local-ttl=3600 --pid-file=")
# netctl: 10 networks, 1000 containers with an alias each, an asker on all 10 networks
os.makedirs("/etc/netctl", exist_ok=True)
open("/etc/netctl/netctl.toml", "w").write('[dns]\nupstream = ["10.250.0.2"]\n')
d = subprocess.Popen([os.environ["NETCTLD"]], stderr=subprocess.DEVNULL)
netctl = os.environ["NETCTL"]
for _ in range(100):
    if subprocess.run([netctl, "network", "ls", "-q"], capture_output=True).returncode == 0: break
    time.sleep(0.05)
sys.path.insert(0, ROOT)
from netctl_attach import UnixHTTPConnection, SOCK, call
conn = UnixHTTPConnection(SOCK)
for net in range(10):
    call(conn, "POST", "/v1/networks", {"Name": f"net{net}", "IPAM": {"Config": [{"Subnet": f"10.{100 + net}.0.0/16"}]}})
t = time.time()
for i in range(NC):
    call(conn, "POST", "/v1/containers", {"Name": f"c{i}", "Cmd": ["true"], "NetworkMode": f"net{i % 10}",
                                          "Aliases": [f"alias-{i}"], "IPAddress": ip_of(i)})
print(f"# 1000 containers created in {time.time() - t:.1f} s", file=sys.stderr)
call(conn, "POST", "/v1/containers", {"Name": "asker", "Cmd": ["sleep", "100000"], "NetworkMode": "net0", "Detach": True})
for net in range(1, 10):
    call(conn, "POST", f"/v1/networks/net{net}/connect", {"Container": "asker"})
servers["netctl"] = (d.pid, f"{netctl} exec asker -- dnsperf -s 127.0.0.11")
time.sleep(1)

def dnsperf(prefix, qfile, qps=None):
    limit = f" -Q {qps}" if qps else ""
    out = sh(f"{prefix} -d {qfile} -l {SECS} -c 4 -q 200{limit}")
    done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
    rate = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    lat = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    return done, rate, lat, lost

sh(f"{servers['netctl'][1]} -d {TMP}/cached.txt -l 1")  # warm netctl's forwarding cache
# For development: BENCH_SERVERS=netctl,naive picks servers (by substring of their names);
# BENCH_PROFILE='perf stat -p {pid} -- sleep 5' runs alongside each fixed-rate run.
only = [w for w in os.environ.get("BENCH_SERVERS", "").split(",") if w]
if only:
    servers = {n: v for n, v in servers.items() if any(w in n for w in only)}
profile = os.environ.get("BENCH_PROFILE")
# BENCH_PIN=S:C pins every server (all its threads) to CPU S and dnsperf to CPU C, the
# same for all servers: without it the scheduler's placement of dnsperf's threads and
# the server's decides how many wakeups cross CPUs, which moves everyone's CPU per query.
pin = os.environ.get("BENCH_PIN")
if pin:
    server_cpu, client_cpu = pin.split(":")
    for name, (pid, prefix) in list(servers.items()):
        sh(f"taskset -a -p -c {server_cpu} {pid}")
        servers[name] = (pid, prefix.replace("dnsperf ", f"taskset -c {client_cpu} dnsperf ", 1))
for rep in range(REPS):
    for name, (pid, prefix) in servers.items():
        print(f"# rep {rep}: {name}", file=sys.stderr, flush=True)
        _, max_qps, _, _ = dnsperf(prefix, f"{TMP}/queries.txt")
        prof = subprocess.Popen(profile.format(pid=pid), shell=True, stdout=sys.stderr) if profile else None
        before = cpu_ticks(pid)
        done, rate, lat, lost = dnsperf(prefix, f"{TMP}/queries.txt", 20000)
        if prof: prof.wait()
        cpu_us = (cpu_ticks(pid) - before) * 1e6 / TICK / max(done, 1)
        row = {"server": name, "rep": rep, "max_qps": max_qps, "qps_at_20k": rate, "cpu_us_per_query": cpu_us,
               "avg_latency_us": lat * 1e6, "lost": lost, "rss_kib": rss_kib(pid)}
        if name == "netctl":
            row["cached_upstream_qps"] = dnsperf(prefix, f"{TMP}/cached.txt")[1]
        print(json.dumps(row), flush=True)
d.terminate(); d.wait()
