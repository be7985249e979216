#!/usr/bin/env bash
# Make sure the Debian packages the test suite starts or drives are installed, with one
# apt-get run for whatever is missing. The tests start their own redis-server and PostgreSQL
# cluster on free loopback ports (the packages' services are not needed), drive Debian's
# Chromium through Playwright (it never downloads a browser), and speak, encode and render
# media with ffmpeg, espeak-ng, sox (AMR), OpenCV's libGL/GLib and a CJK font.
#
# Usage: deploy/ensure-packages.sh GROUP...   (groups: redis postgresql chromium media)
set -euo pipefail

missing=()
need() {  # need PACKAGE CHECK-COMMAND...: PACKAGE is missing unless the check succeeds
    local package=$1
    shift
    "$@" >/dev/null 2>&1 || missing+=("$package")
}
has_command() { command -v "$1"; }
# grep reads all its input (no -q): under pipefail an early exit would fail the pipe (SIGPIPE).
has_library() { ldconfig -p | grep -F "$1"; }
has_font() { fc-list | grep -Fi "$1"; }
has_initdb() { compgen -G '/usr/lib/postgresql/*/bin/initdb' || command -v initdb; }

for group in "$@"; do
    case $group in
        redis) need redis-server has_command redis-server ;;
        postgresql) need postgresql has_initdb ;;
        chromium) need chromium test -x /usr/bin/chromium ;;
        media)
            need ffmpeg has_command ffmpeg
            need espeak-ng has_command espeak-ng
            need sox has_command sox
            need libopencore-amrnb0 has_library libopencore-amrnb.so.0
            need libgl1 has_library libGL.so.1
            need libglib2.0-0 has_library libglib-2.0.so.0
            need fonts-noto-cjk has_font 'Noto Sans CJK'
            ;;
        *)
            echo "unknown group '$group' (groups: redis postgresql chromium media)" >&2
            exit 2
            ;;
    esac
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    exit 0
fi
echo "missing: ${missing[*]}: install them (e.g. 'sudo apt-get install ${missing[*]}') and run 'make test' again" >&2
exit 1
