#!/usr/bin/env bash
# Overlay data-plane benchmark (issue 16): TCP throughput (iperf3 -t 5) and ping RTT
# (200 pings, 10 ms apart) between two container namespaces cA and cB on two hosts
# hA and hB (network namespaces joined by an underlay bridge, as in
# tests/harness/cluster.rs), over (i) a direct veth between cA and cB and (ii) a VXLAN
# overlay on the underlay. Reps interleaved; medians printed as a markdown table.
# Runs in a throwaway namespace (the sandbox tool): nothing touches the host's network.
#
# (ii) is made by overlay_up below, by hand (VNI 42, learning off, static FDB and
# neighbour entries, as netctl programs them from etcd). To measure netctl's own
# overlay, replace that one function: it must leave cA reaching cB at $OVERLAY_B.
#
# usage: sudo scripts/bench-overlay-net.sh [REPS=3] [SECONDS=5]
# needs: iperf3, iputils-ping, iproute2
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
SECS=${2:-5}
SANDBOX=${SANDBOX:-../shared/tools/sandbox}
command -v iperf3 >/dev/null || { echo "missing iperf3 (apt-get install iperf3)" >&2; exit 1; }
if [ -z "${BENCH_OVERLAY_INSIDE:-}" ]; then
  BENCH_OVERLAY_INSIDE=1 exec "$SANDBOX" bash "$0" "$REPS" "$SECS"
fi

DIRECT_B=10.98.0.2
OVERLAY_B=10.200.0.2

# Underlay: namespace `underlay` with bridge ul0; hA at 192.168.77.1, hB at .2.
underlay_up() {
  ip netns add underlay
  ip -n underlay link add ul0 type bridge
  ip -n underlay link set ul0 up
  local i=1 h
  for h in hA hB; do
    ip netns add $h
    ip -n $h link set lo up
    ip -n underlay link add ul-$h type veth peer name eth0 netns $h
    ip -n underlay link set ul-$h master ul0 up
    ip -n $h addr add 192.168.77.$i/24 dev eth0
    ip -n $h link set eth0 up
    i=$((i + 1))
  done
  for c in cA cB; do ip netns add $c; ip -n $c link set lo up; done
}

# (i) A veth straight from cA to cB: 10.98.0.1 ↔ 10.98.0.2.
direct_up() {
  ip link add dv0 netns cA type veth peer name dv0 netns cB
  ip -n cA addr add 10.98.0.1/24 dev dv0
  ip -n cB addr add 10.98.0.2/24 dev dv0
  ip -n cA link set dv0 up
  ip -n cB link set dv0 up
}

# (ii) The overlay: on each host a bridge br42 with the container's veth and a VXLAN
# device (VNI 42, local = the host's underlay address, learning off); each side
# knows the other container's MAC (FDB entry → the other host) and address
# (permanent neighbour entry). cA 10.200.0.1 ↔ cB 10.200.0.2, MTU 1500 − 50.
overlay_up() {
  local h c i peer_ip peer_mac
  for i in 1 2; do
    if [ $i = 1 ]; then h=hA c=cA peer=2; else h=hB c=cB peer=1; fi
    peer_ip=192.168.77.$peer
    peer_mac=02:42:0a:c8:00:0$peer
    ip -n $h link add vx42 type vxlan id 42 local 192.168.77.$i dstport 4789 nolearning dev eth0
    ip -n $h link add br42 type bridge
    ip -n $h link set vx42 master br42
    ip -n $h link add ov-$c type veth peer name eth0 netns $c
    ip -n $h link set ov-$c master br42
    for l in vx42 ov-$c br42; do ip -n $h link set $l mtu 1450 up; done
    ip -n $c link set eth0 address 02:42:0a:c8:00:0$i mtu 1450 up
    ip -n $c addr add 10.200.0.$i/24 dev eth0
    ip netns exec $h bridge fdb append $peer_mac dev vx42 dst $peer_ip self permanent
    ip netns exec $h bridge fdb add $peer_mac dev vx42 master static
    ip -n $c neigh add 10.200.0.$peer lladdr $peer_mac dev eth0 nud permanent
  done
}

underlay_up
direct_up
overlay_up
for a in $DIRECT_B $OVERLAY_B; do
  ip netns exec cA ping -c 1 -W 2 $a >/dev/null || { echo "cA does not reach $a" >&2; exit 1; }
done
ip netns exec cB iperf3 -s -D -I /run/iperf3.pid

out=$(mktemp)
for rep in $(seq "$REPS"); do
  for path in direct overlay; do
    if [ $path = direct ]; then addr=$DIRECT_B; else addr=$OVERLAY_B; fi
    echo "rep $rep/$REPS: $path" >&2
    bps=$(ip netns exec cA iperf3 -c $addr -t "$SECS" -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])')
    rtts=$(ip netns exec cA ping -c 200 -i 0.01 $addr | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | tr '\n' ' ')
    echo "$path $bps $rtts" >> "$out"  # one line per run: path, bit/s, the RTTs in ms
  done
done
kill "$(cat /run/iperf3.pid)"

python3 - "$out" <<'PY'
import statistics as st, sys
rows = []
for line in open(sys.argv[1]):
    path, bps, *rtts = line.split()
    rows.append({"path": path, "bps": float(bps), "rtt_ms": [float(x) for x in rtts]})
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))]
print("| path | reps | TCP throughput Gbit/s | ping RTT median µs | ping RTT p99 µs |")
print("|---|---|---|---|---|")
for path in ("direct", "overlay"):
    rs = [r for r in rows if r["path"] == path]
    gbps = st.median(r["bps"] for r in rs) / 1e9
    med = st.median(st.median(r["rtt_ms"]) for r in rs) * 1000
    p99 = st.median(pct(r["rtt_ms"], 0.99) for r in rs) * 1000
    print(f"| {path} | {len(rs)} | {gbps:.2f} | {med:.0f} | {p99:.0f} |")
PY
echo "raw: $out" >&2
