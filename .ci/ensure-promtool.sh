#!/usr/bin/env bash
# Makes sure promtool is on PATH: `make test` checks and unit-tests the alert
# rules in deploy/observability with it. On a fresh machine, as root, it takes
# promtool alone out of Debian's prometheus package (Debian has no package
# with promtool only): the package is downloaded (about 20 MB), not
# installed, so no Prometheus server, service or dependency comes with it,
# and promtool (a Go binary that needs only libc) goes to
# PROMTOOL_DIR (/usr/local/bin). Once promtool is there, this does nothing.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
	exit 0
fi
dir=${PROMTOOL_DIR:-/usr/local/bin}

if [ "$(id -u)" != 0 ] && [ ! -w "$dir" ]; then
	echo "promtool is not installed; the alert rules' checks need it. Run as root:" >&2
	echo "  bash .ci/ensure-promtool.sh        (extracts promtool from Debian's prometheus package)" >&2
	echo "or put a promtool from https://prometheus.io/download/ on PATH." >&2
	exit 1
fi

echo "installing promtool into $dir (for the alert rules' checks): extracted from Debian's prometheus package, about 20 MB to download" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0777 "$tmp" # apt's download runs as the _apt user
if [ "$(id -u)" = 0 ]; then
	apt-get update -q >/dev/null
fi
(cd "$tmp" && apt-get download -q prometheus >/dev/null)
dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
install -m 0755 "$tmp/usr/bin/promtool" "$dir/promtool"
command -v promtool >/dev/null 2>&1 || { echo "promtool is in $dir, which is not on PATH" >&2; exit 1; }
