"""BPTT / STBP: the full unroll through time, one backward per batch.

.. math::

    L = \\mathrm{loss}(\\tfrac{1}{T}\\sum_t o[t], y), \\qquad
    \\nabla_W L \\text{ by autograd through } u[t] = \\lambda v[t-1] + W s^{l-1}[t] + b
    \\text{ for all } t

The membrane recursion stays in the graph (only the reset is detached when the neuron says so),
so the saved-tensor memory grows linearly in T.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import check_batch, check_loss, sequence_loss, single_update
from .memory import SavedTensorMeter


@dataclass(frozen=True)
class BPTTConfig:
    """loss : 'ce' (default) | 'chenli-standin' (see ``rules.base.sequence_loss``)."""

    loss: str = "ce"

    def __post_init__(self):
        check_loss(self.loss)


class BPTT:
    """Full backpropagation through time (STBP)."""

    name = "bptt"

    def __init__(self, config: BPTTConfig | None = None):
        self.config = config or BPTTConfig()

    def setup(self, net: nn.Module) -> list[nn.Module]:
        return []

    def loss(self, net: nn.Module, x_seq: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The BPTT loss with its full graph (used by tests and ``train_batch``)."""
        check_batch(net, x_seq, y)
        return sequence_loss(net(x_seq), y, self.config.loss)

    def train_batch(self, net, x_seq, y, optimizer, meter: SavedTensorMeter) -> float:
        return single_update(lambda: self.loss(net, x_seq, y), optimizer, meter)
