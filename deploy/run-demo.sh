#!/usr/bin/env bash
# `make demo`: the example fleet and otelflow on this machine, without Docker (docs/fleet.md).
#   otelflow (examples/fleet-collector.yaml, OTLP on 127.0.0.1:4317/4318) <- python-api :8080,
#   go-svc :8081, rust-svc :8082, queue-consumer; Redis (streams) on :6380, no persistence.
# Everything runs from $DEMO_DIR (default /tmp/otelflow-demo): logs, and fleet-data.jsonl, the
# file exporter's OTLP/JSON output. Ctrl-C stops every service with SIGTERM, so each one flushes,
# and otelflow last (each runs in its own session, so the terminal's Ctrl-C reaches only this script).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PYTHON="${PYTHON:-python3}"
DEMO_DIR="${DEMO_DIR:-/tmp/otelflow-demo}"
REDIS_PORT="${REDIS_PORT:-6380}"
mkdir -p "$DEMO_DIR"
rm -f "$DEMO_DIR/fleet-data.jsonl"

export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4317"
export OTEL_RESOURCE_ATTRIBUTES="service.version=0.1.0,deployment.environment=${DEPLOYMENT_ENVIRONMENT:-dev}"
PY_OTEL=(OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_TRACES_EXPORTER=otlp OTEL_METRICS_EXPORTER=otlp
         OTEL_LOGS_EXPORTER=otlp OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true
         OTEL_PYTHON_FASTAPI_EXCLUDED_URLS=healthz REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0")
INSTRUMENT="$(dirname "$(command -v "$PYTHON")")/opentelemetry-instrument"
[ -x "$INSTRUMENT" ] || INSTRUMENT="$(command -v opentelemetry-instrument)"

PIDS=()
stop_all() {
  echo; echo "stopping (SIGTERM, each service flushes its telemetry)..."
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; wait "${PIDS[i]}" 2>/dev/null || true; done
  echo "telemetry kept in $DEMO_DIR/fleet-data.jsonl"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; return 1; }

setsid redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$DEMO_DIR" >"$DEMO_DIR/redis.log" 2>&1 & PIDS+=($!)
(cd "$DEMO_DIR" && exec setsid otelflow --config "$ROOT/examples/fleet-collector.yaml") >"$DEMO_DIR/otelflow.log" 2>&1 & PIDS+=($!)
wait_port 4317; wait_port "$REDIS_PORT"
RUST_SVC_ADDR=127.0.0.1:8082 setsid examples/rust-svc/target/release/rust-svc >"$DEMO_DIR/rust-svc.log" 2>&1 & PIDS+=($!)
GO_SVC_ADDR=127.0.0.1:8081 RUST_SVC_URL=http://127.0.0.1:8082 setsid examples/go-svc/bin/go-svc >"$DEMO_DIR/go-svc.log" 2>&1 & PIDS+=($!)
(cd examples/python-api && exec setsid env "${PY_OTEL[@]}" OTEL_SERVICE_NAME=queue-consumer "$INSTRUMENT" "$PYTHON" consumer.py) >"$DEMO_DIR/queue-consumer.log" 2>&1 & PIDS+=($!)
(cd examples/python-api && exec setsid env "${PY_OTEL[@]}" OTEL_SERVICE_NAME=python-api GO_SVC_URL=http://127.0.0.1:8081 \
   "$INSTRUMENT" "$PYTHON" -m uvicorn app:app --host 127.0.0.1 --port 8080) >"$DEMO_DIR/python-api.log" 2>&1 & PIDS+=($!)
wait_port 8082; wait_port 8081; wait_port 8080

curl -s -X POST localhost:8080/orders -H 'content-type: application/json' -d '{"sku":"widget","quantity":2}'; echo
cat <<INFO

The fleet is up; one order was placed. Try:
  curl -X POST localhost:8080/orders -H 'content-type: application/json' -d '{"sku":"gadget","quantity":1}'
  tail -f $DEMO_DIR/otelflow.log                      # the debug exporter: one line per batch
  grep -c . $DEMO_DIR/fleet-data.jsonl                # OTLP/JSON lines from the file exporter (1 s flush)
  grep -o '"traceId":"[0-9a-f]*"' $DEMO_DIR/fleet-data.jsonl | sort | uniq -c   # spans and logs per trace
  grep -o '"name":"orders_total"' $DEMO_DIR/fleet-data.jsonl | wc -l            # counter exports
Service logs: $DEMO_DIR/{python-api,go-svc,rust-svc,queue-consumer,redis}.log
Press Ctrl-C to stop everything.
INFO
wait
