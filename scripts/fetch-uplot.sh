#!/usr/bin/env bash
# fetch-uplot.sh re-fetches the vendored uPlot (the dashboard's chart
# library) from the npm registry and checks it against the pinned checksums.
# The build never runs this: the files are committed under
# portal/web/static/vendor/uplot/, so building needs no Node and no network.
#
#   scripts/fetch-uplot.sh            # re-fetch the pinned version, verify, copy
#   UPLOT_VERSION=1.6.33 scripts/fetch-uplot.sh --update   # move the pin
#
# Needs npm (`npm pack` downloads the package tarball without installing it).
set -euo pipefail

VERSION="${UPLOT_VERSION:-1.6.32}"
# SHA-256 of the package tarball of the pinned version. With --update the
# new tarball's checksum is printed instead of checked: put it here.
TARBALL_SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d

here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/portal/web/static/vendor/uplot"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "uplot@$VERSION" >/dev/null)
tgz="$tmp/uplot-$VERSION.tgz"
sum="$(sha256sum "$tgz" | cut -d' ' -f1)"
if [ "${1:-}" = "--update" ]; then
	echo "uplot $VERSION: tarball sha256 $sum (set TARBALL_SHA256 in $0)"
elif [ "$sum" != "$TARBALL_SHA256" ]; then
	echo "fetch-uplot: uplot-$VERSION.tgz has sha256 $sum, want $TARBALL_SHA256" >&2
	exit 1
fi
tar -xzf "$tgz" -C "$tmp"
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$dest/uPlot.iife.min.js"
cp "$tmp/package/dist/uPlot.min.css" "$dest/uPlot.min.css"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
echo "$VERSION" > "$dest/VERSION"
echo "uplot $VERSION -> $dest"
