#!/usr/bin/env bash
# The Prometheus server from Debian's own package, for the integration tests
# (tests/integration/test_prometheus_server.py starts its own instance on loopback with its own
# flags). Idempotent; needs root (scripts/apt-install.sh does the installing and keeps the package
# from starting a system-wide daemon on :9090).
set -euo pipefail
bash "$(dirname "$0")/apt-install.sh" prometheus /usr/bin/prometheus
/usr/bin/prometheus --version 2>&1 | head -n1
