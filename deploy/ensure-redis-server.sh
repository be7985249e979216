#!/usr/bin/env bash
# Make sure a redis-server binary exists for the test suite (it starts its own instances).
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq redis-server >/dev/null
    # The package's service is not needed: tests start their own server on a free port.
    exit 0
fi
echo "redis-server is missing: install it (e.g. 'sudo apt-get install redis-server') and run 'make test' again" >&2
exit 1
