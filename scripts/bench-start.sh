#!/usr/bin/env bash
# Start benchmark (issue 12): N containers (`ip netns add` namespaces attached over
# the API) on NETS networks, then netctld started again and timed from its exec to
# READY=1 (a NOTIFY_SOCKET of the bench's own) and to the first answered API call:
# without a service manager, under one with no stored sockets, and under one that
# passes back the resolver sockets the daemon stored (as systemd does at a
# restart). Runs in a throwaway namespace (the sandbox tool); medians over REPS.
#
# usage: sudo scripts/bench-start.sh [N=1000] [NETS=10] [REPS=3] [NETCTLD=target/release/netctld]
# NETCTLD_FLAGS="--data-root /var/tmp/x" puts the state on a disk (the sandbox's
# /var/lib/netctl is a tmpfs, where an fsync costs nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
NETS=${2:-10}
REPS=${3:-3}
NETCTLD=$(realpath "${4:-target/release/netctld}")
SANDBOX=${SANDBOX:-../shared/tools/sandbox}
[ -x "$NETCTLD" ] || { echo "build first: cargo build --release" >&2; exit 1; }
out=$(mktemp)
"$SANDBOX" scripts/bench/own-cgroup.sh python3 scripts/bench/start_time.py "$NETCTLD" "$N" "$NETS" "$REPS" > "$out"
python3 - "$out" <<'PY'
import json, statistics as st, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
m = lambda k: f"{st.median(r[k]):.0f}" if r[k] else "-"
print(f"{r['containers']} containers on {r['networks']} networks (made in {r['setup_s']} s), medians of {len(r['plain_api_ms'])} starts, ms from exec:")
print("| start | READY=1 | first API answer |")
print("|---|---|---|")
print(f"| no service manager | - | {m('plain_api_ms')} |")
print(f"| NOTIFY_SOCKET, no stored sockets | {m('notify_ready_ms')} | {m('notify_api_ms')} |")
print(f"| NOTIFY_SOCKET, {r.get('stored_fds', 0)} stored sockets passed back | {m('fdstore_ready_ms')} | {m('fdstore_api_ms')} |")
print("raw:", json.dumps(r))
PY
