#!/usr/bin/env bash
# Installs Debian's `redis-server` package for the redis receiver's tests (tests/receivers/test_redis.py starts a private redis-server on a free loopback port with its own dir).
#
# - does nothing when /usr/bin/redis-server is already there (idempotent);
# - runs `apt-get update` once, then installs only `redis-server` (no recommends);
# - keeps the package's maintainer scripts from starting a system-wide daemon (no systemd in CI
#   containers; the tests start their own instance).
#
# Must run as root; needs only Debian's mirrors.
set -euo pipefail

if [ -x /usr/bin/redis-server ]; then
  echo "redis-server already installed: $(redis-server --version | head -n1)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-redis.sh must run as root (apt-get install)" >&2
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
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
echo "installed: $(redis-server --version | head -n1)"
