"""The shared ``Rule`` protocol, losses and small helpers used by every training rule.

A rule turns one batch ``x_seq`` [T, B, *input_shape], ``y`` [B] into parameter updates on a
``models.network.SpikingNet``. The trainer (``rules.train``) owns data, seeding, the optimizer and
evaluation; a rule owns only the forward/backward/step schedule:

* ``setup(net) -> list[nn.Module]``: extra trainable modules the rule needs (TTL's auxiliary
  classifiers); built under the trainer's seed, optimised together with ``net``.
* ``train_batch(net, x_seq, y, optimizer, meter) -> float``: train on one batch, return the mean
  loss value; every autograd graph is built inside ``meter.graph()`` and every optimizer step is
  followed by ``meter.step()`` (see ``rules.memory``).

Evaluation is the same for every rule: the unrolled forward, prediction ``argmax_c sum_t o[t, c]``.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from .memory import SavedTensorMeter

LOSSES = ("ce", "chenli-standin")


@runtime_checkable
class Rule(Protocol):
    name: str

    def setup(self, net: nn.Module) -> list[nn.Module]:
        ...

    def train_batch(self, net: nn.Module, x_seq: torch.Tensor, y: torch.Tensor,
                    optimizer: torch.optim.Optimizer, meter: SavedTensorMeter) -> float:
        ...


def single_update(loss_fn, optimizer, meter: SavedTensorMeter) -> float:
    """One optimizer step on ``loss_fn()`` built as one graph (BPTT, rate-based); returns the loss."""
    optimizer.zero_grad(set_to_none=True)
    with meter.graph():
        loss = loss_fn()
    loss.backward()
    optimizer.step()
    meter.step()
    return float(loss.detach())


def check_batch(net: nn.Module, x_seq: torch.Tensor, y: torch.Tensor) -> None:
    """Raise ValueError naming the argument when ``x_seq``/``y`` do not fit ``net``."""
    shape = tuple(net.config.input_shape)
    if x_seq.dim() != 2 + len(shape) or tuple(x_seq.shape[2:]) != shape:
        raise ValueError(f"x_seq shape {tuple(x_seq.shape)} does not match [T, batch, *input_shape] "
                         f"with input_shape={shape}")
    if x_seq.shape[0] < 1:
        raise ValueError(f"x_seq has T={x_seq.shape[0]} time steps; need T >= 1")
    if y.dim() != 1 or y.shape[0] != x_seq.shape[1]:
        raise ValueError(f"y shape {tuple(y.shape)} does not match batch size {x_seq.shape[1]} of x_seq")


def sequence_loss(o_seq: torch.Tensor, y: torch.Tensor, kind: str = "ce") -> torch.Tensor:
    """Loss on the time-averaged readout ``o_bar = mean_t o[t]``.

    * ``ce``: cross-entropy ``CE(o_bar, y)`` (prediction is argmax of ``sum_t o[t]``, same argmax).
    * ``chenli-standin``: **a stand-in, not Chen & Li's loss.** Their "modified loss function"
      (Neural Computation 2020) could not be found in our sources; this is the STBP loss it modifies,
      ``MSE(o_bar, onehot(y))`` (mean over batch and classes). Kept so that the option exists and
      is honestly labelled; replace it when the paper's formula is available.
    """
    o_bar = o_seq.mean(0)
    if kind == "ce":
        return F.cross_entropy(o_bar, y)
    if kind == "chenli-standin":
        return F.mse_loss(o_bar, F.one_hot(y, o_bar.shape[-1]).to(o_bar.dtype))
    raise ValueError(f"loss={kind!r} is not one of {LOSSES}")


def check_loss(kind: str) -> str:
    if kind not in LOSSES:
        raise ValueError(f"loss={kind!r} is not one of {LOSSES}")
    return kind
