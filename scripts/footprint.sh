#!/usr/bin/env bash
# footprint.sh measures what the agent costs its host and prints the table
# docs/PERFORMANCE.md quotes: RSS after N minutes, peak RSS from a cold
# start, idle CPU, status endpoint throughput, start-up times; medians of
# agents run side by side, for the default config on this host, the system
# probe alone, and the default config against the test environment's real
# systemd and dockerd (internal/testenv). `make footprint` runs it.
#
#   scripts/footprint.sh                      # 3 agents per config, 10 minutes
#   scripts/footprint.sh -minutes 2 -runs 1   # a quick look
#   scripts/footprint.sh -configs default -bin before=/tmp/barbossa-old,after=bin/barbossa
#   scripts/footprint.sh -peers               # also node_exporter, glances, netdata (optional)
#   scripts/footprint.sh -pprof /tmp/profiles # [portal] pprof on; saves each agent's CPU and heap profiles
#
# Every flag is passed to TestFootprint (scripts/footprint/measure_test.go),
# which documents them: go test -tags footprint ./scripts/footprint -args -h
# Needs root for the real systemd and dockerd (as `make test` does).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "footprint: installing ${missing[*]}" >&2
		"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
			{ "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
	fi
}

install wrk
bash scripts/test-deps.sh # dockerd, systemd-nspawn: the "real" config
case " $* " in
*" -peers "*)
	# Their packages would start them as services: keep dpkg from doing it
	# (policy-rc.d 101: "action not allowed") while they are installed.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
		"${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
		trap '"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
		install prometheus-node-exporter glances python3-bottle netdata
		"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
		trap - EXIT
	else
		install prometheus-node-exporter glances python3-bottle netdata
	fi
	;;
esac

make --no-print-directory build >&2
exec go test -tags footprint -run '^TestFootprint$' -count=1 -timeout 0 -v ./scripts/footprint -args "$@"
