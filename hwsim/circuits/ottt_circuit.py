"""The parameters of on-chip OTTT: :class:`OTTTCircuit`, the integer circuit that trains a spiking
MLP with OTTT's three-factor rule, validated against a :class:`~hwsim.spec.ChipSpec`, and the checks
of its inputs (:func:`check_payload`, :func:`check_labels`, :func:`check_order`).

The parameters (per hidden layer ``l``, per readout head ``h``), all integers at ChipSpec widths:

* hidden LIF compartments (Lava fixed-point LIF, ``du``, ``dv``, ``vth``; bias 0), fed by dense
  synapses with weight mantissas in ``[-2**weight_bits, 2**weight_bits - 1]`` and ``wexp``;
* presynaptic traces ``x1`` (``trace_bits``) with leak ``x_dec / 4096`` and impulse ``x_imp``:
  OTTT's ``a_hat``. The input layer sends graded spikes (``in_bits`` unsigned payload) and its trace
  is the payload (``input_trace``);
* readout compartments (one head per block, ``head_wexp``), error compartments
  ``e = o - tgt * onehot(label)`` (the label arrives as an input) sending ``SR(e / 2**es)`` as graded
  spikes;
* feedback from the error compartments (a mirrored copy of the head, or fixed random weights:
  ``feedback``, :data:`FEEDBACK_MODES`) or, in global mode, from the layer above, into learning
  compartments that compute ``y2 = SR(fb * LUT[v - vth] / 2**sh)``, LUT = the surrogate derivative
  (``lut`` entries of ``lut_bits``, ``2**lut_shift`` voltage units per entry, centred on the
  threshold);
* the learning rule ``dw = m * 2**e * u0 * x1 * y2`` of every learning projection (hidden layers and
  heads; ``m`` in :data:`MANT_RANGE`, ``e`` in ``[-frac, EXP_MAX]``), applied every step (OTTT_O) or
  through the tag, added to the weight at the sample's end (OTTT_A), with ``rounding``.

The network built from these parameters and run by the one Simulator is
:mod:`hwsim.circuits.ottt` (:func:`~hwsim.circuits.ottt.ottt_network`,
:class:`~hwsim.circuits.ottt.OTTTNetwork`); the float counterpart and the mapping from a float network
are in :mod:`rules.onchip`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..kernels.events import ERR_OK, check_and_count
from ..spec import LOIHI, ChipSpec, SpecError, check_array_range, check_range

__all__ = ["OTTTCircuit", "FEEDBACK_MODES", "INPUT_TRACES", "MANT_RANGE", "EXP_MAX", "check_payload",
           "check_labels", "check_order"]

FEEDBACK_MODES = ("mirror", "random")
INPUT_TRACES = ("hold", "step")     # the first layer's pre trace (see hwsim.circuits.ottt)
MANT_RANGE = (-8, 7)          # Lava's rule-scale mantissa (4 bits, signed)
EXP_MAX = 8                   # Lava's rule-scale exponent maximum


@dataclass(frozen=True)
class OTTTCircuit:
    """Integer parameters of an on-chip OTTT network (validated against ``spec``).

    layer_sizes : (n0, n1, ..., nL) input and hidden sizes;  n_classes : readout size C
    T : steps per sample;  online : OTTT_O (True) or OTTT_A;  local : one head per hidden layer
        (local blocks) or one head on the last layer with feedback through the layers above
    feedback : 'mirror' (feedback = a copy of the head, kept equal) | 'random' (fixed)
    wexp, vth, dv, du : per hidden layer; head_wexp, tgt (target, readout units), es : per head
    sh : per hidden layer, learning-compartment shift;  lut, lut_shift : surrogate table
    m, e : rule mantissa/exponent per learning projection (hidden layers, then heads)
    x_dec (leak * 4096), x_imp : presynaptic trace;  in_bits : input payload bits (<= trace_bits)
    lut_bits : width of the LUT entries;  overflow : 'wrap' (Lava) | 'saturate' for u, v
    rounding : the rounding of every learning projection's updates ('stochastic', Lava's; 'nearest',
        'floor': study options)
    input_trace : the first layer's pre trace (:mod:`hwsim.circuits.ottt`): 'hold' (the last non-zero
        input value, rule ``u0*x1*y2``: a static frame through the pipeline's drain) or 'step' (the
        step's input only, rule ``x0*x1*y2``: event streams)
    """

    layer_sizes: tuple
    n_classes: int
    T: int
    online: bool
    local: bool
    feedback: str
    wexp: tuple
    vth: tuple
    dv: tuple
    du: tuple
    head_wexp: tuple
    tgt: tuple
    es: tuple
    sh: tuple
    lut: tuple
    lut_shift: int
    m: tuple
    e: tuple
    x_dec: int
    x_imp: int
    in_bits: int = 7
    lut_bits: int = 8
    overflow: str = "wrap"
    seed: int = 0
    input_trace: str = "hold"
    rounding: str = "stochastic"
    spec: ChipSpec = field(default=LOIHI)

    def __post_init__(self):
        sp = self.spec
        L = self.n_layers
        if L < 1 or min(self.layer_sizes) < 1:
            raise SpecError(f"layer_sizes={self.layer_sizes!r} must be an input size and >= 1 hidden size, all >= 1")
        check_range("n_classes", self.n_classes, 2, 1 << 20, "OTTTCircuit")
        check_range("T", self.T, 1, 1 << 20, "OTTTCircuit")
        if self.feedback not in FEEDBACK_MODES:
            raise SpecError(f"feedback={self.feedback!r} is not one of {FEEDBACK_MODES}")
        H = self.n_heads
        for name, n in (("wexp", L), ("vth", L), ("dv", L), ("du", L), ("sh", L), ("head_wexp", H),
                        ("tgt", H), ("es", H), ("m", L + H), ("e", L + H)):
            val = tuple(int(x) for x in getattr(self, name))
            if len(val) != n:
                raise SpecError(f"OTTTCircuit {name} has {len(val)} entries, need {n}")
            object.__setattr__(self, name, val)
        where = "OTTTCircuit"
        lo, hi = sp.weight_exp_range
        for k, x in enumerate(self.wexp + self.head_wexp):
            check_range(f"weight_exp[{k}]", x, lo, hi, where)
        for k in range(L):
            check_range(f"vth[{k}]", self.vth[k], *sp.vth_range, where)
            check_range(f"dv[{k}]", self.dv[k], *sp.dv_range, where)
            check_range(f"du[{k}]", self.du[k], *sp.du_range, where)
            check_range(f"sh[{k}]", self.sh[k], -32, 62, where)
        for k in range(H):
            check_range(f"es[{k}]", self.es[k], -32, 62, where)
            check_range(f"tgt[{k}]", self.tgt[k], 0, 1 << 40, where)
        if self.frac < 0:
            raise SpecError(f"accumulator_bits={sp.accumulator_bits} must be >= weight_bits={sp.weight_bits} "
                            "(the accumulator holds the weight plus its fraction bits)")
        for k in range(L + H):
            check_range(f"m[{k}]", self.m[k], *MANT_RANGE, where)
            check_range(f"e[{k}]", self.e[k], -self.frac, EXP_MAX, where)
        check_range("x_dec", self.x_dec, 0, 4096, where)
        check_range("x_imp", self.x_imp, 0, (1 << sp.trace_bits) - 1, where)
        check_range("in_bits", self.in_bits, 1, sp.trace_bits, where)
        check_range("lut_bits", self.lut_bits, 1, 24, where)
        check_range("lut_shift", self.lut_shift, 0, 40, where)
        lut = tuple(int(x) for x in self.lut)
        if not lut:
            raise SpecError("lut must have at least one entry")
        check_array_range("lut", np.asarray(lut), 0, (1 << self.lut_bits) - 1, where)
        object.__setattr__(self, "lut", lut)
        if self.rounding not in ("stochastic", "nearest", "floor"):
            raise SpecError(f"rounding={self.rounding!r} is not one of ('stochastic', 'nearest', 'floor')")
        if self.input_trace not in INPUT_TRACES:
            raise SpecError(f"input_trace={self.input_trace!r} is not one of {INPUT_TRACES}")
        if self.overflow not in ("wrap", "saturate"):
            raise SpecError(f"overflow={self.overflow!r} is not one of ('wrap', 'saturate')")

    # ---- derived widths ------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes) - 1

    @property
    def n_heads(self) -> int:
        return self.n_layers if self.local else 1

    @property
    def head_layers(self) -> tuple:
        return tuple(range(self.n_layers)) if self.local else (self.n_layers - 1,)

    @property
    def frac(self) -> int:
        """Fraction bits of the learning accumulator (Lava: 15 - 8 = 7)."""
        return self.spec.accumulator_bits - self.spec.weight_bits

    @property
    def ps(self) -> int:
        """Right shift of a two-trace product (Lava: 7 + 7 + 4 - 15 = 3, uncompensated)."""
        return max(0, 2 * self.spec.trace_bits + 4 - self.spec.accumulator_bits)

    @property
    def weight_range(self) -> tuple:
        b = self.spec.weight_bits
        return -(1 << b), (1 << b) - 1

    def rule_strings(self) -> tuple:
        """The Lava rule string ``dw`` (OTTT_O) or ``dt`` (OTTT_A) of each learning projection."""
        return tuple(f"{m}*2^{e}*u0*x1*y2" for m, e in zip(self.m, self.e))


def check_payload(X, c: OTTTCircuit, where: str) -> tuple:
    """Input payloads (N, n0) or (N, Tx, n0), integers in [0, 2**in_bits - 1]: ``(X, nnz)`` with X as
    (N, Tx, n0) (an integer array as it is, a view, no copy; floats, integer-valued, as int32) and
    ``nnz`` int64 (N, Tx) the nonzero payloads of each frame (counted in the same pass as the check)."""
    X = np.asarray(X)
    if X.ndim == 2:
        X = X[:, None, :]
    if X.ndim != 3 or X.shape[2] != c.layer_sizes[0]:
        raise SpecError(f"input payload has shape {X.shape}, expected (N, {c.layer_sizes[0]}) or "
                        f"(N, T, {c.layer_sizes[0]})")
    if X.dtype.kind == "f" and (not np.all(np.isfinite(X)) or np.any(X != np.round(X))):
        raise SpecError("input payload must be integers (no NaN)")
    hi = (1 << c.in_bits) - 1
    if X.dtype.kind in "iu" and X.size:     # the common case in one compiled pass (numpy's min and max take two)
        counts = np.zeros(X.shape[1::-1], np.int64)
        if check_and_count(X, 0, hi, counts)[0] == ERR_OK:
            return X, np.ascontiguousarray(counts.T)
    check_array_range("input payload", X, 0, hi, where)      # names the first offending entry
    X = X if X.dtype.kind in "iu" else X.astype(np.int32)
    return X, np.count_nonzero(X, axis=2).astype(np.int64)


def check_labels(y, n: int, c: OTTTCircuit, where: str) -> np.ndarray:
    """``n`` labels in [0, n_classes - 1] as int64 (n,)."""
    y = np.asarray(y, np.int64).reshape(-1)
    if y.shape[0] != n:
        raise SpecError(f"labels has {y.shape[0]} entries for {n} samples")
    check_array_range("labels", y, 0, c.n_classes - 1, where)
    return y


def check_order(order, n: int) -> np.ndarray:
    """A sample order (indices into ``n`` samples; None: 0 .. n-1) as int64."""
    order = np.arange(n, dtype=np.int64) if order is None else np.asarray(order, np.int64)
    if order.size and (order.min() < 0 or order.max() >= n):
        raise SpecError(f"order holds sample indices outside [0, {n - 1}]")
    return order
