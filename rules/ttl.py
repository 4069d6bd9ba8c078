"""TTL-BPTT: temporally-truncated, local BPTT (Guo et al., Front. Neurosci. 2023).

No official code exists; this follows the standard reading (papers.md section 3.2):

* **Local blocks** (spatial locality): the spiking layers are split into blocks of
  ``net.config.block_size`` layers (``net.blocks``). Block b gets its own auxiliary classifier
  (a non-spiking Linear on its last layer's spikes, built by ``setup``); the last block uses the
  network's real readout. A block's input spikes are detached, so no gradient crosses blocks.
* **Temporal truncation** (temporal locality): T is split into windows of ``truncation`` = K steps
  (the last one may be shorter). Inside a window, BPTT; at the window boundary the neuron states are
  detached (values carried on, gradients cut). Each block's loss for a window is
  ``CE(mean_{t in window} o_b[t], y)``; gradients are applied once per window (optimizer step).

Within a window, blocks run one after another over the window's K steps (block-major), and each
block's graph is freed by its own backward before the next block runs, so the saved-tensor memory is
O(K x block layers). With K = T and one block, this is exactly BPTT (same loss, same gradient).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import check_batch, check_loss, sequence_loss
from .memory import SavedTensorMeter


@dataclass(frozen=True)
class TTLConfig:
    """truncation : K >= 1 steps per window (None = T, no truncation); checked against T per batch.
    loss : 'ce' | 'chenli-standin' (see ``rules.base.sequence_loss``), per block and window.
    """

    truncation: int | None = 2
    loss: str = "ce"

    def __post_init__(self):
        if self.truncation is not None and (int(self.truncation) != self.truncation or self.truncation < 1):
            raise ValueError(f"truncation={self.truncation!r} must be an integer >= 1 (or None for K = T)")
        check_loss(self.loss)


class TTL:
    """TTL-BPTT with truncation K and the network's local blocks."""

    name = "ttl"

    def __init__(self, config: TTLConfig | None = None):
        self.config = config or TTLConfig()
        self.heads: nn.ModuleList | None = None

    def setup(self, net: nn.Module) -> list[nn.Module]:
        """Build one auxiliary classifier per block except the last (which uses ``net.readout``)."""
        heads = []
        for block in net.blocks[:-1]:
            shape = net.layers[block[-1]].out_shape
            n_in = 1
            for d in shape:
                n_in *= d
            heads.append(nn.Sequential(nn.Flatten(), nn.Linear(n_in, net.config.n_classes)))
        ref = next(net.parameters())
        self.heads = nn.ModuleList(heads).to(device=ref.device, dtype=ref.dtype)
        return [self.heads]

    def _head(self, net, b: int):
        return net.readout if b == len(net.blocks) - 1 else self.heads[b]

    def window_size(self, T: int) -> int:
        K = T if self.config.truncation is None else int(self.config.truncation)
        if not 1 <= K <= T:
            raise ValueError(f"truncation K={K} is outside the allowed range [1, T={T}]")
        return K

    def train_batch(self, net, x_seq, y, optimizer, meter: SavedTensorMeter) -> float:
        check_batch(net, x_seq, y)
        if self.heads is None or len(self.heads) != len(net.blocks) - 1:
            raise ValueError("TTL.setup(net) must be called before train_batch (auxiliary heads missing)")
        T, B = x_seq.shape[0], x_seq.shape[1]
        K = self.window_size(T)
        states = net.init_states(B, x_seq.device)
        total, n_windows = 0.0, 0
        for w0 in range(0, T, K):
            optimizer.zero_grad(set_to_none=True)
            inp = x_seq[w0:w0 + K].detach()
            window_loss = 0.0
            for b, block in enumerate(net.blocks):
                head = self._head(net, b)
                outs, block_out = [], []
                with meter.graph():
                    for h in inp:
                        for idx in block:
                            layer = net.layers[idx]
                            h, states[idx], _ = layer.neuron(layer.synapse(h), states[idx])
                        outs.append(head(h))
                        block_out.append(h.detach())
                    loss = sequence_loss(torch.stack(outs), y, self.config.loss)
                loss.backward()
                for idx in block:                      # window boundary: cut the gradient in time
                    states[idx] = states[idx].detach()
                inp = torch.stack(block_out)           # block boundary: next block's input, detached
                window_loss += float(loss.detach())
            optimizer.step()
            meter.step()
            total += window_loss / len(net.blocks)
            n_windows += 1
        return total / n_windows
