"""``LearningDenseEngine``: a dense projection with the Loihi learning engine, bit-exact with Lava's
``LearningDense`` fixed_pt model (``PyLearningDenseModelBitApproximate``, lava-nc 0.10.0).

The engine owns the state (weights, tags, traces, spike times, the activation buffer and the random
streams) and calls the numba kernels of :mod:`hwsim.learning.kernels`; the arithmetic is documented
there. Timing follows Lava's LoihiProtocol: at step t (1-based) the engine first returns the
activation computed at t-1, then accumulates the spikes of t with the weights as they are, updates
the traces and, when ``t % t_epoch == 0``, learns.

Random streams (Lava ``TraceRandom`` / ``ConnVarRandom``), pre-generated with numpy:

* x traces: ``default_rng(seed)`` (decay, float in [0, 1)), ``default_rng(seed + 1)`` (impulse, int in
  [0, 2**trace_bits)); y traces: seeds ``seed + 2``, ``seed + 3``. Draw 0 is taken at construction,
  step t uses draw 2t-1 (post multi-spike impulses) and draw 2t (learning).
* connection: ``default_rng(2)`` whatever the seed (Lava hard-codes it); epoch n uses draw n.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import json
from functools import lru_cache

import numpy as np

from ..spec import LOIHI, ChipSpec, SpecError, check_array_range, check_range
from . import kernels as K
from ..weights import truncate_weights  # noqa: F401  (Lava's truncate_weights; re-exported)
from .outer import F_OUTER, F_TMIN, N_FAST, outer_program
from .program import SIGN_MODES, LearningProgram, compile_program
from .rule import LearningRule, RuleError

__all__ = ["LearningDenseEngine", "LearningCounters", "RandomStreams", "truncate_weights", "ROUNDINGS",
           "check_rounding", "lava_rounding_problem"]

CONN_SEED = 2          # ConnVarRandom() default seed, fixed in Lava
GRADED_SPIKE_CFGS = ("regular", "overwrite")   # Lava GradedSpikeCfg.USE_REGULAR_IMPULSE / OVERWRITE
_INT32 = (-(1 << 31), (1 << 31) - 1)
_DERIVED = ("_fast",)  # arrays rebuilt from the state, not saved in state_dict
ROUNDINGS = K.ROUNDINGS    # rounding of learning updates: 'stochastic' (Lava's), 'nearest', 'floor'


def check_rounding(rounding, where: str = "") -> int:
    """The kernel code of a rounding name (``ROUNDINGS``), or SpecError naming the value."""
    if rounding not in ROUNDINGS:
        prefix = f"{where}: " if where else ""
        raise SpecError(f"{prefix}rounding={rounding!r} is not one of {ROUNDINGS}")
    return ROUNDINGS.index(rounding)


def lava_rounding_problem(projection: str, rounding) -> Optional[str]:
    """Why a learning projection with this rounding cannot be exported to Lava (None if it can):
    Lava's ``LearningDense`` rounds its learning updates stochastically only. For the Lava exporter
    (``raise UnexportableError(msg)`` when a message comes back)."""
    check_rounding(rounding, f"projection {projection!r}")
    if rounding == "stochastic":
        return None
    return (f"projection {projection!r}: rounding={rounding!r} of learning updates has no Lava form "
            f"(Lava's LearningDense rounds stochastically only); use rounding='stochastic' to export")


class RandomStreams:
    """Pre-generated windows of Lava's trace and connection random streams.

    The windows live in buffers that keep their identity while they have room: :meth:`ensure`
    drops old draws by moving the kept ones to the front in place and appends new draws behind
    them, and the windows' first draw numbers are in the int64 array ``offs`` = ``[r_off, c_off]``
    (read by the kernels). So a compiled caller may hold the buffers (a typed list of kernel
    arguments) across calls; they are replaced (larger) only when a request exceeds their room.

    Parameters
    ----------
    seed : int
        The rule's ``rng_seed``.
    imp_hi : int
        Impulse random numbers are integers in [0, imp_hi) (2**trace_bits).
    chunk : int
        Draws generated at a time.
    """

    def __init__(self, seed: int, imp_hi: int, chunk: int = 4096):
        self._seed = int(seed)
        self._gen_objs = None       # the five generators (trace 0..3, connection), made on first draw,
        self._gen_states = None     # or, until then, their states (shared, read only); None: freshly seeded
        self._imp_hi = int(imp_hi)
        self._chunk = int(chunk)
        self.trace = [np.empty(0, np.float64), np.empty(0, np.int64), np.empty(0, np.float64),
                      np.empty(0, np.int64)]
        self.conn = np.empty(0, np.float64)
        self.n_trace = 0            # draws held: trace[k][:n_trace], conn[:n_conn]
        self.n_conn = 0
        self.offs = np.zeros(2, np.int64)

    @classmethod
    def started(cls, seed: int, imp_hi: int, chunk: int = 4096) -> "RandomStreams":
        """The streams after ``ensure(0, 0, 0, 0)`` (what an engine holds at construction), as a copy of
        a cached prototype: seeding five generators and drawing the first windows takes ~130 us, a
        copy ~15 us (a Simulator builds its engines on every fresh run)."""
        return _started_prototype(int(seed), int(imp_hi), int(chunk)).replica()

    def _generators(self) -> list:
        """The generators ``[x decay, x impulse, y decay, y impulse, connection]``, made when first needed."""
        if self._gen_objs is None:
            if self._gen_states is None:
                self._gen_objs = [np.random.default_rng(self._seed + k) for k in range(4)]
                self._gen_objs.append(np.random.default_rng(CONN_SEED))
            else:
                self._gen_objs = [_generator_in(st) for st in self._gen_states]
            self._gen_states = None
        return self._gen_objs

    def _states(self) -> list:
        """The generators' states (bit_generator.state dicts), without making generators from stored states."""
        if self._gen_objs is None and self._gen_states is not None:
            return list(self._gen_states)
        return [g.bit_generator.state for g in self._generators()]

    @property
    def r_off(self) -> int:
        """Number of the first trace draw held (``trace[k][0]``)."""
        return int(self.offs[0])

    @property
    def c_off(self) -> int:
        """Number of the first connection draw held (``conn[0]``)."""
        return int(self.offs[1])

    def _draw(self, k: int, n: int) -> np.ndarray:
        g = self._generators()[k]
        if k in (0, 2):
            return g.random(n)
        return g.integers(0, self._imp_hi, size=n, dtype=np.int64)

    def replica(self) -> "RandomStreams":
        """An independent copy: the same generator states and draws held (a new stream built with the same
        seed and advanced as far gives the same), without seeding and drawing again."""
        new = object.__new__(RandomStreams)
        new._seed = self._seed
        new._gen_objs = None
        # the states are shared while neither side has drawn (nothing changes a state dict)
        new._gen_states = self._gen_states if self._gen_objs is None else tuple(self._states())
        new._imp_hi, new._chunk = self._imp_hi, self._chunk
        new.trace = [a.copy() for a in self.trace]
        new.conn = self.conn.copy()
        new.n_trace, new.n_conn = self.n_trace, self.n_conn
        new.offs = self.offs.copy()
        return new

    def state_dict(self) -> dict:
        """Everything needed to continue the streams exactly: generator states (JSON text, their
        integers exceed int64) and the windows of draws held."""
        states = self._states()
        return {"gens": [json.dumps(st) for st in states[:4]], "conn_gen": json.dumps(states[4]),
                "trace": [a[:self.n_trace].copy() for a in self.trace], "conn": self.conn[:self.n_conn].copy(),
                "r_off": self.r_off, "c_off": self.c_off}

    def load_state_dict(self, d: dict) -> None:
        self._gen_objs = None
        self._gen_states = tuple(json.loads(st) for st in list(d["gens"]) + [d["conn_gen"]])
        self.trace = [np.array(a) for a in d["trace"]]
        self.conn = np.array(d["conn"])
        self.n_trace, self.n_conn = self.trace[0].shape[0], self.conn.shape[0]
        self.offs = np.array([int(d["r_off"]), int(d["c_off"])], np.int64)

    def _window(self, bufs: list, n: int, k: int, first: int, last: int, draw) -> tuple:
        """Draws ``first .. last`` of the streams ``bufs`` (``n`` held from ``offs[k]``) available:
        ``(bufs, n)``, the buffers the same objects unless they had to grow."""
        drop = first - int(self.offs[k])
        if drop > self._chunk:
            if drop > n:                    # a window past the draws held: the draws between are skipped
                for j in range(len(bufs)):
                    draw(j, drop - n)
            keep = max(n - drop, 0)
            for a in bufs:
                a[:keep] = a[n - keep:n]
            n = keep
            self.offs[k] = first
        need = last + 1 - (int(self.offs[k]) + n)
        if need > 0:
            m = max(need, self._chunk)
            if n + m > bufs[0].shape[0]:
                cap = max(n + m, 2 * bufs[0].shape[0])
                grown = []
                for a in bufs:
                    b = np.empty(cap, a.dtype)
                    b[:n] = a[:n]
                    grown.append(b)
                bufs = grown
            for j, a in enumerate(bufs):
                a[n:n + m] = draw(j, m)
            n += m
        return bufs, n

    def ensure(self, trace_first: int, trace_last: int, conn_first: int, conn_last: int) -> None:
        """Make trace draws [trace_first, trace_last] and connection draws [conn_first, conn_last]
        available, dropping older ones (the same draws, in the same order, whatever the calls)."""
        self.trace, self.n_trace = self._window(self.trace, self.n_trace, 0, trace_first, trace_last, self._draw)
        (self.conn,), self.n_conn = self._window([self.conn], self.n_conn, 1, conn_first, conn_last,
                                                 lambda j, m: self._generators()[4].random(m))


def _generator_in(state: dict) -> np.random.Generator:
    """A new generator in the bit-generator state ``state`` (a ``bit_generator.state`` dict)."""
    bg = getattr(np.random, state["bit_generator"])(0)
    bg.state = state
    return np.random.Generator(bg)


@lru_cache(maxsize=256)
def _program_for(rule: LearningRule, spec: ChipSpec, sign_mode: str) -> LearningProgram:
    """``compile_program(rule, spec, sign_mode)``, compiled once per distinct rule, spec and sign mode
    (~0.1 ms each; a Simulator builds its engines on every fresh run). Engines share the program;
    nothing writes it (the kernels read it, and :meth:`LearningDenseEngine.replica` shares it too)."""
    return compile_program(rule, spec, sign_mode)


@lru_cache(maxsize=64)
def _started_prototype(seed: int, imp_hi: int, chunk: int) -> RandomStreams:
    """``RandomStreams(seed, imp_hi, chunk)`` after ``ensure(0, 0, 0, 0)``, kept to be copied
    (:meth:`RandomStreams.started`); nothing draws from it or changes it."""
    rs = RandomStreams(seed, imp_hi, chunk)
    rs.ensure(0, 0, 0, 0)
    rs._gen_states, rs._gen_objs = tuple(rs._states()), None      # its copies share these
    return rs


@dataclass(frozen=True)
class LearningCounters:
    """Event counts of an engine since construction.

    Attributes
    ----------
    steps, epochs : int
        Steps run and learning epochs completed.
    trace_updates : int
        Non-zero trace values decayed (per trace, neuron and step of each epoch).
    synapse_updates : dict
        Per given target ('dw', 'dd', 'dt'): synapses evaluated, i.e. whose products had an active
        dependency (x0 row, y0 column, or every synapse when u = 1), summed over epochs. Each is a
        read-modify-write of that synaptic variable (a write-back), as on the chip.
    syn_ops : int
        Synaptic operations of the dense accumulation (pre spikes x n_post).
    per_epoch : ndarray or None
        int64 (n_epochs, 5): [t, trace_updates, synapse_updates (all targets), weight write-backs,
        tag write-backs] per epoch, when the engine was built with ``record_epochs=True``.
    """

    steps: int
    epochs: int
    trace_updates: int
    synapse_updates: dict
    syn_ops: int
    per_epoch: Optional[np.ndarray] = None

    @property
    def total_synapse_updates(self) -> int:
        return int(sum(self.synapse_updates.values()))

    @property
    def weight_writebacks(self) -> int:
        """Weights written back (the 'dw' synapse updates)."""
        return int(self.synapse_updates.get("dw", 0))

    @property
    def tag_writebacks(self) -> int:
        """Tags written back (the 'dd' and 'dt' synapse updates)."""
        return int(self.synapse_updates.get("dd", 0) + self.synapse_updates.get("dt", 0))


class LearningDenseEngine:
    """A Lava ``LearningDense`` (fixed_pt) in numba: dense weights with on-chip learning.

    Parameters
    ----------
    weights : array_like of int, shape (n_post, n_pre)
        Initial weight mantissas, within ``spec.weight_range(sign_mode)`` ([-256, 255] for mixed).
        They are truncated to ``num_weight_bits`` as Lava does on the first step (mixed with 8 bits
        drops the LSB).
    rule : LearningRule
        The learning rule; its ``rng_seed`` must be set.
    weight_exp : int
        Shared weight exponent, in ``spec.weight_exp_range``; the activation sum is shifted by it.
    num_weight_bits : int
        Weight precision for the truncation, 1 .. ``spec.weight_bits`` (+1 in mixed mode).
    sign_mode : {'mixed', 'excitatory', 'inhibitory'}
        Learned weights are clipped to this sign (Lava's default is mixed, whatever W holds).
    spec : ChipSpec
        Bit widths (weight_bits, trace_bits, trace_frac_bits, tag_bits, accumulator_bits).
    tag_1, tag_2 : array_like of int, shape (n_post, n_pre), optional
        Initial tags (zeros by default); tag_1 in [-(2**tag_bits) - 1, 2**tag_bits - 1], tag_2 in
        [0, 2**tag_bits - 1].
    record_epochs : bool
        Keep per-epoch counters (see :class:`LearningCounters`).
    graded_spike_cfg : {'regular', 'overwrite'}
        'regular': binary pre spikes (Lava ``num_message_bits=0``). 'overwrite': graded pre spikes
        with payloads in [0, 255], accumulated as ``payload * weight``, each spike overwriting x1
        with ``round(payload / 2)`` (half to even), as Lava's ``GradedSpikeCfg.OVERWRITE`` with
        ``num_message_bits > 0``; Lava then forces the rule's ``x1_impulse`` to 0, here a rule with
        another x1 impulse is refused.
    rounding : {'stochastic', 'nearest', 'floor'}
        How the learning accumulator (``accumulator_bits``) is rounded to the weight / tag at the end
        of an epoch: 'stochastic' is Lava's (up with probability = the dropped fraction, one random
        number per epoch); 'nearest' rounds half up (``floor(x + 1/2)``, ties toward +inf); 'floor'
        is the arithmetic shift (toward -inf). Only 'stochastic' can be exported to Lava.

    Notes
    -----
    State is stored fan-out major (n_pre, n_post); the attributes ``weights``, ``tag_1`` and ``tag_2``
    are (n_post, n_pre) views of it, as Lava lays them out. Their dtype is int16 when the spec's ranges
    fit (the default) and int32 otherwise. Writing into the views changes the engine's state.

    Where the engine is stricter than Lava (same results on everything it accepts): weights and
    tags outside their clip ranges are rejected (Lava clips them silently at the first epoch);
    ``rng_seed`` must be given; steps must be consecutive; inputs are binary spikes
    (``num_message_bits=0``, ``GradedSpikeCfg.USE_REGULAR_IMPULSE``; graded pre spikes are not
    implemented). The weight truncation Lava does in the first ``run_spk`` happens here at
    construction.
    """

    def __init__(self, weights, rule: LearningRule, *, weight_exp: int = 0, num_weight_bits: int = 8,
                 sign_mode: str = "mixed", spec: ChipSpec = LOIHI, tag_1=None, tag_2=None,
                 record_epochs: bool = False, graded_spike_cfg: str = "regular", rounding: str = "stochastic"):
        where = "LearningDenseEngine"
        rounding_code = check_rounding(rounding, where)
        self.rounding = rounding
        if graded_spike_cfg not in GRADED_SPIKE_CFGS:
            raise SpecError(f"{where}: graded_spike_cfg={graded_spike_cfg!r} is not one of {GRADED_SPIKE_CFGS}")
        if graded_spike_cfg == "overwrite" and rule.x1_impulse != 0:
            raise RuleError(f"{where}: graded_spike_cfg='overwrite' needs x1_impulse=0 (Lava sets it to 0 for "
                            f"graded pre spikes), the rule has x1_impulse={rule.x1_impulse}")
        self.graded_spike_cfg = graded_spike_cfg
        if not isinstance(rule, LearningRule):
            raise TypeError(f"{where}: rule must be a hwsim.learning.LearningRule, got "
                            f"{type(rule).__name__} (use LearningRule.from_lava for a Lava rule)")
        if rule.rng_seed is None:
            raise RuleError(f"{where}: rule.rng_seed is None; pass an explicit seed (Lava would draw a "
                            f"random one, which cannot be reproduced)")
        if sign_mode not in SIGN_MODES:
            raise SpecError(f"{where}: sign_mode={sign_mode!r} is not one of {SIGN_MODES}")
        w = np.asarray(weights)
        if w.ndim != 2:
            raise SpecError(f"{where}: weights must be a 2-D (n_post, n_pre) matrix, got shape {w.shape}")
        lo, hi = spec.weight_range(sign_mode)
        check_array_range("weights", w, lo, hi, where=f"{where} ({sign_mode})")
        self.weight_exp = check_range("weight_exp", weight_exp, *spec.weight_exp_range, where=where)
        mixed = 1 if sign_mode == "mixed" else 0
        self.num_weight_bits = check_range("num_weight_bits", num_weight_bits, 1,
                                           spec.weight_bits + mixed, where=where)
        self.rule = rule
        self.spec = spec
        self.sign_mode = sign_mode
        self.program: LearningProgram = _program_for(rule, spec, sign_mode)
        n_post, n_pre = w.shape
        self.n_pre, self.n_post = int(n_pre), int(n_post)
        tag_hi = (1 << spec.tag_bits) - 1
        fits16 = spec.weight_bits <= 15 and spec.tag_bits <= 14
        self.dtype = np.dtype(np.int16 if fits16 else np.int32)
        wt = truncate_weights(w, sign_mode, self.num_weight_bits, spec.weight_bits)
        # synaptic state, fan-out major: SV[0] weights, SV[1] tag_2, SV[2] tag_1, each (n_pre, n_post)
        self._SV = np.zeros((3, self.n_pre, self.n_post), self.dtype)
        self._SV[0] = wt.T
        self._SV[2] = self._tag_init(tag_1, "tag_1", -tag_hi - 2, tag_hi, where)
        self._SV[1] = self._tag_init(tag_2, "tag_2", 0, tag_hi, where)
        self._xtr = np.zeros((2, self.n_pre), np.int64)
        self._ytr = np.zeros((3, self.n_post), np.int64)
        self._tx = np.zeros(self.n_pre, np.int64)
        self._ty = np.zeros(self.n_post, np.int64)
        self._a_buff = np.zeros(self.n_post, np.int32)
        self._cnt = np.zeros(K.N_CNT, np.int64)
        self._epoch_log = [] if record_epochs else None
        self.t = 0
        p = self.program
        self._par = np.zeros(K.N_PAR, np.int64)
        self._par[[K.PAR_T_EPOCH, K.PAR_KIND, K.PAR_DECIM, K.PAR_TRACE_MAX, K.PAR_ACC_LO,
                   K.PAR_ACC_HI, K.PAR_WEIGHT_EXP]] = (p.t_epoch, p.kind, p.decimate, p.trace_max,
                                                      p.acc_lo, p.acc_hi, self.weight_exp)
        self._par[K.PAR_ROUNDING] = rounding_code
        T1 = p.t_epoch + 1
        P = max(p.n_products, 1)
        self._Hx = np.zeros((T1, 2, self.n_pre), np.int64)
        self._Hy = np.zeros((T1, 3, self.n_post), np.int64)
        self._A = np.zeros((P, self.n_pre), np.int64)
        self._B = np.zeros((P, T1, self.n_post), np.int64)
        self._G = np.zeros((P, T1, self.n_pre), np.int64)
        self._TA = np.zeros((P, T1, self.n_pre), np.int64)
        self._TB = np.zeros((P, T1, self.n_post), np.int64)
        self._acc = np.zeros((3, self.n_post), np.int64)
        self._gb = np.zeros((5, self.n_post), np.int64)
        self._R = np.zeros(self.n_post, np.uint32)
        self._dvec = np.zeros((3, self.n_pre, T1), np.int64)
        self._y0m = np.zeros(self.n_post, np.int64)
        self._y0b = np.zeros(self.n_post, np.bool_)
        self._Dx = np.zeros((3, T1, self.n_post), np.int16)
        self._raw_pre = np.zeros(self.n_pre, np.int64)
        self._raw_post = np.zeros(self.n_post, np.int64)
        self._rows = np.zeros(self.n_pre, np.int64)        # kernels' scratch: they allocate nothing
        self._a32 = np.zeros(self.n_post, np.int32)
        self._d16 = np.zeros(self.n_post, np.int16)
        self._small = np.zeros(32, np.int64)
        self._zeros_post = np.zeros((1, self.n_post), np.int64)
        self._nobap = np.zeros((1, self.n_post), np.bool_)
        # fast path of outer-product rules (hwsim.learning.outer); derived, not part of the state
        self._fast = np.zeros(N_FAST, np.int64)
        self._fast[F_OUTER] = int(outer_program(p))
        # draw 0 is taken at construction, as Lava's __init__ does
        self.rng = RandomStreams.started(rule.rng_seed, p.imp_rand_hi)

    def replica(self) -> "LearningDenseEngine":
        """An independent copy of this engine in its current state (synaptic variables, traces, counters,
        step, random streams; its own scratch) sharing the compiled rule, which nothing writes: what
        building the same engine again and running it as far gives, without validating, compiling and
        drawing again (0.26 ms per engine at 64 x 32; a Simulator's batch instances start as replicas)."""
        new = object.__new__(LearningDenseEngine)
        for k, v in self.__dict__.items():
            new.__dict__[k] = v.copy() if isinstance(v, np.ndarray) else v
        new.rng = self.rng.replica()
        new._epoch_log = None if self._epoch_log is None else list(self._epoch_log)
        return new

    def _tag_init(self, tag, name, lo, hi, where):
        if tag is None:
            return 0
        a = np.asarray(tag)
        if a.shape != (self.n_post, self.n_pre):
            raise SpecError(f"{where}: {name} has shape {a.shape}, the weights {(self.n_post, self.n_pre)}")
        check_array_range(name, a, lo, hi, where=where)
        return a.T

    # ---- views -------------------------------------------------------------------------
    @property
    def weights(self) -> np.ndarray:
        """Weight mantissas, (n_post, n_pre) view, ``weight_bits`` + sign."""
        return self._SV[0].T

    @property
    def tag_1(self) -> np.ndarray:
        """Tag ``t`` (tag_1), (n_post, n_pre) view, [-(2**tag_bits) - 1, 2**tag_bits - 1]."""
        return self._SV[2].T

    @property
    def tag_2(self) -> np.ndarray:
        """Tag ``d`` (tag_2, the delay tag), (n_post, n_pre) view, [0, 2**tag_bits - 1]."""
        return self._SV[1].T

    @property
    def x1(self) -> np.ndarray:
        """Pre trace x1 (n_pre,), unsigned ``trace_bits``."""
        return self._xtr[0]

    @property
    def x2(self) -> np.ndarray:
        """Pre trace x2 (n_pre,)."""
        return self._xtr[1]

    @property
    def y1(self) -> np.ndarray:
        """Post trace y1 (n_post,); for 3F the last received value (int32, unclipped)."""
        return self._ytr[0]

    @property
    def y2(self) -> np.ndarray:
        """Post trace y2 (n_post,)."""
        return self._ytr[1]

    @property
    def y3(self) -> np.ndarray:
        """Post trace y3 (n_post,)."""
        return self._ytr[2]

    @property
    def tx(self) -> np.ndarray:
        """Within-epoch time (1..t_epoch) of each pre neuron's last spike, 0 if none (n_pre,)."""
        return self._tx

    @property
    def ty(self) -> np.ndarray:
        """Within-epoch time of each post neuron's last bap spike, 0 if none (n_post,)."""
        return self._ty

    @property
    def x0(self) -> np.ndarray:
        """Lava's Var x0 as seen between steps: always False (Lava sets it only inside run_lrn).
        ``tx > 0`` says which pre neurons spiked in the current epoch."""
        return np.zeros(self.n_pre, np.bool_)

    @property
    def y0(self) -> np.ndarray:
        """Lava's Var y0 between steps: the post neurons with a bap in the current epoch (copy)."""
        return self._ty > 0

    @property
    def a_pending(self) -> np.ndarray:
        """The activation (int32, n_post) the next step will send (computed at the last step).
        A closed loop reads it to drive the post neurons before passing their spikes as ``bap``."""
        return self._a_buff.copy()

    @property
    def counters(self) -> LearningCounters:
        c = self._cnt
        per_epoch = None
        if self._epoch_log is not None:
            per_epoch = (np.concatenate(self._epoch_log) if self._epoch_log
                         else np.zeros((0, 5), np.int64))
        return LearningCounters(
            steps=int(c[K.CNT_STEPS]), epochs=int(c[K.CNT_EPOCHS]),
            trace_updates=int(c[K.CNT_TRACE_UPDATES]),
            synapse_updates={t: int(c[K.CNT_SYN_W + g]) for g, t in enumerate(("dw", "dd", "dt"))
                             if self.program.tgt[g, 0]},
            syn_ops=int(c[K.CNT_SYN_OPS]), per_epoch=per_epoch)

    def state_dict(self) -> dict:
        """The engine's complete state (weights, tags, traces, spike times, counters, epoch scratch,
        random streams, time step) as plain arrays and numbers, for a checkpoint."""
        arrays = {k: v.copy() for k, v in vars(self).items() if isinstance(v, np.ndarray) and k not in _DERIVED}
        return {"t": int(self.t), "arrays": arrays, "rng": self.rng.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        """Restore :meth:`state_dict` of an engine built with the same weights' shape and rule."""
        mine = {k: v for k, v in vars(self).items() if isinstance(v, np.ndarray) and k not in _DERIVED}
        if set(d["arrays"]) != set(mine):
            raise ValueError(f"engine state holds {sorted(d['arrays'])}, this engine {sorted(mine)}")
        for k, a in d["arrays"].items():
            a = np.asarray(a)
            if a.shape != mine[k].shape or a.dtype != mine[k].dtype:
                raise ValueError(f"engine state {k}: {a.dtype}{a.shape}, this engine {mine[k].dtype}{mine[k].shape}")
        lo, hi = self.spec.weight_range(self.sign_mode)
        w = np.asarray(d["arrays"]["_SV"])[0]
        if w.size and (int(w.min()) < lo or int(w.max()) > hi):
            raise ValueError(f"engine state weights span [{int(w.min())}, {int(w.max())}], outside the sign mode "
                             f"{self.sign_mode!r}'s range [{lo}, {hi}]")
        held = ROUNDINGS[int(np.asarray(d["arrays"]["_par"])[K.PAR_ROUNDING])]
        if held != self.rounding:
            raise ValueError(f"engine state has rounding={held!r}, this engine rounding={self.rounding!r}")
        for k, a in d["arrays"].items():
            mine[k][...] = np.asarray(a)
        self.t = int(d["t"])
        self.rng.load_state_dict(d["rng"])

    def reset_traces(self) -> None:
        """Zero the pre and post traces, the spike times within the epoch and the pending activation
        (Lava: ``x0, tx, x1, x2, y0, ty, y1..y3`` and ``a_buff`` set to 0 between runs); weights, tags,
        the time step and the random streams are kept. A host resets a learning network's dynamics
        between samples this way."""
        for a in (self._xtr, self._ytr, self._tx, self._ty, self._a_buff, self._Hx, self._Hy):
            a[...] = 0

    def add_tag_to_weights(self) -> int:
        """Host operation: ``w = clip(w + tag_1)`` to the sign mode's range, then ``tag_1 = 0`` (e.g. at
        a sample's end, OTTT_A's accumulated update); returns the number of weights that changed."""
        lo, hi = self.spec.weight_range(self.sign_mode)
        w = self._SV[0].astype(np.int64)
        new = np.clip(w + self._SV[2], lo, hi)
        n = int(np.count_nonzero(new != w))
        self._SV[0] = new
        self._SV[2] = 0
        return n

    # ---- inputs ------------------------------------------------------------------------
    def _check_bap(self, bap, shape, name="bap"):
        if bap is None:
            return None
        if self.program.kind == K.KIND_PLAIN:
            raise ValueError(f"{name}: a 'plain' rule takes no bap input (use kind='2F' or '3F')")
        b = np.asarray(bap)
        if b.shape != shape:
            raise ValueError(f"{name} has shape {b.shape}, expected {shape}")
        return np.ascontiguousarray(b.astype(np.bool_))

    def _check_y(self, y, shape, name):
        if y is None:
            return None
        if self.program.kind != K.KIND_3F:
            raise ValueError(f"{name}: only a '3F' rule takes y inputs (rule kind is {self.rule.kind!r})")
        a = np.asarray(y)
        if a.shape != shape:
            raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
        check_array_range(name, a, *_INT32, where="LearningDenseEngine (int32 port)")
        return np.ascontiguousarray(a.astype(np.int64))

    def kernel_args(self, t_first: int, t_last: int) -> tuple:
        """Arguments ``args`` of :func:`hwsim.learning.kernels.learn_step` for steps ``t_first ..
        t_last`` (1-based): ``(prog, state, rng, scratch)`` as laid out in :mod:`hwsim.learning.kernels`.

        For a simulator that accumulates the dense spikes itself and calls ``learn_step`` from its
        own compiled loop: the random draws of these steps are made available first (the arrays
        may be reallocated, so call this again for a later range), and the synaptic state is
        ``SV`` (index 0 weights, 1 tag_2, 2 tag_1; each (n_pre, n_post), fan-out major). The
        caller sets ``engine.t = t_last`` after running the steps. The fast path's flag "some
        tag_1 may be at its lowest value" (:mod:`hwsim.learning.outer`) is set here from the state,
        which may have been written through the views.
        """
        T = self.program.t_epoch
        self.rng.ensure(2 * t_first - 1, 2 * t_last, t_first // T, max(t_last // T, t_first // T))
        p, r = self.program, self.rng
        if self._fast[F_OUTER]:
            self._fast[F_TMIN] = int(K.tmin_present(self._SV, p.tgt))
        prog = (self._par, p.prod, p.fac, p.fac_c, p.tgt, p.imp_int, p.imp_frac, p.decay, p.tau_nz, p.trace_need)
        state = (self._xtr, self._ytr, self._tx, self._ty, self._SV, self._cnt, self._fast)
        rng = (r.trace[0], r.trace[1], r.trace[2], r.trace[3], r.offs, r.conn)
        scratch = (self._Hx, self._Hy, self._A, self._B, self._G, self._TA, self._TB, self._acc, self._gb,
                   self._R, self._dvec, self._y0m, self._y0b, self._Dx, self._raw_pre, self._raw_post, self._rows,
                   self._a32, self._d16, self._small)
        return prog, state, rng, scratch

    # ---- running -----------------------------------------------------------------------
    def step(self, t: int, s_in, bap=None, y1=None, y2=None, y3=None) -> np.ndarray:
        """Run Lava time step t (1-based, consecutive).

        Parameters
        ----------
        t : int
            Must be the previous step + 1.
        s_in : array_like (n_pre,)
            Pre spikes of step t (non-zero = spike).
        bap : array_like (n_post,), optional
            Post (bap) spikes of step t ('2F' and '3F' rules); None reads as no spikes.
        y1, y2, y3 : array_like of int (n_post,), optional
            Third-factor inputs of step t ('3F' rules only), int32 range; None reads as zeros.

        Returns
        -------
        ndarray of int32 (n_post,)
            The activation sent at step t (computed at t-1; zeros at t = 1).
        """
        if t != self.t + 1:
            raise ValueError(f"step t={t}: steps must be consecutive; the next step is {self.t + 1}")
        s = np.asarray(s_in)
        if s.shape != (self.n_pre,):
            raise ValueError(f"s_in has shape {s.shape}, expected ({self.n_pre},)")
        payload = None
        if self.graded_spike_cfg == "overwrite":
            payload = np.ascontiguousarray(check_array_range("s_in", s, 0, (1 << (self.spec.trace_bits + 1)) - 1,
                                                             where="LearningDenseEngine "
                                                             "(graded_spike_cfg='overwrite')").astype(np.int64))
        s = np.ascontiguousarray(s.astype(np.bool_))
        b = self._check_bap(bap, (self.n_post,))
        ys = [self._check_y(y, (self.n_post,), f"y{k + 1}") for k, y in enumerate((y1, y2, y3))]
        use_y = np.array([y is not None for y in ys], np.bool_)
        ys = [self._zeros_post[0] if y is None else y for y in ys]
        a_out = np.zeros(self.n_post, np.int32)
        args = self.kernel_args(t, t)
        before = self._cnt.copy() if self._epoch_log is not None else None
        bap_arr = self._nobap[0] if b is None else b
        if payload is None:
            K.engine_step(t, s, bap_arr, b is not None, ys[0], ys[1], ys[2], use_y, self._a_buff, a_out, args)
        else:
            a_out[:] = self._a_buff
            ops, _ = K.dense_forward_graded(self._SV[0], payload, self.weight_exp, self._acc[0], self._a_buff,
                                            self._rows, self._a32, K.weight_bound(self.program.tgt))
            self._cnt[K.CNT_SYN_OPS] += ops
            K.learn_step(t, s, bap_arr, b is not None, ys[0], ys[1], ys[2], use_y, args, payload)
        self.t = t
        if before is not None and self._cnt[K.CNT_EPOCHS] != before[K.CNT_EPOCHS]:
            d = self._cnt - before
            self._epoch_log.append(np.array([[t, d[K.CNT_TRACE_UPDATES],
                                              d[K.CNT_SYN_W] + d[K.CNT_SYN_D] + d[K.CNT_SYN_T],
                                              d[K.CNT_SYN_W], d[K.CNT_SYN_D] + d[K.CNT_SYN_T]]],
                                            np.int64))
        return a_out

    def run(self, n_steps: int, s_in, bap=None, y1=None, y2=None, y3=None,
            record_weights: int = 0):
        """Run ``n_steps`` consecutive steps in one compiled loop (the fast path).

        Parameters
        ----------
        n_steps : int
        s_in : array_like (n_steps, n_pre)
            Pre spikes; row k is step ``self.t + 1 + k``.
        bap : array_like (n_steps, n_post), optional
        y1, y2, y3 : array_like of int (n_steps, n_post), optional
            As in :meth:`step`.
        record_weights : int
            If > 0, record the weights every ``record_weights`` steps.

        Returns
        -------
        a_out : ndarray of int32 (n_steps, n_post)
            Activation sent at each step.
        weights : ndarray (n_rec, n_post, n_pre) or None
            Weights after steps ``record_weights, 2*record_weights, ...`` of this run.
        """
        if self.graded_spike_cfg != "regular":
            raise ValueError("LearningDenseEngine.run takes binary pre spikes; with graded_spike_cfg="
                             f"{self.graded_spike_cfg!r} use step() or hwsim.simulator.Simulator")
        n = check_range("n_steps", n_steps, 0, 1 << 40, where="LearningDenseEngine.run")
        S = np.asarray(s_in)
        if S.shape != (n, self.n_pre):
            raise ValueError(f"s_in has shape {S.shape}, expected ({n}, {self.n_pre})")
        S = np.ascontiguousarray(S.astype(np.bool_))
        B = self._check_bap(bap, (n, self.n_post))
        ys = [self._check_y(y, (n, self.n_post), f"y{k + 1}") for k, y in enumerate((y1, y2, y3))]
        use_y = np.array([y is not None for y in ys], np.bool_)
        ys = [self._zeros_post if y is None else y for y in ys]
        rec = int(record_weights)
        n_rec = n // rec if rec > 0 else 0
        W_REC = np.zeros((n_rec, self.n_pre, self.n_post), self.dtype)
        A_OUT = np.zeros((n, self.n_post), np.int32)
        T = self.program.t_epoch
        n_ep = (self.t + n) // T - self.t // T
        log = np.zeros((n_ep if self._epoch_log is not None else 0, 5), np.int64)
        if n == 0:
            return A_OUT, (W_REC.transpose(0, 2, 1) if rec > 0 else None)
        args = self.kernel_args(self.t + 1, self.t + n)
        K.engine_run(self.t, n, S, self._nobap if B is None else B, B is not None, ys[0], ys[1], ys[2],
                     use_y, self._a_buff, A_OUT, args, rec, W_REC, log)
        self.t += n
        if self._epoch_log is not None and n_ep:
            self._epoch_log.append(log)
        return A_OUT, (W_REC.transpose(0, 2, 1) if rec > 0 else None)
