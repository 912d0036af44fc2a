#!/bin/sh
# Runs CMD in a cgroup namespace of its own, rooted at a fresh cgroup, with a private
# cgroup2 mount, as the tests' sandboxes do: the cgroups a benchmark's netctld makes
# for its containers are under that cgroup, never beside the host's netctld's, and
# are removed with it at the end. Run inside the sandbox tool (a mount namespace).
# usage: scripts/bench/own-cgroup.sh CMD [ARGS...]
set -eu
cg=$(findmnt -n -t cgroup2 -o TARGET | head -1)
if [ -z "$cg" ]; then exec "$@"; fi
home=$(sed -n 's/^0:://p' /proc/self/cgroup)
dir="$cg/netctl-bench/$$"
mkdir -p "$dir"
echo $$ > "$dir/cgroup.procs"
status=0
unshare --cgroup --mount sh -c 'umount -l "$1" && mount -t cgroup2 cgroup2 "$1" && shift && exec "$@"' sh "$cg" "$@" \
    || status=$?
echo $$ > "$cg$home/cgroup.procs"
find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
exit $status
