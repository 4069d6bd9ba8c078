"""ChipSpec: every bit width and resource limit of the simulated chip, validated in one place.

Defaults are Loihi's, as Lava 0.10.0's bit-accurate models use them, and the core limits of
Loihi 1 (Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning",
IEEE Micro 38(1), 2018: 128 neuromorphic cores, 1,024 compartments, 4,096 fan-in and 4,096
fan-out axons and 128 KB of synaptic memory per core). Quantization studies vary a validated copy:
``spec.replace(weight_bits=6)`` (unknown fields raise SpecError).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np


from .weights import SIGN_MODES, weight_range

class SpecError(ValueError):
    """A chip parameter outside the range the chip (or the spec) allows."""


class MappingError(SpecError):
    """A network does not fit the chip's cores (see :func:`hwsim.mapper.map_network`).

    The message names the population, the resource, what it needs and the limit.
    """


def check_range(name: str, value, lo: int, hi: int, where: str = "") -> int:
    """Return ``int(value)`` if it is an integer in ``[lo, hi]``, else raise SpecError.

    Integers (Python or numpy) pass, and so do floats with an integral, finite value (``24.0``);
    booleans, non-finite or fractional floats and everything else are refused. The message names
    the parameter, the value and the allowed range.
    """
    prefix = f"{where}: " if where else ""
    if isinstance(value, (bool, np.bool_)):
        raise SpecError(f"{prefix}{name}={value!r} is a bool, not an integer; allowed range [{lo}, {hi}]")
    if isinstance(value, (int, np.integer)):
        iv = int(value)
    elif isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        iv = int(value)
    else:
        raise SpecError(f"{prefix}{name}={value!r} is not an integer; allowed range [{lo}, {hi}]")
    if not lo <= iv <= hi:
        raise SpecError(f"{prefix}{name}={iv} is outside the allowed range [{lo}, {hi}]")
    return iv


def check_array_range(name: str, arr, lo: int, hi: int, where: str = ""):
    """Raise SpecError naming the first offending entry if any entry of ``arr`` is outside [lo, hi].

    Only bool, integer and integral finite float arrays pass (object or string arrays are refused).
    """
    prefix = f"{where}: " if where else ""
    try:
        a = np.asarray(arr)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{prefix}{name} is not an array of integers ({exc})") from None
    if a.size == 0:
        return a
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            idx = np.unravel_index(np.argmax(~np.isfinite(a)), a.shape)
            raise SpecError(f"{prefix}{name} has a non-finite entry {a[idx]} at index {tuple(int(i) for i in idx)}")
        if not np.all(a == np.round(a)):
            idx = np.unravel_index(np.argmax(a != np.round(a)), a.shape)
            raise SpecError(f"{prefix}{name} must hold integers; entry {a[idx]} at index "
                            f"{tuple(int(i) for i in idx)} is not")
    elif a.dtype.kind not in "iub":
        raise SpecError(f"{prefix}{name} must be an integer array, got dtype {a.dtype}")
    if a.min() >= lo and a.max() <= hi:          # the common case: two reductions, no temporaries
        return a
    bad = (a < lo) | (a > hi)
    if np.any(bad):
        idx = np.unravel_index(np.argmax(bad), a.shape)
        raise SpecError(f"{prefix}{name}[{', '.join(str(int(i)) for i in idx)}]={a[idx]} is outside "
                        f"the allowed range [{lo}, {hi}]")
    return a


# (field, lo, hi) bounds on the spec fields themselves.
_FIELD_BOUNDS = {
    "uv_bits": (8, 32),
    "decay_bits": (4, 16),
    "vth_mant_bits": (1, 24),
    "bias_mant_bits": (2, 16),
    "bias_exp_min": (-16, 0),
    "bias_exp_max": (0, 16),
    "weight_bits": (1, 16),
    "weight_exp_min": (-16, 0),
    "weight_exp_max": (0, 16),
    "max_delay": (0, 255),
    "message_bits": (1, 32),
    "trace_bits": (1, 16),
    "trace_frac_bits": (0, 16),
    "tag_bits": (1, 16),
    "accumulator_bits": (4, 31),
    "compartments_per_core": (1, 1 << 20),
    "cores_per_chip": (1, 1 << 16),
    "fan_in_axons_per_core": (1, 1 << 24),
    "fan_out_axons_per_core": (1, 1 << 24),
    "synaptic_memory_bytes_per_core": (1, 1 << 34),
}


@dataclass(frozen=True)
class ChipSpec:
    """Bit widths and per-core limits. All fields are integers; see ``_FIELD_BOUNDS`` for ranges.

    Neuron state
        uv_bits : width of the two's-complement current ``u`` and voltage ``v`` (24).
        decay_bits : width of the decay constants ``du``, ``dv`` (12: du in [-1, 4095], dv in [0, 4096]).
        vth_mant_bits : unsigned threshold mantissa width (17; the threshold is ``vth << 6``).
        bias_mant_bits : signed bias mantissa width (13: [-4096, 4095]); bias_exp_min/max its exponent.
    Synapses
        weight_bits : weight magnitude bits (8: MIXED weights in [-256, 255], EXC [0, 255]).
        weight_exp_min/max : weight exponent range (-8..7); the synaptic sum is shifted by it.
        max_delay : largest synaptic delay in steps (62, as netx clamps; Lava DelayDense allows 63).
        message_bits : signed payload width of graded spikes (24).
    Learning engine
        trace_bits (7), trace_frac_bits (8, impulse fraction), tag_bits (8),
        accumulator_bits (15, magnitude of the dw accumulator, in units of 2**-7 weight).
    Cores
        compartments_per_core (1024), cores_per_chip (128), fan_in_axons_per_core (4096),
        fan_out_axons_per_core (4096), synaptic_memory_bytes_per_core (131072 = 128 KiB).
    """

    uv_bits: int = 24
    decay_bits: int = 12
    vth_mant_bits: int = 17
    bias_mant_bits: int = 13
    bias_exp_min: int = 0
    bias_exp_max: int = 7
    weight_bits: int = 8
    weight_exp_min: int = -8
    weight_exp_max: int = 7
    max_delay: int = 62
    message_bits: int = 24
    trace_bits: int = 7
    trace_frac_bits: int = 8
    tag_bits: int = 8
    accumulator_bits: int = 15
    compartments_per_core: int = 1024
    cores_per_chip: int = 128
    fan_in_axons_per_core: int = 4096
    fan_out_axons_per_core: int = 4096
    synaptic_memory_bytes_per_core: int = 131072

    def __post_init__(self):
        for f in dataclasses.fields(self):
            lo, hi = _FIELD_BOUNDS[f.name]
            # stored as a plain int (24.0 or np.int64(24) become 24)
            object.__setattr__(self, f.name, check_range(f.name, getattr(self, f.name), lo, hi, where="ChipSpec"))

    # ---- derived ranges (inclusive) -------------------------------------------------
    @property
    def uv_range(self) -> tuple[int, int]:
        """Two's-complement range of u and v."""
        return -(1 << (self.uv_bits - 1)), (1 << (self.uv_bits - 1)) - 1

    @property
    def du_range(self) -> tuple[int, int]:
        return -1, (1 << self.decay_bits) - 1

    @property
    def dv_range(self) -> tuple[int, int]:
        return 0, 1 << self.decay_bits

    @property
    def vth_range(self) -> tuple[int, int]:
        return 0, (1 << self.vth_mant_bits) - 1

    @property
    def bias_mant_range(self) -> tuple[int, int]:
        return -(1 << (self.bias_mant_bits - 1)), (1 << (self.bias_mant_bits - 1)) - 1

    @property
    def bias_exp_range(self) -> tuple[int, int]:
        return self.bias_exp_min, self.bias_exp_max

    @property
    def weight_exp_range(self) -> tuple[int, int]:
        return self.weight_exp_min, self.weight_exp_max

    def weight_range(self, sign_mode: str) -> tuple[int, int]:
        """Representable weight mantissas for a sign mode ('mixed', 'excitatory', 'inhibitory')."""
        if sign_mode not in SIGN_MODES:
            raise SpecError(f"sign_mode={sign_mode!r} is not one of 'mixed', 'excitatory', 'inhibitory'")
        return weight_range(sign_mode, self.weight_bits)

    @property
    def message_range(self) -> tuple[int, int]:
        return -(1 << (self.message_bits - 1)), (1 << (self.message_bits - 1)) - 1

    @property
    def total_compartments(self) -> int:
        """Compartments on the whole chip: compartments_per_core x cores_per_chip (131,072)."""
        return self.compartments_per_core * self.cores_per_chip

    @property
    def delay_range(self) -> tuple[int, int]:
        return 0, self.max_delay

    def replace(self, **changes) -> "ChipSpec":
        """A validated copy with some fields changed."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SpecError(f"ChipSpec has no field(s) {sorted(unknown)}; fields are "
                            f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)


LOIHI = ChipSpec()
"""The default, Lava-exact configuration."""
