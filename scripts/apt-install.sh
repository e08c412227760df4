#!/usr/bin/env bash
# Installs one Debian package for the test suite, the way every scripts/install-*.sh needs it:
#
#   bash scripts/apt-install.sh PACKAGE COMMAND
#
# - does nothing when COMMAND (a name on PATH, a path, or a path glob) is already there (idempotent);
# - must run as root; runs `apt-get update` once per call, then installs only PACKAGE (no recommends);
# - keeps the package's maintainer scripts from starting a system-wide daemon (policy-rc.d), since
#   the tests start their own instances on free ports.
set -euo pipefail
package="$1"
command="$2"

present() { command -v "$command" >/dev/null 2>&1 || compgen -G "$command" >/dev/null; }

if present; then
  echo "$package already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "installing $package needs root (apt-get install); run: sudo apt-get install $package" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() {
  if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "$package" >/dev/null
present || { echo "$package installed, but $command is still missing" >&2; exit 1; }
echo "installed $package"
