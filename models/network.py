"""Spiking networks built from a plain config: spiking layers grouped into blocks, plus a
non-spiking linear readout.

A spiking layer is ``pre`` (parameter-free pooling / flatten) -> ``op`` (Linear or Conv2d) ->
LIF. The readout is ``pre`` -> Linear, applied to the last layer's spikes at every step; the
prediction is ``argmax_c sum_t o[t, c]``. Spike tensors are ``[T, batch, ...]``.

Layer specs (tuples, or strings like ``"dense:256"``, ``"conv:32:3:1:1"``, ``"pool:2"``, ``"flatten"``):

* ``("dense", n_out)``
* ``("conv", c_out, kernel, stride=1, padding=kernel//2)``
* ``("pool", k)``   average pooling, folded into the next layer's ``pre``
* ``("flatten",)``  (inserted automatically before the first dense after a conv)

Training procedures (rules/) drive the layers themselves through ``layer.synapse`` and
``layer.neuron``; ``SpikingNet.forward`` is the plain unrolled forward (BPTT, evaluation).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from .neuron import LIFConfig, LIFState, init_state, lif_step


def parse_layer(spec) -> tuple:
    """Normalise a layer spec to a tuple; raise ValueError naming the bad spec."""
    if isinstance(spec, str):
        parts = spec.split(":")
        try:
            spec = (parts[0],) + tuple(int(p) for p in parts[1:])
        except ValueError:
            raise ValueError(f"layer spec {spec!r}: sizes must be integers, e.g. 'dense:256'") from None
    spec = tuple(spec)
    kind = spec[0] if spec else None
    arity = {"dense": (2, 2), "conv": (3, 5), "pool": (2, 2), "flatten": (1, 1)}
    if kind not in arity:
        raise ValueError(f"layer spec {spec!r}: kind must be one of {sorted(arity)}")
    lo, hi = arity[kind]
    if not lo <= len(spec) <= hi or any(int(v) < (0 if i == 4 else 1) for i, v in enumerate(spec[1:], 1)):
        raise ValueError(f"layer spec {spec!r}: expected {lo - 1}..{hi - 1} positive integers after {kind!r}")
    return spec


@dataclass(frozen=True)
class NetConfig:
    """A network description. ``input_shape`` excludes time and batch: (64,) or (C, H, W).

    layers : spiking layer specs (see module docstring)
    n_classes : readout size
    neuron : LIF configuration shared by all spiking layers
    block_size : spiking layers per local-learning block (the last block may be shorter)
    """

    input_shape: tuple
    layers: tuple
    n_classes: int
    neuron: LIFConfig = field(default_factory=LIFConfig)
    block_size: int = 1

    def __post_init__(self):
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "layers", tuple(parse_layer(s) for s in self.layers))
        if len(self.input_shape) not in (1, 3) or min(self.input_shape) < 1:
            raise ValueError(f"input_shape={self.input_shape} must be (features,) or (C, H, W)")
        if self.n_classes < 2:
            raise ValueError(f"n_classes={self.n_classes} must be >= 2")
        if self.block_size < 1:
            raise ValueError(f"block_size={self.block_size} must be >= 1")
        if not any(s[0] in ("dense", "conv") for s in self.layers):
            raise ValueError("layers must contain at least one 'dense' or 'conv' layer")


class SpikingLayer(nn.Module):
    """``pre`` (pool/flatten) -> ``op`` (Linear/Conv2d) -> LIF. In the cuba form the bias is the
    neuron's (added to v, as on the chip), in the discrete form it is the op's (a current)."""

    def __init__(self, pre: nn.Module, op: nn.Module, neuron: LIFConfig, out_shape: tuple):
        super().__init__()
        self.pre = pre
        self.op = op
        self.cfg = neuron
        self.out_shape = tuple(out_shape)
        if neuron.form == "cuba":
            bshape = (out_shape[0], 1, 1) if len(out_shape) == 3 else out_shape
            self.bias = nn.Parameter(torch.zeros(bshape))
        else:
            self.bias = None

    def synapse(self, x: torch.Tensor) -> torch.Tensor:
        """Input current from presynaptic spikes (or traces, rates) ``x`` of shape [batch, ...]."""
        return self.op(self.pre(x))

    def neuron(self, current: torch.Tensor, state: LIFState):
        """One LIF step: ``(s, new_state, membrane_before_reset)``."""
        return lif_step(current, state, self.cfg, self.bias)

    def init_state(self, batch: int, device=None) -> LIFState:
        return init_state(self.cfg, (batch,) + self.out_shape, device=device)


class Readout(nn.Module):
    """Non-spiking linear readout ``o[t] = W pre(s_L[t]) + b``."""

    def __init__(self, pre: nn.Module, fc: nn.Linear):
        super().__init__()
        self.pre = pre
        self.fc = fc

    def forward(self, x):
        return self.fc(self.pre(x))


class SpikingNet(nn.Module):
    """Spiking layers, their block partition, and the readout."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList()
        shape = config.input_shape
        pre: list[nn.Module] = []
        for spec in config.layers:
            kind = spec[0]
            if kind == "pool":
                if len(shape) != 3:
                    raise ValueError(f"layer {spec}: pooling needs a (C, H, W) input, have {shape}")
                pre.append(nn.AvgPool2d(spec[1]))
                shape = (shape[0], shape[1] // spec[1], shape[2] // spec[1])
                continue
            if kind == "flatten":
                if len(shape) == 3:
                    pre.append(nn.Flatten())
                    shape = (shape[0] * shape[1] * shape[2],)
                continue
            bias = config.neuron.form == "discrete"
            if kind == "conv":
                if len(shape) != 3:
                    raise ValueError(f"layer {spec}: conv needs a (C, H, W) input, have {shape}")
                c_out, k = spec[1], spec[2]
                stride = spec[3] if len(spec) > 3 else 1
                pad = spec[4] if len(spec) > 4 else k // 2
                op = nn.Conv2d(shape[0], c_out, k, stride=stride, padding=pad, bias=bias)
                shape = (c_out, (shape[1] + 2 * pad - k) // stride + 1, (shape[2] + 2 * pad - k) // stride + 1)
            else:  # dense
                if len(shape) == 3:
                    pre.append(nn.Flatten())
                    shape = (shape[0] * shape[1] * shape[2],)
                op = nn.Linear(shape[0], spec[1], bias=bias)
                shape = (spec[1],)
            if min(shape) < 1:
                raise ValueError(f"layer {spec}: output shape {shape} is empty")
            self.layers.append(SpikingLayer(nn.Sequential(*pre), op, config.neuron, shape))
            pre = []
        if len(shape) == 3:
            pre.append(nn.Flatten())
            shape = (shape[0] * shape[1] * shape[2],)
        self.readout = Readout(nn.Sequential(*pre), nn.Linear(shape[0], config.n_classes))
        n, b = len(self.layers), config.block_size
        self.blocks: list[list[int]] = [list(range(i, min(i + b, n))) for i in range(0, n, b)]

    def init_states(self, batch: int, device=None) -> list[LIFState]:
        return [layer.init_state(batch, device) for layer in self.layers]

    def step(self, x_t: torch.Tensor, states: Sequence[LIFState]):
        """One time step of the whole network: ``(o_t, new_states, spikes, membranes)``."""
        h = x_t
        new_states, spikes, membranes = [], [], []
        for layer, st in zip(self.layers, states):
            h, st, m = layer.neuron(layer.synapse(h), st)
            new_states.append(st)
            spikes.append(h)
            membranes.append(m)
        return self.readout(h), new_states, spikes, membranes

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """Unrolled forward: ``x_seq`` [T, B, *input_shape] -> readout ``o`` [T, B, n_classes]."""
        states = self.init_states(x_seq.shape[1], x_seq.device)
        outs = []
        for x_t in x_seq:
            o, states, _, _ = self.step(x_t, states)
            outs.append(o)
        return torch.stack(outs)


def build_mlp(input_size: int, hidden: Sequence[int], n_classes: int, neuron: LIFConfig | None = None,
              block_size: int = 1) -> SpikingNet:
    """A spiking MLP ``input -> hidden[0] -> ... -> readout``."""
    cfg = NetConfig((input_size,), tuple(("dense", h) for h in hidden), n_classes,
                    neuron or LIFConfig(), block_size)
    return SpikingNet(cfg)


def build_convnet(input_shape: tuple, channels: Sequence = (16, "pool", 32, "pool"), dense: Sequence[int] = (128,),
                  n_classes: int = 10, neuron: LIFConfig | None = None, kernel: int = 3,
                  block_size: int = 1) -> SpikingNet:
    """A small VGG-style ConvNet: 3x3 convs (padding 1), ``"pool"`` entries = 2x2 average pooling,
    then dense layers and the readout."""
    layers = []
    for c in channels:
        layers.append(("pool", 2) if c == "pool" else ("conv", int(c), kernel, 1, kernel // 2))
    layers += [("dense", int(h)) for h in dense]
    return SpikingNet(NetConfig(tuple(input_shape), tuple(layers), n_classes, neuron or LIFConfig(), block_size))


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
