#!/usr/bin/env bash
# Debian packages the end-to-end tests need: Chromium (driven by Playwright)
# and ffmpeg (turns simulated sessions into the fake camera's .y4m videos).
# Installs them with apt-get when missing (needs root); does nothing when present.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "system-deps: missing ${need[*]}; run this script as root (apt-get install ${need[*]})" >&2
        exit 1
    fi
else
    SUDO=
fi
echo "system-deps: installing ${need[*]} from Debian packages"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true  # a stale index may still hold the packages
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
