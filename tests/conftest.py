"""Shared test configuration.

Tests that need Lava use the ``lava`` fixture. Without Lava they FAIL (CI requires them); a user
without Lava may opt out with HWLEARN_SKIP_LAVA=1, which turns them into skips.
"""
import os

import pytest
from hypothesis import settings

# No per-example deadline (numba compiles and a loaded 2-core machine make timings meaningless);
# CI explores a fixed, derandomized set of examples so a submission's result is reproducible.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def lava():
    try:
        from hwsim._optional import require_lava
        return require_lava("this test")
    except ImportError as exc:
        if os.environ.get("HWLEARN_SKIP_LAVA") == "1" and os.environ.get("HWLEARN_REQUIRE_LAVA") != "1":
            pytest.skip(f"Lava not available and HWLEARN_SKIP_LAVA=1: {exc}")
        raise
