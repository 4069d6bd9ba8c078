"""hwsim: a fixed-point, event-driven, Loihi-style chip simulator (numpy + numba only).

Layers: ``constants`` and ``spec`` (bit widths, limits) -> ``network`` (the chip IR) ->
kernels (pure numba functions) -> simulator, mapper, counters, HDF5 I/O, export to Lava.
hwsim never imports torch, models or rules; Lava is imported only inside its export module.
"""
from ._numba_cache import drop_stale_cache as _drop_stale_cache

_drop_stale_cache()

from .spec import LOIHI, ChipSpec, SpecError  # noqa: E402
from .network import Network  # noqa: E402

__all__ = ["ChipSpec", "LOIHI", "SpecError", "Network"]
