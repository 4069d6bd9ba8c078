"""Optional dependencies: find them without importing them, and fail clearly when a feature needs one."""
from importlib.util import find_spec

HAS_LAVA = find_spec("lava") is not None


def require_lava(feature: str):
    """Import and return the ``lava`` package, or raise ImportError naming the feature and the install."""
    import sys

    infra = "lava.magma.runtime.message_infrastructure.multiprocessing"
    if infra not in sys.modules:
        # Lava calls mp.set_start_method('fork') at import without force=True; if anything
        # (e.g. scikit-learn/joblib) fixed the start method first, that import fails with
        # "context has already been set" (it imports that module only when a run starts, so the
        # guard waits for that module, not for run_configs). Clear it so Lava can set its own.
        import multiprocessing as mp

        mp.set_start_method(None, force=True)
    try:
        import lava  # noqa: F401
        from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: F401  (fails on Python != 3.10)
        if infra not in sys.modules:
            import importlib
            importlib.import_module(infra)
    except Exception as exc:  # ImportError, or lava's own errors on unsupported Pythons
        raise ImportError(
            f"{feature} needs lava-nc 0.10.0, which runs only on Python 3.10 with numpy<2: "
            f"pip install 'hwlearn[lava]' in a Python 3.10 environment (import failed: {exc})"
        ) from exc
    return lava
