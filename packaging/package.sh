#!/usr/bin/env bash
# package.sh OUT [VERSION] builds the .deb and the .rpm of Barbossa into OUT
# (`make package` runs it with bin/pkg): a static binary, its man page and
# shell completions, staged for nfpm (packaging/nfpm.yaml), which is built
# from its pinned module (packaging/tools). Also stages OUT/image/, the
# context of the FROM scratch container image (packaging/Dockerfile).
#
# VERSION defaults to `git describe`; a version that does not start with a
# digit (a bare commit) becomes 0.0.0~git<it>, which dpkg and rpm accept and
# order below any release. GOARCH picks the architecture.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 OUT [VERSION]" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
version=${2:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)}
version=${version#v}
pkgversion=$version
case "$pkgversion" in
[0-9]*) ;;
*) pkgversion="0.0.0~git${pkgversion}" ;;
esac
pkgversion=${pkgversion//-/\~}
arch=${GOARCH:-$(go env GOARCH)}
# The build date: the last commit's, so that a rebuild of one commit gives
# the same binary (SOURCE_DATE_EPOCH overrides it).
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

stage=$out/stage
rm -rf "$stage" "$out/image"
mkdir -p "$stage/doc" "$out/image"
cd "$root"
if [ ! -s core/builtinwasm/wasm/builtin.wasm ]; then
	echo "package.sh: core/builtinwasm/wasm/builtin.wasm is missing: run make wasm" >&2
	exit 1
fi
ldflags="-s -w -X main.version=$version -X main.buildDate=$date"
CGO_ENABLED=0 GOARCH=$arch go build -trimpath -ldflags "$ldflags" -o "$stage/barbossa" ./cmd/barbossa
gen=$stage/barbossa
if [ "$arch" != "$(go env GOHOSTARCH)" ]; then
	gen=$stage/barbossa-host
	CGO_ENABLED=0 GOARCH= go build -trimpath -ldflags "$ldflags" -o "$gen" ./cmd/barbossa
fi
"$gen" man | gzip -9n >"$stage/barbossa.1.gz"
for sh in bash zsh fish; do
	"$gen" completion "$sh" >"$stage/completion.$sh"
done
cp README.md docs/CONFIG.md docs/DEPLOY.md docs/API.md docs/PROBES.md "$stage/doc/"
cp packaging/grafana-dashboard.json packaging/alerts.yml "$stage/doc/"

go -C packaging/tools build -o "$out/.nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm
for packager in deb rpm; do
	STAGE=$stage VERSION=$pkgversion ARCH=$arch \
		"$out/.nfpm" package --config packaging/nfpm.yaml --packager "$packager" --target "$out/"
done

mkdir -p "$out/image/data" # the volume's mount point, owned by the image's user
cp "$stage/barbossa" packaging/barbossa.toml packaging/Dockerfile "$out/image/"
