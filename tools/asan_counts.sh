#!/usr/bin/env bash
# The long run of the native item counter under AddressSanitizer and UBSan (outside CI):
# builds src/otelflow/native/_counts.c with the sanitizers into a copy of src/, then runs the
# differential and mutated-bytes tests of tests/test_native_metrics.py FUZZ_SCALE times longer
# against it. Any out-of-bounds access, use after free or undefined behaviour aborts the run.
#
#   tools/asan_counts.sh              FUZZ_SCALE=40 (about 5 minutes on a quiet core)
#   FUZZ_SCALE=5 tools/asan_counts.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d /tmp/otelflow-asan-counts.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

PY="${PYTHON:-python3}"
SUFFIX="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
INCLUDE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
LIBASAN="$(gcc -print-file-name=libasan.so)"

cp -a "$ROOT/src" "$WORK/src"
find "$WORK/src" -name '__pycache__' -prune -exec rm -rf {} +
rm -f "$WORK"/src/otelflow/native/_counts*.so
gcc -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
    -shared -fPIC -I"$INCLUDE" "$ROOT/src/otelflow/native/_counts.c" -o "$WORK/src/otelflow/native/_counts$SUFFIX"

cd "$ROOT"
export LD_PRELOAD="$LIBASAN" PYTHONPATH="$WORK/src:$ROOT" FUZZ_SCALE="${FUZZ_SCALE:-40}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# the sanitized build, not an installed one, must be the one imported
"$PY" -c 'import sys; from otelflow.native import _counts; assert _counts.__file__.startswith(sys.argv[1]), _counts.__file__' "$WORK"
"$PY" -m pytest -q -p no:cacheprovider tests/test_native_metrics.py "$@"
echo "asan_counts: no sanitizer report (FUZZ_SCALE=${FUZZ_SCALE:-40})"
