#!/usr/bin/env bash
# Make sure Debian's Chromium exists for the console's browser tests (Playwright drives
# /usr/bin/chromium; it never downloads a browser of its own).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
    exit 0
fi
echo "chromium is missing: install it (e.g. 'sudo apt-get install chromium') and run 'make test' again" >&2
exit 1
