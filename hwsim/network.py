"""Chip network IR: the one description that crosses from models/rules into the chip.

A :class:`Network` holds spike inputs, populations of integer compartments, projections between
them and probes. Everything is integer and validated against a :class:`~hwsim.spec.ChipSpec`
when it is added: a value the chip cannot hold raises :class:`~hwsim.spec.SpecError` naming the
object, the parameter, the value and the allowed range. Nothing is clipped silently.

Arithmetic (Lava 0.10.0 bit-accurate models; ../shared/reference/lava-semantics.md):

* LIF compartment, per step t (u, v are 24-bit two's complement)::

      u = wrap(trunc0(u * (4096 - (du + 1)) / 4096) + (a << 6))
      v = clip(trunc0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp), -(2**23 - 1), 2**23 - 1)
      s = v > (vth << 6);  v[s] = 0            (u is not reset)

  where ``wrap`` is Lava's one-sided 24-bit wrap (values > 2**23 lose 2**24, values <= -2**23 gain
  2**24, so +2**23 itself is kept) applied after int32 arithmetic; docs/hwsim.md has the details.

* Dense / Sparse / Conv projection: weights are the integer mantissas, used after the chip's
  clip to ``weight_bits`` and truncation of the ``8 - num_weight_bits (+1 if mixed)`` low bits;
  the summed input of a step is shifted by ``weight_exp`` (floor) and arrives one step later.
  Graded projections multiply the spike payload by the weight.
* Conv uses torch's layout and cross-correlation: weights (C_out, C_in/groups, KH, KW),
  populations (C, H, W), flattened in C-major order (as torch ``flatten``).
* A per-synapse delay d delivers at t_spike + 1 + d.
* A dense projection may learn (Lava ``LearningDense``, fixed_pt): ``learning`` holds the rule
  (:class:`hwsim.learning.LearningRule`); ``bap`` feeds the destination's spikes of step t to the
  post traces (Lava ``lif.s_out -> s_in_bap``); ``third_factor`` maps ``y1``/``y2``/``y3`` of a 3F
  rule to graded inputs whose row t-1 is written into the post traces at step t (Lava
  ``RingBuffer -> s_in_y*``). Learning at step t changes the weights used from step t+1 on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from .spec import LOIHI, ChipSpec, SpecError, check_array_range, check_range

if TYPE_CHECKING:  # imported lazily: hwsim.learning may import this module
    from .learning.rule import LearningRule

NEURON_KINDS = ("lif", "lif_reset", "ternary_lif")
#: the on-chip learning kinds (docs/compartments.md): add_readout, add_error, add_learning_compartment
CIRCUIT_KINDS = ("readout", "error", "learning")
GRADED_KINDS = ("error", "learning")        # populations whose outputs are graded values y
SIGN_MODES = ("mixed", "excitatory", "inhibitory")
PROBE_VARS = ("u", "v", "s", "y")
THIRD_FACTORS = ("y1", "y2", "y3")


# Largest number of elements of one input port (int32 indices in the compiled program).
MAX_INPUT_SIZE = (1 << 31) - 1


def _shape(shape, where: str = "", limit: int = MAX_INPUT_SIZE, limit_what: str = "the int32 index range") -> tuple[int, ...]:
    """A validated shape: a positive integer or a non-empty sequence of them, at most ``limit`` elements.

    Fractional or boolean sizes are refused (``2.7`` and ``(2.7,)`` are errors, never ``(2,)``), and
    the element count is checked before anything of that size is allocated.
    """
    prefix = f"{where}: " if where else ""
    if isinstance(shape, (int, np.integer, float, np.floating, bool, np.bool_)):
        shape = (shape,)
    try:
        items = tuple(shape)
    except TypeError:
        raise SpecError(f"{prefix}shape={shape!r} must be a positive integer or a non-empty tuple of them") from None
    if not items:
        raise SpecError(f"{prefix}shape={shape!r} must be a positive integer or a non-empty tuple of them")
    out = tuple(check_range(f"shape[{i}]", s, 1, 1 << 62, where) for i, s in enumerate(items))
    n = int(np.prod(out, dtype=object))
    if n > limit:
        raise SpecError(f"{prefix}shape={out} has {n} elements, more than {limit_what} ({limit})")
    return out


def _per_compartment(name: str, value, n: int, lo: int, hi: int, where: str) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim == 0:
        a = np.full(n, a)
    a = a.reshape(-1)
    if a.size != n:
        raise SpecError(f"{where}: {name} has {a.size} entries, the population has {n} compartments")
    check_array_range(name, a, lo, hi, where)
    return a.astype(np.int64)


def _int_array(name: str, value, where: str) -> np.ndarray:
    """``np.asarray(value)`` if it holds bools, integers or floats (range checks follow), else SpecError."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{where}: {name} is not an array of integers ({exc})") from None
    if a.dtype.kind not in "biuf":
        raise SpecError(f"{where}: {name} must be an integer array, got dtype {a.dtype}")
    return a


def infer_sign_mode(weights: np.ndarray) -> str:
    """Lava's default: all >= 0 excitatory, all <= 0 inhibitory, else mixed."""
    if weights.size == 0 or weights.min() >= 0:
        return "excitatory"
    if weights.max() <= 0:
        return "inhibitory"
    return "mixed"


@dataclass(frozen=True, eq=False)
class SpikeInput:
    """An input port. ``graded`` inputs carry signed integer payloads (message_bits wide);
    binary inputs carry 0/1. Data is supplied per run as an array (T, *shape) or (T, B, *shape)."""

    name: str
    shape: tuple[int, ...]
    graded: bool = False

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True, eq=False)
class Population:
    """Integer LIF compartments (Lava LIF / LIFReset / TernaryLIF, fixed_pt).

    du : int, 12-bit current decay, [-1, 4095] (-1: no decay, 4095: full decay)
    dv : int, 12-bit voltage decay, [0, 4096]
    vth : int, unsigned threshold mantissa (vth_mant_bits); threshold = vth << 6
    bias_mant, bias_exp : per compartment; bias = bias_mant << bias_exp
    u_init, v_init : per compartment, uv_bits two's complement
    reset_interval, reset_offset : lif_reset only: u = v = 0 when t % interval == offset % interval
    vth_lo : ternary_lif only, signed; spikes -1 where v < vth_lo << 6

    The kinds 'readout', 'error' and 'learning' (docs/compartments.md) use, besides du / dv
    (readout): partner (the population they read in the same step), tgt and shift (error: ``es``;
    learning: ``sh``), lut / lut_shift / delay (learning), seed (their stochastic rounding).
    """

    name: str
    shape: tuple[int, ...]
    kind: str
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    u_init: np.ndarray
    v_init: np.ndarray
    reset_interval: int = 0
    reset_offset: int = 0
    vth_lo: int = 0
    partner: str = ""
    tgt: int = 0
    shift: int = 0
    lut: tuple = ()
    lut_shift: int = 0
    delay: int = 0
    seed: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def graded_output(self) -> bool:
        """Ternary compartments emit signed (-1/0/+1) messages, error / learning compartments graded values."""
        return self.kind == "ternary_lif" or self.kind in GRADED_KINDS

    @property
    def sends(self) -> bool:
        """Whether the compartments send messages (a readout never does)."""
        return self.kind != "readout"


@dataclass(frozen=True, eq=False)
class _Projection:
    name: str
    src: str
    dst: str
    weight_exp: int
    num_weight_bits: int
    sign_mode: str
    graded: bool


@dataclass(frozen=True, eq=False)
class DenseProjection(_Projection):
    """Dense weights (n_dst, n_src) of integer mantissas; optional per-synapse ``delays`` (same shape).

    learning : LearningRule or None
        On-chip learning rule (Lava ``LearningDense``); None for static weights.
    bap : bool
        Learning only: the destination population's spikes drive the post traces / y0.
    third_factor : dict
        Learning with a 3F rule only: ``{"y1"|"y2"|"y3": graded input or error / learning population}``
        (of the destination's shape); its value of step t overwrites that post trace at step t.
    rounding : {'stochastic', 'nearest', 'floor'}
        Learning only: rounding of the learning updates to the weight / tag (Lava: 'stochastic';
        the others are study options that Lava cannot run, ``hwsim.learning.lava_rounding_problem``).
    graded_spike_cfg : {'regular', 'overwrite'}
        Learning only: 'overwrite' takes graded pre spikes from a graded input (payloads 0..255,
        accumulated as payload x weight; a spike sets x1 = round(payload / 2)), Lava's
        ``GradedSpikeCfg.OVERWRITE``; 'regular' (default) needs binary pre spikes.
    """

    weights: np.ndarray = field(default=None)
    delays: Optional[np.ndarray] = None
    learning: Optional[LearningRule] = None
    bap: bool = False
    third_factor: dict = field(default_factory=dict)
    graded_spike_cfg: str = "regular"
    rounding: str = "stochastic"


@dataclass(frozen=True, eq=False)
class SparseProjection(_Projection):
    """Sparse synapses as parallel arrays (dst index, src index, weight mantissa[, delay])."""

    dst_index: np.ndarray = field(default=None)
    src_index: np.ndarray = field(default=None)
    weights: np.ndarray = field(default=None)
    delays: Optional[np.ndarray] = None
    n_dst: int = 0
    n_src: int = 0


@dataclass(frozen=True, eq=False)
class ConvProjection(_Projection):
    """2-D convolution (torch cross-correlation semantics), weights (C_out, C_in/groups, KH, KW)."""

    weights: np.ndarray = field(default=None)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1


Projection = Union[DenseProjection, SparseProjection, ConvProjection]


@dataclass(frozen=True, eq=False)
class Mirror:
    """Graded messages of ``src`` sent back through the transpose of learning projection ``of``'s
    current weights into ``dst`` (OTTT's mirrored feedback: the weights a learning projection has at
    step t, read the other way, at step t).

    ``src`` is an error / learning population of ``of.dst``'s shape, ``dst`` a population of
    ``of.src``'s shape; per step ``a_dst = wrap32(floor_shift(W^T y_src, weight_exp))``, arriving one
    step later, as a graded Dense would (docs/compartments.md, "Mirrors"). It has no weights of its own:
    on the chip it reads the learning projection's synaptic memory (Lava: one fused process)."""

    name: str
    of: str
    src: str
    dst: str
    weight_exp: int = 0


@dataclass(frozen=True, eq=False)
class Probe:
    """Record ``var`` ('u', 'v' or 's') of population ``target`` at every step."""

    target: str
    var: str


def conv_output_shape(in_shape, c_out, kernel, stride, padding, dilation) -> tuple[int, int, int]:
    """(C_out, H_out, W_out) for a (C, H, W) input, as torch.nn.Conv2d computes it."""
    _, h, w = in_shape
    ho = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    wo = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    return (int(c_out), int(ho), int(wo))


def _pair(name, v, where) -> tuple[int, int]:
    if isinstance(v, (int, np.integer, float, np.floating, bool, np.bool_)):
        v = (v, v)
    try:
        v = tuple(v)
    except TypeError:
        raise SpecError(f"{where}: {name}={v!r} must be an int or a pair of ints") from None
    if len(v) != 2:
        raise SpecError(f"{where}: {name}={v} must be an int or a pair of ints")
    return tuple(check_range(f"{name}[{i}]", x, -(1 << 20), 1 << 20, where) for i, x in enumerate(v))


def _no_learning(where: str, kind: str, learning) -> None:
    if learning is not None:
        raise SpecError(f"{where}: learning is supported on dense projections only (Lava's LearningDense), "
                        f"not on {kind} projections; use connect_dense")


def _rounding(where: str, rounding) -> str:
    from .learning.engine import check_rounding
    check_rounding(rounding, where)
    return rounding


def _check_name(name) -> None:
    """Names are stored in HDF5 (UTF-8, NUL-terminated): non-empty, encodable, without NUL."""
    if not isinstance(name, str) or not name:
        raise SpecError(f"name={name!r} must be a non-empty string")
    if "\x00" in name:
        raise SpecError(f"name={name!r} must not contain NUL characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise SpecError(f"name={name!r} is not encodable as UTF-8") from None


class Network:
    """Builder and container of the chip IR. Names are unique across inputs and populations."""

    def __init__(self, spec: ChipSpec = LOIHI, name: str = "network"):
        _check_name(name)
        self.spec = spec
        self.name = name
        self.inputs: dict[str, SpikeInput] = {}
        self.populations: dict[str, Population] = {}
        self.projections: dict[str, Projection] = {}
        self.probes: list[Probe] = []
        self.mirrors: dict[str, Mirror] = {}

    # ---- nodes ---------------------------------------------------------------------
    def _new_name(self, name: str):
        _check_name(name)
        if name in self.inputs or name in self.populations or name in self.projections or name in self.mirrors:
            raise SpecError(f"name={name!r} is already used in network {self.name!r}")

    def add_input(self, name: str, shape, graded: bool = False) -> SpikeInput:
        self._new_name(name)
        node = SpikeInput(name, _shape(shape, f"input {name!r}"), bool(graded))
        self.inputs[name] = node
        return node

    def add_population(self, name: str, shape, *, du: int = 0, dv: int = 0, vth: int = 10,
                       bias_mant=0, bias_exp=0, u_init=0, v_init=0, kind: str = "lif",
                       reset_interval: int = 0, reset_offset: int = 0, vth_lo: int = 0) -> Population:
        self._new_name(name)
        where = f"population {name!r}"
        sp = self.spec
        # checked before any per-compartment array is allocated
        shape = _shape(shape, where, sp.total_compartments,
                       f"the chip's {sp.total_compartments} compartments (compartments_per_core "
                       f"{sp.compartments_per_core} x cores_per_chip {sp.cores_per_chip})")
        n = int(np.prod(shape))
        if kind not in NEURON_KINDS:
            raise SpecError(f"{where}: kind={kind!r} is not one of {NEURON_KINDS}")
        du = check_range("du", du, *sp.du_range, where)
        dv = check_range("dv", dv, *sp.dv_range, where)
        vth = check_range("vth", vth, *sp.vth_range, where)
        uv = sp.uv_range
        pop = Population(
            name=name, shape=shape, kind=kind, du=du, dv=dv, vth=vth,
            bias_mant=_per_compartment("bias_mant", bias_mant, n, *sp.bias_mant_range, where),
            bias_exp=_per_compartment("bias_exp", bias_exp, n, *sp.bias_exp_range, where),
            u_init=_per_compartment("u_init", u_init, n, *uv, where),
            v_init=_per_compartment("v_init", v_init, n, *uv, where),
            reset_interval=check_range("reset_interval", reset_interval, 0 if kind != "lif_reset" else 1,
                                       1 << 16, where),
            reset_offset=check_range("reset_offset", reset_offset, 0, 1 << 16, where),
            vth_lo=check_range("vth_lo", vth_lo, -sp.vth_range[1], sp.vth_range[1], where),
        )
        self.populations[name] = pop
        return pop

    def _partner(self, where, partner, kinds) -> Population:
        if not isinstance(partner, str) or partner not in self.populations:
            raise SpecError(f"{where}: partner={partner!r} is not a population of network {self.name!r} "
                            f"(add it first); have {sorted(self.populations)}")
        p = self.populations[partner]
        if p.kind not in kinds:
            raise SpecError(f"{where}: partner={partner!r} is a {p.kind!r} population; expected one of {kinds}")
        return p

    def _circuit_population(self, name, shape, kind, **kw) -> Population:
        n = int(np.prod(shape))
        zeros = np.zeros(n, np.int64)
        pop = Population(name=name, shape=shape, kind=kind, bias_mant=zeros, bias_exp=zeros, u_init=zeros,
                         v_init=zeros, **kw)
        self.populations[name] = pop
        return pop

    def add_readout(self, name: str, shape, *, du: int = 4095, dv: int = 4096) -> Population:
        """A non-spiking integrator (LIF sub-threshold arithmetic, no threshold, bias 0); it never
        sends. The defaults (du = 4095, dv = 4096) make ``v = a << 6``: the step's input, unfiltered."""
        self._new_name(name)
        where = f"readout {name!r}"
        sp = self.spec
        return self._circuit_population(name, _shape(shape), "readout", du=check_range("du", du, *sp.du_range, where),
                                        dv=check_range("dv", dv, *sp.dv_range, where), vth=0)

    def add_error(self, name: str, partner: str, *, tgt: int, es: int, seed: int = 0) -> Population:
        """Error compartments of the readout ``partner``: ``y = clip(SR(v_partner - tgt * a, es))``
        (``a``: the label, this population's synaptic input), sent as graded messages
        (docs/compartments.md). ``tgt`` in v units, ``es`` a shift in [-32, 62]."""
        self._new_name(name)
        where = f"error {name!r}"
        p = self._partner(where, partner, ("readout",))
        half = 1 << (self.spec.uv_bits - 1)
        return self._circuit_population(
            name, p.shape, "error", du=0, dv=0, vth=0, partner=partner,
            tgt=check_range("tgt", tgt, 0, half - 1, where), shift=check_range("es", es, -32, 62, where),
            seed=check_range("seed", seed, 0, (1 << 63) - 1, where))

    def add_learning_compartment(self, name: str, partner: str, *, lut, lut_shift: int, sh: int, delay: int = 0,
                                 seed: int = 0) -> Population:
        """OTTT learning compartments of the LIF population ``partner``:
        ``y = clip(SR(fb * lut[((vpre_partner(t - delay) - vth << 6) >> lut_shift) + len(lut) // 2], sh))``
        with ``fb`` this population's synaptic input (the feedback), 0 outside the table
        (docs/compartments.md). LUT entries are unsigned, ``trace_bits + 1`` bits wide (0..255 on Loihi)."""
        self._new_name(name)
        where = f"learning compartment {name!r}"
        p = self._partner(where, partner, ("lif", "lif_reset"))
        sp = self.spec
        table = np.asarray(lut)
        if table.ndim != 1 or table.size < 1:
            raise SpecError(f"{where}: lut must be a non-empty 1-D table, got shape {table.shape}")
        check_array_range("lut", table, 0, (1 << (sp.trace_bits + 1)) - 1, where)
        return self._circuit_population(
            name, p.shape, "learning", du=0, dv=0, vth=0, partner=partner, shift=check_range("sh", sh, -32, 62, where),
            lut=tuple(int(x) for x in table), lut_shift=check_range("lut_shift", lut_shift, 0, 24, where),
            delay=check_range("delay", delay, 0, sp.delay_range[1], where),
            seed=check_range("seed", seed, 0, (1 << 63) - 1, where))

    def node(self, name: str) -> Union[SpikeInput, Population]:
        if name in self.inputs:
            return self.inputs[name]
        if name in self.populations:
            return self.populations[name]
        raise SpecError(f"no input or population named {name!r} in network {self.name!r}; "
                        f"have {sorted(self.inputs) + sorted(self.populations)}")

    # ---- projections ---------------------------------------------------------------
    def _common(self, where, src, dst, weights, weight_exp, num_weight_bits, sign_mode, graded):
        s, d = self.node(src), self.node(dst)
        if not isinstance(d, Population):
            raise SpecError(f"{where}: dst={dst!r} is an input; projections must end on a population")
        if isinstance(s, Population) and not s.sends:
            raise SpecError(f"{where}: src={src!r} is a readout, which never sends; read its v with a probe "
                            "or through an error population (add_error)")
        w = _int_array("weights", weights, where)
        sign_mode = infer_sign_mode(w) if sign_mode is None else sign_mode
        if sign_mode not in SIGN_MODES:
            raise SpecError(f"{where}: sign_mode={sign_mode!r} is not one of {SIGN_MODES}")
        check_array_range("weights", w, *self.spec.weight_range(sign_mode), where)
        weight_exp = check_range("weight_exp", weight_exp, *self.spec.weight_exp_range, where)
        num_weight_bits = check_range("num_weight_bits", num_weight_bits, 1, self.spec.weight_bits, where)
        src_graded = (isinstance(s, SpikeInput) and s.graded) or (isinstance(s, Population) and s.graded_output)
        graded = bool(graded) or src_graded
        return s, d, w.astype(np.int64), weight_exp, num_weight_bits, sign_mode, graded

    def _delays(self, where, delays, shape):
        if delays is None:
            return None
        dl = np.asarray(delays)
        if dl.shape != shape:
            raise SpecError(f"{where}: delays has shape {dl.shape}, expected {shape}")
        return check_array_range("delays", dl, *self.spec.delay_range, where).astype(np.int64)

    def connect_dense(self, name: str, src: str, dst: str, weights, *, weight_exp: int = 0,
                      num_weight_bits: int = 8, sign_mode: Optional[str] = None, graded: bool = False,
                      delays=None, learning: Optional[LearningRule] = None, bap: Optional[bool] = None,
                      third_factor: Optional[dict] = None, graded_spike_cfg: str = "regular",
                      rounding: str = "stochastic") -> DenseProjection:
        """Dense projection ``src -> dst``, weights (n_dst, n_src); optionally learning.

        With ``learning`` (a :class:`hwsim.learning.LearningRule` with an ``rng_seed``) the
        projection is a Lava ``LearningDense``: ``sign_mode`` defaults to "mixed" (Lava's default
        for it, whatever the weights' signs), pre spikes must be binary and there are no delays.
        ``bap`` (default: True for 2F rules and for 3F rules that use y0, else False) connects the
        dst spikes to the post traces; ``third_factor`` ({"y1"|"y2"|"y3": input}) drives a 3F
        rule's post traces from graded inputs of the dst shape.
        """
        self._new_name(name)
        where = f"projection {name!r}"
        if learning is not None and sign_mode is None:
            sign_mode = "mixed"
        s, d, w, we, nwb, sm, gr = self._common(where, src, dst, weights, weight_exp, num_weight_bits,
                                                sign_mode, graded)
        if w.shape != (d.size, s.size):
            raise SpecError(f"{where}: weights has shape {w.shape}, expected (n_dst, n_src) = {(d.size, s.size)}")
        dl = self._delays(where, delays, w.shape)
        if learning is None:
            if bap is not None or third_factor is not None or graded_spike_cfg != "regular" or rounding != "stochastic":
                raise SpecError(f"{where}: bap={bap!r}, third_factor={third_factor!r}, graded_spike_cfg="
                                f"{graded_spike_cfg!r} and rounding={rounding!r} need learning=; they configure a "
                                "learning rule")
            p = DenseProjection(name, src, dst, we, nwb, sm, gr, weights=w, delays=dl)
        else:
            self._check_learning(where, learning, s, d, gr, dl, graded_spike_cfg)
            p = DenseProjection(name, src, dst, we, nwb, sm, gr, weights=w, delays=None, learning=learning,
                                bap=self._bap(where, learning, bap, d),
                                third_factor=self._third_factor(where, learning, third_factor, d),
                                graded_spike_cfg=graded_spike_cfg, rounding=_rounding(where, rounding))
        self.projections[name] = p
        return p

    # ---- learning ------------------------------------------------------------------------
    def _check_learning(self, where, rule, s, d, graded, delays, graded_spike_cfg="regular") -> None:
        from .learning.rule import LearningRule
        if not isinstance(rule, LearningRule):
            raise SpecError(f"{where}: learning={type(rule).__name__} must be a hwsim.learning.LearningRule "
                            "(LearningRule.from_lava converts a Lava rule)")
        if rule.rng_seed is None:
            raise SpecError(f"{where}: learning.rng_seed=None; pass an integer seed >= 0 (Lava would draw a "
                            "random one, which cannot be reproduced)")
        if delays is not None:
            raise SpecError(f"{where}: delays are not allowed with learning (Lava's LearningDense has none)")
        if graded_spike_cfg not in ("regular", "overwrite"):
            raise SpecError(f"{where}: graded_spike_cfg={graded_spike_cfg!r} is not one of ('regular', 'overwrite')")
        if graded_spike_cfg == "overwrite":
            if not (isinstance(s, SpikeInput) and s.graded):
                raise SpecError(f"{where}: graded_spike_cfg='overwrite' needs a graded input as src; src={s.name!r} "
                                "is not one")
            if rule.x1_impulse != 0:
                raise SpecError(f"{where}: graded_spike_cfg='overwrite' needs learning.x1_impulse=0 (Lava sets it "
                                f"to 0 for graded pre spikes), got {rule.x1_impulse}")
            return
        if graded:
            what = "a graded input" if isinstance(s, SpikeInput) and s.graded else (
                "a ternary population" if isinstance(s, Population) and s.graded_output else "graded=True")
            raise SpecError(f"{where}: learning needs binary pre spikes, src={s.name!r} is {what} "
                            "(or a graded input with graded_spike_cfg='overwrite')")

    def _bap(self, where, rule, bap, d) -> bool:
        uses_y0 = any(p.dependency == "y0" or any(f.var == "y0" for f in p.factors)
                      for ps in rule.products.values() for p in ps)
        if bap is None:
            bap = rule.kind == "2F" or (rule.kind == "3F" and uses_y0)
        if not isinstance(bap, (bool, np.bool_)):
            raise SpecError(f"{where}: bap={bap!r} must be True, False or None")
        if bap and rule.kind == "plain":
            raise SpecError(f"{where}: bap=True but learning.kind='plain' takes no post input "
                            "(use kind='2F' or '3F')")
        if bap and d.graded_output:
            raise SpecError(f"{where}: bap=True needs binary dst spikes; dst={d.name!r} is a ternary population")
        return bool(bap)

    def _third_factor(self, where, rule, third_factor, d) -> dict:
        if not third_factor:
            return {}
        if rule.kind != "3F":
            raise SpecError(f"{where}: third_factor={third_factor!r} needs a 3F rule; learning.kind="
                            f"{rule.kind!r} computes its post traces from bap spikes")
        if not isinstance(third_factor, dict):
            raise SpecError(f"{where}: third_factor must be a dict {{'y1'|'y2'|'y3': input name}}, "
                            f"got {type(third_factor).__name__}")
        bad = sorted(set(third_factor) - set(THIRD_FACTORS), key=str)
        if bad:
            raise SpecError(f"{where}: third_factor key(s) {bad} are not among {THIRD_FACTORS}")
        out = {}
        for key in THIRD_FACTORS:
            if key not in third_factor:
                continue
            inp = third_factor[key]
            pop = self.populations.get(inp) if isinstance(inp, str) else None
            if pop is not None:
                if pop.kind not in GRADED_KINDS:
                    raise SpecError(f"{where}: third_factor[{key!r}]={inp!r} is a {pop.kind!r} population; a "
                                    f"population third factor must be graded, one of {GRADED_KINDS}")
                if pop.shape != d.shape:
                    raise SpecError(f"{where}: third_factor[{key!r}]={inp!r} has shape {pop.shape}, "
                                    f"expected the dst shape {d.shape}")
                out[key] = inp
                continue
            if not isinstance(inp, str) or inp not in self.inputs:
                raise SpecError(f"{where}: third_factor[{key!r}]={inp!r} is neither a graded input nor an error / "
                                f"learning population of network {self.name!r}; inputs {sorted(self.inputs)}")
            node = self.inputs[inp]
            if not node.graded:
                raise SpecError(f"{where}: third_factor[{key!r}]={inp!r} must be a graded input "
                                "(add_input(..., graded=True)): it carries signed trace values")
            if node.shape != d.shape:
                raise SpecError(f"{where}: third_factor[{key!r}]={inp!r} has shape {node.shape}, "
                                f"expected the dst shape {d.shape}")
            out[key] = inp
        return out

    def connect_sparse(self, name: str, src: str, dst: str, dst_index, src_index, weights, *,
                       weight_exp: int = 0, num_weight_bits: int = 8, sign_mode: Optional[str] = None,
                       graded: bool = False, delays=None, learning=None) -> SparseProjection:
        self._new_name(name)
        where = f"projection {name!r}"
        _no_learning(where, "sparse", learning)
        s, d, w, we, nwb, sm, gr = self._common(where, src, dst, weights, weight_exp, num_weight_bits,
                                                sign_mode, graded)
        di = np.asarray(dst_index).reshape(-1)
        si = np.asarray(src_index).reshape(-1)
        w = w.reshape(-1)
        if not (di.size == si.size == w.size):
            raise SpecError(f"{where}: dst_index ({di.size}), src_index ({si.size}) and weights ({w.size}) "
                            "must have the same length")
        check_array_range("dst_index", di, 0, d.size - 1, where)
        check_array_range("src_index", si, 0, s.size - 1, where)
        if np.unique(di * s.size + si).size != di.size:
            raise SpecError(f"{where}: duplicate (dst, src) synapses")
        p = SparseProjection(name, src, dst, we, nwb, sm, gr, dst_index=di.astype(np.int64),
                             src_index=si.astype(np.int64), weights=w,
                             delays=self._delays(where, delays, w.shape), n_dst=d.size, n_src=s.size)
        self.projections[name] = p
        return p

    def connect_conv(self, name: str, src: str, dst: str, weights, *, stride=1, padding=0, dilation=1,
                     groups: int = 1, weight_exp: int = 0, num_weight_bits: int = 8,
                     sign_mode: Optional[str] = None, graded: bool = False, learning=None) -> ConvProjection:
        self._new_name(name)
        where = f"projection {name!r}"
        _no_learning(where, "conv", learning)
        s, d, w, we, nwb, sm, gr = self._common(where, src, dst, weights, weight_exp, num_weight_bits,
                                                sign_mode, graded)
        if w.ndim != 4:
            raise SpecError(f"{where}: conv weights must be 4-D (C_out, C_in/groups, KH, KW), got shape {w.shape}")
        if len(s.shape) != 3 or len(d.shape) != 3:
            raise SpecError(f"{where}: conv needs (C, H, W) shapes, src is {s.shape}, dst is {d.shape}")
        stride, padding, dilation = (_pair(n, v, where) for n, v in
                                     (("stride", stride), ("padding", padding), ("dilation", dilation)))
        if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
            raise SpecError(f"{where}: stride={stride} and dilation={dilation} must be >= 1, padding={padding} >= 0")
        groups = check_range("groups", groups, 1, s.shape[0], where)
        c_out, c_in_g, kh, kw = w.shape
        if s.shape[0] % groups or c_out % groups or c_in_g != s.shape[0] // groups:
            raise SpecError(f"{where}: weights {w.shape} with groups={groups} do not fit src channels "
                            f"{s.shape[0]} (C_in/groups must equal weights.shape[1], both divisible by groups)")
        expect = conv_output_shape(s.shape, c_out, (kh, kw), stride, padding, dilation)
        if d.shape != expect:
            raise SpecError(f"{where}: dst shape {d.shape} does not match the conv output shape {expect}")
        p = ConvProjection(name, src, dst, we, nwb, sm, gr, weights=w, stride=stride, padding=padding,
                           dilation=dilation, groups=groups)
        self.projections[name] = p
        return p

    def add_mirror(self, name: str, of: str, src: str, dst: str, *, weight_exp: int = 0) -> Mirror:
        """Send ``src``'s graded outputs back through learning projection ``of``'s weights (transposed)
        into ``dst``: see :class:`Mirror`. At most one mirror per learning projection."""
        self._new_name(name)
        where = f"mirror {name!r}"
        proj = self.projections.get(of) if isinstance(of, str) else None
        if proj is None or getattr(proj, "learning", None) is None:
            raise SpecError(f"{where}: of={of!r} is not a learning projection of network {self.name!r}; learning "
                            f"projections: {[p.name for p in self.learning_projections()]}")
        if any(m.of == of for m in self.mirrors.values()):
            raise SpecError(f"{where}: projection {of!r} already has a mirror (at most one per learning projection)")
        s = self.populations.get(src) if isinstance(src, str) else None
        if s is None or s.kind not in GRADED_KINDS:
            raise SpecError(f"{where}: src={src!r} must be an error / learning population ({GRADED_KINDS}): a mirror "
                            "carries graded values")
        d = self.populations.get(dst) if isinstance(dst, str) else None
        if d is None:
            raise SpecError(f"{where}: dst={dst!r} is not a population of network {self.name!r}")
        n_post, n_pre = proj.weights.shape
        if s.size != n_post:
            raise SpecError(f"{where}: src={src!r} has {s.size} compartments, projection {of!r} has {n_post} "
                            "destinations (the mirror reads its weights transposed)")
        if d.size != n_pre:
            raise SpecError(f"{where}: dst={dst!r} has {d.size} compartments, projection {of!r} has {n_pre} sources")
        m = Mirror(name, of, src, dst, check_range("weight_exp", weight_exp, *self.spec.weight_exp_range, where))
        self.mirrors[name] = m
        return m

    def add_probe(self, target: str, var: str) -> Probe:
        node = self.node(target)
        if not isinstance(node, Population):
            raise SpecError(f"probe target={target!r} is an input; probes read populations")
        if var not in PROBE_VARS:
            raise SpecError(f"probe var={var!r} is not one of {PROBE_VARS}")
        p = Probe(target, var)
        self.probes.append(p)
        return p

    # ---- queries -------------------------------------------------------------------
    def projections_into(self, dst: str) -> list[Projection]:
        return [p for p in self.projections.values() if p.dst == dst]

    def projections_from(self, src: str) -> list[Projection]:
        return [p for p in self.projections.values() if p.src == src]

    def learning_projections(self) -> list[DenseProjection]:
        """Projections with a learning rule, in insertion order."""
        return [p for p in self.projections.values() if getattr(p, "learning", None) is not None]

    def __repr__(self):
        mirrors = f", mirrors={list(self.mirrors)}" if self.mirrors else ""
        return (f"Network({self.name!r}, inputs={list(self.inputs)}, populations={list(self.populations)}, "
                f"projections={list(self.projections)}{mirrors})")
