#!/usr/bin/env bash
# Attach time per container through the CNI plugin and through the OCI hook
# (issue 14): N containers each, inside a throwaway namespace with its own
# netctld (release build). See scripts/bench/runtime_attach.py.
#
# usage: sudo scripts/bench-runtime-attach.sh [N=100]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
SANDBOX=${SANDBOX:-../shared/tools/sandbox}
[ -x target/release/netctl-cni ] || { echo "build first: cargo build --release --bins" >&2; exit 1; }
"$SANDBOX" scripts/bench/own-cgroup.sh bash -c "target/release/netctld 2>/dev/null & d=\$!; for i in \$(seq 100); do [ -S /run/netctl/netctl.sock ] && break; sleep 0.05; done;
  target/release/netctl network create bench >/dev/null && python3 scripts/bench/runtime_attach.py target/release $N; kill \$d; wait \$d || true"
