"""OTTT on the chip: map a float MLP to the integer circuit of :mod:`hwsim.circuits.ottt` (its parameters:
:class:`hwsim.circuits.ottt_circuit.OTTTCircuit`), train it there on the one Simulator, and keep a float
twin that runs the same rule in floating point on the chip's timing (:class:`rules.onchip_twin.PipelinedTwin`).
The layer-synchronous float form of the rule (autograd, ``rules.ottt``: ``--backend float``) is the
reference for what the chip's timing costs.

Scales (all powers of two, so every conversion on chip is a shift). For a float value ``f``:

* voltage: ``v = f * S`` with ``S = 2**(uv_bits - 6)`` (5 bits of headroom above the threshold 1.0),
  ``vth = S >> 6``;
* weights of layer / head p: ``w = f / q_p``, ``q_p = 2**ceil(log2(weight_range * max|W_p(init)|)) /
  2**weight_bits``; the weight exponent makes the synaptic input ``sum w in << (wexp + 6)`` equal
  ``S * sum f_w f_in`` (input payloads carry ``2**(in_bits - 1)`` per 1.0);
* traces: ``x1 = a_hat * X``, ``X = 2**(trace_bits - 1)`` (a_hat <= 1 / (1 - leak) = 2 at leak 0.5);
* errors ``y2e = (o - onehot) * E_h`` and learning-compartment outputs ``y2 = delta * D_l``, each the
  largest power of two that keeps the calibrated 99.9th percentile of |delta| (|error| <= 2 for
  heads) inside the ``trace_bits`` signed range, and small enough that the learning rate is
  representable (below).

The weight update the chip makes per step is ``m 2**(e - ps) x1 y2`` weight LSBs (``ps`` is Lava's
uncompensated product shift), i.e. ``-lr_eff * a_hat * delta`` in float with
``lr_eff = |m| 2**(e - ps) X U q`` (U = D_l or E_h; the first layer's pre trace is in input units
``2**(in_bits - 1)`` instead of X). ``m`` (4 bits) and ``e >= e_min = max(-frac, -7)`` (Lava's rule-string
exponent) are the nearest to the requested ``lr``; when even ``m = 1, e = e_min`` is too large a step, U is halved
(coarser post factor, still unbiased through stochastic rounding) until it fits. The float twin
uses the same ``lr_eff`` per projection with plain SGD, batch 1, the loss ``'sse'`` and the chip's
weight range as a box constraint (``[-2**weight_bits, 2**weight_bits - 1] * q``, applied after
every step), so both run one rule on one network: the chip differs only by its integer arithmetic.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from hwsim.counters import estimate
from hwsim.circuits.ottt import OTTTNetwork
from hwsim.learning import ROUNDINGS
from hwsim.learning.rule import S_EXP_RANGE
from hwsim.circuits.ottt_circuit import OTTTCircuit
from hwsim.program import chip_weights
from hwsim.spec import LOIHI, ChipSpec, SpecError
from models.init import init_chen_li
from models.network import SpikingNet, build_mlp
from models.scales import grid_step, to_grid
from models.scales import log2_exact as _log2_int
from models.scales import pow2_ceil as _pow2_ceil
from models.scales import pow2_floor as _pow2_floor
from models.neuron import LIFConfig
from models.surrogate import Surrogate

from .onchip_twin import PipelinedTwin
from .ottt import OTTT, OTTTConfig

CHIP_RULES = ("ottt-a", "ottt-o")
TIMINGS = ("chip",)
# timings that existed once, refused with the reason (saved configs hold timing='chip')
REMOVED_TIMINGS = {"layer-sync": "the layer-synchronous integer kernel was removed (one chip)"}
FLOAT_REFERENCE = "the layer-synchronous reference is the float OTTT (--backend float --rule ottt-a)"
HEADROOM_BITS = 5


def check_timing(value, name: str = "timing") -> str:
    """``value`` if it is an allowed timing ('chip'); ValueError naming ``name``, the value, the allowed
    value and, for a removed timing, why and where its reference is now."""
    if value in TIMINGS:
        return value
    allowed = ", ".join(repr(t) for t in TIMINGS)
    if isinstance(value, str) and value in REMOVED_TIMINGS:
        raise ValueError(f"{name}={value!r}: {REMOVED_TIMINGS[value]}; allowed: {allowed}; {FLOAT_REFERENCE}")
    raise ValueError(f"{name}={value!r} is not allowed; allowed: {allowed}")


@dataclass(frozen=True)
class ChipTrainConfig:
    """On-chip OTTT training run.

    rule : 'ottt-a' | 'ottt-o';  local_blocks : one readout head per hidden layer;  feedback :
    'mirror' | 'random';  T : steps per sample;  hidden : hidden layer sizes;  epochs;  lr : float
    learning rate per sample of the 'sse' loss;  leak : LIF and trace leak;  alpha : sigmoid
    surrogate;  weight_bits, trace_bits, accumulator_bits, tag_bits : chip widths (None: Loihi's,
    or derived from the first two when they are changed);  in_bits : input payload bits;
    weight_range : weight range as a multiple of the largest initial weight (rounded up to 2**k);
    init : 'default' (PyTorch's) | 'chen-li' (``models.init``, every layer firing at the start);
    seed;  limit : first ``limit`` training samples;  dataset, data_dir : as ``rules.train``;
    timing : 'chip', the only value (the OTTT network on the Simulator, Lava's one step per projection,
    float twin :class:`rules.onchip_twin.PipelinedTwin`); kept as a field because saved configs hold it.
    'layer-sync' (the former layer-synchronous integer kernel) is refused (:func:`check_timing`).
    rounding : rounding of the learning updates, 'stochastic' (Lava's) | 'nearest' | 'floor'
    (``hwsim.learning.ROUNDINGS``).
    """

    rule: str = "ottt-a"
    local_blocks: bool = True
    feedback: str = "mirror"
    dataset: str = "digits"
    data_dir: Optional[str] = None
    T: int = 8
    hidden: tuple = (256, 256)
    epochs: int = 10
    lr: float = 0.01
    leak: float = 0.5
    alpha: float = 4.0
    weight_bits: Optional[int] = None
    trace_bits: Optional[int] = None
    accumulator_bits: Optional[int] = None
    tag_bits: Optional[int] = None
    in_bits: int = 7
    weight_range: float = 8.0
    init: str = "default"
    seed: int = 0
    limit: Optional[int] = None
    timing: str = "chip"
    rounding: str = "stochastic"

    def __post_init__(self):
        if self.rule not in CHIP_RULES:
            raise ValueError(f"rule={self.rule!r} has no on-chip form; allowed: {CHIP_RULES}")
        if self.feedback not in ("mirror", "random"):
            raise ValueError(f"feedback={self.feedback!r} is not one of ('mirror', 'random')")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden={self.hidden!r} must be one or more positive layer sizes")
        for name in ("T", "epochs"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be an integer >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr={self.lr!r} must be a finite number > 0")
        if not 0.0 < self.leak < 1.0:
            raise ValueError(f"leak={self.leak!r} is outside the allowed range (0, 1)")
        if not (math.isfinite(self.weight_range) and self.weight_range >= 1.0):
            raise ValueError(f"weight_range={self.weight_range!r} must be >= 1")
        for name, lo, hi in (("weight_bits", 2, 16), ("trace_bits", 3, 16), ("accumulator_bits", 4, 31),
                             ("tag_bits", 1, 16)):
            v = getattr(self, name)
            if v is not None and not lo <= v <= hi:
                raise ValueError(f"{name}={v!r} is outside the allowed range [{lo}, {hi}]")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit={self.limit!r} must be >= 1")
        check_timing(self.timing)
        if self.init not in ("default", "chen-li"):
            raise ValueError(f"init={self.init!r} is not one of ('default', 'chen-li')")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding={self.rounding!r} is not one of {ROUNDINGS}")
        # width combinations the circuit cannot realise, named here rather than blamed on the rate later
        sp = self.spec()
        if sp.accumulator_bits < sp.weight_bits:
            raise ValueError(f"accumulator_bits={sp.accumulator_bits} must be >= weight_bits={sp.weight_bits} "
                             "(the learning accumulator holds the weight plus its fraction bits)")
        if not (isinstance(self.in_bits, int) and 1 <= self.in_bits <= sp.trace_bits):
            raise ValueError(f"in_bits={self.in_bits!r} is outside the allowed range [1, trace_bits={sp.trace_bits}] "
                             "(input payloads are written into the traces)")

    def spec(self) -> ChipSpec:
        """Loihi's widths, or widths grown with ``weight_bits`` / ``trace_bits`` (the accumulator keeps
        7 fraction bits, u/v and the threshold mantissa grow with the weights)."""
        wb = self.weight_bits or LOIHI.weight_bits
        tb = self.trace_bits or LOIHI.trace_bits
        grow = max(0, wb - LOIHI.weight_bits)
        return LOIHI.replace(
            weight_bits=wb, trace_bits=tb,
            accumulator_bits=self.accumulator_bits or max(LOIHI.accumulator_bits, wb + 7),
            tag_bits=self.tag_bits or max(LOIHI.tag_bits, wb),
            uv_bits=min(32, LOIHI.uv_bits + grow), vth_mant_bits=min(24, LOIHI.vth_mant_bits + grow))


# ---------------------------------------------------------------------------------------- float twin

def build_float_net(cfg: ChipTrainConfig, n_in: int, n_classes: int) -> SpikingNet:
    """The float network the chip mirrors: discrete LIF, hard reset (the chip's), no biases."""
    neuron = LIFConfig(form="discrete", leak=cfg.leak, v_th=1.0, reset="hard", detach_reset=True,
                       surrogate=Surrogate("sigmoid", cfg.alpha))
    net = build_mlp(n_in, cfg.hidden, n_classes, neuron, block_size=1)
    for mod in net.modules():
        if isinstance(mod, nn.Linear) and mod.bias is not None:
            nn.init.zeros_(mod.bias)
            mod.bias.requires_grad_(False)
    return net


def float_rule(cfg: ChipTrainConfig) -> OTTT:
    return OTTT(OTTTConfig(online=cfg.rule == "ottt-o", local_blocks=cfg.local_blocks, feedback=cfg.feedback,
                           loss="sse", mse_weight=1.0))


def _rate(eta: float, frac: int) -> tuple[int, int]:
    """Nearest ``mm * 2**ee`` (mm in 1..8, ee in [-frac, 8]) to ``eta``; ``frac``: minus the smallest exponent."""
    best = None
    for ee in range(-frac, 9):
        mm = min(8, max(1, round(eta / 2.0 ** ee)))
        err = abs(mm * 2.0 ** ee - eta) / eta
        if best is None or err < best[0] - 1e-12:
            best = (err, mm, ee)
    return best[1], best[2]


@torch.no_grad()
def _calibrate_deltas(net: SpikingNet, rule: OTTT, x: torch.Tensor, y: torch.Tensor, T: int) -> list[float]:
    """99.9th percentile of |delta_l| (the learning compartment's float value) per hidden layer over
    ``x`` at the current weights, explicit: delta = sigma'(u - 1) * (F^T delta_src)."""
    B = x.shape[0]
    states = net.init_states(B)
    heads = rule.head_linears(net)
    local = rule.config.local_blocks
    deltas = [[] for _ in net.layers]
    fb_mats = rule.feedback if rule.config.feedback == "random" else [None] * len(heads)
    onehot = torch.nn.functional.one_hot(y, heads[-1].weight.shape[0]).to(x.dtype)
    for _ in range(T):
        h = x
        spikes, mems = [], []
        new = []
        for layer, st in zip(net.layers, states):
            h, st, m = layer.neuron(layer.synapse(h), st)
            spikes.append(h)
            mems.append(m)
            new.append(st)
        states = new
        L = len(net.layers)
        d_above = None
        for l in range(L - 1, -1, -1):
            if local or l == L - 1:
                hi = l if local else 0
                e = spikes[l] @ heads[hi].weight.T - onehot
                F = fb_mats[hi] if fb_mats[hi] is not None else heads[hi].weight
                fb = e @ F
            else:
                fb = d_above @ net.layers[l + 1].op.weight
            sg = net.config.neuron.surrogate.grad(mems[l] - net.config.neuron.v_th)
            d = sg * fb
            deltas[l].append(d.abs().flatten())
            d_above = d
    return [float(torch.quantile(torch.cat(d)[:200000], 0.999)) for d in deltas]


@dataclass
class ChipScales:
    """The power-of-two scales of one mapping (see the module docstring) and the effective rates."""

    S: float
    X: float
    q: list                  # per learning projection: layers, then heads
    U: list                  # post-factor unit per projection (D_l, then E_h)
    lr_eff: list             # float learning rate the chip realises per projection
    lr_halvings: list        # times U was halved so the rate fits
    lut_frac: int
    lut_bin: float

    def as_dict(self) -> dict:
        return asdict(self)


class OnChipOTTT:
    """A float-initialised network mapped onto the OTTT circuit, with its float twin.

    ``chip`` (:class:`hwsim.circuits.ottt.OTTTNetwork`, run by the Simulator) and ``pipelined`` (the float
    twin, :class:`rules.onchip_twin.PipelinedTwin`) start from the same weights (the chip's integers times
    their scales), see the same quantized inputs (``quantize_input``) and run the same rule on the same
    timing; ``twin_sample`` / ``twin_readout`` are the float side. ``twin`` is the float ``SpikingNet``
    the circuit was mapped from (its initial weights).
    """

    def __init__(self, cfg: ChipTrainConfig, n_in: int, n_classes: int, x_calib: np.ndarray, y_calib: np.ndarray):
        self.cfg = cfg
        self.spec = cfg.spec()
        sp = self.spec
        self.in_unit = 2 ** (cfg.in_bits - 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            net = build_float_net(cfg, n_in, n_classes)
            if cfg.init == "chen-li":
                xs = torch.as_tensor(self.quantize_input(x_calib) / 2 ** (cfg.in_bits - 1), dtype=torch.float32)
                init_chen_li(net, xs.unsqueeze(0).expand(cfg.T, *xs.shape).contiguous(), generator=cfg.seed)
                for mod in net.modules():
                    if isinstance(mod, nn.Linear) and mod.bias is not None:
                        with torch.no_grad():
                            mod.bias.zero_()
            rule = float_rule(cfg)
            rule.setup(net)
        self.rule = rule
        L = len(cfg.hidden)
        heads = rule.head_linears(net)
        H = len(heads)
        wb, tb = sp.weight_bits, sp.trace_bits
        S = 2.0 ** (sp.uv_bits - 1 - HEADROOM_BITS)
        vth = int(S) >> 6
        X = 2.0 ** (tb - 1)
        mats = [layer.op.weight for layer in net.layers] + [h.weight for h in heads]
        q = [grid_step(float(w.detach().abs().max()), 2.0 ** wb, "pow2", cfg.weight_range) for w in mats]
        # quantize the initial weights; the float twin starts from exactly these values
        lo, hi = -(1 << wb), (1 << wb) - 1
        ints = [to_grid(w.detach().double().numpy(), qq, lo, hi) for w, qq in zip(mats, q)]
        with torch.no_grad():
            for w, wi, qq in zip(mats, ints, q):
                w.copy_(torch.as_tensor(wi * qq, dtype=w.dtype))
        fb_ints = None
        if cfg.feedback == "random":
            fb_ints = [to_grid(f.double().numpy(), q[L + h], lo, hi) for h, f in enumerate(rule.feedback)]
            rule.feedback = [torch.as_tensor(fi * q[L + h], dtype=torch.float32) for h, fi in enumerate(fb_ints)]
        # calibrate the post-factor units
        xq = torch.as_tensor(self.quantize_input(x_calib) / self.in_unit, dtype=torch.float32)
        dmax = _calibrate_deltas(net, rule, xq, torch.as_tensor(y_calib, dtype=torch.long), cfg.T)
        ymax = 2.0 ** tb - 1
        # headroom above the calibrated post factors (1 bit at Loihi's widths, half the extra bits of
        # wider traces): |delta| grows during training and a clipped post factor biases the update
        # (16-bit cross-check: 31 of 474 learning outputs of layer 1 clipped after 600 samples without
        # headroom, update cosine 0.59)
        hr = 2.0 ** max(1, (tb - LOIHI.trace_bits) // 2)
        # heads: |o - onehot| <= 2 at the start; wider traces keep the same extra headroom for it (a readout
        # of many learned inputs leaves [-2, 2]: 16-bit cross-check of 256-256, head1 cosine 0.60 without it)
        hr_head = 2.0 ** max(0, (tb - LOIHI.trace_bits) // 2)
        U = [_pow2_floor(ymax / (hr * max(d, 1e-6))) for d in dmax] + [_pow2_floor(ymax / (2.0 * hr_head))] * H
        # the learning rate per projection
        frac = sp.accumulator_bits - wb
        ps = max(0, 2 * tb + 4 - sp.accumulator_bits)
        # the smallest rule exponent: one accumulator fraction bit (2**-frac weight LSBs per unit product),
        # and the rule is a Lava rule string, whose exponent is at least -7 (S_EXP_RANGE), which binds
        # when accumulator_bits > weight_bits + 7 (then the post factors are halved instead)
        e_min = max(-frac, S_EXP_RANGE[0])
        m, e, lr_eff, halvings = [], [], [], []
        # pre-trace unit per projection: the first layer's trace holds the input value itself (Lava's
        # OVERWRITE: x1 = the message / 2), in input units; the other projections' are trace units X
        Xp = [self.in_unit if p == 0 else X for p in range(L + H)]
        for p in range(L + H):
            n_half = 0
            while cfg.lr * 2.0 ** ps / (Xp[p] * U[p] * q[p]) < 2.0 ** e_min * 0.75:
                U[p] /= 2.0
                n_half += 1
                if n_half > 40:
                    raise SpecError(f"lr={cfg.lr!r} is too small for the chip's rule scale (projection {p})")
            eta = cfg.lr * 2.0 ** ps / (Xp[p] * U[p] * q[p])
            if eta > 8 * 2.0 ** 8:
                raise SpecError(f"lr={cfg.lr!r} is too large for the chip's rule scale at weight_bits={wb}, "
                                f"trace_bits={tb}, accumulator_bits={sp.accumulator_bits} (projection {p}: "
                                f"{eta:.3g} > 2048 weight LSBs per trace product): lower lr or change the widths")
            mm, ee = _rate(eta, -e_min)
            m.append(-mm)
            e.append(ee)
            lr_eff.append(mm * 2.0 ** (ee - ps) * Xp[p] * U[p] * q[p])
            halvings.append(n_half)
        # circuit integers
        wexp = [_log2_int(q[0] * S / (64 * self.in_unit), "layer 0 weight exponent scale")]
        wexp += [_log2_int(q[l] * S / 64, f"layer {l} weight exponent scale") for l in range(1, L)]
        for l, x in enumerate(wexp):
            if not sp.weight_exp_min <= x <= sp.weight_exp_max:
                raise SpecError(f"weight_bits={wb} with weight_range={cfg.weight_range:g} gives layer {l + 1} the "
                                f"weight exponent {x}, outside the chip's [{sp.weight_exp_min}, {sp.weight_exp_max}]: "
                                "use more weight bits or a smaller weight range")
        sh = [0] * L
        sur = net.config.neuron.surrogate
        peak = float(sur.grad(torch.zeros(1)))
        lut_bits = min(16, tb + 1)
        lut_frac = lut_bits - 1 - max(0, math.ceil(math.log2(peak)) if peak > 1 else 0)
        n_lut = max(16, 2 ** (tb - 1))
        lut_bin = _pow2_ceil(2.0 * sur.window * S / n_lut)
        centers = (torch.arange(n_lut, dtype=torch.float64) - n_lut // 2 + 0.5) * lut_bin / S
        lut = torch.round(sur.grad(centers) * 2 ** lut_frac).clamp(0, 2 ** lut_bits - 1).to(torch.int64).tolist()
        for l in range(L):
            if cfg.local_blocks or l == L - 1:
                h = l if cfg.local_blocks else 0
                u_src, q_f = U[L + h], q[L + h]
            else:
                u_src, q_f = U[l + 1], q[l + 1]
            sh[l] = _log2_int(u_src * 2.0 ** lut_frac / (q_f * U[l]), f"layer {l} learning-compartment shift")
        es = [_log2_int(1.0 / (q[L + h] * U[L + h]), f"head {h} error shift") for h in range(H)]
        tgt = [int(round(1.0 / q[L + h])) for h in range(H)]
        dv = round((1.0 - cfg.leak) * 4096)
        self.circuit = OTTTCircuit(
            layer_sizes=(n_in,) + cfg.hidden, n_classes=n_classes, T=cfg.T, online=cfg.rule == "ottt-o",
            local=cfg.local_blocks, feedback=cfg.feedback, wexp=tuple(wexp), vth=(vth,) * L, dv=(dv,) * L,
            du=(4095,) * L, head_wexp=(0,) * H, tgt=tuple(tgt), es=tuple(es), sh=tuple(sh), lut=tuple(lut),
            lut_shift=_log2_int(lut_bin, "lut bin"), m=tuple(m), e=tuple(e), x_dec=round(cfg.leak * 4096),
            x_imp=int(X), in_bits=cfg.in_bits, lut_bits=lut_bits, seed=cfg.seed, spec=sp, rounding=cfg.rounding)
        self.scales = ChipScales(S=S, X=X, q=q, U=U, lr_eff=lr_eff, lr_halvings=halvings, lut_frac=lut_frac,
                                 lut_bin=lut_bin)
        self.twin = net              # the float network the circuit was mapped from (initial weights)
        self.chip = OTTTNetwork(self.circuit, ints[:L], ints[L:], fb_ints)
        fb = None
        if fb_ints is not None:     # the chip's static feedback weights (Lava truncates their LSB)
            fb = [chip_weights(np.asarray(f).T, "mixed", sp.weight_bits, sp).T * q[L + h]
                  for h, f in enumerate(fb_ints)]
        self.pipelined = PipelinedTwin(
            self.circuit, [w * qq for w, qq in zip(self.chip.weights, q)],
            [w * qq for w, qq in zip(self.chip.heads, q[L:])], fb, lr_eff, q, self.in_unit,
            1.0 - dv / 4096.0, self.circuit.x_dec / 4096.0, cfg.alpha, ((1 << tb) - 1) / X)

    # ---- inputs ------------------------------------------------------------------------------------
    def quantize_input(self, x) -> np.ndarray:
        """Float inputs in [0, 1] -> graded payloads ``round(x * 2**(in_bits - 1))`` (int64)."""
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        if not np.all(np.isfinite(x)):
            raise ValueError("inputs contain NaN or inf")
        if x.min() < 0 or x.max() > 1:
            raise ValueError(f"inputs must lie in [0, 1] (got [{x.min():.3g}, {x.max():.3g}])")
        return np.round(x * self.in_unit).astype(np.int64)

    def twin_input(self, payload: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(payload / self.in_unit, dtype=torch.float32)

    # ---- weights -----------------------------------------------------------------------------------
    def projection_names(self) -> list:
        L = len(self.cfg.hidden)
        return [f"layer{l + 1}" for l in range(L)] + [f"head{h + 1}" for h in range(self.circuit.n_heads)]

    def chip_weights_float(self) -> list:
        """The chip's weights and heads times their scales (float64 arrays, (n_post, n_pre))."""
        return [w * q for w, q in zip(self.chip.weights + self.chip.heads, self.scales.q)]

    def twin_weights(self) -> list:
        return self.pipelined.weights()

    def set_twin_weights(self, mats: list) -> None:
        """Overwrite the twin's weights and heads with ``mats`` (float arrays, (n_post, n_pre))."""
        self.pipelined.set_weights(mats)

    # ---- float twin --------------------------------------------------------------------------------
    def twin_sample(self, x: torch.Tensor, label: int, learn: bool = True, record: bool = False):
        """One sample (1, n_in) through the float twin, learning as the rule says; returns the
        readout sum and, when ``record``, per step spikes / membranes (after the reset) per layer."""
        out, rec = self.pipelined.sample(np.asarray(x[0]) * self.in_unit, label, learn, record)
        return torch.as_tensor(out), rec.get("s", []), rec.get("v", [])

    def twin_readout(self, payload: np.ndarray, batch: int = 512) -> np.ndarray:
        """Sum over steps of the twin's last readout (N, C), no learning."""
        return self.pipelined.readout(payload, batch)


def load_split(cfg: ChipTrainConfig):
    from .train import TrainConfig, load_data

    return load_data(TrainConfig(dataset=cfg.dataset, data_dir=cfg.data_dir))


def epoch_orders(n: int, epochs: int, seed: int) -> list:
    """The training order of every epoch (numpy ``default_rng(seed)`` permutations)."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


def build(cfg: ChipTrainConfig, split=None):
    """``(OnChipOTTT, split, train payloads, test payloads)`` for a config (calibrated on the first
    64 training samples)."""
    split = split if split is not None else load_split(cfg)
    xtr = np.asarray(split.x_train).reshape(len(split.x_train), -1)
    ytr = np.asarray(split.y_train)
    if cfg.limit is not None:
        xtr, ytr = xtr[:cfg.limit], ytr[:cfg.limit]
    model = OnChipOTTT(cfg, xtr.shape[1], int(split.n_classes), xtr[:64], ytr[:64])
    ptr = model.quantize_input(xtr)
    pte = model.quantize_input(np.asarray(split.x_test).reshape(len(split.x_test), -1))
    return model, (ptr, ytr), (pte, np.asarray(split.y_test))


CHIP_RUN_FORMAT = "hwlearn-chip-run"


def save_chip_run(path, res: dict) -> None:
    """Write a chip training run (config, per-epoch history, the learning state of the chip: weights,
    tags, traces, random streams, time step, sample position, counters) with its network to HDF5
    (``hwsim.io.save_run``, atomic); :func:`train_chip` with ``start=load_chip_run(path)`` continues it
    bit-identically."""
    from hwsim.io import save_run

    model = res["_model"]
    net = model.chip.current_network()
    payload = {"format": CHIP_RUN_FORMAT, "config": json.dumps(res["config"], sort_keys=True),
               "epochs_done": len(res["chip"]["history"]), "history": res["chip"]["history"],
               "chip": model.chip.checkpoint()}
    save_run(payload, path, network=net)


def load_chip_run(path) -> dict:
    """Read :func:`save_chip_run`'s file: ``{"config": ChipTrainConfig, "epochs_done", "history", "chip"}``."""
    from hwsim.io import FormatError, load_run

    d = load_run(path, rebuild=False)
    if not isinstance(d, dict) or d.get("format") != CHIP_RUN_FORMAT:
        raise FormatError(f"{path}: not a chip training run (hwlearn train --backend chip --save)")
    kw = json.loads(d["config"])
    kw["hidden"] = tuple(kw["hidden"])
    d["config"] = ChipTrainConfig(**kw)
    return d


def train_chip(cfg: ChipTrainConfig, split=None, twin: bool = False, progress: bool = False,
               start: Optional[dict] = None) -> dict:
    """Train on chip (and, with ``twin``, the float twin on the same samples in the same order).

    ``start`` (:func:`load_chip_run`) continues a saved run: its learning state is restored and the
    epochs after its ``epochs_done`` run (``cfg.epochs`` is the total), in the same sample orders, so
    the result equals an uninterrupted run of ``cfg.epochs``.

    Returns a JSON-ready dict: accuracies (fractions), per-epoch test accuracy, seconds, samples/s,
    the counters' totals and the energy estimate of the chip's training, the scales and rates.
    """
    model, (ptr, ytr), (pte, yte) = build(cfg, split)
    mp = model.chip.mapping()          # before training: a network that does not fit fails here (MappingError)
    orders = epoch_orders(len(ptr), cfg.epochs, cfg.seed)
    res = {"config": {**asdict(cfg), "hidden": list(cfg.hidden)}, "spec": asdict(model.spec),
           "rule_strings": list(model.circuit.rule_strings()), "scales": model.scales.as_dict(),
           "chip": {"history": []}}
    first = 0
    if start is not None:
        if twin:
            raise ValueError("a resumed chip run trains the chip only (the float twin is trained after the chip "
                             "over all epochs: run it without --resume)")
        first = int(start["epochs_done"])
        if first >= cfg.epochs:
            raise ValueError(f"the saved run has {first} epochs done; epochs={cfg.epochs} adds none")
        model.chip.restore(start["chip"])
        res["chip"]["history"] = [dict(h) for h in start["history"]]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg.epochs - first, desc=f"chip {cfg.rule}", unit="epoch", leave=False)
    t0 = time.perf_counter()
    for ep, order in enumerate(orders):
        if ep < first:
            continue
        model.chip.train(ptr, ytr, order)
        acc = float(np.mean(model.chip.predict(pte) == yte))
        res["chip"]["history"].append({"epoch": ep + 1, "test_accuracy": acc})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(test=f"{acc:.3f}")
    secs = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    counters = model.chip.counters
    energy = estimate(counters)
    res["mapping"] = {"cores": int(mp.n_cores), "report": mp.report()}
    res["chip"].update({
        "train_accuracy": float(np.mean(model.chip.predict(ptr) == ytr)),
        "test_accuracy": res["chip"]["history"][-1]["test_accuracy"],
        "seconds": secs, "samples_per_s": (cfg.epochs - first) * len(ptr) / max(secs, 1e-9),
        "steps_per_s": (cfg.epochs - first) * len(ptr) * cfg.T / max(secs, 1e-9),
        "counters": counters.total(), "energy_J": energy["energy_J"], "energy_learning_J": energy["energy_learning_J"],
        "time_on_chip_s": energy["time_s"], "overflow_events": int(model.chip.overflow.sum()),
        "counters_by_population": counters.per_population()})
    if twin:
        res["float"] = train_twin(model, ptr, ytr, pte, yte, orders, progress)
    res["_model"] = model
    return res


def train_twin(model: OnChipOTTT, ptr, ytr, pte, yte, orders, progress: bool = False) -> dict:
    """Train the float twin sample by sample in the given orders; accuracies and timing."""
    hist = []
    t0 = time.perf_counter()
    x = model.twin_input(ptr)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(orders), desc="float twin", unit="epoch", leave=False)
    for ep, order in enumerate(orders):
        for n in order:
            model.twin_sample(x[n:n + 1], int(ytr[n]))
        acc = float(np.mean(np.argmax(model.twin_readout(pte), 1) == yte))
        hist.append({"epoch": ep + 1, "test_accuracy": acc})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(test=f"{acc:.3f}")
    if bar is not None:
        bar.close()
    secs = time.perf_counter() - t0
    return {"history": hist, "seconds": secs,
            "train_accuracy": float(np.mean(np.argmax(model.twin_readout(ptr), 1) == ytr)),
            "test_accuracy": hist[-1]["test_accuracy"]}
