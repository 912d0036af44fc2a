#!/usr/bin/env bash
# Control plane at scale (issue 16): simulated hosts against one real etcd (3.4,
# Debian's), each host its own netctl-cluster Session, lease, connection and watch,
# publishing and removing endpoints as netctld does; see the header of
# crates/netctl-cluster/examples/cluster-sim.rs for what is measured, docs/scaling.md
# for what it means at 1,000 hosts. One run per size, one after the other (each a
# fresh etcd in a throwaway namespace), then a Markdown table of the runs' summary
# rows. etcd's data directory is on a tmpfs by default (ETCD_DATA=tmpfs: no fsync
# cost, so that what is measured is etcd's CPU and the watch fan-out rather than the
# latency of a disk shared with other work); ETCD_DATA=disk puts it under $TMPDIR.
# Nothing is pinned: etcd and the simulation share the machine's cores (their CPU
# shares are in the table, with the machine's load).
#
# usage: sudo scripts/bench-cluster-sim.sh [HOSTS:CONTAINERS_PER_HOST[:RATE] ...]
#        default sizes: 10:1000 50:200 100:100 200:50 100:200 200:100 200:50:300 (10k
#        endpoints, then 20k, then 3× the churn rate)
#        REPS=1 (all sizes once per rep, reps one after the other: interleaved),
#        RATE=100 (changes/s in churn, default for sizes without one), DURATION=20 (s
#        of churn), IDLE=6 (s of keep-alives only), NETWORKS=4.
#        About 7 minutes per rep with the default sizes.
# needs: root, etcd and etcdctl in PATH (apt-get install etcd-server etcd-client).
set -euo pipefail
cd "$(dirname "$0")/.."
SANDBOX=${SANDBOX:-../shared/tools/sandbox}
REPS=${REPS:-1}; ETCD_DATA=${ETCD_DATA:-tmpfs}; RATE=${RATE:-100}; DURATION=${DURATION:-20}; IDLE=${IDLE:-6}; NETWORKS=${NETWORKS:-4}
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(10:1000 50:200 100:100 200:50 100:200 200:100 200:50:300)
for t in etcd etcdctl; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
cargo build --release -q -p netctl-cluster --example cluster-sim
sim=$PWD/target/release/examples/cluster-sim
log=$(mktemp /tmp/cluster-sim.XXXXXX.log)
declare -A rows
for rep in $(seq "$REPS"); do
  for i in "${!SIZES[@]}"; do
    IFS=: read -r hosts per rate <<<"${SIZES[$i]}"
    rate=${rate:-$RATE}
    echo "== rep $rep: $hosts hosts × $per containers, $rate changes/s; load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log" >&2
    data=(); [ "$ETCD_DATA" = tmpfs ] && data=(--data-dir /run/etcd-sim)  # the sandbox's /run is a tmpfs
    "$SANDBOX" "$sim" "${data[@]}" --hosts "$hosts" --containers-per-host "$per" --rate "$rate" \
      --duration "$DURATION" --idle "$IDLE" --networks "$NETWORKS" --row >"$log.run" 2>&1 || failed=" (FAILED: changes failed or a copy differs; see $log)"
    cat "$log.run" >>"$log"
    rows[$i.$rep]="| $rep $(grep '^ROW ' "$log.run" | sed 's/^ROW //')${failed:-}"
    failed=
  done
done
echo "| rep | hosts | endpoints | changes/s | load | claim txn p50 ms | watch p50 ms | p99 | max | p99 from txn return | delete p99 | etcd CPU ms/change | etcd CPU (of 1 core) | sim CPU (of 1 core) | events/host/change | fill claims/s | fill etcd ms/change | join snapshot ms | etcd µs/endpoint read | copy bytes/endpoint | snapshot MiB | etcd RSS MiB | etcd db MiB | etcd ms per keep-alive |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for i in "${!SIZES[@]}"; do
  for rep in $(seq "$REPS"); do echo "${rows[$i.$rep]}"; done
done
rm -f "$log.run"
echo "full output: $log" >&2
