#!/usr/bin/env bash
# Restart benchmark (issue 12): questions from containers resolving in a loop across
# CYCLES SIGTERM and CYCLES kill -9 restarts of netctld with N containers, without a
# service manager and with an fd store passed back at each start (systemd's
# protocol, tests/restarts/fake_systemd.py). Runs in a throwaway namespace (the
# sandbox tool). Prints the wrong, unanswered and retried questions and the
# longest wait for a right answer.
#
# usage: sudo scripts/bench-restart.sh [N=60] [CYCLES=3] [NETCTLD=target/release/netctld]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-60}
CYCLES=${2:-3}
NETCTLD=$(realpath "${3:-target/release/netctld}")
SANDBOX=${SANDBOX:-../shared/tools/sandbox}
[ -x "$NETCTLD" ] || { echo "build first: cargo build --release" >&2; exit 1; }
"$SANDBOX" scripts/bench/own-cgroup.sh python3 scripts/bench/restart_window.py "$NETCTLD" "$N" "$CYCLES"
