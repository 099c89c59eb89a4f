#!/usr/bin/env bash
# test-deps.sh installs the Debian packages the integration tests need
# (real dockerd, real systemd in systemd-nspawn, tmux, wabt, Chromium).
#
# Idempotent and quick: it asks dpkg what is already installed and only
# runs apt-get (update once, then install) when something is missing.
# Called by `make test` and CI; needs root (or sudo) to install.
set -euo pipefail

# Package -> why it is needed.
#   tmux               tmux probe tests
#   wabt               wat2wasm for the non-Go WASM example
#   docker.io          dockerd + containerd + runc (testenv.StartDocker)
#   debootstrap        builds the minimal bookworm rootfs (testenv.StartSystemd)
#   wget               what debootstrap downloads with
#   ca-certificates    https mirrors for debootstrap/apt
#   systemd-container  systemd-nspawn
#   dbus               busctl-free D-Bus plumbing on the host side
#   iproute2           ip(8), used by docker and for debugging namespaces
#   xz-utils zstd      package/tarball decompression (debootstrap, docker import)
#   util-linux         mount/umount/nsenter
#   procps             ps/pkill used when debugging leftovers
#   prometheus         a real Prometheus scraping the agent (testenv.StartPrometheus)
#   git                the projects example reads real repositories
#   prometheus-alertmanager  a real Alertmanager receiving alerts (testenv.StartAlertmanager)
#   chromium           the dashboard's browser test (testenv.StartChromium)
#   bash-completion zsh fish  the shell completions, run in each shell
#   groff-base         the man page is checked for roff warnings
#   rpm                reads the .rpm that make package builds
PKGS=(
	tmux
	wabt
	docker.io
	debootstrap
	wget
	ca-certificates
	systemd-container
	dbus
	iproute2
	xz-utils
	zstd
	util-linux
	procps
	prometheus
	git
	prometheus-alertmanager
	chromium
	bash-completion
	zsh
	fish
	groff-base
	rpm
)

missing=()
for p in "${PKGS[@]}"; do
	# dpkg -s exits 0 for "deinstall" states too; check the status line.
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "test-deps: missing packages (${missing[*]}) and not root; install them as root" >&2
		exit 1
	fi
fi

echo "test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
