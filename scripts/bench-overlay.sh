#!/usr/bin/env bash
# Overlay benchmark (issue 16): two hosts and an etcd, each in namespaces of its own
# inside a throwaway sandbox (scripts/bench/overlay_hosts.sh), release netctld on
# each. Per rep (a fresh sandbox each):
#  - name propagation: N `netctl network connect mesh NAME` on host a; time from the
#    connect starting (and returning) on a to the name answering at 127.0.0.11 in a
#    container on host b (negative: it answered before the connect returned);
#  - transfer: iperf3 TCP throughput and ping RTT between a container on a and one on
#    b, over the overlay and over a veth joining the same two namespaces, alternated.
# Medians (and p99 for propagation) over all reps.
#
# usage: sudo scripts/bench-overlay.sh [REPS=3] [N=200]
# needs: target/release/netctld and netctl (cargo build --release), etcd-server,
#        etcd-client, iperf3, python3, iproute2
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
N=${2:-200}
BIN=${BIN:-$PWD/target/release}
SANDBOX=${SANDBOX:-../shared/tools/sandbox}
[ -x "$BIN/netctld" ] || { echo "build first: cargo build --release" >&2; exit 1; }
out=$(mktemp -d)
for rep in $(seq "$REPS"); do
  echo "rep $rep/$REPS" >&2
  state=$(mktemp -d)
  "$SANDBOX" scripts/bench/own-cgroup.sh bash -c "
    scripts/bench/overlay_hosts.sh '$BIN' '$state' a b >&2
    '$state/on' a 'netctl network create -d overlay --subnet 10.200.0.0/22 mesh' >/dev/null
    STATE='$state' python3 scripts/bench/overlay.py propagation $N
    STATE='$state' python3 scripts/bench/overlay.py transfer 2" >> "$out/results.jsonl"
  rm -rf "$state"
done
python3 - "$out/results.jsonl" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
prop = [r for x in rows if x["kind"] == "propagation" for r in x["rows"]]
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(p / 100 * len(v)))]
print(f"name propagation, {len(prop)} containers:")
print("| measure | median ms | p99 ms | max ms |\n|---|---|---|---|")
for k, label in (("connect_ms", "`network connect` on host a"), ("after_start_ms", "resolvable on b, from the connect's start"), ("after_return_ms", "resolvable on b, from the connect's return"), ("after_commit_ms", "resolvable on b, from etcd's commit (seen by a watcher)")):
    v = [r[k] for r in prop if k in r]
    if not v:
        continue
    print(f"| {label} | {st.median(v):.2f} | {pct(v, 99):.2f} | {max(v):.2f} |")
early = sum(1 for r in prop if r["after_return_ms"] <= 0)
print(f"\nresolvable on b by the time the connect returned on a: {early}/{len(prop)}")
tr = [x for x in rows if x["kind"] == "transfer"]
print("\ntransfer (iperf3 -t 5, ping -c 200 -i 0.01), medians over", len(tr) // 2, "runs each:")
print("| path | Gbit/s | RTT avg ms | RTT min ms |\n|---|---|---|---|")
med = {}
for path in ("veth", "overlay"):
    v = [x for x in tr if x["path"] == path]
    med[path] = [st.median(x[k] for x in v) for k in ("gbps", "rtt_avg_ms", "rtt_min_ms")]
    print(f"| {path} | {med[path][0]:.2f} | {med[path][1]:.3f} | {med[path][2]:.3f} |")
print(f"\noverlay/veth: throughput {med['overlay'][0] / med['veth'][0]:.2f}x, RTT {med['overlay'][1] / med['veth'][1]:.2f}x")
PY
