#!/usr/bin/env bash
# Smoke test of the reference build: otelcol-ref (otlp receiver on
# 127.0.0.1:14317/14318 -> file exporter) + one span sent by telemetrygen.
# Usage: bench/smoke.sh [OUT_FILE]   (default /tmp/x.json). Loopback only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/.build/bin"
out="${1:-/tmp/x.json}"
work="$(mktemp -d)"
cfg="$work/config.yaml"
rm -f "$out"

cat > "$cfg" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:14317
      http:
        endpoint: 127.0.0.1:14318
exporters:
  file:
    path: $out
extensions:
  health_check:
    endpoint: 127.0.0.1:14133
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
YAML

"$bin/otelcol-ref" --config "$cfg" > "$work/collector.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for _ in $(seq 1 50); do
  curl -fsS http://127.0.0.1:14133/ >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/collector.log"; exit 1; }
  sleep 0.2
done

"$bin/telemetrygen" traces --otlp-insecure --otlp-endpoint 127.0.0.1:14317 --traces 1

for _ in $(seq 1 50); do
  [ -s "$out" ] && break
  sleep 0.2
done
[ -s "$out" ] || { echo "FAIL: no output in $out"; cat "$work/collector.log"; exit 1; }
echo "--- $out"
cat "$out"
echo
echo "smoke OK"
