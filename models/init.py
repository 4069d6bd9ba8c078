"""Chen & Li style initialization: start every spiking layer firing, unsaturated, with its membrane
inside the surrogate window.

Source and fidelity
-------------------
Chen & Li (Neural Computation 2020, "bottlenecks of training deep SNNs with backprop") derive a
weight initialization from the CNN <-> SNN connection that satisfies three trainability conditions.
Only the abstract could be read (the paper body and any code were not found by a search of stored
pages and docs), so this module implements the documented reading (``papers.md`` section 4.2),
**not** the paper's exact algorithm:

1. forward activity neither vanishes nor saturates in any layer (rate in a healthy range);
2. errors propagate backward (checked, not enforced, by ``models.health``: per-layer grad norm);
3. membrane potentials fall inside the surrogate's non-zero window.

Analytic step (CNN <-> SNN). A rate-coded LIF neuron driven by a constant current ``I`` for ``T``
steps from rest is a thresholded unit whose effective threshold, in current units, is

.. math::

    \\theta_{eff} = V_{th} / G_T, \\qquad G_T = \\max_{t \\le T} m_t(I{=}1)

where ``m_t(I=1)`` is the membrane response to a unit constant current without reset. For the
discrete form ``G_T = (1 - \\lambda^T) / (1 - \\lambda)`` (``T`` for the IF neuron, ``lambda = 1``);
for the cuba form it is the double filter through ``du`` and ``dv``. This is where leak and ``T``
enter. Weights are drawn He-style with the threshold in place of the ReLU's unit scale:

.. math::

    W \\sim \\mathcal{N}(0, \\sigma^2), \\qquad
    \\sigma^2 = \\frac{c^2\\, \\theta_{eff}^2}{\\mathrm{fan\\_in} \\cdot E[x^2]}

so the input current has standard deviation ``c * theta_eff`` (``c = sqrt(2)``: about a quarter of
the neurons above threshold). ``E[x^2]`` is the second moment of the layer input: the firing rate
for spike inputs, the data's second moment for direct-encoded inputs (``1/3``, uniform [0, 1],
when no data is given).

Calibration step (data-driven, used when ``x_sample_seq`` is given). Layer by layer, the input
current sequence of the analytic weights is computed once; since the synapse is linear and the bias
is zero, scaling ``W`` by ``a`` scales the current by ``a``. A bisection on ``log a`` runs the real
neuron (``lif_step``) until the layer's mean firing rate hits ``target_rate``; the scaled weights
are kept and the layer's spikes feed the next layer's calibration. This is the "calibrate on a data
batch" reading for direct-encoded inputs, in the spirit of LSUV / data-dependent init.

The readout is ``N(0, 1 / (fan_in * r_L))`` (``r_L`` the last layer's rate), so each step's logits
have about unit variance. Biases (op biases in the discrete form, neuron biases in the cuba form)
are set to zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .neuron import LIFConfig, lif_step

DEFAULT_TARGET_RATE = 0.15  # mean spikes per neuron per step after calibration
CURRENT_GAIN = math.sqrt(2.0)  # c: std of the input current in units of theta_eff (He-style)
UNIFORM_SECOND_MOMENT = 1.0 / 3.0  # E[x^2] for x ~ U[0, 1], assumed for raw inputs without data
_BISECT_STEPS = 18  # log-scale resolution 2 ln(_SCALE_RANGE) / 2**18 ~ 5e-5
_SCALE_RANGE = 1e3  # bisection searches a in [1/_SCALE_RANGE, _SCALE_RANGE] times the analytic weights


@dataclass(frozen=True)
class LayerInit:
    """What ``init_chen_li`` did to one spiking layer.

    index : position in ``net.layers``
    kind : 'dense' or 'conv'
    fan_in : inputs per neuron (c_in * k * k for conv)
    theta_eff : effective threshold in current units, ``v_th / G_T``
    input_second_moment : E[x^2] of the layer input used for the analytic std
    std_analytic : analytic weight std
    scale : calibration factor (1.0 without data)
    std : final weight std (``std_analytic * scale``)
    rate : mean firing rate on the calibration batch (None without data)
    window_share : share of membrane values inside the surrogate window (None without data)
    """

    index: int
    kind: str
    fan_in: int
    theta_eff: float
    input_second_moment: float
    std_analytic: float
    scale: float
    std: float
    rate: float | None
    window_share: float | None


@dataclass(frozen=True)
class InitReport:
    """Per-layer record of an initialization, the seed used and the calibration target."""

    layers: tuple
    seed: int
    T: int
    target_rate: float
    calibrated: bool
    readout_std: float

    def __str__(self) -> str:
        head = f"{'layer':>5} {'kind':>5} {'fan_in':>7} {'theta_eff':>9} {'std':>9} {'scale':>8} {'rate':>6} {'window':>6}"
        rows = [head]
        for r in self.layers:
            rate = "-" if r.rate is None else f"{r.rate:.3f}"
            win = "-" if r.window_share is None else f"{r.window_share:.3f}"
            rows.append(f"{r.index:>5} {r.kind:>5} {r.fan_in:>7} {r.theta_eff:>9.4f} {r.std:>9.4f} "
                        f"{r.scale:>8.3f} {rate:>6} {win:>6}")
        rows.append(f"seed={self.seed} T={self.T} target_rate={self.target_rate} calibrated={self.calibrated} "
                    f"readout_std={self.readout_std:.4f}")
        return "\n".join(rows)


def membrane_gain(cfg: LIFConfig, T: int) -> float:
    """``G_T``: the largest membrane value reached within ``T`` steps by a neuron at rest driven by
    a unit constant current, without reset (no bias). Units: membrane per unit current."""
    if int(T) != T or T < 1:
        raise ValueError(f"T={T!r} must be an integer >= 1")
    i = v = 0.0
    best = 0.0
    for _ in range(int(T)):
        if cfg.form == "discrete":
            v = cfg.leak * v + 1.0
        else:
            i = i * (1.0 - cfg.du) + 1.0
            v = v * (1.0 - cfg.dv) + i
        best = max(best, v)
    return best


def effective_threshold(cfg: LIFConfig, T: int) -> float:
    """``theta_eff = v_th / G_T``: the smallest constant current that makes a neuron fire within T steps."""
    return cfg.v_th / membrane_gain(cfg, T)


def _fan_in(op: nn.Module) -> int:
    w = op.weight
    return int(w.shape[1] * (w[0, 0].numel() if w.dim() > 2 else 1))


def _make_generator(generator) -> tuple[torch.Generator, int]:
    if generator is None:
        g = torch.Generator().manual_seed(0)
        return g, 0
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator), int(generator)
    if isinstance(generator, torch.Generator):
        return generator, int(generator.initial_seed())
    raise TypeError(f"generator={generator!r} must be a torch.Generator, an int seed or None")


def _run_neuron(layer, currents: torch.Tensor, scale: float):
    """Spikes and membranes of ``layer``'s neuron for the current sequence ``scale * currents``."""
    state = layer.init_state(currents.shape[1], currents.device)
    spikes, mems = [], []
    for c in currents:
        s, state, m = layer.neuron(scale * c, state)
        spikes.append(s)
        mems.append(m)
    return torch.stack(spikes), torch.stack(mems)


def _window_share(layer, mems: torch.Tensor) -> float:
    cfg = layer.cfg
    return float(((mems - cfg.v_th).abs() < cfg.surrogate.window).float().mean())


def _calibrate_scale(layer, currents: torch.Tensor, target_rate: float) -> float:
    """Bisection on log(scale) so the layer's mean rate on ``currents`` is closest to ``target_rate``."""
    def rate(a):
        state = layer.init_state(currents.shape[1], currents.device)
        total = 0.0
        for c in currents:
            s, state, _ = layer.neuron(a * c, state)
            total += float(s.sum())
        return total / currents.numel()

    lo, hi = -math.log(_SCALE_RANGE), math.log(_SCALE_RANGE)
    if rate(math.exp(hi)) < target_rate:  # even the largest scale cannot reach the target
        return math.exp(hi)
    if rate(math.exp(lo)) >= target_rate:
        return math.exp(lo)
    for _ in range(_BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        if rate(math.exp(mid)) < target_rate:
            lo = mid
        else:
            hi = mid
    return math.exp(hi)


@torch.no_grad()
def init_chen_li(net, x_sample_seq: torch.Tensor | None = None, generator=None,
                 target_rate: float = DEFAULT_TARGET_RATE, T: int | None = None) -> InitReport:
    """Initialize ``net`` (a ``models.network.SpikingNet``) in place; return an ``InitReport``.

    Parameters
    ----------
    net : SpikingNet
        Network whose spiking-layer weights, biases and readout are overwritten.
    x_sample_seq : torch.Tensor, optional
        A data batch ``[T, batch, *input_shape]`` (any encoding). When given, each layer's weight
        scale is calibrated on it so the layer fires at ``target_rate``; otherwise only the
        analytic rule is used (with ``E[x^2] = 1/3`` at the input and ``target_rate`` after).
    generator : torch.Generator | int | None
        Source of the weight draws; an int is a seed; None means seed 0. The seed is in the report.
    target_rate : float
        Mean spikes per neuron per step aimed for, in (0, 1).
    T : int, optional
        Number of steps the analytic ``theta_eff`` assumes; defaults to ``x_sample_seq.shape[0]``,
        else 8.
    """
    if not 0.0 < target_rate < 1.0:
        raise ValueError(f"target_rate={target_rate!r} is outside the allowed range (0, 1)")
    g, seed = _make_generator(generator)
    if x_sample_seq is not None:
        expected = tuple(net.config.input_shape)
        if x_sample_seq.dim() != len(expected) + 2 or tuple(x_sample_seq.shape[2:]) != expected:
            raise ValueError(f"x_sample_seq has shape {tuple(x_sample_seq.shape)}, expected "
                             f"[T, batch, *{expected}]")
        T = x_sample_seq.shape[0] if T is None else T
    T = 8 if T is None else T
    if int(T) != T or T < 1:
        raise ValueError(f"T={T!r} must be an integer >= 1")

    h = None if x_sample_seq is None else x_sample_seq.float()
    m2 = UNIFORM_SECOND_MOMENT if h is None else float((h ** 2).mean())
    records = []
    for idx, layer in enumerate(net.layers):
        op = layer.op
        fan_in = _fan_in(op)
        theta = effective_threshold(layer.cfg, T)
        std0 = CURRENT_GAIN * theta / math.sqrt(fan_in * max(m2, 1e-12))
        w = torch.randn(op.weight.shape, generator=g, dtype=op.weight.dtype) * std0
        op.weight.copy_(w.to(op.weight.device))
        if op.bias is not None:
            op.bias.zero_()
        if layer.bias is not None:
            layer.bias.zero_()
        kind = "conv" if isinstance(op, nn.Conv2d) else "dense"
        if h is None:
            records.append(LayerInit(idx, kind, fan_in, theta, m2, std0, 1.0, std0, None, None))
            m2 = target_rate
            continue
        currents = torch.stack([layer.synapse(x_t) for x_t in h])
        scale = _calibrate_scale(layer, currents, target_rate)
        op.weight.mul_(scale)
        spikes, mems = _run_neuron(layer, currents, scale)
        rate = float(spikes.mean())
        records.append(LayerInit(idx, kind, fan_in, theta, m2, std0, scale, std0 * scale, rate,
                                 _window_share(layer, mems)))
        h, m2 = spikes, rate

    fc = net.readout.fc
    r_last = m2 if h is not None else target_rate
    ro_std = 1.0 / math.sqrt(fc.in_features * max(r_last, 1e-3))
    fc.weight.copy_(torch.randn(fc.weight.shape, generator=g, dtype=fc.weight.dtype).to(fc.weight.device) * ro_std)
    fc.bias.zero_()
    return InitReport(tuple(records), seed, int(T), float(target_rate), h is not None, ro_std)
