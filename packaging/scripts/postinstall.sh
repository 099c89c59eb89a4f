#!/bin/sh
# After install or upgrade. Debian calls it with "configure" (and the
# version upgraded from), RPM with 1 (install) or 2 (upgrade).
set -e

case "$1" in
configure | 1 | 2) ;;
*) exit 0 ;;
esac

# The agent's user and group (packaging/barbossa.sysusers).
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/barbossa.conf
elif ! getent passwd barbossa >/dev/null; then
	getent group barbossa >/dev/null || groupadd --system barbossa
	useradd --system --gid barbossa --home-dir /var/lib/barbossa --no-create-home \
		--shell /usr/sbin/nologin --comment "Barbossa monitoring agent" barbossa
fi

# The docker probe reads the Docker socket through its group; without
# Docker there is nothing to join (docs/DEPLOY.md says what to do later).
if getent group docker >/dev/null && ! id -nG barbossa | tr ' ' '\n' | grep -qx docker; then
	usermod -a -G docker barbossa
fi

# The config may hold a token: readable by the agent's group, not by all.
chgrp barbossa /etc/barbossa/barbossa.toml
chmod 0640 /etc/barbossa/barbossa.toml

# Enable and start as Debian's dh_installsystemd does (its helpers
# remember a unit the admin disabled), or as RPM's %systemd_post does.
if [ "$1" = configure ]; then
	deb-systemd-helper unmask barbossa.service >/dev/null || true
	# was-enabled is true for a new installation, so it gets enabled.
	if deb-systemd-helper --quiet was-enabled barbossa.service; then
		deb-systemd-helper enable barbossa.service >/dev/null || true
	else
		deb-systemd-helper update-state barbossa.service >/dev/null || true
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		# An upgrade restarts: the store is flushed and the new binary runs.
		if [ -n "$2" ]; then action=restart; else action=start; fi
		deb-systemd-invoke "$action" barbossa.service >/dev/null || true
	fi
elif [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
	if [ "$1" = 1 ]; then
		systemctl --no-reload preset barbossa.service >/dev/null 2>&1 || true
	else
		systemctl try-restart barbossa.service >/dev/null 2>&1 || true
	fi
fi
exit 0
