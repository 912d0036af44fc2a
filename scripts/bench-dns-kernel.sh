#!/usr/bin/env bash
# The resolver's kernel fast path (issue 17) against the userspace resolver and the
# naive responder, side by side in one throwaway namespace, 2000 names (1000
# containers with an alias each on 5 networks), reps interleaved: (a) a synchronous
# client (one query outstanding, as getaddrinfo), pinned to CPU 0 with the servers
# and unpinned: whole-machine CPU per query (/proc/stat, idle subtracted) and
# p50/p99 latency; (b) dnsperf at 20,000 qps (CPU per query, average latency) and
# unthrottled (max qps); and the program's cost on a packet it does not answer
# (BPF_PROG_TEST_RUN through bpftool). Short runs work: the defaults take ~1 min.
#
# usage: sudo scripts/bench-dns-kernel.sh [REPS=3] [SECONDS=5] [SYNC_QUERIES=50000]
# needs: cargo build --release; apt-get install dnsperf gcc bpftool
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}; SECS=${2:-5}; SYNC=${3:-50000}
SANDBOX=${SANDBOX:-../shared/tools/sandbox}
for t in dnsperf gcc taskset bpftool; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
NETCTLD=${NETCTLD:-$PWD/target/release/netctld}; NETCTL=${NETCTL:-$PWD/target/release/netctl}
[ -x "$NETCTLD" ] || { echo "build first: cargo build --release" >&2; exit 1; }
out=$(mktemp)
# A bpffs of the sandbox's own: the benchmark's pins never reach the host's.
NETCTLD=$NETCTLD NETCTL=$NETCTL "$SANDBOX" scripts/bench/own-cgroup.sh sh -c \
  'mount -t bpf bpf /sys/fs/bpf && exec python3 scripts/bench/dns_kernel.py "$@"' sh "$REPS" "$SECS" "$SYNC" > "$out"
python3 - "$out" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
paths = []
for r in rows:
    if "rep" in r and r["path"] not in paths: paths.append(r["path"])
med = lambda p, k: st.median(r[k] for r in rows if r["path"] == p and k in r)
print("| path | reps | sync, 1 CPU: CPU µs/q | p50 µs | p99 µs | sync, unpinned: CPU µs/q | p50 µs | dnsperf 20k: CPU µs/q | avg latency µs | max qps |")
print("|---|---|---|---|---|---|---|---|---|---|")
for p in paths:
    n = sum(1 for r in rows if r.get("path") == p)
    print(f"| {p} | {n} | {med(p,'sync_pinned_cpu_us'):.2f} | {med(p,'sync_pinned_p50_us'):.1f} | {med(p,'sync_pinned_p99_us'):.1f} "
          f"| {med(p,'sync_cpu_us'):.2f} | {med(p,'sync_p50_us'):.1f} | {med(p,'cpu_us_at_20k'):.2f} "
          f"| {med(p,'avg_latency_us_at_20k'):.0f} | {med(p,'max_qps'):.0f} |")
naive = "naive responder"
if naive in paths and "kernel fast path" in paths:
    k = "kernel fast path"
    print(f"\nkernel/naive: sync CPU on one core {med(k,'sync_pinned_cpu_us')/med(naive,'sync_pinned_cpu_us'):.2f}x, "
          f"CPU at 20k {med(k,'cpu_us_at_20k')/med(naive,'cpu_us_at_20k'):.2f}x, max qps {med(k,'max_qps')/med(naive,'max_qps'):.2f}x, "
          f"max qps with 2 dnsperf threads {med(k,'max_qps_2t')/med(naive,'max_qps_2t'):.2f}x "
          f"({med(k,'max_qps_2t'):.0f} against {med(naive,'max_qps_2t'):.0f}; userspace {med('userspace resolver','max_qps_2t'):.0f})")
for r in rows:
    if "test_run_ns" in r:
        print(f"program on a packet it does not answer (BPF_PROG_TEST_RUN, mean of 1M): {r['test_run_ns']} ns")
PY
echo "raw: $out" >&2
