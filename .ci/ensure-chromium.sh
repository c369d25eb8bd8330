#!/usr/bin/env bash
# Makes sure Chromium is installed for the console's browser test
# (e2e/console_test.go), which drives a headless Chromium from Go with
# chromedp. On a fresh machine, as root, it installs Debian's chromium package
# without recommends (about 300 MB installed with its libraries). Once
# /usr/bin/chromium is there, this does nothing.
#
# The test starts it with a fresh --user-data-dir and --headless --no-sandbox
# --disable-gpu --disable-quic --no-first-run --disable-background-networking
# --disable-component-update --disable-sync: no display, no setuid sandbox in
# a container, and nothing that reaches out to the network on its own.
set -euo pipefail

bin=/usr/bin/chromium
if [ -x "$bin" ]; then
	exit 0
fi

install_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium"
if [ "$(id -u)" != 0 ]; then
	echo "chromium is not installed; the console's browser test needs it (headless, driven by chromedp). Run as root:" >&2
	echo "  $install_cmd" >&2
	exit 1
fi

echo "installing chromium (headless, for the console's browser test; a few minutes and about 300 MB, once)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends chromium >/dev/null
[ -x "$bin" ] || { echo "$bin still missing after installing chromium" >&2; exit 1; }
