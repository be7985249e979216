#!/usr/bin/env bash
# Make sure PostgreSQL server binaries exist for the test suite (it starts its own cluster).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing postgresql with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
    # The package's own cluster is not needed: tests start a throw-away one on a free port.
    exit 0
fi
echo "PostgreSQL is missing: install it (e.g. 'sudo apt-get install postgresql') and run 'make test' again" >&2
exit 1
