#!/usr/bin/env bash
# Builds the example fleet's compiled services (docs/fleet.md):
#   examples/go-svc/bin/go-svc               (go build, modules from go.mod/go.sum)
#   examples/rust-svc/target/release/rust-svc (cargo build --release --locked)
# Cached: a service is rebuilt only when one of its sources is newer than its binary.
# Cold times on the 2-core machine: Go ~20 s (module download + build), Rust ~70 s after the
# crates are fetched (cargo fetch adds a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

# True when $1 exists and no file among the remaining paths (searched recursively) is newer.
up_to_date() {
  local bin="$1"; shift
  [ -x "$bin" ] || return 1
  [ -z "$(find "$@" -type f -newer "$bin" -print -quit 2>/dev/null)" ]
}

GO_SRC=(examples/go-svc/go.mod examples/go-svc/go.sum examples/go-svc/main.go)
if up_to_date examples/go-svc/bin/go-svc "${GO_SRC[@]}"; then
  echo "go-svc: up to date"
else
  command -v go >/dev/null || { echo "build-fleet: 'go' is not installed" >&2; exit 1; }
  echo "go-svc: building"
  start=$SECONDS
  (cd examples/go-svc && go build -mod=readonly -trimpath -o bin/go-svc .)
  echo "go-svc: built in $((SECONDS - start)) s"
fi

RUST_SRC=(examples/rust-svc/Cargo.toml examples/rust-svc/Cargo.lock examples/rust-svc/src)
if up_to_date examples/rust-svc/target/release/rust-svc "${RUST_SRC[@]}"; then
  echo "rust-svc: up to date"
else
  command -v cargo >/dev/null || { echo "build-fleet: 'cargo' is not installed" >&2; exit 1; }
  echo "rust-svc: building (cold: about a minute on 2 cores)"
  start=$SECONDS
  (cd examples/rust-svc && cargo build --release --locked --quiet)
  # cargo leaves the binary's mtime alone when nothing changed: touch it so the cache check holds.
  touch examples/rust-svc/target/release/rust-svc
  echo "rust-svc: built in $((SECONDS - start)) s"
fi
