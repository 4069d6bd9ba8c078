"""A float NIR chain (written by snnTorch, Norse, ...) as our float reference :class:`SpikingNet`.

:func:`hwsim.export.nir.read_float_graph` discretises the graph's nodes with ``dt`` (Euler)::

    i[t] = alpha * i[t-1] + g_syn * (W x[t] + b)
    v[t] = beta * v[t-1] + g_mem * i[t] + c
    s[t] = v[t] > v_th;   v[t] = 0 where s[t]

This is the cuba form of :mod:`models.neuron` (``du = 1 - alpha``, ``dv = 1 - beta``) after two
exact rescalings per neuron ``j``: the current by ``g_mem_j`` and both states by ``1 / v_th_j``, so
the layer weights become ``W[j] * g_syn_j * g_mem_j / v_th_j``, the neuron bias ``c_j / v_th_j``
(plus the synapse bias when the current does not persist, ``alpha = 0``) and every threshold 1.
The readout is the identity on the last layer's spikes (every NIR layer spikes).

What does not map (``NirUnsupportedError`` naming the node): decays that differ between neurons or
layers (one :class:`~models.neuron.LIFConfig` serves the whole net), ``v_reset != 0``, a synapse bias
into a neuron whose current persists (``alpha > 0``: our bias enters ``v``, not ``i``), per-neuron
thresholds or biases that differ inside a conv channel, a last layer with fewer than 2 neurons.
Spikes: NIR fires on ``v > v_th``, our float LIF on ``v >= v_th`` (differs only on exact ties).
"""
from __future__ import annotations

import numpy as np
import torch

from hwsim.export.nir import FloatGraph, NirUnsupportedError

from .network import NetConfig, SpikingNet
from .neuron import LIFConfig

__all__ = ["spiking_net_from_nir", "DECAY_RTOL"]

DECAY_RTOL = 1e-6
"""Relative tolerance within which per-neuron decays count as equal."""


def _uniform(name: str, values, where: str) -> float:
    a = np.concatenate([np.asarray(v, np.float64).reshape(-1) for v in values])
    if not np.allclose(a, a[0], rtol=DECAY_RTOL, atol=1e-12):
        raise NirUnsupportedError(f"{where}: {name} differs between neurons or layers ({a.min():.6g} .. {a.max():.6g}); "
                                  "hwlearn's float reference has one LIF configuration for the whole network")
    return float(a[0])


def _per_channel(a: np.ndarray, shape: tuple, what: str, where: str) -> np.ndarray:
    """(C,) values of a (C, H, W) array that must be constant over each channel."""
    a = np.broadcast_to(np.asarray(a, np.float64), shape)
    c = a.reshape(shape[0], -1)
    if not np.allclose(c, c[:, :1], rtol=1e-9, atol=0):
        raise NirUnsupportedError(f"{where}: {what} varies inside a conv channel; hwlearn's conv layers share "
                                  "one value per channel")
    return c[:, 0]


def spiking_net_from_nir(graph: FloatGraph) -> SpikingNet:
    """Build the cuba-form :class:`SpikingNet` equivalent to a float NIR chain.

    Parameters
    ----------
    graph : hwsim.export.nir.FloatGraph
        From :func:`hwsim.export.nir.read_float_graph` (with the ``dt`` the graph was written for).

    Returns
    -------
    SpikingNet
        ``neuron.form == 'cuba'``, ``v_th = 1``, layers in chain order, identity readout; its
        ``forward`` on spikes ``[T, B, *input_shape]`` reproduces the graph's Euler dynamics.

    Raises
    ------
    NirUnsupportedError
        Naming the node for what does not map (module docstring).
    """
    layers = graph.layers
    alpha = _uniform("alpha (synaptic decay)", [l.alpha for l in layers], f"nodes {[l.neuron for l in layers]}")
    beta = _uniform("beta (membrane decay)", [l.beta for l in layers], f"nodes {[l.neuron for l in layers]}")
    if not (0.0 <= alpha <= 1.0 and 0.0 <= beta <= 1.0):
        raise NirUnsupportedError(f"nodes {[l.neuron for l in layers]}: alpha={alpha:.6g}, beta={beta:.6g} must lie "
                                  "in [0, 1] (check dt against the time constants)")
    specs, shape = [], graph.input_shape
    for l in layers:
        where = f"node {l.neuron!r}"
        if np.any(l.v_reset != 0):
            raise NirUnsupportedError(f"{where}: v_reset is nonzero; the chip resets v to 0")
        if np.any(l.v_th <= 0):
            raise NirUnsupportedError(f"{where}: v_threshold must be > 0")
        if l.bias is not None and alpha > 0:
            raise NirUnsupportedError(f"node {l.synapse!r}: a synapse bias into {l.neuron!r}, whose current persists "
                                      f"(alpha={alpha:.6g}); hwlearn's LIF adds its bias to v, not to the current")
        if l.kind == "conv":
            c_out, _, k, k2 = l.weight.shape
            if k != k2 or l.stride[0] != l.stride[1] or l.padding[0] != l.padding[1] or l.dilation != (1, 1) \
                    or l.groups != 1:
                raise NirUnsupportedError(f"node {l.synapse!r} (Conv2d): hwlearn's float conv layers take square "
                                          "kernels, equal strides and paddings, no dilation and groups=1")
            specs.append(("conv", c_out, k, l.stride[0], l.padding[0]))
        else:
            specs.append(("dense", int(l.weight.shape[0])))
    n_out = int(np.prod(layers[-1].shape))
    if n_out < 2:
        raise NirUnsupportedError(f"node {layers[-1].neuron!r}: the last layer has {n_out} neuron(s); the readout "
                                  "needs >= 2")
    cfg = NetConfig(tuple(shape), tuple(specs), n_out, LIFConfig(form="cuba", v_th=1.0, du=1.0 - alpha,
                                                                 dv=1.0 - beta, reset="hard"))
    net = SpikingNet(cfg).double()
    with torch.no_grad():
        for l, layer in zip(layers, net.layers):
            where = f"node {l.neuron!r}"
            gain = l.g_syn * l.g_mem / l.v_th
            bias = l.c / l.v_th
            if l.bias is not None:           # alpha == 0: the current bias reaches v unfiltered
                bias = bias + np.broadcast_to(l.bias.reshape((-1,) + (1,) * (len(l.shape) - 1)), l.shape) * gain
            if l.kind == "conv":
                g = _per_channel(gain, l.shape, "the input gain / threshold", where)
                w = l.weight * g[:, None, None, None]
                b = _per_channel(bias, l.shape, "the bias / threshold", where).reshape(-1, 1, 1)
            else:
                g = np.broadcast_to(gain, l.shape).reshape(-1)
                w = l.weight * g[:, None]
                b = np.broadcast_to(bias, l.shape).reshape(-1)
            if tuple(layer.op.weight.shape) != w.shape:
                raise NirUnsupportedError(f"node {l.synapse!r}: weight shape {w.shape} does not fit the layer "
                                          f"{tuple(layer.op.weight.shape)} built from the chain")
            layer.op.weight.copy_(torch.as_tensor(np.array(w)))
            layer.bias.copy_(torch.as_tensor(np.array(b)).reshape(layer.bias.shape))
        net.readout.fc.weight.copy_(torch.eye(n_out, dtype=torch.float64))
        net.readout.fc.bias.zero_()
    return net
