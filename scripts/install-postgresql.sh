#!/usr/bin/env bash
# Installs Debian's `postgresql` package (PostgreSQL 15 on bookworm) for the postgresql receiver's
# tests (tests/receivers/test_postgresql.py runs its own `initdb` + `postgres` as the package's
# `postgres` user, in a temp dir, on a free loopback port).
#
# Idempotent; needs root (scripts/apt-install.sh does the installing). The server binary is not on
# PATH: the check is the path glob /usr/lib/postgresql/*/bin/postgres.
exec bash "$(dirname "$0")/apt-install.sh" postgresql '/usr/lib/postgresql/*/bin/postgres'
