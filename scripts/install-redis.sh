#!/usr/bin/env bash
# Debian's `redis-server` for the redis receiver's tests (tests/receivers/test_redis.py starts a
# private redis-server on a free loopback port with its own dir). Idempotent; needs root.
exec bash "$(dirname "$0")/apt-install.sh" redis-server /usr/bin/redis-server
