"""Average pooling folded into chip projections, and a float layer as one linear map on the chip.

Average pooling (folded into the next layer's ``pre`` by :class:`models.network.SpikingNet`) has no
chip population; it is folded exactly into the next projection: before a dense layer as a dense
matrix with equal weights ``W / k**2`` over each k x k block (rows and columns dropped by the floor
are 0), before a conv as a conv with kernel ``(K - 1) * d * k + k``, stride ``s * k``, padding
``p * k`` and equal weights over each block. This is exact unless the conv has padding and the map
size is not a multiple of ``k``; then :func:`layer_map` raises NotImplementedError naming the
layer. ``_unfold_*`` invert the folding (for :func:`models.quantize.dequantize`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from hwsim.network import conv_output_shape


class QuantizationError(ValueError):
    """A float network that cannot be represented on the chip; the message names the layer and
    the parameter."""


def _as_pair(v) -> tuple:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)


def _fold_pre(pre: nn.Module, in_shape: tuple, where: str):
    """Parse a layer's ``pre``: returns (pool factor k, flatten flag, shape after pre)."""
    mods = list(pre) if isinstance(pre, nn.Sequential) else [pre]
    k, flat, shape = 1, False, tuple(in_shape)
    for m in mods:
        if isinstance(m, nn.Sequential):
            kk, ff, shape = _fold_pre(m, shape, where)
            k, flat = k * kk, flat or ff
        elif isinstance(m, nn.AvgPool2d):
            ks, st = _as_pair(m.kernel_size), _as_pair(m.stride if m.stride is not None else m.kernel_size)
            pd = _as_pair(m.padding)
            if flat or len(shape) != 3:
                raise NotImplementedError(f"{where}: average pooling after flatten cannot be folded")
            if ks[0] != ks[1] or st != ks or pd != (0, 0) or m.ceil_mode or m.divisor_override:
                raise NotImplementedError(
                    f"{where}: only square non-overlapping average pooling (kernel == stride, no padding, "
                    f"floor mode) folds exactly into a chip projection; got kernel={ks} stride={st} padding={pd}")
            k *= ks[0]
            shape = (shape[0], shape[1] // ks[0], shape[2] // ks[0])
        elif isinstance(m, nn.Flatten):
            flat = True
            shape = (int(np.prod(shape)),)
        elif isinstance(m, nn.Identity):
            continue
        else:
            raise NotImplementedError(f"{where}: pre-processing module {type(m).__name__} has no exact chip form "
                                      "(only average pooling and flatten fold into a projection)")
    return k, flat, shape


def _fold_dense(W: np.ndarray, in_shape: tuple, k: int) -> np.ndarray:
    """Dense weights (out, C*Hp*Wp) after a k-pool on (C, H, W) -> (out, C*H*W) with W/k**2 blocks."""
    if k == 1:
        return W
    C, H, Wd = in_shape
    Hp, Wp = H // k, Wd // k
    W4 = W.reshape(W.shape[0], C, Hp, Wp)
    out = np.zeros((W.shape[0], C, H, Wd), W.dtype)
    out[:, :, :Hp * k, :Wp * k] = np.repeat(np.repeat(W4, k, axis=2), k, axis=3) / (k * k)
    return out.reshape(W.shape[0], -1)


def _unfold_dense(Wc: np.ndarray, in_shape: tuple, k: int) -> np.ndarray:
    """Inverse of :func:`_fold_dense` up to the 1/k**2 factor: one entry per block (not scaled)."""
    if k == 1:
        return Wc
    C, H, Wd = in_shape
    Hp, Wp = H // k, Wd // k
    return Wc.reshape(Wc.shape[0], C, H, Wd)[:, :, :Hp * k:k, :Wp * k:k].reshape(Wc.shape[0], -1)


def _fold_conv(W: np.ndarray, k: int, dil: tuple):
    """Conv weights after a k-pool -> composite kernel (blocks of W/k**2), dilation 1."""
    co, ci, kh, kw = W.shape
    dh, dw = dil
    out = np.zeros((co, ci, (kh - 1) * dh * k + k, (kw - 1) * dw * k + k), W.dtype)
    for a in range(kh):
        for b in range(kw):
            out[:, :, a * dh * k:a * dh * k + k, b * dw * k:b * dw * k + k] = W[:, :, a:a + 1, b:b + 1] / (k * k)
    return out


def _unfold_conv(Wc: np.ndarray, k: int, dil: tuple, kernel: tuple) -> np.ndarray:
    if k == 1:
        return Wc
    return Wc[:, :, ::dil[0] * k, ::dil[1] * k][:, :, :kernel[0], :kernel[1]]


@dataclass
class _LinearMap:
    kind: str
    W: np.ndarray            # float64: dense (out, in_flat) or conv (Co, Ci/g, KH, KW), on the chip input
    b: np.ndarray            # float64 per compartment (n_out,)
    conv: Optional[dict]     # stride, padding, dilation, groups for conv
    pool: int
    in_shape: tuple          # shape of the chip source
    orig_kernel: Optional[tuple] = None
    orig_dilation: Optional[tuple] = None


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


def _layer_map(i: int, layer, in_shape: tuple, form: str) -> _LinearMap:
    where = f"layer {i}"
    k, flat, shape = _fold_pre(layer.pre, in_shape, where)
    op = layer.op
    n_out = int(np.prod(layer.out_shape))
    if isinstance(op, nn.Linear):
        W = _np(op.weight)
        if W.shape[1] != int(np.prod(shape)):
            raise QuantizationError(f"{where}: Linear has {W.shape[1]} inputs, its pre gives shape {shape}")
        W = _fold_dense(W, in_shape, k) if k > 1 else W
        kind, conv, okern, odil = "dense", None, None, None
        bias_op = None if op.bias is None else np.broadcast_to(_np(op.bias), (n_out,))
    elif isinstance(op, nn.Conv2d):
        if flat:
            raise QuantizationError(f"{where}: conv after flatten")
        if isinstance(op.padding, str) or op.padding_mode != "zeros":
            raise NotImplementedError(f"{where}: conv padding={op.padding!r} padding_mode={op.padding_mode!r}; "
                                      "only explicit zero padding maps to the chip")
        W = _np(op.weight)
        stride, pad, dil = _as_pair(op.stride), _as_pair(op.padding), _as_pair(op.dilation)
        okern, odil = tuple(W.shape[2:]), dil
        if k > 1:
            if pad != (0, 0) and (in_shape[1] % k or in_shape[2] % k):
                raise NotImplementedError(
                    f"{where}: average pooling {k}x{k} of a {in_shape[1]}x{in_shape[2]} map followed by a padded "
                    f"conv (padding={pad}) is not exactly a chip conv (the map size is not a multiple of {k}); "
                    "use a map size divisible by the pool, or padding 0")
            W = _fold_conv(W, k, dil)
            stride, pad, dil = (stride[0] * k, stride[1] * k), (pad[0] * k, pad[1] * k), (1, 1)
        conv = dict(stride=stride, padding=pad, dilation=dil, groups=int(op.groups))
        expect = conv_output_shape(in_shape, W.shape[0], W.shape[2:], stride, pad, dil)
        if tuple(expect) != tuple(layer.out_shape):
            raise NotImplementedError(f"{where}: folding the pooling into the conv gives output {expect}, "
                                      f"the layer has {tuple(layer.out_shape)}; not exact")
        kind = "conv"
        bias_op = None
        if op.bias is not None:
            bias_op = np.repeat(_np(op.bias), n_out // W.shape[0])
    else:
        raise NotImplementedError(f"{where}: op {type(op).__name__} has no chip form (Linear, Conv2d)")
    if form == "cuba":
        b = np.broadcast_to(_np(layer.bias), layer.out_shape).reshape(-1).copy()
        if bias_op is not None:
            raise QuantizationError(f"{where}: a cuba layer with an op bias; the chip bias is the neuron's")
    else:
        b = np.zeros(n_out) if bias_op is None else np.array(bias_op, dtype=np.float64)
    for name, arr in (("weight", W), ("bias", b)):
        if not np.all(np.isfinite(arr)):
            raise QuantizationError(f"{where}: {name} contains NaN or inf")
    return _LinearMap(kind, W, b, conv, k, tuple(in_shape), okern, odil)


