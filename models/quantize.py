"""Float network <-> chip IR: quantize a cuba-form :class:`SpikingNet` into an
:class:`hwsim.Network` and build the float network back from one, so that a float run and a chip
run start from identical weights.

Units and the one scale per layer
---------------------------------
Every spiking layer ``l`` gets one real factor ``scale_l`` from float membrane units to chip
units: **chip v = float v * scale_l** (and chip u = float i * scale_l). Everything in the layer
follows from it (``q`` is the input scale, 1 for spike sources, ``input_scale`` for a graded
first layer)::

    chip u increment per spike     w_mant * 2**weight_exp * 64 * q  =  W * scale_l
    threshold                      (vth << 6) + 1                    =  v_th * scale_l
    bias                           bias_mant << bias_exp             =  b * scale_l
    decays                         du_int = round(du * 4096) - 1,  dv_int = round(dv * 4096)

The ``+ 1`` on the threshold: the chip fires on ``v > vth << 6`` (strict), the float LIF on
``v >= v_th``; for the integer chip membrane ``v > vth << 6`` is ``v >= (vth << 6) + 1``, so with
``scale_l = ((vth << 6) + 1) / v_th`` both fire on the same membrane values. ``scale_l`` is
therefore not a power of two, and it is snapped to that form when given by the caller.

Choice of ``weight_exp`` and ``scale_l`` (default): the mantissa grid is the one the chip keeps after
its ``num_weight_bits`` truncation (multiples of ``2**ntb``, ``ntb = weight_bits - num_weight_bits
(+1 if mixed)``), so the chip's truncation never changes a quantized weight. ``weight_exp`` is the
largest exponent for which the weights use the full mantissa range while ``|u|, |v|`` up to
``headroom * v_th`` still fit the ``uv_bits`` state and the threshold fits ``vth_mant_bits``.
Conv projections keep ``weight_exp = 0`` (Lava's Conv ignores ``weight_exp``; hwsim honours it, so
``conv_weight_exp=True`` unlocks it for hwsim-only studies).

What is exact and what is not
-----------------------------
With ``du = dv = 0`` (no decay) and ``weight_exp >= 0`` the chip arithmetic is linear and the float
run of :func:`dequantize`'s network reproduces it up to float rounding. Otherwise the chip
truncates ``u * (4096 - du - 1) / 4096`` and ``v * (4096 - dv) / 4096`` toward zero every step (at
most 1 LSB each) and, for ``weight_exp < 0``, floors the step's summed input (less than one unit
of ``2**weight_exp * 64``), so the membranes drift by a few LSBs; spikes flip only where the float
membrane sits within that drift of the threshold.

Input convention
----------------
* ``input_graded=False``: the first projection takes binary spikes (0/1) from the SpikeInput, as
  the float net takes 0/1 spikes (rate or latency encoding).
* ``input_graded=True``: float direct encoding (analog x, usually in [0, 1]) maps to graded
  integer payloads ``p = round(x * input_scale)`` (default ``INPUT_SCALE = 256``, 16 for the netx target; a power of two so
  ``p / input_scale`` is exact in float); the chip multiplies the payload by the weight, and the
  float network must be fed ``p / input_scale`` (:meth:`ChipModel.float_input`) to see the same
  input.

Timing
------
The chip delivers each projection one step later (Lava's synaptic buffer): input row ``k`` reaches
layer ``n`` (0-based) at chip row ``k + n + 1``. :meth:`ChipModel.chip_input` pads the input with
``n_layers`` silent rows and :func:`rules.chiprun.align_chip_record` cuts row ``k + n + 1`` of
layer ``n`` back to float step ``k``. Before its first input the chip's layer ``n`` has already run ``n + 1``
steps on its bias alone; with a nonzero bias, :func:`quantize` makes the populations ``lif_reset``
(reset to rest at Lava step ``n + 2``, the step input row 0 arrives) so that the aligned chip run
starts from rest like the float run (see ``reset_interval``).

Pooling
-------
Average pooling is folded exactly into the next projection (:mod:`models.fold`); a pooling
before the (host) readout is folded into the readout weights.

Scale policy
------------
``scale_policy='exact'`` (default) picks the layer scale from the weights so the mantissas use
their full range; ``'pow2'`` makes the scale a power of two (every float <-> chip conversion a
shift, as in the on-chip OTTT mapping), at the cost of up to one bit of mantissa range and a
threshold one LSB off (the chip fires on ``v > vth << 6 = scale * v_th``). Both go through the one
policy module :mod:`models.scales`.

Target
------
``target='chip'`` (default) uses every exponent the ChipSpec has. ``target='netx'`` keeps what
lava-dl's netx files can hold (:mod:`models.scales`): weight exponent 0 (netx adds the integer
weights ``w * 2**weight_exp``, in [-256, 254]), biases in multiples of 64 (``bias_exp >= 6``), a
graded input scaled by 16 instead of 256 (so the first layer's weights keep most of their range
under the headroom), and it checks the result with the netx exporter's own checks, so a network
netx cannot express is refused here, naming the layer, the value and the limit.

Running the quantized network on the chip simulator and comparing it with the float network is
in :mod:`rules.chiprun` (the place float meets chip); saving it to HDF5 in
:mod:`models.quantize_io`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from hwsim.constants import ACT_SHIFT, DECAY_UNITY, DU_OFFSET, VTH_SHIFT
from hwsim.network import ConvProjection, Network, SparseProjection
from hwsim.program import chip_weights, effective_bias
from hwsim.spec import LOIHI, ChipSpec

from .fold import QuantizationError, _as_pair, _fold_dense, _fold_pre, _layer_map, _np, _unfold_conv, _unfold_dense
from .neuron import LIFConfig
from .network import NetConfig, SpikingNet
from .scales import (INPUT_SCALES, bias_exponent_floor, check_policy, check_target, grid_stats, layer_headroom,
                     pow2_floor, to_grid, weight_exponents)
from .surrogate import Surrogate

INPUT_SCALE = INPUT_SCALES["chip"]
"""Graded payload per unit of analog input (``p = round(x * INPUT_SCALE)``); the netx target's
default is ``models.scales.INPUT_SCALES['netx']``."""

DEFAULT_HEADROOM = 64.0
"""``|u|, |v|`` up to this many thresholds must fit the chip state (``uv_bits``)."""

ACT_GAIN = 1 << ACT_SHIFT      # 64: the synaptic input enters u as a << 6
VTH_GAIN = 1 << VTH_SHIFT      # 64: threshold = vth << 6


# ------------------------------------------------------------------------------------------------
# reports and the chip model
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerQuant:
    """How one spiking layer was quantized.

    index, population, projection : layer position, chip population and projection names
    kind : 'dense' or 'conv' (the chip projection); pool : folded average-pooling factor (1: none)
    scale : chip units per float membrane unit
    vth, du, dv : chip threshold mantissa and decays
    weight_exp, num_weight_bits, sign_mode : the projection's
    weight_step : float weight of one retained mantissa step (``2**ntb * 2**weight_exp * 64 * q / scale``)
    mantissa_max : largest |mantissa| used; mantissa_limit : largest allowed by the sign mode
    max_rel_weight_error : ``max |W_q - W| / max |W|``
    mean_rel_weight_error : ``mean |W_q - W| / mean |W|``
    max_abs_bias_error : ``max |b_q - b|`` (float membrane units)
    state_range : |u|, |v| representable, in thresholds (``2**(uv_bits-1) / (v_th * scale)``)
    u_bound, v_bound : worst-case |i|, |v| of the float layer in thresholds (every input active
        with x = 1 at every step; inf without decay); above ``state_range`` the chip may wrap/clip
    notes : remarks (mantissa range not fully used, state may overflow, ...)
    clipped_share, zeroed_share : fractions of the weights clipped by the mantissa range / nonzero
        in float but 0 on the chip (:func:`models.scales.grid_stats`)
    weight_range : (min, max) of the float weights mapped (pooling folded in)
    overflow_risk : ``max(u_bound, v_bound) > state_range``
    """

    index: int
    population: str
    projection: str
    kind: str
    pool: int
    scale: float
    vth: int
    du: int
    dv: int
    weight_exp: int
    num_weight_bits: int
    sign_mode: str
    weight_step: float
    mantissa_max: int
    mantissa_limit: int
    max_rel_weight_error: float
    mean_rel_weight_error: float
    max_abs_bias_error: float
    state_range: float
    u_bound: float
    v_bound: float
    notes: tuple = ()
    clipped_share: float = 0.0
    zeroed_share: float = 0.0
    weight_range: tuple = (0.0, 0.0)
    overflow_risk: bool = False


@dataclass(frozen=True)
class QuantReport:
    """Per-layer quantization record plus the decay quantization errors (float fractions)."""

    layers: tuple
    du_error: float
    dv_error: float
    input_graded: bool
    input_scale: int
    scale_policy: str = "exact"
    target: str = "chip"

    def __str__(self) -> str:
        head = (f"{'layer':>5} {'pop':>8} {'kind':>5} {'scale':>11} {'vth':>6} {'wexp':>4} {'nwb':>3} "
                f"{'|m|max':>6} {'maxrel':>8} {'meanrel':>8} {'range':>7} {'v_bnd':>7}")
        rows = [head]
        for r in self.layers:
            rows.append(f"{r.index:>5} {r.population:>8} {r.kind:>5} {r.scale:>11.3f} {r.vth:>6} "
                        f"{r.weight_exp:>4} {r.num_weight_bits:>3} {r.mantissa_max:>6} "
                        f"{r.max_rel_weight_error:>8.2e} {r.mean_rel_weight_error:>8.2e} "
                        f"{r.state_range:>7.1f} {r.v_bound:>7.1f}")
            for n in r.notes:
                rows.append(f"      note: {n}")
        rows.append(f"du_error={self.du_error:.2e} dv_error={self.dv_error:.2e} "
                    f"input={'graded x' + str(self.input_scale) if self.input_graded else 'binary spikes'}")
        return "\n".join(rows)


@dataclass(frozen=True, eq=False)
class ChipModel:
    """A quantized network: the chip part and the host readout.

    network : the chip IR (one population per spiking layer)
    scales : per layer, chip units per float membrane unit
    populations : layer index -> population name (``populations[i]``)
    projections : layer index -> projection name
    input_name, input_graded, input_scale : the SpikeInput and its payload convention
    readout_weight, readout_bias : float64 host readout acting on the last population's
        flattened spikes (any pooling before the readout folded in)
    config : the cuba-form ``NetConfig`` of the float mirror (:func:`dequantize`)
    pools : per layer, the folded average-pooling factor (1: none)
    report : the :class:`QuantReport`
    """

    network: Network
    scales: tuple
    populations: tuple
    projections: tuple
    input_name: str
    input_graded: bool
    input_scale: int
    readout_weight: np.ndarray
    readout_bias: np.ndarray
    config: NetConfig
    pools: tuple
    report: QuantReport
    readout_fc: tuple = field(default=None, repr=False)   # original (weight, bias) of the readout fc

    @property
    def n_layers(self) -> int:
        return len(self.populations)

    def population(self, index: int) -> str:
        return self.populations[index]

    # ---- inputs -------------------------------------------------------------------------------
    def encode(self, x) -> np.ndarray:
        """Chip input payloads for ``x`` ([T, ...] float or int): 0/1 spikes, or graded
        ``round(x * input_scale)``. Raises ValueError for non-binary spikes or NaN."""
        a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ValueError("input x contains NaN or inf")
        if not self.input_graded:
            if not np.all((a == 0) | (a == 1)):
                raise ValueError(f"input {self.input_name!r} is binary (input_graded=False) but x holds values "
                                 "other than 0 and 1; quantize with input_graded=True for analog inputs")
            return a.astype(np.int8)
        p = np.round(a.astype(np.float64) * self.input_scale)
        lo, hi = self.network.spec.message_range
        if p.size and (p.min() < lo or p.max() > hi):
            raise ValueError(f"graded input payloads round(x * {self.input_scale}) span [{p.min()}, {p.max()}], "
                             f"outside the message range [{lo}, {hi}]")
        return p.astype(np.int32)

    def float_input(self, x) -> torch.Tensor:
        """What the float mirror must see to get the chip's input: x itself for spikes,
        ``round(x * input_scale) / input_scale`` for graded inputs."""
        p = self.encode(x)
        t = torch.as_tensor(p.astype(np.float64))
        if self.input_graded:
            t = t / self.input_scale
        return t.to(x.dtype if isinstance(x, torch.Tensor) and x.dtype.is_floating_point else torch.float32)

    def chip_input(self, x) -> dict:
        """``{input_name: payloads}`` padded with ``n_layers`` silent steps, so that after
        :func:`align_chip_record` every layer has as many rows as ``x`` has steps."""
        p = self.encode(x)
        pad = np.zeros((self.n_layers,) + p.shape[1:], p.dtype)
        return {self.input_name: np.concatenate([p, pad], axis=0)}

    # ---- outputs ------------------------------------------------------------------------------
    def readout(self, spikes) -> np.ndarray:
        """Host readout ``o[t] = W s_L[t] + b`` on the last layer's aligned spikes ``(T, [B,] n)``."""
        s = np.asarray(spikes, dtype=np.float64)
        return s @ self.readout_weight.T + self.readout_bias

# ------------------------------------------------------------------------------------------------
# quantize
# ------------------------------------------------------------------------------------------------
SOFT_RESET = ("error", "hard")


def _neuron_params(cfg: LIFConfig, soft_reset: str = "error") -> tuple:
    """(du_float, dv_float, v_th) of the chip-equivalent cuba neuron, or raise for the soft reset
    (unless ``soft_reset='hard'``: map it to the chip's reset to zero, an approximation)."""
    if cfg.form == "cuba":
        return cfg.du, cfg.dv, cfg.v_th
    if cfg.reset != "hard" and soft_reset != "hard":
        raise QuantizationError(
            "neuron form='discrete' with reset='soft' has no chip form: the chip LIF is the cuba form "
            "(i = i(1-du) + x; v = v(1-dv) + i + bias; spike when v >= v_th; v reset to 0, i not reset). "
            "Build the network with LIFConfig(form='cuba', du=..., dv=...) (or the discrete form with "
            "reset='hard', which is cuba with du=1, dv=1-leak) and train it in that form, or pass "
            "soft_reset='hard' to map the soft reset to the chip's reset to zero (an approximation).")
    return 1.0, 1.0 - cfg.leak, cfg.v_th


def _per_layer(value, n: int, name: str):
    if value is None or isinstance(value, (int, float, np.integer, np.floating)):
        return [value] * n
    vals = list(value)
    if len(vals) != n:
        raise QuantizationError(f"{name} has {len(vals)} entries, the network has {n} spiking layers")
    return vals


def _mantissa_grid(spec: ChipSpec, sign_mode: str, nwb: int) -> tuple:
    """(ntb, k_lo, k_hi): mantissas k << ntb with k in [k_lo, k_hi] survive the chip's truncation."""
    ntb = max(0, spec.weight_bits - nwb + (1 if sign_mode == "mixed" else 0))
    lo, hi = spec.weight_range(sign_mode)
    return ntb, -((-lo) >> ntb), hi >> ntb


def _quantize_bias(b_chip: np.ndarray, spec: ChipSpec, where: str, e_lo: int):
    """(bias_mant, bias_exp) per compartment: the smallest exponent >= ``e_lo`` whose rounded
    mantissa fits ``spec.bias_mant_range``."""
    lo, hi = spec.bias_mant_range
    mant = np.zeros(b_chip.shape, np.int64)
    exp = np.full(b_chip.shape, e_lo, np.int64)
    todo = np.ones(b_chip.shape, bool)
    for e in range(e_lo, spec.bias_exp_max + 1):
        m = np.round(b_chip / float(1 << e))
        ok = todo & (m >= lo) & (m <= hi)
        mant[ok], exp[ok] = m[ok].astype(np.int64), e
        todo &= ~ok
    if np.any(todo):
        j = int(np.argmax(todo))
        raise QuantizationError(f"{where}: bias[{j}] = {b_chip[j]:.1f} chip units does not fit bias_mant "
                                f"[{lo}, {hi}] << bias_exp <= {spec.bias_exp_max}; the bias is out of range "
                                f"(lower the layer scale or the bias; bias_exp >= {e_lo})")
    return mant, exp


def quantize(net: SpikingNet, spec: ChipSpec = LOIHI, *, input_name: str = "in", input_graded: bool = False,
             weight_bits: Optional[int] = None, scale=None, input_scale: Optional[int] = None,
             headroom: float = DEFAULT_HEADROOM, conv_weight_exp: bool = False,
             reset_interval: Optional[int] = None, name: str = "quantized", scale_policy: str = "exact",
             soft_reset: str = "error", target: str = "chip") -> ChipModel:
    """Quantize a cuba-form :class:`SpikingNet` into an :class:`hwsim.Network` (+ host readout).

    Parameters
    ----------
    net : SpikingNet
        Float network, ``neuron.form == 'cuba'`` (or 'discrete' with ``reset='hard'``, which is
        cuba with du = 1, dv = 1 - leak). Dense and conv layers; average pooling is folded.
    spec : ChipSpec
        Bit widths; ``spec.weight_bits`` is the mantissa clip range.
    input_name : str
        Name of the chip SpikeInput.
    input_graded : bool
        False: binary spikes in; True: analog x in, graded payloads ``round(x * input_scale)``.
    weight_bits : int, optional
        ``num_weight_bits`` of every projection (default ``spec.weight_bits``).
    scale : float or sequence of floats, optional
        Chip units per float membrane unit, per layer (snapped so that ``v_th * scale - 1`` is a
        multiple of 64); default: chosen from the weights, ``headroom`` and the spec.
    input_scale : int, optional
        Graded payload per unit of analog input (only with ``input_graded``; default
        ``models.scales.INPUT_SCALES[target]``: 256 for 'chip', 16 for 'netx').
    headroom : float
        |u|, |v| up to ``headroom * v_th`` must fit ``uv_bits`` (bounds the automatic scale).
    conv_weight_exp : bool
        Allow ``weight_exp != 0`` on conv projections (hwsim honours it, Lava's Conv does not).
    reset_interval : int, optional
        Start-of-sample alignment. The chip's layer ``n`` integrates its bias for ``n + 1`` steps
        before the first input reaches it, while the float layer starts at rest with its input.
        ``lif_reset`` populations with ``reset_offset = n + 2`` zero ``u`` and ``v`` exactly when
        input row 0 arrives (Lava's LIFReset; that step's input still counts), so the chip starts
        each sample from rest like the float net. None: ``lif_reset`` with the largest interval
        (``2**16`` steps, i.e. once per run) when any bias is nonzero, plain ``lif`` otherwise;
        an int P: ``lif_reset`` every P steps (samples streamed every P >= T + n_layers steps);
        0: plain ``lif`` always.
    name : str
        Name of the chip network.
    scale_policy : 'exact' | 'pow2'
        Layer scale from the weights (full mantissa range), or a power of two (:mod:`models.scales`).
    soft_reset : 'error' | 'hard'
        A discrete net with the soft reset (subtract ``v_th``) has no exact chip form: 'error'
        refuses it, 'hard' maps it to the chip's reset to zero (the report notes it).
    target : 'chip' | 'netx'
        What must run the result (:mod:`models.scales`): 'chip' (hwsim, Lava) or 'netx' (also
        lava-dl's netx files: weight exponent 0, biases in multiples of 64); with 'netx' the
        network is checked against everything netx cannot express
        (:func:`hwsim.export.netx.plan_netx`) before it is returned.

    Raises
    ------
    QuantizationError (a ValueError) naming the layer and parameter: unsupported neuron form,
    NaN weights, weights or bias out of range, bad ``scale``, a network netx cannot express
    (``target='netx'``: the layer, the value and netx's limit). NotImplementedError for layers with
    no exact chip form (overlapping or max pooling, pooling into a padded conv on a map not
    divisible by the pool, unknown ops).
    """
    if not isinstance(net, SpikingNet):
        raise TypeError(f"net must be a models.network.SpikingNet, got {type(net).__name__}")
    cfg = net.config.neuron
    check_policy(scale_policy)
    try:
        check_target(target)
    except ValueError as exc:
        raise QuantizationError(str(exc)) from None
    try:
        bias_e_lo = bias_exponent_floor(target, spec.bias_exp_min, spec.bias_exp_max)
    except ValueError as exc:
        raise QuantizationError(f"target {target}: spec.{exc}") from None
    if soft_reset not in SOFT_RESET:
        raise QuantizationError(f"soft_reset={soft_reset!r} is not one of {SOFT_RESET}")
    du_f, dv_f, v_th = _neuron_params(cfg, soft_reset)
    reset_note = ("float net resets softly (v -= v_th); the chip resets v to 0 (soft_reset='hard')"
                  if cfg.form == "discrete" and cfg.reset == "soft" else None)
    nwb = spec.weight_bits if weight_bits is None else int(weight_bits)
    if not 1 <= nwb <= spec.weight_bits:
        raise QuantizationError(f"weight_bits={weight_bits!r} is outside the allowed range [1, {spec.weight_bits}]")
    if not (isinstance(headroom, (int, float)) and math.isfinite(headroom) and headroom >= 1):
        raise QuantizationError(f"headroom={headroom!r} must be a finite number >= 1 (thresholds)")
    if input_scale is None:
        input_scale = INPUT_SCALES[target]
    q_in = int(input_scale)
    if input_graded and (q_in != input_scale or q_in < 1):
        raise QuantizationError(f"input_scale={input_scale!r} must be a positive integer")
    n_layers = len(net.layers)
    scales_req = _per_layer(scale, n_layers, "scale")

    du_int = int(round(du_f * DECAY_UNITY)) - DU_OFFSET
    dv_int = int(round(dv_f * DECAY_UNITY))
    uv_hi = (1 << (spec.uv_bits - 1)) - 1
    vth_hi = spec.vth_range[1]

    if reset_interval is not None and (int(reset_interval) != reset_interval or not
                                       (reset_interval == 0 or n_layers < reset_interval <= 1 << 16)):
        raise QuantizationError(f"reset_interval={reset_interval!r} must be 0 or an integer in "
                                f"({n_layers}, {1 << 16}] (more than the {n_layers} pipeline steps)")
    any_bias = cfg.form == "cuba" and any(bool(torch.any(l.bias != 0)) for l in net.layers) or \
        cfg.form == "discrete" and any(l.op.bias is not None and bool(torch.any(l.op.bias != 0)) for l in net.layers)
    r_int = (1 << 16 if any_bias else 0) if reset_interval is None else int(reset_interval)

    chip = Network(spec, name=name)
    chip.add_input(input_name, net.config.input_shape, graded=input_graded)
    src, in_shape = input_name, tuple(net.config.input_shape)
    pops, projs, scales, pools, rows = [], [], [], [], []
    for i, layer in enumerate(net.layers):
        where = f"layer {i}"
        lm = _layer_map(i, layer, in_shape, cfg.form)
        q = q_in if (i == 0 and input_graded) else 1
        W, b = lm.W, lm.b
        sign_mode = "mixed" if (W.min() < 0 < W.max()) else ("inhibitory" if W.max() <= 0 < -W.min() else "excitatory")
        ntb, k_lo, k_hi = _mantissa_grid(spec, sign_mode, nwb)
        g = max(W.max() / k_hi if k_hi > 0 else 0.0, (-W.min()) / (-k_lo) if k_lo < 0 else 0.0)
        exps = weight_exponents(target, spec.weight_exp_min, spec.weight_exp_max, conv=lm.kind == "conv",
                                conv_weight_exp=conv_weight_exp)
        unit = lambda e: float(ACT_GAIN * (2.0 ** e) * (1 << ntb) * q)   # chip u per k step, per float input
        notes = []
        # worst case |i|, |v| of the float layer in thresholds: every input at 1 every step
        row_abs = np.abs(W).reshape(W.shape[0], -1).sum(axis=1)   # dense: per output; conv: per out channel
        x_max = row_abs.max() if row_abs.size else 0.0
        du_eff, dv_eff = (du_int + DU_OFFSET) / DECAY_UNITY, dv_int / DECAY_UNITY
        u_bound = x_max / du_eff if du_eff > 0 else (math.inf if x_max > 0 else 0.0)
        v_bound = (u_bound + float(np.abs(b).max(initial=0.0))) / dv_eff if dv_eff > 0 else math.inf
        u_bound, v_bound = u_bound / v_th, v_bound / v_th
        hr = layer_headroom(target, headroom, max(u_bound, v_bound))
        s_cap = min(uv_hi / (hr * v_th), (VTH_GAIN * vth_hi + 1) / v_th)
        if scales_req[i] is None:
            if g == 0.0:
                we, s_t = (0 if 0 in exps else exps[0]), s_cap
            else:
                fits = [e for e in exps if unit(e) / g <= s_cap]
                if fits:
                    we = max(fits)
                    s_t = unit(we) / g
                else:
                    we, s_t = exps[0], s_cap
                    notes.append(f"weights use {s_cap * g / unit(we):.2f} of the mantissa range "
                                 f"(scale capped by headroom={hr:.3g} and the state/threshold widths)")
            if scale_policy == "pow2":
                s_p = pow2_floor(s_t)                 # step = unit / s_p >= g: nothing clipped
                vth = int(round(s_p * v_th / VTH_GAIN))
            else:
                vth = int(math.floor((s_t * v_th - 1) / VTH_GAIN))
            if vth < 1:
                raise QuantizationError(
                    f"{where}: weights out of range: max |W| = {max(W.max(), -W.min()):.4g} is too large for "
                    f"v_th = {v_th} (needs weight_exp > {spec.weight_exp_max} to keep the threshold mantissa >= 1)")
            vth = min(vth, vth_hi)
        elif scale_policy == "pow2":
            s_p = float(scales_req[i])
            if not (math.isfinite(s_p) and s_p > 0) or pow2_floor(s_p) != s_p:
                raise QuantizationError(f"{where}: scale={scales_req[i]!r} must be a power of two "
                                        "(scale_policy='pow2')")
            vth = int(round(s_p * v_th / VTH_GAIN))
            if not 1 <= vth <= vth_hi:
                raise QuantizationError(f"{where}: scale={s_p} gives threshold mantissa vth={vth}, outside the "
                                        f"allowed range [1, {vth_hi}] (threshold = v_th * scale = vth << 6)")
            fits = [e for e in exps if g * s_p <= unit(e) * (1 + 1e-12)]
            if not fits:
                raise QuantizationError(
                    f"{where}: weights out of range at scale={s_p:.6g}: max |W| = {max(W.max(), -W.min()):.4g} "
                    f"needs weight_exp > {exps[-1]} (mantissas limited to [{k_lo << ntb}, {k_hi << ntb}])")
            we = min(fits)
        else:
            s_req = float(scales_req[i])
            if not (math.isfinite(s_req) and s_req > 0):
                raise QuantizationError(f"{where}: scale={scales_req[i]!r} must be a finite number > 0")
            vth = int(round((s_req * v_th - 1) / VTH_GAIN))
            if not 1 <= vth <= vth_hi:
                raise QuantizationError(f"{where}: scale={s_req} gives threshold mantissa vth={vth}, outside the "
                                        f"allowed range [1, {vth_hi}] (threshold = v_th * scale = (vth << 6) + 1)")
            s = (VTH_GAIN * vth + 1) / v_th
            fits = [e for e in exps if g * s <= unit(e) * (1 + 1e-12)]
            if not fits:
                raise QuantizationError(
                    f"{where}: weights out of range at scale={s:.6g}: max |W| = {max(W.max(), -W.min()):.4g} needs "
                    f"weight_exp > {exps[-1]} (mantissas limited to [{k_lo << ntb}, {k_hi << ntb}])")
            we = min(fits)
        s = (VTH_GAIN * vth + 1) / v_th if scale_policy == "exact" else s_p
        step = unit(we) / s                               # float weight per k step
        k = to_grid(W, step, k_lo, k_hi)
        stats = grid_stats(W, k, step, k_lo, k_hi)
        if not np.any(k):
            raise QuantizationError(
                f"{where}: every weight quantizes to 0 (max |W| = {float(np.abs(W).max(initial=0)):.4g}, one "
                f"mantissa step = {step:.4g}, mantissas [{k_lo << ntb}, {k_hi << ntb}] at num_weight_bits={nwb}): "
                "the layer would be dead on the chip; use more weight bits")
        mant = k << ntb
        b_chip = b * s
        bias_mant, bias_exp = _quantize_bias(b_chip, spec, where, bias_e_lo)

        pop, prj = f"layer{i}", f"proj{i}"
        reset = dict(kind="lif_reset", reset_interval=r_int, reset_offset=i + 2) if r_int else {}
        chip.add_population(pop, layer.out_shape, du=du_int, dv=dv_int, vth=vth,
                            bias_mant=bias_mant, bias_exp=bias_exp, **reset)
        if lm.kind == "dense":
            chip.connect_dense(prj, src, pop, mant, weight_exp=we, num_weight_bits=nwb, sign_mode=sign_mode)
        else:
            chip.connect_conv(prj, src, pop, mant, weight_exp=we, num_weight_bits=nwb, sign_mode=sign_mode,
                              **lm.conv)
        # errors, from the chip's own effective weights
        W_eff = _effective_float(chip, prj, s, q)
        dW = np.abs(W_eff - W)
        wmax, wmean = float(np.abs(W).max()), float(np.abs(W).mean())
        b_eff = effective_bias(bias_mant, bias_exp).astype(np.float64) / s
        state_range = uv_hi / (s * v_th)
        if reset_note:
            notes.append(reset_note)
        if max(u_bound, v_bound) > state_range:
            notes.append(f"worst-case |u| {u_bound:.3g} / |v| {v_bound:.3g} thresholds exceed the "
                         f"{state_range:.1f} representable: the chip state may wrap (u) or clip (v)")
        rows.append(LayerQuant(
            index=i, population=pop, projection=prj, kind=lm.kind, pool=lm.pool, scale=s, vth=vth,
            du=du_int, dv=dv_int, weight_exp=we, num_weight_bits=nwb, sign_mode=sign_mode, weight_step=step,
            mantissa_max=int(np.abs(mant).max(initial=0)), mantissa_limit=int(max(k_hi, -k_lo) << ntb),
            max_rel_weight_error=float(dW.max() / wmax) if wmax > 0 else 0.0,
            mean_rel_weight_error=float(dW.mean() / wmean) if wmean > 0 else 0.0,
            max_abs_bias_error=float(np.abs(b_eff - b).max(initial=0.0)),
            state_range=state_range, u_bound=u_bound, v_bound=v_bound, notes=tuple(notes),
            clipped_share=stats["clipped"], zeroed_share=stats["zeroed"],
            weight_range=(float(W.min()), float(W.max())) if W.size else (0.0, 0.0),
            overflow_risk=bool(max(u_bound, v_bound) > state_range)))
        pops.append(pop)
        projs.append(prj)
        scales.append(s)
        pools.append(lm.pool)
        src, in_shape = pop, tuple(layer.out_shape)

    # host readout, pooling folded in
    rk, _, rshape = _fold_pre(net.readout.pre, in_shape, "readout")
    Wr = _np(net.readout.fc.weight)
    br = _np(net.readout.fc.bias) if net.readout.fc.bias is not None else np.zeros(Wr.shape[0])
    if not (np.all(np.isfinite(Wr)) and np.all(np.isfinite(br))):
        raise QuantizationError("readout: weight or bias contains NaN or inf")
    Wr_host = _fold_dense(Wr, in_shape, rk) if rk > 1 else Wr

    neuron = LIFConfig(form="cuba", du=(du_int + DU_OFFSET) / DECAY_UNITY, dv=dv_int / DECAY_UNITY, v_th=v_th,
                       detach_reset=cfg.detach_reset, surrogate=cfg.surrogate)
    config = replace(net.config, neuron=neuron)
    report = QuantReport(layers=tuple(rows), du_error=abs((du_int + DU_OFFSET) / DECAY_UNITY - du_f),
                         dv_error=abs(dv_int / DECAY_UNITY - dv_f), input_graded=bool(input_graded),
                         input_scale=q_in, scale_policy=scale_policy, target=target)
    if target == "netx":
        _check_netx(chip, q_in if input_graded else 1)
    return ChipModel(network=chip, scales=tuple(scales), populations=tuple(pops), projections=tuple(projs),
                     input_name=input_name, input_graded=bool(input_graded), input_scale=q_in,
                     readout_weight=Wr_host, readout_bias=br.copy(), config=config, pools=tuple(pools),
                     report=report, readout_fc=(Wr.copy(), br.copy()))


def _check_netx(chip: Network, payload: int) -> None:
    """QuantizationError naming the part if netx cannot express ``chip`` (hwsim.export.netx's own
    checks: the plan, every layer's biases and weights, a conv's int32 sum for inputs up to
    ``payload``)."""
    # the checks to_netx runs before it writes (hwsim.export.netx), with the graded payload bound
    from hwsim.export import netx
    from hwsim.export.lava import UnexportableError

    try:
        plan = netx.plan_netx(chip)
        for layer in plan.layers:
            netx._neuron_values(chip, layer.population)
            proj = chip.projections[layer.projection]
            if layer.kind == "dense":
                netx._dense_matrix(chip, proj)
            else:
                netx._conv_weights(chip, proj, payload if proj.src == plan.input else 1)
    except UnexportableError as exc:
        raise QuantizationError(f"target netx: {exc}") from None


# ------------------------------------------------------------------------------------------------
# dequantize
# ------------------------------------------------------------------------------------------------
def _effective_float(chip: Network, proj_name: str, scale: float, q: float, extra: float = 1.0) -> np.ndarray:
    """The chip's effective weights of a projection in float membrane units per input unit:
    ``chip_weights(mantissa) * 2**weight_exp * 64 * q * extra / scale`` (one rounding)."""
    p = chip.projections[proj_name]
    if isinstance(p, SparseProjection):
        w = np.zeros((p.n_dst, p.n_src), np.int64)
        w[p.dst_index, p.src_index] = chip_weights(p.weights, p.sign_mode, p.num_weight_bits, chip.spec)
    else:
        w = chip_weights(p.weights, p.sign_mode, p.num_weight_bits, chip.spec)
    gain = ACT_GAIN * (2.0 ** p.weight_exp) * q * extra      # a power of two times q * extra: exact
    return (w.astype(np.float64) * gain) / scale


def _chain(chip: Network, input_name: Optional[str]):
    """Populations and projections along the input -> layer0 -> layer1 ... chain."""
    if input_name is None:
        if len(chip.inputs) != 1:
            raise QuantizationError(f"network has inputs {sorted(chip.inputs)}; pass input_name")
        input_name = next(iter(chip.inputs))
    if input_name not in chip.inputs:
        raise QuantizationError(f"input_name={input_name!r} is not an input of the network; have {sorted(chip.inputs)}")
    for p in chip.populations:
        if len(chip.projections_into(p)) != 1:
            raise QuantizationError(f"population {p!r} has {len(chip.projections_into(p))} incoming projections; "
                                    "a SpikingNet is a chain with exactly one each")
    pops, projs, src = [], [], input_name
    while True:
        out = chip.projections_from(src)
        if not out:
            break
        if len(out) != 1:
            raise QuantizationError(f"{src!r} feeds {len(out)} projections; a SpikingNet is a chain")
        pops.append(out[0].dst)
        projs.append(out[0].name)
        src = out[0].dst
    if len(pops) != len(chip.populations) or not pops:
        raise QuantizationError(f"the chain from {input_name!r} reaches {pops}, the network has populations "
                                f"{list(chip.populations)}")
    return input_name, pops, projs


def _config_from_network(chip, input_name, pops, projs, v_th, surrogate, n_classes):
    P = [chip.populations[p] for p in pops]
    for pop in P:
        where = f"population {pop.name!r}"
        if pop.kind not in ("lif", "lif_reset"):
            raise QuantizationError(f"{where}: kind={pop.kind!r}; the float mirror has the (reset) LIF only")
        if (pop.du, pop.dv) != (P[0].du, P[0].dv):
            raise QuantizationError(f"{where}: du={pop.du}, dv={pop.dv} differ from {P[0].name!r} "
                                    f"({P[0].du}, {P[0].dv}); a SpikingNet shares one LIFConfig")
        if np.any(pop.u_init) or np.any(pop.v_init):
            raise QuantizationError(f"{where}: u_init/v_init are not zero; the float mirror starts at rest")
    layers = []
    for prj_name, pop in zip(projs, P):
        p = chip.projections[prj_name]
        where = f"projection {prj_name!r}"
        if getattr(p, "delays", None) is not None and np.any(p.delays):
            raise QuantizationError(f"{where}: synaptic delays have no float mirror")
        if isinstance(p, ConvProjection):
            kh, kw = p.weights.shape[2:]
            if kh != kw or p.stride[0] != p.stride[1] or p.padding[0] != p.padding[1] or p.dilation != (1, 1) \
                    or p.groups != 1:
                raise NotImplementedError(f"{where}: conv kernel {(kh, kw)}, stride {p.stride}, padding {p.padding}, "
                                          f"dilation {p.dilation}, groups {p.groups}: NetConfig has square kernels, "
                                          "equal strides/paddings, dilation 1 and groups 1 only")
            layers.append(("conv", int(p.weights.shape[0]), int(kh), int(p.stride[0]), int(p.padding[0])))
        else:
            layers.append(("dense", pop.size))
    neuron = LIFConfig(form="cuba", du=(P[0].du + DU_OFFSET) / DECAY_UNITY, dv=P[0].dv / DECAY_UNITY, v_th=v_th,
                       surrogate=surrogate or Surrogate())
    return NetConfig(chip.inputs[input_name].shape, tuple(layers), n_classes, neuron)


def dequantize(chip: Union[ChipModel, Network], *, v_th: Optional[float] = None, scales=None,
               input_name: Optional[str] = None, input_scale: Optional[int] = None,
               readout=None, n_classes: Optional[int] = None, surrogate: Optional[Surrogate] = None,
               dtype: torch.dtype = torch.float32) -> SpikingNet:
    """The cuba-form float mirror of a chip network.

    Every weight is the chip's effective integer (after its ``num_weight_bits`` clip/truncation,
    times ``2**weight_exp`` and the ``<< 6`` of the activation; times ``input_scale`` for a graded
    input) divided by the layer scale, computed in float64 with one rounding and then cast to
    ``dtype``; biases are ``(bias_mant << bias_exp) / scale``; ``du = (du_int + 1) / 4096``,
    ``dv = dv_int / 4096``; ``v_th`` is shared and ``scale_l = ((vth_l << 6) + 1) / v_th``.

    Parameters
    ----------
    chip : ChipModel (from :func:`quantize`: scales, structure incl. pooling, readout taken from it)
        or hwsim.Network (a chain input -> population -> ...; dense, sparse (as dense) and conv).
    v_th : float, optional
        Float threshold (default: the ChipModel's, else 1.0).
    scales : sequence of floats, optional (Network only)
        Per layer; must satisfy ``v_th * scale_l == (vth_l << 6) + 1``; default derived from v_th.
    input_name, input_scale : Network only; graded inputs divide payloads by ``input_scale``
        (default ``INPUT_SCALE``).
    readout : (weight, bias) arrays, optional (Network only); else ``n_classes`` is required and
        the readout keeps torch's default init.
    dtype : parameter dtype of the returned net.
    """
    if isinstance(chip, ChipModel):
        net_ir, pops, projs = chip.network, list(chip.populations), list(chip.projections)
        config = chip.config
        if v_th is not None and v_th != config.neuron.v_th:
            config = replace(config, neuron=replace(config.neuron, v_th=float(v_th)))
        vt = config.neuron.v_th
        if surrogate is not None:
            config = replace(config, neuron=replace(config.neuron, surrogate=surrogate))
        if chip.report.scale_policy == "pow2":
            v_old = chip.config.neuron.v_th
            scl = [s * v_old / vt for s in chip.scales]
        else:
            scl = [(VTH_GAIN * net_ir.populations[p].vth + 1) / vt for p in pops]
        q_first = chip.input_scale if chip.input_graded else 1
        pools = list(chip.pools)
        readout = chip.readout_fc
        in_name = chip.input_name
    elif isinstance(chip, Network):
        net_ir = chip
        in_name, pops, projs = _chain(chip, input_name)
        vt = 1.0 if v_th is None else float(v_th)
        if readout is not None:
            n_cls = int(np.asarray(readout[0]).shape[0])
        elif n_classes is not None:
            n_cls = int(n_classes)
        else:
            raise QuantizationError("dequantize(Network) needs readout=(weight, bias) or n_classes")
        config = _config_from_network(chip, in_name, pops, projs, vt, surrogate, n_cls)
        scl = [(VTH_GAIN * chip.populations[p].vth + 1) / vt for p in pops]
        if scales is not None:
            given = [float(s) for s in scales]
            if len(given) != len(pops) or any(abs(a - b) > 1e-9 * b for a, b in zip(given, scl)):
                raise QuantizationError(f"scales={given} do not match the thresholds: scale_l must be "
                                        f"((vth_l << 6) + 1) / v_th = {scl} for v_th={vt}")
        q_first = (INPUT_SCALE if input_scale is None else int(input_scale)) if chip.inputs[in_name].graded else 1
        pools = [1] * len(pops)
    else:
        raise TypeError(f"chip must be a ChipModel or hwsim.Network, got {type(chip).__name__}")
    if not (math.isfinite(vt) and vt > 0):
        raise QuantizationError(f"v_th={vt!r} must be a finite number > 0")

    net = SpikingNet(config).to(dtype)      # before loading: weights are rounded once, to dtype
    if len(net.layers) != len(pops):
        raise QuantizationError(f"config has {len(net.layers)} spiking layers, the chip {len(pops)} populations")
    in_shape = tuple(config.input_shape)
    with torch.no_grad():
        for i, (layer, pop, prj, s, k) in enumerate(zip(net.layers, pops, projs, scl, pools)):
            q = q_first if i == 0 else 1
            W = _effective_float(net_ir, prj, s, q, extra=float(k * k))   # k**2: the float pool divides it back
            if isinstance(layer.op, nn.Conv2d):
                W = _unfold_conv(W, k, _as_pair(layer.op.dilation), tuple(layer.op.weight.shape[2:]))
            else:
                W = _unfold_dense(W, in_shape, k)
            if tuple(W.shape) != tuple(layer.op.weight.shape):
                raise QuantizationError(f"layer {i}: chip weights {W.shape} do not fit the float op "
                                        f"{tuple(layer.op.weight.shape)}")
            layer.op.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)).to(dtype))
            P = net_ir.populations[pop]
            b = effective_bias(P.bias_mant, P.bias_exp).astype(np.float64) / s
            b = b.reshape(layer.out_shape)
            if len(layer.out_shape) == 3:
                if not np.all(b == b[:, :1, :1]):
                    raise QuantizationError(f"population {pop!r}: bias differs within a channel; the float "
                                            "conv layer has one bias per channel")
                b = b[:, :1, :1]
            layer.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
            in_shape = tuple(layer.out_shape)
        if readout is not None:
            Wr, br = (np.asarray(a, dtype=np.float64) for a in readout)
            if Wr.shape != tuple(net.readout.fc.weight.shape):
                raise QuantizationError(f"readout weight {Wr.shape} does not fit {tuple(net.readout.fc.weight.shape)}")
            net.readout.fc.weight.copy_(torch.from_numpy(Wr))
            net.readout.fc.bias.copy_(torch.from_numpy(br.reshape(-1)))
    return net

