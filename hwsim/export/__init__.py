"""Export of chip networks to other simulators, and verification against them.

* :mod:`hwsim.export.lava` builds and runs Lava 0.10.0 processes (the only module that imports
  ``lava``, lazily inside functions); :func:`to_lava`, :func:`run_lava`.
* :mod:`hwsim.export.verify` runs hwsim and Lava on the same network and input and compares
  every step: :func:`verify_against_lava`.

Importing this package does not import Lava.
"""
from .lava import LavaGraph, UnexportableError, run_lava, to_lava
from .verify import VerifyReport, verify_against_lava

__all__ = ["LavaGraph", "UnexportableError", "run_lava", "to_lava", "VerifyReport", "verify_against_lava"]
