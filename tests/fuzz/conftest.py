"""Hypothesis profiles for the fuzz tests: "ci" (fixed examples, so CI is repeatable and stays
under ~90 s for the whole folder) and "dev" (random each run, same budget). CI=true selects "ci";
HYPOTHESIS_PROFILE overrides; FUZZ_SCALE multiplies every test's example count."""

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_COMMON)
settings.register_profile("dev", print_blob=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
