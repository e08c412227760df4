#!/usr/bin/env bash
# Debian's `nginx` for the nginx receiver's tests (tests/receivers/test_nginx.py runs nginx
# unprivileged (-p prefix -c conf, daemon off) on a free loopback port). Idempotent; needs root.
exec bash "$(dirname "$0")/apt-install.sh" nginx /usr/sbin/nginx
