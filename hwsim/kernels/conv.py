r"""2-D convolution as synapses: unroll a conv into (src, dst, weight) lists.

Semantics are torch's ``conv2d`` (cross-correlation), layout (C, H, W) flattened C-major::

    out[co, oh, ow] = sum_{ci in group(co), kh, kw}
        in[ci, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] * W[co, ci - g*C_in/groups, kh, kw]

Taps that fall into the padding are not synapses. A conv is stored as these synapses (one per
(source, target, tap) triple, zero weights included, as the chip keeps the structure), so spike
delivery costs one operation per synapse of the spiking source, as for a sparse projection.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def conv_synapses(c_in, h, w, weights, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, h_out, w_out):
    """Unroll a conv into synapses sorted by output then tap.

    Parameters
    ----------
    c_in, h, w : int
        Input shape (C, H, W).
    weights : int64 array (C_out, C_in/groups, KH, KW)
        Weight mantissas (torch layout).
    stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups : int
        As ``torch.nn.functional.conv2d``.
    h_out, w_out : int
        Output spatial size.

    Returns
    -------
    src, dst : int64 arrays
        Flat source (C-major over (C, H, W)) and target (C-major over (C_out, H_out, W_out)) indices.
    wgt : int64 array
        The weight of each synapse.
    """
    c_out, c_in_g, kh_n, kw_n = weights.shape
    c_out_g = c_out // groups
    # count first, then fill
    n = 0
    for oh in range(h_out):
        for kh in range(kh_n):
            ih = oh * stride_h - pad_h + kh * dil_h
            if ih < 0 or ih >= h:
                continue
            for ow in range(w_out):
                for kw in range(kw_n):
                    iw = ow * stride_w - pad_w + kw * dil_w
                    if iw < 0 or iw >= w:
                        continue
                    n += c_out * c_in_g
    src = np.empty(n, np.int64)
    dst = np.empty(n, np.int64)
    wgt = np.empty(n, np.int64)
    k = 0
    for co in range(c_out):
        g = co // c_out_g
        for oh in range(h_out):
            for ow in range(w_out):
                d = (co * h_out + oh) * w_out + ow
                for cig in range(c_in_g):
                    ci = g * c_in_g + cig
                    for kh in range(kh_n):
                        ih = oh * stride_h - pad_h + kh * dil_h
                        if ih < 0 or ih >= h:
                            continue
                        for kw in range(kw_n):
                            iw = ow * stride_w - pad_w + kw * dil_w
                            if iw < 0 or iw >= w:
                                continue
                            src[k] = (ci * h + ih) * w + iw
                            dst[k] = d
                            wgt[k] = weights[co, cig, kh, kw]
                            k += 1
    return src, dst, wgt


@njit(cache=True)
def conv_reference(x, weights, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, h_out, w_out):
    """Direct (dense) conv of a (C, H, W) int64 array, for checking the unrolled form; int64 exact."""
    c_in, h, w = x.shape
    c_out, c_in_g, kh_n, kw_n = weights.shape
    c_out_g = c_out // groups
    out = np.zeros((c_out, h_out, w_out), np.int64)
    for co in range(c_out):
        g = co // c_out_g
        for oh in range(h_out):
            for ow in range(w_out):
                acc = 0
                for cig in range(c_in_g):
                    ci = g * c_in_g + cig
                    for kh in range(kh_n):
                        ih = oh * stride_h - pad_h + kh * dil_h
                        if ih < 0 or ih >= h:
                            continue
                        for kw in range(kw_n):
                            iw = ow * stride_w - pad_w + kw * dil_w
                            if 0 <= iw < w:
                                acc += x[ci, ih, iw] * weights[co, cig, kh, kw]
                out[co, oh, ow] = acc
    return out
