#!/usr/bin/env bash
# Makes sure promtool is on PATH: `make test` checks and unit-tests the alert
# rules in deploy/observability with it. On a fresh machine, as root, it
# installs Debian's prometheus package (which ships promtool; Debian has no
# smaller package with it) without recommends, and without starting the
# prometheus service: a policy-rc.d that denies every start is in place for
# the install when the machine has none of its own.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
	exit 0
fi

install_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus"
if [ "$(id -u)" != 0 ]; then
	echo "promtool is not installed; the alert rules' checks need it. Run as root:" >&2
	echo "  $install_cmd" >&2
	exit 1
fi

policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# Deny service starts while ensure-promtool.sh installs.\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi

echo "installing prometheus (for promtool, which checks the alert rules)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends prometheus
command -v promtool >/dev/null 2>&1 || { echo "promtool still missing after install" >&2; exit 1; }
