"""Hypothesis profiles for the property-based suite (issue 21): ``ci`` (the default) is
derandomized, so a run is repeatable and CI never flakes on a new example, with no example
database on disk; ``explore`` (``HYPOTHESIS_PROFILE=explore``) draws fresh examples, many more
of them, and keeps the failures it finds in ``.hypothesis/``: fuzzing is how the next audit's
findings should be found first."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # a busy CI machine is slow; hangs are caught by the watchdog tests
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)
settings.register_profile("explore", **_COMMON)  # tests ask for 20x their examples
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
