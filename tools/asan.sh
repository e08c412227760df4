#!/usr/bin/env bash
# The long run of one native helper under AddressSanitizer and UBSan (outside CI): builds
# src/otelflow/native/<MODULE>.c with the sanitizers into a copy of src/, then runs TESTFILE's
# differential and mutated-bytes tests FUZZ_SCALE times longer against it. Any out-of-bounds access,
# use after free or undefined behaviour aborts the run.
#
#   tools/asan.sh _attrs tests/test_native_attrs.py      (make asan-attrs; ~10 min at FUZZ_SCALE=40)
#   FUZZ_SCALE=5 tools/asan.sh _counts tests/test_native_metrics.py
set -euo pipefail
MODULE="$1"
TESTFILE="$2"
shift 2

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d "/tmp/otelflow-asan${MODULE}.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

PY="${PYTHON:-python3}"
SUFFIX="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
INCLUDE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
LIBASAN="$(gcc -print-file-name=libasan.so)"

cp -a "$ROOT/src" "$WORK/src"
find "$WORK/src" -name '__pycache__' -prune -exec rm -rf {} +
rm -f "$WORK"/src/otelflow/native/"$MODULE"*.so
gcc -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
    -shared -fPIC -I"$INCLUDE" "$ROOT/src/otelflow/native/$MODULE.c" -o "$WORK/src/otelflow/native/$MODULE$SUFFIX"

cd "$ROOT"
export LD_PRELOAD="$LIBASAN" PYTHONPATH="$WORK/src:$ROOT" FUZZ_SCALE="${FUZZ_SCALE:-40}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# the sanitized build, not an installed one, must be the one imported
"$PY" -c 'import importlib, sys; m = importlib.import_module("otelflow.native." + sys.argv[2]); assert m.__file__.startswith(sys.argv[1]), m.__file__' "$WORK" "$MODULE"
"$PY" -m pytest -q -p no:cacheprovider "$TESTFILE" "$@"
echo "asan $MODULE: no sanitizer report (FUZZ_SCALE=${FUZZ_SCALE:-40})"
