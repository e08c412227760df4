#!/usr/bin/env bash
# Installs Debian's `nginx` package for the nginx receiver's tests (tests/receivers/test_nginx.py runs nginx unprivileged (-p prefix -c conf, daemon off) on a free loopback port).
#
# - does nothing when /usr/sbin/nginx is already there (idempotent);
# - runs `apt-get update` once, then installs only `nginx` (no recommends);
# - keeps the package's maintainer scripts from starting a system-wide daemon (no systemd in CI
#   containers; the tests start their own instance).
#
# Must run as root; needs only Debian's mirrors.
set -euo pipefail

if [ -x /usr/sbin/nginx ]; then
  echo "nginx already installed: $(nginx -v 2>&1 | head -n1)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-nginx.sh must run as root (apt-get install)" >&2
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
apt-get install -y -qq --no-install-recommends nginx >/dev/null
echo "installed: $(nginx -v 2>&1 | head -n1)"
