#!/usr/bin/env bash
# What the UDP serving loop alone costs (issue 4's CPU-per-query target): the naive
# responder's blocking recvfrom+sendto against the multiplexed loops a resolver with a
# socket per container can use (epoll+recvmmsg+sendmmsg as netctl's, epoll+recvmmsg+
# sendto, io_uring) and a batched loop on one blocking socket, none doing any DNS, with dnsperf at 20,000 qps pinned to the
# server's CPU and to the other one. Medians of interleaved reps.
#
# usage: sudo scripts/bench-dns-floor.sh [REPS=3] [SECONDS=10]
# needs: apt-get install dnsperf gcc (liburing-dev adds the io_uring loop)
set -euo pipefail
cd "$(dirname "$0")/.."
SANDBOX=${SANDBOX:-../shared/tools/sandbox}
for t in dnsperf gcc taskset; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs" >&2; exit 1; }
"$SANDBOX" python3 scripts/bench/dns_floor.py "${1:-3}" "${2:-10}"
