#!/usr/bin/env bash
# Debian's InfluxDB 1.6 (the v1 HTTP API: /write, /query) for the influxdb exporter's tests, which
# run their own influxd on free ports. Idempotent; needs root.
exec bash "$(dirname "$0")/apt-install.sh" influxdb /usr/bin/influxd
