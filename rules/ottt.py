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

Local blocks (``local_blocks=True``, the on-chip form's structure): every block of
``net.blocks`` gets its own non-spiking readout head on its last layer (the last block uses
``net.readout``) and its own instantaneous loss; a block's input spikes are detached, so no
gradient crosses blocks. ``feedback='random'`` sends the error back through fixed random
matrices (feedback alignment) instead of the heads' transposes ('mirror'); in global mode it
applies to the readout only. ``loss='sse'`` is ``L[t] = 0.5 * sum_c (o[t, c] - onehot(y)_c)**2``
(mean over the batch), whose gradient ``o - onehot`` is what the chip's error compartments compute.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import check_batch
from .memory import SavedTensorMeter


FEEDBACK = ("mirror", "random")
LOSSES = ("ce_mse", "sse")


@dataclass(frozen=True)
class OTTTConfig:
    """online : False = OTTT_A, True = OTTT_O.
    mse_weight : lambda_L in [0, 1], the MSE share of the instantaneous loss (official CIFAR: 0.05).
    local_blocks : per-block heads and losses, no gradient across blocks.
    feedback : 'mirror' (exact transposes) | 'random' (fixed random feedback for the heads).
    loss : 'ce_mse' (official) | 'sse' (the chip's error: 0.5 * squared error summed over classes).
    """

    online: bool = False
    mse_weight: float = 0.05
    local_blocks: bool = False
    feedback: str = "mirror"
    loss: str = "ce_mse"

    def __post_init__(self):
        if not 0.0 <= self.mse_weight <= 1.0:
            raise ValueError(f"mse_weight={self.mse_weight!r} is outside the allowed range [0, 1]")
        if self.feedback not in FEEDBACK:
            raise ValueError(f"feedback={self.feedback!r} is not one of {FEEDBACK}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r} is not one of {LOSSES}")


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


class _FeedbackLinear(torch.autograd.Function):
    """``x @ W.T`` whose gradient to ``x`` goes through the fixed matrix ``B`` instead of ``W``."""

    @staticmethod
    def forward(ctx, x, W, B):
        ctx.save_for_backward(x, B)
        return x @ W.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad):
        x, B = ctx.saved_tensors
        return grad @ B, grad.transpose(0, 1) @ x, None


def wrapped_head(head: nn.Linear, s: torch.Tensor, trace: torch.Tensor, feedback: torch.Tensor | None):
    """A head on spikes as OTTT wraps it; with ``feedback`` (same shape as the head's weight) the
    gradient to the spikes goes through it (feedback alignment). The head must have no bias or a
    frozen one."""
    if feedback is None:
        return wrapped_op(head, s, trace)
    with torch.no_grad():
        out = head(s)
    g = _FeedbackLinear.apply(_Replace.apply(s, trace), head.weight, feedback)
    if head.bias is not None:
        g = g + head.bias
    return _Replace.apply(g, out)


def sse_loss(o: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``0.5 * sum_c (o_c - onehot(y)_c)**2``, mean over the batch: gradient ``(o - onehot) / B``."""
    return 0.5 * (o - F.one_hot(y, o.shape[-1]).to(o.dtype)).pow(2).sum(-1).mean()


def instantaneous_loss(o: torch.Tensor, y: torch.Tensor, T: int, mse_weight: float, kind: str = "ce_mse") -> torch.Tensor:
    """``L[t] = ((1 - w) CE(o, y) + w MSE(o, onehot(y))) / T`` (official ``train_cifar.py``), or the
    chip's ``sse_loss`` (no 1/T: the chip's error has no such factor; it is part of the rate)."""
    if kind == "sse":
        return sse_loss(o, y)
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
    """OTTT_A (``online=False``) or OTTT_O (``online=True``), global or with local blocks."""

    def __init__(self, config: OTTTConfig | None = None):
        self.config = config or OTTTConfig()
        self.name = "ottt-o" if self.config.online else "ottt-a"
        self.heads: nn.ModuleList | None = None
        self.feedback: list[torch.Tensor | None] = []

    def setup(self, net: nn.Module) -> list[nn.Module]:
        """Check the neuron; build the local heads (all blocks but the last, which uses
        ``net.readout``) and, for ``feedback='random'``, one fixed random matrix per head
        (same distribution as the head's initial weights)."""
        if net.config.neuron.form != "discrete":
            raise ValueError(f"OTTT needs the discrete LIF form, got neuron form={net.config.neuron.form!r}")
        heads = []
        if self.config.local_blocks:
            for block in net.blocks[:-1]:
                n_in = int(torch.tensor(net.layers[block[-1]].out_shape).prod())
                heads.append(nn.Sequential(nn.Flatten(), nn.Linear(n_in, net.config.n_classes, bias=False)))
        self.heads = nn.ModuleList(heads)
        if self.config.feedback == "random":
            self.feedback = []
            for head in self.head_linears(net):
                bound = 1.0 / float(head.weight.shape[1]) ** 0.5
                self.feedback.append(torch.empty_like(head.weight).uniform_(-bound, bound))
        else:
            self.feedback = [None] * (len(heads) + 1)
        return [self.heads] if heads else []

    def head_linears(self, net) -> list[nn.Linear]:
        """The Linear of every head, block order (the last is ``net.readout.fc``)."""
        return [h[-1] for h in (self.heads or [])] + [net.readout.fc]

    @staticmethod
    def init_traces(net, batch: int, device=None) -> list[torch.Tensor]:
        return [torch.zeros((batch,) + layer.out_shape, device=device) for layer in net.layers]

    @staticmethod
    def _blocks_step(net, x_t, states, traces, blocks, heads, feedbacks):
        """The layer loop of one step over ``blocks`` (lists of layer indices), each ending in its
        head (wrapped like OTTT's readout; with a feedback matrix, through ``wrapped_head``). A
        block's input spikes are detached, except the first block's (it sees the input frame).
        Returns ``(outputs per block, states, traces, spikes, membranes)``."""
        lam = net.config.neuron.leak
        new_states, new_traces, spikes, membranes, outs = [], [], [], [], []
        s_prev, a_prev = None, None
        for block, head, fb in zip(blocks, heads, feedbacks):
            for idx in block:
                layer = net.layers[idx]
                if idx == 0:
                    current = layer.synapse(x_t)          # first op not wrapped: uses the input frame
                elif idx == block[0]:
                    current = wrapped_op(layer.synapse, s_prev.detach(), a_prev)
                else:
                    current = wrapped_op(layer.synapse, s_prev, a_prev)
                s, st, u = layer.neuron(current, states[idx].detach())
                a = lam * traces[idx] + s.detach()
                new_states.append(st.detach())
                new_traces.append(a)
                spikes.append(s)
                membranes.append(u)
                s_prev, a_prev = s, a
            if fb is None:
                outs.append(wrapped_op(head, s_prev, a_prev))
            else:
                lin = head[-1] if isinstance(head, nn.Sequential) else head.fc
                fb = fb.to(a_prev.device, a_prev.dtype)
                outs.append(wrapped_head(lin, s_prev.flatten(1), a_prev.flatten(1), fb))
        return outs, new_states, new_traces, spikes, membranes

    @staticmethod
    def step(net, x_t: torch.Tensor, states, traces, readout_feedback: torch.Tensor | None = None):
        """One OTTT forward step: ``(o_t, new_states, new_traces, spikes, membranes)``.

        States are detached on entry (membrane not in the graph between steps); the returned
        traces already include ``s[t]``. With ``readout_feedback`` the readout's error reaches the
        last layer through that fixed matrix (``wrapped_head``) instead of the readout's transpose.
        """
        outs, *rest = OTTT._blocks_step(net, x_t, states, traces, [list(range(len(net.layers)))],
                                        [net.readout], [readout_feedback])
        return (outs[0], *rest)

    def step_local(self, net, x_t: torch.Tensor, states, traces):
        """One step with local blocks: ``(outputs per block, states, traces, spikes, membranes)``;
        a block's input is detached, its head is wrapped like the readout."""
        heads = list(self.heads or []) + [net.readout]
        feedbacks = self.feedback if self.feedback else [None] * len(heads)
        return self._blocks_step(net, x_t, states, traces, net.blocks, heads, feedbacks)

    def forward_step(self, net, x_t, states, traces):
        """The rule's step: block outputs (a list; one entry in global mode) and the new state."""
        if self.config.local_blocks:
            return self.step_local(net, x_t, states, traces)
        fb = self.feedback[-1] if self.config.feedback == "random" else None
        o, states, traces, spikes, membranes = self.step(net, x_t, states, traces, fb)
        return [o], states, traces, spikes, membranes

    def loss(self, outs, y, T: int) -> torch.Tensor:
        cfg = self.config
        return sum(instantaneous_loss(o, y, T, cfg.mse_weight, cfg.loss) for o in outs)

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
                outs, states, traces, _, _ = self.forward_step(net, x_seq[t], states, traces)
                loss = self.loss(outs, y, T)
            loss.backward()
            total += float(loss.detach())
            if online:
                optimizer.step()
                meter.step()
        if not online:
            optimizer.step()
            meter.step()
        return total
