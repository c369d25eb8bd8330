#!/usr/bin/env bash
# Makes sure redis-server is on PATH for the redis backend's tests, which
# start their own server on a unix socket. On a fresh machine, as root, it
# installs Debian's redis-server package without recommends (about 10 MB with
# redis-tools) and leaves its system service stopped and disabled: the tests
# never use it. Once redis-server is there, this does nothing.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
	exit 0
fi

install_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server"
if [ "$(id -u)" != 0 ]; then
	echo "redis-server is not installed; the redis backend's tests need it. Run as root:" >&2
	echo "  $install_cmd" >&2
	exit 1
fi

echo "installing redis-server (for the redis backend's tests; its service is left disabled)" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the package from starting a system service: the tests start their own.
policy=/usr/sbin/policy-rc.d
had_policy=false
[ -e "$policy" ] && had_policy=true
$had_policy || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
trap '$had_policy || rm -f "$policy"' EXIT
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends redis-server >/dev/null
# Nor start it at boot: with systemd running, through systemctl; without
# (a container), by removing the links the package made.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl stop redis-server >/dev/null 2>&1 || true
	systemctl disable redis-server >/dev/null 2>&1 || true
elif command -v deb-systemd-helper >/dev/null 2>&1; then
	deb-systemd-helper disable redis-server.service >/dev/null 2>&1 || true
fi
command -v redis-server >/dev/null 2>&1 || { echo "redis-server still missing after install" >&2; exit 1; }
