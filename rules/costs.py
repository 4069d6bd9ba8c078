"""MAC and memory-access counts of one training batch, counted from layer shapes, truncation and locality.

Counting method (stated here and in docs/reproductions.md; the TTL-BPTT paper's own cost model is
not in our sources, so this is ours). For every weighted op ``l`` (the spiking layers' Linear/Conv2d,
the auxiliary heads of local blocks, the readout), per sample and time step:

* ``M_l`` multiply-accumulates: dense ``n_in * n_out``; conv ``C_out * H_out * W_out * C_in * k_h * k_w``
  (pooling and the neuron update are additions / element-wise and are not MACs);
* ``P_l`` weights (biases not counted), ``X_l`` input elements, ``N_l`` output elements.

A batch of ``B`` samples over ``T`` steps costs (all counts are in elements / MACs, not bytes):

============  =======================================================================================
forward       ``F`` forward step-passes of every op: ``B * M_l`` MACs; reads ``P_l`` weights, ``B*X_l``
              inputs, writes ``B*N_l`` outputs, reads and writes ``B*N_l`` neuron state (spiking layers)
saved         of those, ``S`` step-passes are kept for backward: ``B*(X_l + N_l)`` written, then read
backward      per saved step-pass: the weight gradient (``B*M_l`` MACs; reads ``B*N_l`` errors,
              reads and writes the ``P_l`` gradient accumulators) and, where the error goes on to the
              op's input, the input gradient (``B*M_l`` MACs; reads ``P_l`` weights, writes ``B*X_l``)
update        per optimizer step: read ``P_l`` weights and ``P_l`` gradients, write ``P_l`` weights
============  =======================================================================================

The error goes on to an op's input unless the input is the data (first layer) or a block boundary
(local blocks detach their input): with blocks of ``b`` layers, the first layer of every block gets
no input gradient. Heads sit on a block's last layer, so their input gradient is always needed.

Per rule: ``F = T`` step-passes for bptt, ottt-a/-o and ttl (``S = T``; truncation changes *when*
the backward runs, not how many steps it covers); rate-m/-s run ``T`` forward step-passes without
saving plus one rate pass that is saved (``F = T + 1``, ``S = 1``). Optimizer steps per batch:
bptt, ottt-a, rate-* 1; ottt-o ``T``; ttl ``ceil(T / K)``. Saved activations that are alive at once
(the memory the papers measure on GPU) are measured, not counted: ``rules.memory``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from torch import nn

COST_RULES = ("bptt", "ottt-a", "ottt-o", "ttl", "rate-m", "rate-s")


@dataclass(frozen=True)
class OpShape:
    """One weighted op: MACs per sample-step, weights, input and output elements per sample."""

    name: str
    macs: int
    weights: int
    inputs: int
    outputs: int
    spiking: bool
    input_grad: bool


@dataclass(frozen=True)
class TrainingCosts:
    """Counts for one batch (see the module docstring); ``*_per_step`` divide by the optimizer steps."""

    rule: str
    T: int
    truncation: int
    block_size: int
    batch: int
    optimizer_steps: int
    macs_forward: int
    macs_backward: int
    memory_access: int

    @property
    def macs(self) -> int:
        return self.macs_forward + self.macs_backward

    @property
    def macs_per_step(self) -> float:
        return self.macs / self.optimizer_steps

    @property
    def memory_access_per_step(self) -> float:
        return self.memory_access / self.optimizer_steps

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(macs=self.macs, macs_per_step=self.macs_per_step,
                 memory_access_per_step=self.memory_access_per_step)
        return d


def _numel(shape) -> int:
    return int(math.prod(int(s) for s in shape))


def op_shapes(net, block_size: int | None = None) -> list[OpShape]:
    """The weighted ops of a ``SpikingNet`` trained in local blocks of ``block_size`` layers (None:
    one block of all layers): its layers, one auxiliary head on the last layer of every block but
    the last, and the readout."""
    n = len(net.layers)
    b = n if block_size is None else int(block_size)
    if b < 1:
        raise ValueError(f"block_size={block_size!r} must be >= 1")
    blocks = [list(range(i, min(i + b, n))) for i in range(0, n, b)]
    firsts = {blk[0] for blk in blocks}
    out, in_shape = [], tuple(net.config.input_shape)
    n_cls = net.config.n_classes
    for i, layer in enumerate(net.layers):
        op = layer.op
        n_out = _numel(layer.out_shape)
        if isinstance(op, nn.Conv2d):
            kh, kw = op.kernel_size
            macs = n_out * op.in_channels * kh * kw // op.groups
            n_in = op.in_channels * _pre_hw(layer, in_shape)
        else:
            macs = op.in_features * op.out_features
            n_in = op.in_features
        out.append(OpShape(f"layer{i}", macs, int(op.weight.numel()), n_in, n_out, True, i not in firsts))
        in_shape = layer.out_shape
        if i in {blk[-1] for blk in blocks[:-1]}:
            out.append(OpShape(f"head{i}", n_out * n_cls, n_out * n_cls, n_out, n_cls, False, True))
    fc = net.readout.fc
    out.append(OpShape("readout", fc.in_features * fc.out_features, fc.in_features * fc.out_features,
                       fc.in_features, fc.out_features, False, True))
    return out


def _pre_hw(layer, in_shape) -> int:
    """H*W of a conv's input after its ``pre`` (pooling) stage."""
    h, w = in_shape[1], in_shape[2]
    for m in layer.pre:
        if isinstance(m, nn.AvgPool2d):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            h, w = h // k, w // k
    return h * w


def optimizer_steps(rule: str, T: int, truncation: int | None = None) -> int:
    """Optimizer steps per batch of ``rule`` over ``T`` steps (TTL: window ``truncation``, default T)."""
    if rule not in COST_RULES:
        raise ValueError(f"rule={rule!r} is not one of {COST_RULES}")
    if rule == "ottt-o":
        return T
    if rule == "ttl":
        K = T if truncation is None else int(truncation)
        if not 1 <= K <= T:
            raise ValueError(f"truncation K={K} is outside the allowed range [1, T={T}]")
        return math.ceil(T / K)
    return 1


def training_costs(net, rule: str, T: int, batch: int, truncation: int | None = None,
                   block_size: int | None = None) -> TrainingCosts:
    """Count MACs and memory accesses of one training batch of ``rule`` (module docstring).

    ``block_size`` (layers per local block) defaults to ``net.config.block_size`` for ttl and to
    all layers (one block) for the other rules.
    """
    if int(T) != T or T < 1 or int(batch) != batch or batch < 1:
        raise ValueError(f"T={T!r} and batch={batch!r} must be integers >= 1")
    steps = optimizer_steps(rule, T, truncation)
    n_layers = len(net.layers)
    if rule == "ttl":
        b = net.config.block_size if block_size is None else int(block_size)
    else:
        b = n_layers if block_size is None else int(block_size)
    ops = op_shapes(net, block_size=b)
    F, S = (T + 1, 1) if rule.startswith("rate") else (T, T)
    B = int(batch)
    mf = mb = mem = 0
    for o in ops:
        mf += F * B * o.macs
        mem += F * (o.weights + B * o.inputs + B * o.outputs + (2 * B * o.outputs if o.spiking else 0))
        mem += S * 2 * B * (o.inputs + o.outputs)                  # saved for backward: write, read
        mb += S * B * o.macs                                       # weight gradient
        mem += S * (B * o.outputs + 2 * o.weights)
        if o.input_grad:
            mb += S * B * o.macs                                   # input gradient
            mem += S * (o.weights + B * o.inputs)
        mem += steps * 3 * o.weights                               # optimizer update
    K = T if truncation is None or rule != "ttl" else int(truncation)
    return TrainingCosts(rule, int(T), K, b, B, steps, mf, mb, mem)
