#!/usr/bin/env bash
# What the example fleet (examples/python-api, go-svc, rust-svc, the queue consumer) needs beyond
# otelflow's own test dependencies: Debian's redis-server for the Redis-streams queue, and the
# pinned Python packages of python-api (opentelemetry-distro, instrumentations, uvicorn, redis).
# The Go and Rust toolchains are expected on the machine (`go`, `cargo`); scripts/build-fleet.sh
# builds the two services from their go.mod/go.sum and Cargo.toml/Cargo.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

if ! command -v redis-server >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  # Debian's package starts a system redis on 6379; the tests and the demo run their own.
  (service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
fi

"$PYTHON" -m pip install --quiet --disable-pip-version-check -r examples/python-api/requirements.txt
