"""Rate-based backpropagation (Yu et al., NeurIPS 2024), after the official code
(``Tab-ct/rate-based-backpropagation``: ``model/layer.py::LIFLayer``, ``calcu_sg_and_elig``,
``model/model_setting.py`` hooks, ``CustomEvaluator``).

Two phases per batch, for the discrete LIF (leak lambda, threshold v_th)::

    spike pass (no grad):  sigma'_t = g(u[t] - v_th)                          (surrogate derivative)
                           e = (1/T) sum_t eps_t sigma'_t                     (eligibility, per neuron)
                           r = (1/T) sum_t s[t]                               (mean rate)
        eps_0 = 1 and, per reset mode,
            soft, detached reset :  eps_{t+1} = 1 + lambda eps_t                  -> (1-lambda^{t+1})/(1-lambda)
            soft, reset in graph :  eps_{t+1} = 1 + eps_t (lambda - lambda v_th sigma'_t)
            hard, detached reset :  eps_{t+1} = 1 + eps_t lambda (1 - s_t)
            hard, reset in graph :  eps_{t+1} = 1 + eps_t (lambda (1 - s_t) - lambda u_t sigma'_t)
    rate pass (grad):      c^l = op(r^{l-1})   (r^{-1} = mean_t x[t]),
                           rate^l = r^l + c^l e^l - sg(c^l e^l)   (value r^l, Jacobian diag(e^l))
                           o = readout(r^L) = mean_t o[t]
    loss:                  CE(o, y) with gradient scaled by 1/T, value unchanged (official
                           ``loss.detach() + (loss/T - sg(loss/T))``)

One backward and one optimizer step per batch; no per-step graph, so memory is constant in T.

rate_M vs rate_S here (official ``--step_mode m|s``):

* ``rate-m`` (multi-step): the spike pass runs layer by layer, each layer looping over all T steps
  of its input sequence; the rate input is ``mean_t x[t]``; the loss is CE on the rate-pass output.
* ``rate-s`` (single-step): the spike pass runs time step by time step through the whole network
  (the loop the chip runs), accumulating e, r and the input mean online and keeping the per-step
  outputs o[t]. The rate pass then runs once on the accumulated input (for direct encoding this is
  the static image, as the official re-run on ``args[0]``), and each of the T per-step outputs is
  tied to the rate-pass output with a straight-through term, so the rate output receives the **sum
  of the T per-step output gradients** (the official backward pre-hook). The loss is
  ``CE(mean_t o[t], y)`` on the spike outputs. For direct encoding both modes give the same
  gradient (tested); they differ in forward order, in what is kept (S: online sums only), and for
  non-direct encoders S uses the running input mean where the official code would re-run on the
  last frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import check_batch, single_update
from .memory import SavedTensorMeter

STEP_MODES = ("m", "s")


@dataclass(frozen=True)
class RateConfig:
    """step_mode : 'm' (rate_M) | 's' (rate_S)."""

    step_mode: str = "m"

    def __post_init__(self):
        if self.step_mode not in STEP_MODES:
            raise ValueError(f"step_mode={self.step_mode!r} is not one of {STEP_MODES}")


class _Eligibility:
    """Running eligibility and rate of one layer during the spike pass."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.eps = None
        self.e_sum = None
        self.r_sum = None

    def update(self, s: torch.Tensor, u: torch.Tensor):
        cfg = self.cfg
        sg = cfg.surrogate.grad(u - cfg.v_th)
        if self.eps is None:
            self.eps = torch.ones_like(u)
            self.e_sum = torch.zeros_like(u)
            self.r_sum = torch.zeros_like(u)
        self.e_sum += self.eps * sg
        self.r_sum += s
        lam = cfg.leak
        if cfg.reset == "soft":
            decay = lam if cfg.detach_reset else lam * (1.0 - cfg.v_th * sg)
        else:
            decay = lam * (1.0 - s) if cfg.detach_reset else lam * (1.0 - s) - lam * u * sg
        self.eps = 1.0 + self.eps * decay

    def result(self, T: int):
        return self.e_sum / T, self.r_sum / T


def eligibility_closed_form(sigma_prime: torch.Tensor, leak: float) -> torch.Tensor:
    """Closed form for a soft, detached reset: ``(1/T) sum_t sigma'_t (1 - lambda^{t+1}) / (1 - lambda)``
    with ``sigma_prime`` [T, ...]."""
    T = sigma_prime.shape[0]
    t = torch.arange(T, dtype=sigma_prime.dtype, device=sigma_prime.device)
    if leak == 1.0:
        eps = t + 1.0
    else:
        eps = (1.0 - leak ** (t + 1.0)) / (1.0 - leak)
    eps = eps.view((T,) + (1,) * (sigma_prime.dim() - 1))
    return (eps * sigma_prime).mean(0)


def rate_layer(c: torch.Tensor, r: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """Straight-through rate: value ``r``, Jacobian ``diag(e)`` w.r.t. ``c``."""
    ce = c * e
    return r.detach() + ce - ce.detach()


class RateBP:
    """Rate-based backprop, ``step_mode`` 'm' (rate_M) or 's' (rate_S)."""

    def __init__(self, config: RateConfig | None = None):
        self.config = config or RateConfig()
        self.name = f"rate-{self.config.step_mode}"

    def setup(self, net: nn.Module) -> list[nn.Module]:
        if net.config.neuron.form != "discrete":
            raise ValueError(f"rate-based BP needs the discrete LIF form, got neuron form={net.config.neuron.form!r}")
        return []

    @torch.no_grad()
    def spike_pass(self, net, x_seq: torch.Tensor):
        """Returns ``(eligibilities, rates, x_bar, o_seq)``; ``o_seq`` [T, B, C] (per-step outputs)."""
        T, B = x_seq.shape[0], x_seq.shape[1]
        elig = [_Eligibility(layer.cfg) for layer in net.layers]
        if self.config.step_mode == "m":
            h_seq = x_seq
            for layer, el in zip(net.layers, elig):
                state = layer.init_state(B, x_seq.device)
                out = []
                for h in h_seq:
                    s, state, u = layer.neuron(layer.synapse(h), state)
                    el.update(s, u)
                    out.append(s)
                h_seq = torch.stack(out)
            o_seq = torch.stack([net.readout(s) for s in h_seq])
            x_bar = x_seq.mean(0)
        else:
            states = net.init_states(B, x_seq.device)
            x_sum = torch.zeros_like(x_seq[0])
            outs = []
            for x_t in x_seq:
                x_sum += x_t
                h = x_t
                for idx, layer in enumerate(net.layers):
                    h, states[idx], u = layer.neuron(layer.synapse(h), states[idx])
                    elig[idx].update(h, u)
                outs.append(net.readout(h))
            o_seq = torch.stack(outs)
            x_bar = x_sum / T
        es, rs = zip(*(el.result(T) for el in elig))
        return list(es), list(rs), x_bar, o_seq

    @staticmethod
    def rate_pass(net, x_bar, eligibilities, rates) -> torch.Tensor:
        h = x_bar
        for layer, e, r in zip(net.layers, eligibilities, rates):
            h = rate_layer(layer.synapse(h), r, e)
        return net.readout(h)

    def loss(self, net, x_seq: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The (1/T-gradient-scaled) loss with the rate-pass graph attached."""
        check_batch(net, x_seq, y)
        T = x_seq.shape[0]
        es, rs, x_bar, o_seq = self.spike_pass(net, x_seq)
        o_rate = self.rate_pass(net, x_bar, es, rs)
        if self.config.step_mode == "m":
            loss = F.cross_entropy(o_rate, y)
        else:
            tie = o_rate - o_rate.detach()
            loss = F.cross_entropy(torch.stack([o_t + tie for o_t in o_seq]).mean(0), y)
        return loss.detach() + (loss / T - (loss / T).detach())

    def train_batch(self, net, x_seq, y, optimizer, meter: SavedTensorMeter) -> float:
        return single_update(lambda: self.loss(net, x_seq, y), optimizer, meter)
