"""Programs the tests drive that `make install-test` installs (Debian packages, built binaries)."""

from __future__ import annotations

import glob
import os

import pytest


def require_program(pattern: str, installer: str) -> str:
    """The program's path (``pattern`` may be a glob); without it the test skips on a developer's
    machine and fails in CI, where ``make install-test`` put it there."""
    found = sorted(glob.glob(pattern))
    if found and os.access(found[-1], os.X_OK):
        return found[-1]
    message = f"{pattern} is missing: run `bash {installer}` (as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
