#!/usr/bin/env bash
# Installs the Prometheus server from Debian's own package, for the integration tests
# (tests/integration/test_prometheus_server.py starts its own instance on loopback).
#
# - does nothing when /usr/bin/prometheus is already there;
# - runs `apt-get update` once, then installs only the `prometheus` package (no recommends);
# - keeps the package's init script from starting a system-wide daemon on :9090 (there is no
#   systemd in CI containers, and the tests start their own instance with its own flags).
#
# Must run as root (CI and developer machines run as root); needs only Debian's mirrors.
set -euo pipefail

if [ -x /usr/bin/prometheus ]; then
  echo "prometheus already installed: $(/usr/bin/prometheus --version 2>&1 | head -n1)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-prometheus.sh must run as root (apt-get install)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Refuse service starts from maintainer scripts while we install, unless a policy is already set.
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
apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Belt and braces: a daemon started anyway would hold :9090; the tests never use it.
if command -v pgrep >/dev/null 2>&1 && pgrep -x prometheus >/dev/null 2>&1; then
  if [ -x /etc/init.d/prometheus ]; then /etc/init.d/prometheus stop >/dev/null 2>&1 || true; fi
fi

/usr/bin/prometheus --version 2>&1 | head -n1
