"""OTTT: online training through time (Xiao et al., NeurIPS 2022), as the official code
(``pkuxmq/OTTT-SNN``: ``OnlineLIFNode``, ``Replace``, ``WrapedSNNOp``, ``train_cifar.py``) does it.

Per time step t, for a discrete LIF with leak lambda (membrane detached between steps)::

    u[t]  = lambda * sg(v[t-1]) + I[t]            s[t] = H(u[t] - v_th)
    a[t]  = lambda * a[t-1] + s[t]                (presynaptic trace, no grad, a[-1] = 0)
    I^{l+1}[t] = op(s^l[t])  in value,  gradient through op(a^l[t])   (gradient swap)
    L[t]  = ((1 - w) CE(o[t], y) + w MSE(o[t], onehot(y))) / T        w = mse_weight (lambda_L)
    backward(L[t]) at every t  (graph freed each step: memory constant in T)

so for a linear op ``grad_W L[t] = delta^{l+1}[t] (outer) a^l[t]`` with
``delta^{l+1}[t] = dL[t]/dI^{l+1}[t]`` through spatial paths at the same t only, and
``dL[t]/ds^l[t] = W^T delta^{l+1}[t]``. The first layer's op is not wrapped (its weight gradient
uses the current input frame); the readout is wrapped like every other op on spikes.

* ``online=False`` (OTTT_A): zero_grad once per batch, backward at each t, one optimizer step after T.
* ``online=True``  (OTTT_O, official ``-online_update``): zero_grad / backward / step at every t.

Prediction: ``argmax sum_t o[t]`` (the trainer's evaluation).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import check_batch
from .memory import SavedTensorMeter


@dataclass(frozen=True)
class OTTTConfig:
    """online : False = OTTT_A, True = OTTT_O.
    mse_weight : lambda_L in [0, 1], the MSE share of the instantaneous loss (official CIFAR: 0.05).
    """

    online: bool = False
    mse_weight: float = 0.05

    def __post_init__(self):
        if not 0.0 <= self.mse_weight <= 1.0:
            raise ValueError(f"mse_weight={self.mse_weight!r} is outside the allowed range [0, 1]")


class _Replace(torch.autograd.Function):
    """Value of ``z_r``, gradient to ``z`` (official ``Replace``)."""

    @staticmethod
    def forward(ctx, z, z_r):
        return z_r.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def wrapped_op(op, s: torch.Tensor, trace: torch.Tensor) -> torch.Tensor:
    """Official ``WrapedSNNOp``: value ``op(s)``, gradient through ``op(trace)`` (to op's
    parameters with the trace as input, and on to ``s``)."""
    with torch.no_grad():
        out = op(s)
    g = op(_Replace.apply(s, trace))
    return _Replace.apply(g, out)


def instantaneous_loss(o: torch.Tensor, y: torch.Tensor, T: int, mse_weight: float) -> torch.Tensor:
    """``L[t] = ((1 - w) CE(o, y) + w MSE(o, onehot(y))) / T`` (official ``train_cifar.py``)."""
    loss = (1.0 - mse_weight) * F.cross_entropy(o, y)
    if mse_weight:
        loss = loss + mse_weight * F.mse_loss(o, F.one_hot(y, o.shape[-1]).to(o.dtype))
    return loss / T


def ottt_weight_grad(pre_trace: torch.Tensor, post_factor: torch.Tensor, third_factor: torch.Tensor) -> torch.Tensor:
    """The three-factor form of OTTT's weight gradient for a dense layer at one step.

    ``dW[i, j] = sum_b (post_factor[b, i] * third_factor[b, i]) * pre_trace[b, j]`` with
    pre_trace = a^l[t] [B, n_in], post_factor = sigma'(u^{l+1}[t] - v_th) [B, n_out] and
    third_factor = dL[t]/ds^{l+1}[t] [B, n_out]; the update is ``-lr * dW``.
    """
    return (post_factor * third_factor).transpose(0, 1) @ pre_trace


class OTTT:
    """OTTT_A (``online=False``) or OTTT_O (``online=True``)."""

    def __init__(self, config: OTTTConfig | None = None):
        self.config = config or OTTTConfig()
        self.name = "ottt-o" if self.config.online else "ottt-a"

    def setup(self, net: nn.Module) -> list[nn.Module]:
        if net.config.neuron.form != "discrete":
            raise ValueError(f"OTTT needs the discrete LIF form, got neuron form={net.config.neuron.form!r}")
        return []

    @staticmethod
    def init_traces(net, batch: int, device=None) -> list[torch.Tensor]:
        return [torch.zeros((batch,) + layer.out_shape, device=device) for layer in net.layers]

    @staticmethod
    def step(net, x_t: torch.Tensor, states, traces):
        """One OTTT forward step: ``(o_t, new_states, new_traces, spikes, membranes)``.

        States are detached on entry (membrane not in the graph between steps); the returned
        traces already include ``s[t]``.
        """
        lam = net.config.neuron.leak
        new_states, new_traces, spikes, membranes = [], [], [], []
        s_prev, a_prev = None, None
        for idx, layer in enumerate(net.layers):
            if idx == 0:
                current = layer.synapse(x_t)          # first op not wrapped: uses the input frame
            else:
                current = wrapped_op(layer.synapse, s_prev, a_prev)
            s, st, u = layer.neuron(current, states[idx].detach())
            a = lam * traces[idx] + s.detach()
            new_states.append(st.detach())
            new_traces.append(a)
            spikes.append(s)
            membranes.append(u)
            s_prev, a_prev = s, a
        o = wrapped_op(net.readout, s_prev, a_prev)
        return o, new_states, new_traces, spikes, membranes

    def train_batch(self, net, x_seq, y, optimizer, meter: SavedTensorMeter) -> float:
        check_batch(net, x_seq, y)
        T, B = x_seq.shape[0], x_seq.shape[1]
        states = net.init_states(B, x_seq.device)
        traces = self.init_traces(net, B, x_seq.device)
        total = 0.0
        online = self.config.online
        if not online:
            optimizer.zero_grad(set_to_none=True)
        for t in range(T):
            if online:
                optimizer.zero_grad(set_to_none=True)
            with meter.graph():
                o, states, traces, _, _ = self.step(net, x_seq[t], states, traces)
                loss = instantaneous_loss(o, y, T, self.config.mse_weight)
            loss.backward()
            total += float(loss.detach())
            if online:
                optimizer.step()
                meter.step()
        if not online:
            optimizer.step()
            meter.step()
        return total
