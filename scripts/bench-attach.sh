#!/usr/bin/env bash
# Endpoint attach benchmark (issue 3): time from a "connect" call to its answer
# (endpoint ready) for the 1st, 10th, 100th and 1000th container on one network,
# for netctl and, side by side, netavark 2.1.0 (nftables and no firewall) and plain
# `ip -b`. Every rep of every peer runs in its own throwaway namespace (the
# sandbox tool); reps are interleaved between peers; medians over reps are shown.
#
# usage: sudo scripts/bench-attach.sh [REPS=3] [N=1000]
# needs: target/release/netctld (cargo build --release), python3, iproute2, and
#        netavark 2.1.0 at /opt/netavark/bin/netavark (or $NETAVARK):
#          apt-get install protobuf-compiler && cargo install netavark --version 2.1.0 --root /opt/netavark
#        (without it, the netavark rows are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
N=${2:-1000}
SANDBOX=${SANDBOX:-../shared/tools/sandbox}
NETAVARK=${NETAVARK:-/opt/netavark/bin/netavark}
[ -x target/release/netctld ] || { echo "build first: cargo build --release" >&2; exit 1; }
peers="netctl ip"
if [ -x "$NETAVARK" ]; then peers="netctl netavark-nft netavark-none ip"; else echo "netavark not found at $NETAVARK: skipped" >&2; fi
# BENCH_PEERS="netctl netctl-dual": only these (netctl-dual: the network dual stack).
peers=${BENCH_PEERS:-$peers}
out=$(mktemp -d)
for rep in $(seq "$REPS"); do
  for peer in $peers; do
    echo "rep $rep/$REPS: $peer" >&2
    if [ "$peer" = netctl ] || [ "$peer" = netctl-dual ]; then
      inner="target/release/netctld 2>/dev/null & d=\$!; for i in \$(seq 100); do [ -S /run/netctl/netctl.sock ] && break; sleep 0.05; done;
             python3 scripts/bench/attach_peers.py $peer $N; kill \$d; wait \$d"
    else
      inner="python3 scripts/bench/attach_peers.py $peer $N"
    fi
    NETAVARK="$NETAVARK" "$SANDBOX" scripts/bench/own-cgroup.sh bash -c "$inner" >> "$out/results.jsonl"
  done
done
python3 - "$out/results.jsonl" "$N" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
peers = []
for r in rows:
    if r["peer"] not in peers:
        peers.append(r["peer"])
names = {"netctl": "netctl (API connect)", "netavark-nft": "netavark 2.1.0 setup, nftables",
         "netavark-none": "netavark 2.1.0 setup, no firewall", "ip": "ip -b (kernel work only)"}
marks = [m for m in (1, 10, 100, 1000) if m <= n]
def med(peer, f):
    return st.median(f(r) for r in rows if r["peer"] == peer)
print(f"| peer | reps | " + " | ".join(f"{m}th" if m > 3 else ("1st" if m == 1 else f"{m}th") for m in marks)
      + " | median all | median 900–1000 | teardown median |")
print("|---" * (len(marks) + 5) + "|")
base = {}
for p in peers:
    reps = sum(1 for r in rows if r["peer"] == p)
    cells = [med(p, lambda r, m=m: r["setup_ms"][m - 1]) for m in marks]
    allm = med(p, lambda r: st.median(r["setup_ms"]))
    tail = med(p, lambda r: st.median(r["setup_ms"][max(0, n - 100):]))
    down = med(p, lambda r: st.median(r["teardown_ms"]))
    base[p] = allm
    print(f"| {names.get(p, p)} | {reps} | " + " | ".join(f"{c:.2f}" for c in cells) + f" | {allm:.2f} | {tail:.2f} | {down:.2f} |")
print()
for p in peers:
    if p != "netctl":
        print(f"- {names.get(p, p)} / netctl, median per connect: {base[p] / base['netctl']:.1f}x")
PY
echo "raw results: $out/results.jsonl" >&2
