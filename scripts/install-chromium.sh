#!/usr/bin/env bash
# Installs Debian's chromium for the browser test (tests/browser.rs) when it is missing.
# Prints the browser's path.
set -euo pipefail
for b in "${CHROMIUM:-}" chromium chromium-browser; do
    if [ -n "$b" ] && command -v "$b" >/dev/null 2>&1 && "$b" --version >/dev/null 2>&1; then
        command -v "$b"
        exit 0
    fi
done
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
command -v chromium
