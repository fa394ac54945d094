#!/usr/bin/env bash
# The test suite's one system package: Debian's Chromium, for the Temporal UI browser test
# (test/integration/platform/temporal-ui.test.ts). Installed with apt-get when missing (as root, or
# through sudo); `apt-get update` only when the cached package lists do not suffice.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo_cmd="sudo"; else
    echo "chromium is missing and this user cannot install it: run 'apt-get install -y chromium' as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "[chromium] installing Debian's chromium for the Temporal UI browser test…"
$sudo_cmd apt-get install -y chromium >/dev/null \
  || { $sudo_cmd apt-get update >/dev/null && $sudo_cmd apt-get install -y chromium >/dev/null; }
