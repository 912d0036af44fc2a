#!/usr/bin/env bash
# Builds netctl, installs it under /usr/local and starts netctld with systemd.
# Usage: sudo ./install.sh        (re-run to upgrade; your netctl.toml is kept)
set -euo pipefail
cd "$(dirname "$0")"
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo ./install.sh)" >&2; exit 1; }
if ! command -v cargo >/dev/null; then
  [ -f "${SUDO_USER:+/home/$SUDO_USER}/.cargo/env" ] && . "/home/$SUDO_USER/.cargo/env"
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || { echo "install.sh: cargo not found; install Rust from rustup first" >&2; exit 1; }

# What netctld runs or needs at run time: nft (nftables) for the firewall, ip
# (iproute2). With apt where apt exists; elsewhere say what is missing.
need=()
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    echo "install.sh: installing ${need[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" \
      || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"; }
  else
    echo "install.sh: netctld needs ${need[*]}: install them with your package manager" >&2
    exit 1
  fi
fi

cargo build --release --bins
install -m 0755 target/release/netctld target/release/netctl /usr/local/bin/
install -d -m 0755 /etc/netctl /usr/local/share/doc/netctl
[ -f /etc/netctl/netctl.toml ] || install -m 0644 config/netctl.toml /etc/netctl/netctl.toml
install -m 0644 README.md /usr/local/share/doc/netctl/README.md

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
