#!/bin/sh
# After removal. Debian calls it with "remove", then "purge" when asked to
# forget everything; RPM with 0 (erase) or 1 (upgrade).
set -e

if [ -d /run/systemd/system ]; then
	case "$1" in remove | purge | 0) systemctl --system daemon-reload >/dev/null || true ;; esac
fi
case "$1" in
remove)
	if command -v deb-systemd-helper >/dev/null; then
		deb-systemd-helper mask barbossa.service >/dev/null || true
	fi
	;;
purge)
	if command -v deb-systemd-helper >/dev/null; then
		deb-systemd-helper purge barbossa.service >/dev/null || true
		deb-systemd-helper unmask barbossa.service >/dev/null || true
	fi
	# What the agent kept and what was configured for it: the history, the
	# compilation cache, the config and the drop-in probes. The barbossa
	# user stays, as Debian leaves system users, so that no file it may
	# still own elsewhere passes to a new user given its id.
	rm -rf /var/lib/barbossa /etc/barbossa
	;;
esac
exit 0
