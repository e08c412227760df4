#!/usr/bin/env bash
# Builds the real Jaeger v2 all-in-one (github.com/jaegertracing/jaeger/cmd/jaeger, pinned as a tool
# in bench/jaeger/go.mod) into bench/.build/bin/jaeger, for the Jaeger query API's differential test
# (tests/store/test_jaeger_api.py). Skipped when the binary is newer than go.mod/go.sum.
# Cold: module download ~40 s, then about 6 CPU-minutes of compiling (13 min wall on a busy 2-core
# machine); Go's build cache makes a rebuild after a go.mod touch quick.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=bench/.build/bin/jaeger
SRC=(bench/jaeger/go.mod bench/jaeger/go.sum)
if [ -x "$BIN" ] && [ -z "$(find "${SRC[@]}" -newer "$BIN" -print -quit)" ]; then
  echo "jaeger: up to date"
  exit 0
fi
command -v go >/dev/null || { echo "build-jaeger: 'go' is not installed" >&2; exit 1; }
echo "jaeger: building (cold: several minutes on 2 cores)"
start=$SECONDS
mkdir -p bench/.build/bin
(cd bench/jaeger && go build -mod=readonly -trimpath -buildvcs=false -o ../.build/bin/jaeger github.com/jaegertracing/jaeger/cmd/jaeger)
echo "jaeger: built in $((SECONDS - start)) s"
