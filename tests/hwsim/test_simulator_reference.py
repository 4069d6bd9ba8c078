"""hwsim vs a slow numpy reference of Lava's fixed-point semantics, on random networks (hypothesis).

The Lava oracle tests (test_simulator_lava.py) pin the semantics on a few networks; this file
draws many more network shapes (every projection kind, delays, graded and ternary sources,
LIFReset, recurrence, sign modes, exponents, weight bits) and runs them against
:func:`reference_run`, which follows Lava's process models step by step with plain numpy: one
``a_buff`` per projection, dense weight matrices, Lava's dtypes for the sums.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim import Network
from hwsim.simulator import Simulator


def _load_sibling(name):
    """Import tests/hwsim/<name>.py (pytest runs with --import-mode=importlib: no sibling imports)."""
    import importlib.util
    import pathlib
    spec = importlib.util.spec_from_file_location(f"hwsim_tests_{name}", pathlib.Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


random_network = _load_sibling("randnet").random_network

def wrap(x, bits=32):
    x = np.asarray(x, np.int64)
    return (x + 2 ** (bits - 1)) % 2 ** bits - 2 ** (bits - 1)


def lava_weights(w, sign_mode, nwb, bits=8):
    """Lava clip_weights(num_bits=8) + truncate_weights, written out again (8 = spec.weight_bits)."""
    w = np.asarray(w, np.int64)
    if sign_mode == "inhibitory":
        w = -w
    lo = -(2 ** bits) if sign_mode == "mixed" else 0
    w = np.clip(w, lo, 2 ** bits - 1)
    ntb = bits - nwb + (sign_mode == "mixed")
    w = (w >> ntb) << ntb
    return -w if sign_mode == "inhibitory" else w


def dense_matrix(net, p):
    """(W, D): chip weights and delays as dense (n_dst, n_src) matrices (conv through torch)."""
    n_dst, n_src = net.node(p.dst).size, net.node(p.src).size
    kind = type(p).__name__
    if kind == "DenseProjection":
        W = lava_weights(p.weights, p.sign_mode, p.num_weight_bits, net.spec.weight_bits)
        D = p.delays if p.delays is not None else np.zeros_like(W)
        return W, D, None
    if kind == "SparseProjection":
        W = np.zeros((n_dst, n_src), np.int64)
        D = np.zeros((n_dst, n_src), np.int64)
        W[p.dst_index, p.src_index] = lava_weights(p.weights, p.sign_mode, p.num_weight_bits, net.spec.weight_bits)
        if p.delays is not None:
            D[p.dst_index, p.src_index] = p.delays
        return W, D, None
    torch = pytest.importorskip("torch")
    shape = net.node(p.src).shape
    eye = torch.eye(n_src, dtype=torch.float64).reshape((n_src,) + shape)
    wq = lava_weights(p.weights, p.sign_mode, p.num_weight_bits, net.spec.weight_bits)
    W = torch.nn.functional.conv2d(eye, torch.tensor(wq, dtype=torch.float64), stride=p.stride, padding=p.padding,
                                   dilation=p.dilation, groups=p.groups).reshape(n_src, -1).numpy().T
    return np.rint(W).astype(np.int64), np.zeros((n_dst, n_src), np.int64), "conv"


def reference_run(net: Network, T: int, inputs: dict):
    """Step Lava's semantics with numpy; returns {pop: (spikes, u, v)} arrays (T, n).

    The widths come from ``net.spec`` (Lava: uv_bits=24, decay_bits=12, weight_bits=8)."""
    pops = net.populations
    H = 2 ** (net.spec.uv_bits - 1)
    unity, dsh = 2 ** net.spec.decay_bits, net.spec.decay_bits
    u = {k: p.u_init.astype(np.int64).copy() for k, p in pops.items()}
    v = {k: p.v_init.astype(np.int64).copy() for k, p in pops.items()}
    bias = {k: np.where(p.bias_exp >= 0, p.bias_mant.astype(np.int64) << np.maximum(p.bias_exp, 0),
                        p.bias_mant.astype(np.int64) >> np.maximum(-p.bias_exp, 0)) for k, p in pops.items()}
    projs = []
    for p in net.projections.values():
        W, D, conv = dense_matrix(net, p)
        projs.append((p, W, D, conv, np.zeros((W.shape[0], int(D.max()) + 1), np.int64)))
    s_prev = {k: np.zeros(p.size, np.int64) for k, p in pops.items()}
    rec = {k: (np.zeros((T, p.size), np.int64), np.zeros((T, p.size), np.int64), np.zeros((T, p.size), np.int64))
           for k, p in pops.items()}
    for t in range(1, T + 1):
        # every projection sends its buffer from t-1
        a_in = {k: np.zeros(p.size, np.int64) for k, p in pops.items()}
        for p, W, D, conv, buf in projs:
            a_in[p.dst] = wrap(a_in[p.dst] + wrap(buf[:, 0]))
        # compartments
        for k, p in pops.items():
            uu, vv = u[k], v[k]
            if p.kind == "lif_reset" and t % p.reset_interval == p.reset_offset % p.reset_interval:
                uu, vv = uu * 0, vv * 0
            du = uu * (unity - (p.du + 1))
            uc = wrap(np.sign(du) * (np.abs(du) >> dsh) + wrap(a_in[k] << 6))
            uw = np.where(uc > H, uc - 2 * H, uc)
            uw = np.where(uw <= -H, uc + 2 * H, uw)
            dv = vv * (unity - p.dv)
            vn = np.clip(wrap(wrap(np.sign(dv) * (np.abs(dv) >> dsh) + uw) + bias[k]), -H + 1, H - 1)
            s = (vn > p.vth << 6).astype(np.int64)
            if p.kind == "ternary_lif":
                s = s - (vn < (p.vth_lo << 6))
            vn = np.where(s != 0, 0, vn)
            u[k], v[k], s_prev[k] = uw, vn, s
            rec[k][0][t - 1], rec[k][1][t - 1], rec[k][2][t - 1] = s, uw, vn
        # every projection receives this step's spikes / input column t-1
        for p, W, D, conv, buf in projs:
            src = net.node(p.src)
            if p.src in net.inputs:
                x = np.asarray(inputs.get(p.src, np.zeros((T,) + src.shape)), np.int64)[t - 1].reshape(-1)
                int32_payload = True
            else:
                x = s_prev[p.src]
                int32_payload = src.kind != "ternary_lif"
            if not p.graded:
                x = (x != 0).astype(np.int64)
            acc = np.zeros(buf.shape, np.int64)
            for d in range(buf.shape[1]):
                Wd = np.where(D == d, W, 0)
                if not p.graded or conv:
                    sd = Wd @ x
                elif type(p).__name__ == "DenseProjection" and p.delays is not None:
                    sd = (wrap(Wd * x[None, :]) if int32_payload else Wd * x[None, :]).sum(axis=1)
                else:
                    sd = wrap(Wd @ x) if int32_payload else Wd @ x
                e = p.weight_exp
                sd = sd << e if e >= 0 else sd >> -e
                acc[:, d] = wrap(sd, 24) if conv else sd
            buf[:, 0] = 0
            buf[:] = np.roll(buf, -1, axis=1)
            buf[:] = wrap(buf + acc)
    return rec


# ---------------------------------------------------------------------------------------------
# random networks (generator in randnet.py, shared with the Lava oracle test)
# ---------------------------------------------------------------------------------------------
@st.composite
def networks(draw, vary_spec=False):
    return random_network(draw(st.integers(0, 2 ** 32 - 1)), vary_spec=vary_spec)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=networks())
def test_random_networks_match_the_numpy_reference(case):
    net, T, inputs = case
    probes = [(p, var) for p in net.populations for var in ("u", "v")]
    rec = Simulator(net).run(T, inputs=inputs, probes=probes)
    ref = reference_run(net, T, inputs)
    for p in net.populations:
        np.testing.assert_array_equal(rec.spikes[p], ref[p][0], err_msg=f"{p} spikes")
        np.testing.assert_array_equal(rec.probes[(p, "u")], ref[p][1], err_msg=f"{p} u")
        np.testing.assert_array_equal(rec.probes[(p, "v")], ref[p][2], err_msg=f"{p} v")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=networks(vary_spec=True))
def test_other_chip_widths_match_the_reference(case):
    """A ChipSpec with other uv_bits, decay_bits, weight_bits and message_bits (quantization studies)."""
    test_random_networks_match_the_numpy_reference.hypothesis.inner_test(case)
