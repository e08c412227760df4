#!/usr/bin/env bash
# Creates the project's virtual environment (default .venv) with the first python3 on PATH.
#
# Everything the Makefile installs goes into it, so a system Python that refuses `pip install`
# (PEP 668: Debian, Ubuntu) works like any other. On Debian/Ubuntu without the venv module
# (python3-venv), it installs that package when it can (as root, with apt-get).
set -euo pipefail
VENV="${1:-.venv}"
BASE="${BASE_PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
  exit 0  # already there
fi
command -v "$BASE" >/dev/null || { echo "make-venv: $BASE is not installed (otelflow needs Python 3.11 or newer)" >&2; exit 1; }
"$BASE" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "make-venv: $("$BASE" --version) is too old: otelflow needs Python 3.11 or newer" >&2; exit 1; }

if ! "$BASE" -m venv "$VENV" 2>/dev/null; then
  rm -rf "$VENV"
  version="$("$BASE" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "venv: installing python${version}-venv (Debian/Ubuntu ship Python's venv module separately)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "python${version}-venv" >/dev/null
    "$BASE" -m venv "$VENV"
  else
    echo "make-venv: '$BASE -m venv' failed; on Debian/Ubuntu install it with: sudo apt-get install python${version}-venv" >&2
    exit 1
  fi
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
echo "venv: $VENV ($("$VENV/bin/python" --version))"
