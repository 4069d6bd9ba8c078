"""On-chip OTTT: the integer circuit that trains a spiking MLP with OTTT's three-factor rule.

The circuit (per hidden layer ``l``, per readout head ``h``), all in integers at ChipSpec widths:

* hidden LIF compartments (Lava fixed-point LIF, ``du``, ``dv``, ``vth``; bias 0), fed by dense
  synapses with weight mantissas in ``[-2**weight_bits, 2**weight_bits - 1]`` and ``weight_exp``;
* presynaptic traces ``x1`` (``trace_bits``) with leak ``x_dec / 4096`` (stochastic rounding) and
  impulse ``x_imp``: OTTT's ``a_hat``. The input layer sends graded spikes (``in_bits`` unsigned
  payload) and its trace is the payload (OTTT's first op sees the frame);
* readout compartments (one head per block), error compartments ``e = o - tgt * onehot(label)``
  (the label arrives as an input) sending ``y2e = SR(e / 2**es)`` as graded spikes;
* feedback synapses from the error compartments (a mirrored copy of the head, or fixed random
  weights) or, in global mode, from the layer above, into learning compartments that compute
  ``y2 = SR(fb * LUT[v - vth] / 2**sh)``, LUT = the surrogate derivative (``lut`` entries,
  ``2**lut_shift`` voltage units per entry, centred on the threshold);
* the learning engine applying ``dw = m * 2**e * u0 * x1 * y2`` to every learning projection
  (hidden layers and heads) with Lava's accumulator arithmetic: every step (OTTT_O) or through the
  tag, added to the weight at the sample's end (OTTT_A).

The exact arithmetic and order are in :mod:`hwsim.circuits.ottt_sync_kernels`. The float counterpart
and the mapping from a float network are in :mod:`rules.onchip`.

Timing differs from Lava's one step per projection on purpose: all layers of a step see the spikes
of the same step (layer-synchronous), as OTTT's float form does. The neuron arithmetic is Lava's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from numba.typed import List as NumbaList

from ..counters import FIELDS, Counters
from ..mapper import Mapping, map_network
from ..network import Network
from ..overflow import SATURATE, WRAP
from ..spec import LOIHI, ChipSpec, SpecError, check_array_range, check_range
from . import ottt_sync_kernels as K

__all__ = ["OTTTCircuit", "OTTTChip", "OTTTRecord", "FEEDBACK_MODES"]

FEEDBACK_MODES = ("mirror", "random")
INPUT_TRACES = ("hold", "step")     # chip timing: the first layer's pre trace (see hwsim.circuits.ottt)
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
    rounding : on chip timing, the rounding of every learning projection's updates ('stochastic',
        Lava's; 'nearest', 'floor': study options); the layer-synchronous kernel is always stochastic
    input_trace : on chip timing (:mod:`hwsim.circuits.ottt`), the first layer's pre trace: 'hold' (the
        last non-zero input value, rule ``u0*x1*y2``: a static frame through the pipeline's drain) or
        'step' (the step's input only, rule ``x0*x1*y2``: event streams). The layer-synchronous kernel
        always uses the step's input.
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

    @property
    def tag_range(self) -> tuple:
        b = self.spec.tag_bits
        return -(1 << b) - 1, (1 << b) - 1

    @property
    def y_range(self) -> tuple:
        b = self.spec.trace_bits
        return -(1 << b), (1 << b) - 1

    def role_names(self) -> tuple:
        L, H = self.n_layers, self.n_heads
        return (("input",) + tuple(f"hidden{l + 1}" for l in range(L))
                + tuple(f"readout{h + 1}" for h in range(H)) + tuple(f"error{h + 1}" for h in range(H)))

    def rule_strings(self) -> tuple:
        """The Lava rule string ``dw`` (OTTT_O) or ``dt`` (OTTT_A) of each learning projection."""
        return tuple(f"{m}*2^{e}*u0*x1*y2" for m, e in zip(self.m, self.e))


def check_payload(X, c: OTTTCircuit, where: str) -> np.ndarray:
    """Input payloads (N, n0) or (N, Tx, n0), integers in [0, 2**in_bits - 1], as int64 (N, Tx, n0)."""
    X = np.asarray(X)
    if X.ndim == 2:
        X = X[:, None, :]
    if X.ndim != 3 or X.shape[2] != c.layer_sizes[0]:
        raise SpecError(f"input payload has shape {X.shape}, expected (N, {c.layer_sizes[0]}) or "
                        f"(N, T, {c.layer_sizes[0]})")
    if X.dtype.kind == "f" and (not np.all(np.isfinite(X)) or np.any(X != np.round(X))):
        raise SpecError("input payload must be integers (no NaN)")
    check_array_range("input payload", X, 0, (1 << c.in_bits) - 1, where)
    return X.astype(np.int64)


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


@dataclass
class OTTTRecord:
    """What :meth:`OTTTChip.record` saw, per sample-in-order and step: ``spikes[l]``, ``vpre[l]``
    (membrane before reset, voltage units) and ``y2[l]`` (S, T, n_l) per hidden layer, ``readout[h]``
    (S, T, C) per head; ``out_sum`` (S, C); ``counters``."""

    spikes: list
    vpre: list
    y2: list
    readout: list
    out_sum: np.ndarray
    counters: Counters


class OTTTChip:
    """The state of an on-chip OTTT network: weights, heads, feedback, tags, counters.

    Parameters
    ----------
    circuit : OTTTCircuit
    weights : per hidden layer, int (n_l, n_{l-1}) mantissas
    heads : per head, int (C, n_layer) mantissas
    feedback : per head, int (C, n_layer) fixed feedback weights ('random' mode); None for 'mirror'
    """

    def __init__(self, circuit: OTTTCircuit, weights: Sequence, heads: Sequence, feedback: Optional[Sequence] = None):
        c = circuit
        self.circuit = c
        lo, hi = c.weight_range
        sizes = c.layer_sizes
        if len(weights) != c.n_layers:
            raise SpecError(f"weights has {len(weights)} layers, the circuit {c.n_layers}")
        if len(heads) != c.n_heads:
            raise SpecError(f"heads has {len(heads)} entries, the circuit {c.n_heads}")
        self._Wt = NumbaList()
        for l, w in enumerate(weights):
            w = self._check(f"weights[{l}]", w, (sizes[l + 1], sizes[l]), lo, hi)
            self._Wt.append(np.ascontiguousarray(w.T))
        self._Rt = NumbaList()
        for h, w in enumerate(heads):
            w = self._check(f"heads[{h}]", w, (c.n_classes, sizes[c.head_layers[h] + 1]), lo, hi)
            self._Rt.append(np.ascontiguousarray(w.T))
        self._Ft = NumbaList()
        if c.feedback == "mirror":
            if feedback is not None:
                raise SpecError("feedback weights are given but feedback='mirror' (the heads are mirrored)")
            for r in self._Rt:
                self._Ft.append(r)
        else:
            if feedback is None or len(feedback) != c.n_heads:
                raise SpecError(f"feedback='random' needs {c.n_heads} feedback matrices")
            for h, w in enumerate(feedback):
                w = self._check(f"feedback[{h}]", w, (c.n_classes, sizes[c.head_layers[h] + 1]), lo, hi)
                self._Ft.append(np.ascontiguousarray(w.T))
        self._tags = NumbaList()
        for a in list(self._Wt) + list(self._Rt):
            self._tags.append(np.zeros_like(a))
        self.samples_seen = 0
        self.counters = Counters.zeros(c.T, len(c.role_names()), c.role_names())
        self.overflow = np.zeros(c.n_layers, np.int64)

    @staticmethod
    def _check(name, w, shape, lo, hi) -> np.ndarray:
        a = np.asarray(w)
        if a.shape != shape:
            raise SpecError(f"{name} has shape {a.shape}, expected {shape}")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise SpecError(f"{name} contains NaN or inf")
        if a.dtype.kind == "f" and np.any(a != np.round(a)):
            raise SpecError(f"{name} must hold integer mantissas")
        check_array_range(name, a, lo, hi, "OTTTChip")
        return a.astype(np.int64)

    # ---- weights in IR layout (n_post, n_pre) --------------------------------------------------
    @property
    def weights(self) -> list:
        return [w.T.copy() for w in self._Wt]

    @property
    def heads(self) -> list:
        return [w.T.copy() for w in self._Rt]

    @property
    def feedback(self) -> list:
        return [w.T.copy() for w in self._Ft]

    # ---- running -------------------------------------------------------------------------------
    def _payload(self, X) -> np.ndarray:
        return check_payload(X, self.circuit, "OTTTChip")

    def _labels(self, y, n) -> np.ndarray:
        return check_labels(y, n, self.circuit, "OTTTChip")

    def _run(self, X, y, order, learn, record, seed, base, counters):
        c = self.circuit
        sp = c.spec
        X = self._payload(X)
        y = self._labels(y, X.shape[0]) if y is not None else np.zeros(X.shape[0], np.int64)
        order = check_order(order, X.shape[0])
        S, T, L, H, C = order.shape[0], c.T, c.n_layers, c.n_heads, c.n_classes
        out_sum = np.zeros((S, C), np.int64)
        rec = [NumbaList() for _ in range(4)]
        if record:
            for l in range(L):
                for k in range(3):
                    rec[k].append(np.zeros((S, T, c.layer_sizes[l + 1]), np.int64))
            for h in range(H):
                rec[3].append(np.zeros((S, T, C), np.int64))
        else:
            for k in range(3):
                rec[k].append(np.zeros((1, 1, 1), np.int64))
            rec[3].append(np.zeros((1, 1, 1), np.int64))
        cnt = np.zeros((T, K.N_FIELDS, len(c.role_names())), np.int64)
        wlo, whi = c.weight_range
        tlo, thi = c.tag_range
        ylo, yhi = c.y_range
        A = sp.accumulator_bits
        policy = SATURATE if c.overflow == "saturate" else WRAP
        K.run_samples(
            X, y, order, T, learn, c.online, c.local, np.uint64(seed), base,
            self._Wt, np.array(c.wexp, np.int64), np.array([(1 << sp.decay_bits) - (d + 1) for d in c.du], np.int64),
            np.array([(1 << sp.decay_bits) - d for d in c.dv], np.int64), np.array([v << 6 for v in c.vth], np.int64),
            self._Rt, self._Ft, np.array(c.head_layers, np.int64), np.array(c.head_wexp, np.int64),
            np.array(c.tgt, np.int64), np.array(c.es, np.int64),
            np.array(c.lut, np.int64), c.lut_shift, len(c.lut) // 2, np.array(c.sh, np.int64),
            np.array(c.m, np.int64), np.array(c.e, np.int64), c.ps, c.frac, wlo, whi, tlo, thi,
            c.feedback == "mirror", -(1 << A) - 1, (1 << A) - 1, ylo, yhi, c.x_dec, c.x_imp,
            (1 << sp.trace_bits) - 1, sp.trace_bits - c.in_bits, policy, 1 << (sp.uv_bits - 1), sp.decay_bits,
            self._tags, out_sum, cnt, (sp.weight_bits + 1 + 7) // 8,
            record, rec[0], rec[1], rec[2], rec[3], self.overflow)
        new = Counters(**{f: cnt[:, k, :].copy() for k, f in enumerate(FIELDS)},
                       core_population=c.role_names(), batch=1)
        if counters:
            self.counters = Counters(**{f: getattr(self.counters, f) + getattr(new, f) for f in FIELDS},
                                     core_population=c.role_names(), batch=1)
        return out_sum, new, rec

    def train(self, X, y, order=None) -> Counters:
        """Learn from samples ``X[order]`` one after the other (payloads (N, n0) or (N, Tx, n0),
        labels ``y``); returns the counters of this call (also added to ``self.counters``)."""
        n = len(X) if order is None else len(order)
        _, cnt, _ = self._run(X, y, order, True, False, self.circuit.seed, self.samples_seen, True)
        self.samples_seen += n
        return cnt

    def readout(self, X) -> np.ndarray:
        """Sum over steps of the last head's readout, without learning: (N, C) int64."""
        out, _, _ = self._run(X, None, None, False, False, self.circuit.seed + 0x5EED, 0, False)
        return out

    def predict(self, X) -> np.ndarray:
        return np.argmax(self.readout(X), axis=1)

    # ---- the circuit as chip IR -----------------------------------------------------------------
    def network(self) -> Network:
        """The circuit as a :class:`hwsim.network.Network` (populations and projections, current
        weights), so it is mapped onto cores and checked against the per-core limits like any other
        network: input (graded), label input, hidden LIF layers, per head a readout population
        (never fires) and an error population, the forward, head, readout -> error and label ->
        error projections, and the feedback projections (error -> hidden, graded; in global mode
        also hidden -> hidden below, the mirrored weights). Learning runs in this module, not in
        :class:`hwsim.simulator.Simulator`."""
        c = self.circuit
        sp = c.spec
        L, C = c.n_layers, c.n_classes
        net = Network(sp, "ottt_circuit")
        net.add_input("input", (c.layer_sizes[0],), graded=True)
        net.add_input("label", (C,))
        vmax = sp.vth_range[1]
        nb = sp.weight_bits
        for l in range(L):
            net.add_population(f"hidden{l + 1}", (c.layer_sizes[l + 1],), du=c.du[l], dv=c.dv[l], vth=c.vth[l])
            src = "input" if l == 0 else f"hidden{l}"
            net.connect_dense(f"w{l + 1}", src, f"hidden{l + 1}", self.weights[l], weight_exp=c.wexp[l],
                              num_weight_bits=nb, sign_mode="mixed", graded=l == 0)
        ident = np.eye(C, dtype=np.int64)
        for h, lh in enumerate(c.head_layers):
            ro, er = f"readout{h + 1}", f"error{h + 1}"
            net.add_population(ro, (C,), du=4095, dv=4096, vth=vmax)
            net.add_population(er, (C,), du=4095, dv=4096, vth=vmax)
            net.connect_dense(f"head{h + 1}", f"hidden{lh + 1}", ro, self.heads[h], weight_exp=c.head_wexp[h],
                              num_weight_bits=nb, sign_mode="mixed")
            net.connect_dense(f"{ro}_to_{er}", ro, er, ident, num_weight_bits=nb, sign_mode="mixed", graded=True)
            net.connect_dense(f"label_to_{er}", "label", er, -ident, num_weight_bits=nb, sign_mode="mixed")
            net.connect_dense(f"feedback{h + 1}", er, f"hidden{lh + 1}", self.feedback[h].T, num_weight_bits=nb,
                              sign_mode="mixed", graded=True)
        if not c.local:
            for l in range(L - 1):
                net.connect_dense(f"feedback_w{l + 2}", f"hidden{l + 2}", f"hidden{l + 1}", self.weights[l + 1].T,
                                  num_weight_bits=nb, sign_mode="mixed", graded=True)
        return net

    def mapping(self) -> Mapping:
        """The circuit mapped onto cores (:func:`hwsim.mapper.map_network`; raises MappingError)."""
        return map_network(self.network())

    def record(self, X, y, order=None, learn: bool = True) -> OTTTRecord:
        """Like :meth:`train` (or inference when ``learn`` is False), recording every step."""
        n = len(X) if order is None else len(order)
        out, cnt, rec = self._run(X, y, order, learn, True, self.circuit.seed if learn else self.circuit.seed + 0x5EED,
                                  self.samples_seen if learn else 0, learn)
        if learn:
            self.samples_seen += n
        return OTTTRecord(list(rec[0]), list(rec[1]), list(rec[2]), list(rec[3]), out, cnt)
