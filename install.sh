#!/usr/bin/env bash
# Builds netctl, installs it under /usr/local and starts netctld with systemd.
# Usage: sudo ./install.sh        (re-run to upgrade; your netctl.toml is kept)
# For packaging (and the tests): DESTDIR=/some/root installs into that tree and
# starts nothing; NETCTL_BIN_DIR=DIR takes binaries already built there instead of
# running cargo.
set -euo pipefail
cd "$(dirname "$0")"
DESTDIR=${DESTDIR:-}
BIN=${NETCTL_BIN_DIR:-target/release}
[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo ./install.sh)" >&2; exit 1; }
if [ -z "${NETCTL_BIN_DIR:-}" ]; then
  if ! command -v cargo >/dev/null; then
    [ -f "${SUDO_USER:+/home/$SUDO_USER}/.cargo/env" ] && . "/home/$SUDO_USER/.cargo/env"
    [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  fi
  command -v cargo >/dev/null || { echo "install.sh: cargo not found; install Rust from rustup first" >&2; exit 1; }
fi

# What netctld runs or needs at run time: nft (nftables) for the firewall, ip
# (iproute2); and to build it, protoc (protobuf-compiler, for the etcd client of
# the cluster). With apt where apt exists; elsewhere say what is missing.
need=()
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
[ -n "${NETCTL_BIN_DIR:-}" ] || command -v protoc >/dev/null || need+=(protobuf-compiler)
if [ ${#need[@]} -gt 0 ] && [ -z "$DESTDIR" ]; then
  if command -v apt-get >/dev/null; then
    echo "install.sh: installing ${need[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" \
      || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"; }
  else
    echo "install.sh: netctld needs ${need[*]}: install them with your package manager" >&2
    exit 1
  fi
fi

# What the build needs besides Rust: clang and libbpf's headers for the
# resolver's kernel fast path (crates/netctl-ebpf, a tc program in C).
if [ -z "${NETCTL_BIN_DIR:-}" ]; then
  build_need=()
  command -v clang >/dev/null || build_need+=(clang llvm)
  [ -f /usr/include/bpf/bpf_helpers.h ] || build_need+=(libbpf-dev)
  if [ ${#build_need[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null; then
      echo "install.sh: installing ${build_need[*]} with apt-get (to build)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${build_need[@]}" \
        || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${build_need[@]}"; }
    else
      echo "install.sh: the build needs ${build_need[*]}: install them with your package manager" >&2
      exit 1
    fi
  fi
fi
[ -n "${NETCTL_BIN_DIR:-}" ] || cargo build --release --bins
install -d -m 0755 "$DESTDIR/usr/local/bin" "$DESTDIR/etc/netctl" "$DESTDIR/usr/local/share/doc/netctl"
install -m 0755 "$BIN/netctld" "$BIN/netctl" "$DESTDIR/usr/local/bin/"
[ -f "$DESTDIR/etc/netctl/netctl.toml" ] || install -m 0644 config/netctl.toml "$DESTDIR/etc/netctl/netctl.toml"
install -m 0644 README.md "$DESTDIR/usr/local/share/doc/netctl/README.md"

# Shell completions where bash-completion, zsh and fish look for them, and the man
# pages (netctl(1), netctl-network-create(1), ...), all made by netctl itself.
bash_dir=$DESTDIR/usr/share/bash-completion/completions
zsh_dir=$DESTDIR/usr/local/share/zsh/site-functions
fish_dir=$DESTDIR/usr/share/fish/vendor_completions.d
man_dir=$DESTDIR/usr/local/share/man/man1
install -d -m 0755 "$bash_dir" "$zsh_dir" "$fish_dir" "$man_dir"
"$BIN/netctl" completion bash > "$bash_dir/netctl"
"$BIN/netctl" completion zsh > "$zsh_dir/_netctl"
"$BIN/netctl" completion fish > "$fish_dir/netctl.fish"
rm -f "$man_dir"/netctl.1 "$man_dir"/netctl-*.1
"$BIN/netctl" man "$man_dir"
[ -n "$DESTDIR" ] || ! command -v mandb >/dev/null || mandb -q 2>/dev/null || true

# Runtimes (issue 14): the CNI plugin where Debian's CNI plugins are and where
# containerd and most others look, and the OCI hooks file for podman and CRI-O.
install -m 0755 "$BIN/netctl-cni" "$DESTDIR/usr/local/bin/"
install -d -m 0755 "$DESTDIR/usr/lib/cni" "$DESTDIR/opt/cni/bin" "$DESTDIR/usr/share/containers/oci/hooks.d"
install -m 0755 "$BIN/netctl-cni" "$DESTDIR/usr/lib/cni/netctl-cni"
install -m 0755 "$BIN/netctl-cni" "$DESTDIR/opt/cni/bin/netctl-cni"
install -m 0644 config/oci-hooks.d/netctl.json "$DESTDIR/usr/share/containers/oci/hooks.d/netctl.json"

if [ -n "$DESTDIR" ]; then
  echo "installed into $DESTDIR (nothing started)"
  exit 0
fi
if [ -d /run/systemd/system ]; then
  install -m 0644 config/netctld.service /etc/systemd/system/netctld.service
  systemctl daemon-reload
  systemctl enable netctld.service
  systemctl restart netctld.service
  systemctl --no-pager --lines=5 status netctld.service
else
  echo "systemd is not running here: start the daemon by hand with"
  echo "  sudo netctld &"
fi
