#!/usr/bin/env bash
# Resolver benchmark (issue 4): 1000 containers' names + 1000 aliases on 10 networks,
# served by netctl's 127.0.0.11 and, side by side in the same throwaway namespace, by
# dnsmasq, unbound (1 thread), aardvark-dns 2.1.0 and a naive responder (the floor);
# dnsperf against each, reps interleaved. Reports max queries/s, and at a fixed 20,000
# qps the server's CPU time per query (/proc/PID/stat), average latency and RSS;
# for netctl also the rate for cached upstream names.
#
# usage: sudo scripts/bench-dns.sh [REPS=3] [SECONDS=10]
#        BENCH_SERVERS=netctl,naive ... picks servers (substrings of their names);
#        BENCH_PROFILE='perf record -g -o /tmp/p-{pid}.data -p {pid} -- sleep 5' runs a
#        command alongside each fixed-rate run ({pid}: the server's).
#        BENCH_PIN=0:0 pins every server to CPU 0 and dnsperf to CPU 0 (0:1: CPU 1), so
#        that the scheduler's placement, which decides how many wakeups cross CPUs,
#        is the same for all (see scripts/bench-dns-floor.sh and BENCHMARKS.md).
# needs: cargo build --release; apt-get install dnsperf dnsmasq-base unbound gcc;
#        cargo install aardvark-dns --version 2.1.0 --root /opt/aardvark (else skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}; SECS=${2:-10}
SANDBOX=${SANDBOX:-../shared/tools/sandbox}
for t in dnsperf dnsmasq unbound gcc; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
[ -x target/release/netctld ] || { echo "build first: cargo build --release" >&2; exit 1; }
out=$(mktemp)
NETCTLD=$PWD/target/release/netctld NETCTL=$PWD/target/release/netctl \
  "$SANDBOX" scripts/bench/own-cgroup.sh python3 scripts/bench/dns_bench.py "$REPS" "$SECS" > "$out"
python3 - "$out" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
order = []
for r in rows:
    if r["server"] not in order: order.append(r["server"])
med = lambda s, k: st.median(r[k] for r in rows if r["server"] == s)
print("| server | reps | max qps | CPU µs/query at 20k qps | avg latency µs at 20k | RSS MiB |")
print("|---|---|---|---|---|---|")
for s in order:
    n = sum(1 for r in rows if r["server"] == s)
    print(f"| {s} | {n} | {med(s,'max_qps'):.0f} | {med(s,'cpu_us_per_query'):.1f} | {med(s,'avg_latency_us'):.0f} | {med(s,'rss_kib')/1024:.1f} |")
c = [r["cached_upstream_qps"] for r in rows if "cached_upstream_qps" in r]
if c: print(f"\nnetctl, cached upstream names: {st.median(c):.0f} queries/s (median of {len(c)})")
PY
echo "raw: $out" >&2
