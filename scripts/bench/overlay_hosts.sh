#!/usr/bin/env bash
# Run inside a sandbox (own network, mount and PID namespace): an underlay bridge in
# namespace `ul`, one etcd in `et` (192.168.77.100), and hosts a, b… (192.168.77.1, .2…),
# each a network namespace with a mount namespace of its own (its own /run,
# /var/lib/netctl, /etc/netctl) running its own netctld with [cluster] set.
# `$STATE/on HOST CMD…` runs CMD on a host. usage: overlay_hosts.sh BIN_DIR STATE_DIR HOSTS...
set -euo pipefail
BIN=$1 STATE=$2; shift 2
mkdir -p "$STATE"
cat > "$STATE/on" <<ON
#!/bin/bash
h=\$1; shift
exec nsenter -t \$(cat $STATE/\$h.pid) -n -m -- env PATH=$BIN:\$PATH bash -c "\$*"
ON
chmod +x "$STATE/on"
ip netns add ul
ip -n ul link add br0 type bridge && ip -n ul link set br0 up && ip -n ul link set lo up
plug() { # namespace address
  ip link add "u-$1" type veth peer name eth0 netns "$1"
  ip link set "u-$1" netns ul && ip -n ul link set "u-$1" master br0 up
  ip -n "$1" addr add "$2/24" dev eth0 && ip -n "$1" link set eth0 up && ip -n "$1" link set lo up
}
ip netns add et && plug et 192.168.77.100
ip netns exec et etcd --data-dir "$STATE/etcd" --listen-client-urls http://192.168.77.100:2379 \
  --advertise-client-urls http://192.168.77.100:2379 --listen-peer-urls http://192.168.77.100:2380 \
  --log-level error > "$STATE/etcd.log" 2>&1 &
i=0
for h in "$@"; do
  i=$((i + 1))
  ip netns add "h$h" && plug "h$h" "192.168.77.$i"
  ip netns exec "h$h" unshare --mount --propagation private sh -c \
    "for d in /run /var/lib/netctl /etc/netctl; do mount -t tmpfs tmpfs \$d; done; mount -t bpf bpf /sys/fs/bpf; mkdir -p /run/netns /run/netctl; echo \$\$ > $STATE/$h.pid; exec sleep infinity" &
done
for h in "$@"; do while [ ! -s "$STATE/$h.pid" ]; do sleep 0.05; done; done
for i in $(seq 100); do ETCDCTL_API=3 ip netns exec et etcdctl --endpoints http://192.168.77.100:2379 endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
i=0
for h in "$@"; do
  i=$((i + 1))
  "$STATE/on" "$h" "printf 'cgroup_parent = \"netctl-$h\"\n[cluster]\netcd = [\"http://192.168.77.100:2379\"]\nadvertise = \"192.168.77.$i\"\n' > /etc/netctl/netctl.toml
    setsid netctld >> /run/netctld.log 2>&1 < /dev/null & echo \$! > /run/netctld.pid
    for i in \$(seq 200); do netctl network ls -q >/dev/null 2>&1 && exit 0; sleep 0.05; done; exit 1"
done
