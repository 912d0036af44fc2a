#!/usr/bin/env bash
# Builds (once) the minimal Debian 12 root that tests/tests/systemd.rs boots with
# systemd-nspawn -b: systemd as PID 1, and what netctld needs at run time (nftables,
# iproute2) plus dig for the resolving loop. Cached under $CACHE/<hash of the package
# list and this script>, so CI builds it once; prints the root's path.
# usage: tests/nspawn/build-root.sh [CACHE=/var/cache/netctl-test-root]
set -euo pipefail
CACHE=${1:-/var/cache/netctl-test-root}
PACKAGES="systemd,systemd-sysv,dbus,iproute2,nftables,dnsutils,procps,util-linux"
key=$( { echo "$PACKAGES"; cat "$0"; } | sha256sum | cut -c1-16)
root="$CACHE/$key"
if [ -f "$root/.complete" ]; then echo "$root"; exit 0; fi
command -v mmdebstrap >/dev/null || { echo "build-root.sh: mmdebstrap missing (apt-get install mmdebstrap)" >&2; exit 1; }
mkdir -p "$CACHE"
tmp="$CACHE/.building-$$"
rm -rf "$tmp"
start=$(date +%s.%N)
# The machine's own apt sources (its mirror), variant minbase.
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
  --customize-hook='echo netctl-test > "$1/etc/hostname"' \
  --customize-hook=': > "$1/etc/machine-id"' \
  bookworm "$tmp" "$sources" >&2
end=$(date +%s.%N)
echo "build-root.sh: built in $(awk "BEGIN{print $end - $start}") s" >&2
touch "$tmp/.complete"
rm -rf "$root"
mv "$tmp" "$root"
echo "$root"
