#!/usr/bin/env python3
"""Body of scripts/bench-dns-floor.sh, run inside a throwaway namespace.

Serves dnsperf at a fixed 20,000 qps from the naive responder and loop_floor.c's modes
(no DNS: each answer is the query with QR set) and reports each loop's CPU time per query, from the server's
/proc/PID/schedstat, with server and dnsperf pinned to the same CPU and to different
CPUs. Reps interleaved; prints medians and the ratio to the naive loop.
"""
import os, re, statistics as st, subprocess, sys

REPS = int(sys.argv[1]); SECS = int(sys.argv[2])
ROOT = os.path.dirname(os.path.abspath(__file__)); TMP = "/run/dnsfloor"; os.makedirs(TMP, exist_ok=True)
subprocess.run("ip link set lo up", shell=True, check=True)
modes = ["naive", "mmsg", "block", "sendto"]
subprocess.run(["gcc", "-O2", "-o", f"{TMP}/naive", f"{ROOT}/naive_responder.c"], check=True)
cc = ["gcc", "-O2", "-o", f"{TMP}/loop_floor", f"{ROOT}/loop_floor.c"]
if os.path.exists("/usr/include/liburing.h"):
    cc[2:2] = ["-DWITH_URING"]; cc.append("-luring"); modes.append("uring")
subprocess.run(cc, check=True)
def command(mode, port):
    return [f"{TMP}/naive", str(port)] if mode == "naive" else [f"{TMP}/loop_floor", mode, str(port)]
with open(f"{TMP}/q.txt", "w") as f:
    f.writelines(f"n{i}.example A\n" for i in range(200))
procs = {m: subprocess.Popen(["taskset", "-c", "0", *command(m, 6001 + i)]) for i, m in enumerate(modes)}
def runtime_ns(pid): return int(open(f"/proc/{pid}/schedstat").read().split()[0])
results = {}  # (placement, mode) -> [µs per query]
try:
    for rep in range(REPS):
        for placement, client_cpu in (("same CPU", 0), ("other CPU", 1)):
            for i, m in enumerate(modes):
                pid = procs[m].pid
                before = runtime_ns(pid)
                out = subprocess.run(f"taskset -c {client_cpu} dnsperf -s 127.0.0.1 -p {6001 + i} -d {TMP}/q.txt "
                                     f"-l {SECS} -c 4 -Q 20000", shell=True, check=True, capture_output=True, text=True).stdout
                done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
                us = (runtime_ns(pid) - before) / 1000 / max(done, 1)
                results.setdefault((placement, m), []).append(us)
                print(f"# rep {rep} {placement} {m}: {us:.2f} µs/query", file=sys.stderr, flush=True)
finally:
    for p in procs.values(): p.kill()
print("| loop | CPU µs/query, same CPU | ratio to naive | CPU µs/query, other CPU | ratio to naive |")
print("|---|---|---|---|---|")
med = {k: st.median(v) for k, v in results.items()}
for m in modes:
    s, o = med[("same CPU", m)], med[("other CPU", m)]
    print(f"| {m} | {s:.2f} | {s / med[('same CPU', 'naive')]:.2f} | {o:.2f} | {o / med[('other CPU', 'naive')]:.2f} |")
