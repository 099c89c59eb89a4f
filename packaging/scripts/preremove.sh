#!/bin/sh
# Before removal. Debian calls it with "remove" (or "upgrade" before an
# upgrade, which needs nothing: postinst restarts), RPM with 0 (erase) or
# 1 (upgrade).
set -e

case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		# Stopping flushes the store.
		systemctl stop barbossa.service >/dev/null 2>&1 || true
		[ "$1" = 0 ] && systemctl --no-reload disable barbossa.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
