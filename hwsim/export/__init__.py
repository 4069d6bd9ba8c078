"""Export of chip networks to other simulators, and verification against them.

* :mod:`hwsim.export.lava` builds and runs Lava 0.10.0 processes (the only module that imports
  ``lava``, lazily inside functions); :func:`to_lava`, :func:`run_lava`.
* :mod:`hwsim.export.verify` runs hwsim and Lava on the same network and input and compares
  every step: :func:`verify_against_lava`.
* :mod:`hwsim.export.netx` writes lava-dl's netx HDF5 layout (h5py) and runs such a file through
  lava-dl's own reader (:func:`~hwsim.export.netx.to_netx`, :func:`~hwsim.export.netx.run_netx`).
* :mod:`hwsim.export.nir` writes and reads NIR graphs (float nodes plus our integers as metadata),
  and reads other libraries' float graphs (:func:`~hwsim.export.nir.read_float_graph`).

Importing this package does not import Lava, lava-dl or nir.
"""
from .lava import LavaGraph, UnexportableError, run_lava, to_lava
from .verify import VerifyReport, verify_against_lava

__all__ = ["LavaGraph", "UnexportableError", "run_lava", "to_lava", "VerifyReport", "verify_against_lava"]
