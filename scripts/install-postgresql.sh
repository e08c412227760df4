#!/usr/bin/env bash
# Installs Debian's `postgresql` package (PostgreSQL 15 on bookworm) for the postgresql receiver's
# tests (tests/receivers/test_postgresql.py runs its own `initdb` + `postgres` as the package's
# `postgres` user, in a temp dir, on a free loopback port).
#
# - does nothing when a PostgreSQL server binary is already there (idempotent);
# - runs `apt-get update` once, then installs only `postgresql` (no recommends);
# - keeps the package's maintainer scripts from starting the system cluster's daemon (no systemd
#   in CI containers; the tests start their own server).
#
# Must run as root; needs only Debian's mirrors.
set -euo pipefail

existing() { ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n1; }

if bin=$(existing) && [ -n "$bin" ]; then
  echo "postgresql already installed: $("$bin" --version)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-postgresql.sh must run as root (apt-get install)" >&2
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
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
bin=$(existing)
echo "installed: $("$bin" --version)"
