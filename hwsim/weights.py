"""The chip's weight-mantissa arithmetic, one implementation for the IR, the program, the learning engine
and the exporters (Lava 0.10.0 ``lava.utils.weightutils``, generalised to ``weight_bits``).

* ``weight_range(sign_mode, weight_bits)``: the representable mantissas, ``[-2**b, 2**b - 1]`` (mixed),
  ``[0, 2**b - 1]`` (excitatory), ``[-(2**b - 1), 0]`` (inhibitory); Lava's ``b = 8``.
* ``truncated_bits(sign_mode, num_weight_bits, weight_bits)``: the low bits a projection drops,
  ``weight_bits - num_weight_bits + (sign_mode == 'mixed')`` (mixed 8-bit weights drop the LSB).
* ``truncate_weights``: drop them by an arithmetic shift (toward -inf; inhibitory weights truncate
  their magnitude), as Lava's first ``run_spk`` does.
* ``chip_weights``: clip to the range, then truncate (Lava ``clip_weights`` then ``truncate_weights``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["weight_range", "truncated_bits", "truncate_weights", "chip_weights", "SIGN_MODES"]

SIGN_MODES = ("mixed", "excitatory", "inhibitory")


def weight_range(sign_mode: str, weight_bits: int) -> tuple[int, int]:
    """Representable weight mantissas of a sign mode at ``weight_bits`` (see the module docstring)."""
    m = 1 << int(weight_bits)
    if sign_mode == "mixed":
        return -m, m - 1
    if sign_mode == "excitatory":
        return 0, m - 1
    if sign_mode == "inhibitory":
        return -(m - 1), 0
    raise ValueError(f"sign_mode={sign_mode!r} is not one of {SIGN_MODES}")


def truncated_bits(sign_mode: str, num_weight_bits: int, weight_bits: int) -> int:
    """Low bits dropped from a weight mantissa (>= 0; 0 when the projection keeps every bit)."""
    return max(0, int(weight_bits) - int(num_weight_bits) + (1 if sign_mode == "mixed" else 0))


def truncate_weights(weights, sign_mode: str, num_weight_bits: int, weight_bits: int = 8) -> np.ndarray:
    """Drop :func:`truncated_bits` low bits (int64 result); inhibitory weights are negated around it."""
    w = np.asarray(weights).astype(np.int64)
    ntb = truncated_bits(sign_mode, num_weight_bits, weight_bits)
    if ntb == 0:
        return w
    if sign_mode == "inhibitory":
        return -(((-w) >> ntb) << ntb)
    return (w >> ntb) << ntb


def chip_weights(weights, sign_mode: str, num_weight_bits: int, weight_bits: int = 8) -> np.ndarray:
    """Weight mantissas as the chip uses them (int64): clipped to :func:`weight_range`, then truncated."""
    lo, hi = weight_range(sign_mode, weight_bits)
    return truncate_weights(np.clip(np.asarray(weights, dtype=np.int64), lo, hi), sign_mode, num_weight_bits,
                            weight_bits)
