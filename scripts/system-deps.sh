#!/usr/bin/env bash
# Debian packages the tests need: Chromium (driven by Playwright) and ffmpeg
# (turns simulated sessions into the fake camera's .y4m videos) for the
# end-to-end tests, nginx for the deployment tests (scripts/cluster.sh).
# Installs them with apt-get when missing (needs root); does nothing when present.
# With arguments, only those packages (each named after the command it provides):
# `scripts/system-deps.sh nginx` is what `scripts/cluster.sh up` runs.
set -euo pipefail

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(chromium ffmpeg nginx)
need=()
for package in "${wanted[@]}"; do
    # nginx lives in /usr/sbin, which a non-root PATH may lack.
    command -v "$package" >/dev/null 2>&1 || [ -x "/usr/sbin/$package" ] || need+=("$package")
done
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
