#!/usr/bin/env bash
# Make sure what the media tests and the media step need is installed (Debian packages):
# ffmpeg decodes voice notes; OpenCV (under RapidOCR) loads libGL and GLib; the tests speak
# with espeak-ng, encode AMR with sox (libopencore-amrnb) and render text with a CJK font.
set -euo pipefail
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v sox >/dev/null 2>&1 || missing+=(sox)
ldconfig -p | grep -q 'libopencore-amrnb.so.0' || missing+=(libopencore-amrnb0)
ldconfig -p | grep -q 'libGL.so.1' || missing+=(libgl1)
ldconfig -p | grep -q 'libglib-2.0.so.0' || missing+=(libglib2.0-0)
fc-list 2>/dev/null | grep -qi 'Noto Sans CJK' || missing+=(fonts-noto-cjk)
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
echo "missing for the media tests: ${missing[*]} (e.g. 'sudo apt-get install ${missing[*]}')" >&2
exit 1
