"""Per-layer health of a spiking network: is every layer firing, trainable, and passing gradient?

For each spiking layer ``l`` on a batch ``x_seq`` [T, batch, ...]:

* ``rate``: mean of ``s^l[t]`` over time, batch and neurons (spikes per neuron per step);
* ``window_share``: share of membrane values (before reset) with ``|m - v_th| < surrogate.window``,
  i.e. where the surrogate derivative is at least 1% of its peak (Chen & Li's condition 3);
* ``dead_fraction`` / ``saturated_fraction``: neurons that never fire / fire at every step, over the batch;
* ``grad_norm``: L2 norm of ``dL/dW^l`` from one BPTT backward of ``loss_fn(o, y)`` (only when labels are
  given; computed with ``torch.autograd.grad``, so parameters' ``.grad`` are left untouched).

Note: the surrogate window can be wider than ``v_th`` (sigmoid, alpha=4: ``window = 1.50``), so a silent
layer resting at 0 can still count as "inside the window"; read ``window_share`` together with ``rate``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

SATURATED_RATE = 0.9  # a layer above this mean rate is reported "saturated"
LOW_WINDOW_SHARE = 0.05  # below this share of membranes in the surrogate window the layer is "no-window"


@dataclass(frozen=True)
class LayerHealth:
    """Health of one spiking layer (see the module docstring for the definitions)."""

    index: int
    kind: str
    n_neurons: int
    rate: float
    window_share: float
    dead_fraction: float
    saturated_fraction: float
    membrane_mean: float
    membrane_std: float
    grad_norm: float | None = None

    @property
    def status(self) -> str:
        """'dead' (no spike), 'saturated', 'no-window', 'no-grad' (zero weight gradient) or 'ok'."""
        if self.rate == 0.0:
            return "dead"
        if self.rate > SATURATED_RATE:
            return "saturated"
        if self.window_share < LOW_WINDOW_SHARE:
            return "no-window"
        if self.grad_norm is not None and self.grad_norm == 0.0:
            return "no-grad"
        return "ok"


def mean_rate_loss(o: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Default loss: cross-entropy of the time-averaged readout ``mean_t o[t]`` (prediction = argmax sum_t o[t])."""
    return F.cross_entropy(o.mean(0), y)


def health_report(net, x_seq: torch.Tensor, y: torch.Tensor | None = None,
                  loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> list[LayerHealth]:
    """Run ``net`` (a ``SpikingNet``) on ``x_seq`` [T, batch, *input_shape] and report every spiking layer.

    With labels ``y`` [batch], one BPTT backward of ``loss_fn(o, y)`` (default ``mean_rate_loss``;
    ``o`` is the readout [T, batch, n_classes]) gives each layer's weight-gradient norm.
    """
    if x_seq.dim() < 3:
        raise ValueError(f"x_seq has shape {tuple(x_seq.shape)}, expected [T, batch, *input_shape]")
    if loss_fn is not None and y is None:
        raise ValueError("loss_fn was given without labels y: pass y to compute gradient norms")
    with torch.set_grad_enabled(y is not None):
        states = net.init_states(x_seq.shape[1], x_seq.device)
        outs, spikes, mems = [], [[] for _ in net.layers], [[] for _ in net.layers]
        for x_t in x_seq:
            o, states, s, m = net.step(x_t, states)
            outs.append(o)
            for k in range(len(net.layers)):
                spikes[k].append(s[k])
                mems[k].append(m[k])
    grads = [None] * len(net.layers)
    if y is not None:
        loss = (loss_fn or mean_rate_loss)(torch.stack(outs), y)
        weights = [layer.op.weight for layer in net.layers]
        gs = torch.autograd.grad(loss, weights, allow_unused=True)
        grads = [0.0 if gr is None else float(gr.norm()) for gr in gs]
    report = []
    for k, layer in enumerate(net.layers):
        s = torch.stack(spikes[k]).detach()
        m = torch.stack(mems[k]).detach()
        per_neuron = s.mean(0).mean(0)  # rate of each neuron over time and batch
        cfg = layer.cfg
        report.append(LayerHealth(
            index=k,
            kind="conv" if isinstance(layer.op, nn.Conv2d) else "dense",
            n_neurons=int(per_neuron.numel()),
            rate=float(s.mean()),
            window_share=float(((m - cfg.v_th).abs() < cfg.surrogate.window).float().mean()),
            dead_fraction=float((per_neuron == 0).float().mean()),
            saturated_fraction=float((per_neuron == 1).float().mean()),
            membrane_mean=float(m.mean()),
            membrane_std=float(m.std()) if m.numel() > 1 else 0.0,
            grad_norm=grads[k],
        ))
    return report


def format_health(report: list[LayerHealth]) -> str:
    """A printable table of a health report, one row per spiking layer."""
    head = (f"{'layer':>5} {'kind':>5} {'neurons':>8} {'rate':>6} {'window':>6} {'dead':>6} {'sat':>6} "
            f"{'m_mean':>8} {'m_std':>8} {'grad':>10} status")
    rows = [head]
    for h in report:
        grad = "-" if h.grad_norm is None else f"{h.grad_norm:.3e}"
        rows.append(f"{h.index:>5} {h.kind:>5} {h.n_neurons:>8} {h.rate:>6.3f} {h.window_share:>6.3f} "
                    f"{h.dead_fraction:>6.3f} {h.saturated_fraction:>6.3f} {h.membrane_mean:>8.3f} "
                    f"{h.membrane_std:>8.3f} {grad:>10} {h.status}")
    return "\n".join(rows)
