#!/usr/bin/env bash
# Installs Debian's `chromium` for the UI's browser tests (tests/ui/test_browser.py drives it
# headless through playwright-core, which ships no browser of its own).
#
# - does nothing when /usr/bin/chromium is already there;
# - runs `apt-get update` once, then installs only the `chromium` package (no recommends);
# - needs root and Debian's mirrors only (CI and developer machines run as root).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-browser.sh must run as root (apt-get install)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
# fonts-liberation gives headless pages real glyphs, so screenshots are readable.
apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null

/usr/bin/chromium --version 2>/dev/null | head -n1
