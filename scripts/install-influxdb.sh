#!/bin/sh
# Debian's InfluxDB 1.6 (the v1 HTTP API: /write, /query), for the influxdb exporter's tests.
# The package's service is not started here: tests run their own influxd on a free port.
set -e
if command -v influxd >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends influxdb >/dev/null
# the package may start its service on the fixed default ports; tests do not need it
if command -v systemctl >/dev/null 2>&1; then systemctl stop influxdb 2>/dev/null || true; fi
command -v influxd
