"""Shared test configuration.

Tests that need Lava use the ``lava`` fixture. Without Lava they FAIL (CI requires them); a user
without Lava may opt out with HWLEARN_SKIP_LAVA=1, which turns them into skips. The same holds for
the other packages CI requires (lava-dl's netx, nir, snntorch, ray: the fixtures below); with
HWLEARN_REQUIRE_LAVA=1 (CI) they fail even when HWLEARN_SKIP_LAVA=1 is set.
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


def _optional(import_name: str, what: str):
    """Import a package that CI requires: fail without it, skip only with HWLEARN_SKIP_LAVA=1 (not REQUIRE)."""
    import importlib

    try:
        return importlib.import_module(import_name)
    except Exception as exc:
        if os.environ.get("HWLEARN_SKIP_LAVA") == "1" and os.environ.get("HWLEARN_REQUIRE_LAVA") != "1":
            pytest.skip(f"{what} not available and HWLEARN_SKIP_LAVA=1: {exc}")
        raise ImportError(f"{what} is required for this test (make venv installs it): {exc}") from exc


@pytest.fixture(scope="session")
def netx(lava):
    """lava-dl 0.6.0's netx (installed by the Makefile with --no-deps; required in CI)."""
    return _optional("lava.lib.dl.netx", "lava-dl 0.6.0 (lava.lib.dl.netx)")


@pytest.fixture(scope="session")
def nir_pkg():
    """The ``nir`` package (hwlearn[nir]; required in CI)."""
    return _optional("nir", "nir 1.0.8")


@pytest.fixture(scope="session")
def snntorch(nir_pkg):
    """snnTorch with its NIR export (hwlearn[peers]; required in CI): a real peer library writing NIR."""
    _optional("snntorch.export_nir", "snntorch 1.0.0 with nirtorch")
    return _optional("snntorch", "snntorch 1.0.0")


@pytest.fixture(scope="session")
def ray_pkg():
    """Ray (hwlearn[ray]; required in CI: without it this fails, a skip only with HWLEARN_SKIP_LAVA=1)."""
    return _optional("ray", "ray 2.40.0")
