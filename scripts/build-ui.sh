#!/usr/bin/env bash
# Builds the web UI (ui/) into the Python package: src/otelflow/ui/static/{index.html,assets/app.js,assets/app.css}.
#
# - installs ui/'s npm dependencies exactly as ui/package-lock.json pins them (`npm ci`) when
#   ui/node_modules is missing or older than the lockfile (the browser tests need them too);
# - type-checks (tsc) and bundles (esbuild, ui/build.mjs), unless the built files are newer than
#   every source file.
# Needs node and npm (the npm registry); setup.py runs it when a wheel or sdist is built without the files.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=src/otelflow/ui/static
SOURCES=(ui/src ui/index.html ui/build.mjs ui/package.json ui/package-lock.json ui/tsconfig.json)

built() {
  local f
  for f in "$OUT/index.html" "$OUT/assets/app.js" "$OUT/assets/app.css"; do [ -s "$f" ] || return 1; done
  [ -z "$(find "${SOURCES[@]}" -type f -newer "$OUT/assets/app.js" -print -quit 2>/dev/null)" ]
}

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "build-ui: '$tool' is not installed (the UI is built with Node.js and npm)" >&2; exit 1; }
done

cd ui
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ui: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
cd ..

if built; then
  echo "ui: up to date"
  exit 0
fi

start=$SECONDS
cd ui
npm run --silent check
npm run --silent build
echo "ui: built in $((SECONDS - start)) s"
