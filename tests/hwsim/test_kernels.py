"""Kernels vs slow pure-Python / numpy forms of the same arithmetic (hypothesis property tests).

The neuron oracle is a line-by-line numpy transcription of Lava 0.10.0's
``AbstractPyLifModelFixed.subthr_dynamics`` (int32 arrays, so numpy wraps exactly as Lava does);
synapse, conv and event kernels are checked against numpy / torch / explicit loops; every numba
kernel is also compared with its own ``.py_func`` where that is cheap.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.kernels import arith, conv, events, neuron, synapse
from hwsim.kernels.mapping import RES_FAN_IN, RES_MEMORY, RES_OK, pack_population
from hwsim.overflow import RAISE, SATURATE, WRAP

I32 = (-(2 ** 31), 2 ** 31 - 1)
H = 2 ** 23
EDGES = [0, 1, -1, H - 1, H, H + 1, -H, -H + 1, -H - 1, 2 ** 24, -(2 ** 24), I32[0], I32[1], 2 ** 25, 2 ** 30]
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ints(lo, hi, edges=()):
    edges = [e for e in edges if lo <= e <= hi]
    return st.one_of(st.integers(lo, hi), st.sampled_from(edges)) if edges else st.integers(lo, hi)


# ---------------------------------------------------------------------------------------------
# scalar bit operations
# ---------------------------------------------------------------------------------------------
@SETTINGS
@given(x=ints(-(2 ** 40), 2 ** 40, EDGES), bits=st.integers(2, 33))
def test_wrap_signed_is_modulo_with_sign_bit(x, bits):
    y, ovf = arith.wrap_signed(x, bits)
    m = 2 ** bits
    expect = x % m
    if expect >= m // 2:
        expect -= m
    assert y == expect and ovf == (y != x)
    assert arith.wrap_signed.py_func(x, bits) == (y, ovf)


@SETTINGS
@given(x=ints(-(2 ** 40), 2 ** 40, EDGES))
def test_wrap32_is_numpy_int32_cast(x):
    assert arith.wrap32(x) == int(np.array(x, np.int64).astype(np.int32))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 300))
def test_add_wrap32_is_the_int32_sum_and_counts_its_wraps(seed, n):
    """``add_wrap32`` against the int64 sum taken modulo 2**32 (numpy, no shared code), on random int32
    operands mixed with the extremes (both overflow directions and the sums that just fit)."""
    rng = np.random.default_rng(seed)
    ends = np.array([-2 ** 31, 2 ** 31 - 1, -1, 0, 1], np.int64)
    a = np.where(rng.random(n) < 0.3, rng.choice(ends, n), rng.integers(-2 ** 31, 2 ** 31, n)).astype(np.int32)
    b = np.where(rng.random(n) < 0.3, rng.choice(ends, n), rng.integers(-2 ** 31, 2 ** 31, n)).astype(np.int32)
    exact = a.astype(np.int64) + b.astype(np.int64)
    want = (exact + 2 ** 31) % 2 ** 32 - 2 ** 31
    dst = a.copy()
    assert arith.add_wrap32(dst, b) == int(np.count_nonzero(want != exact))
    np.testing.assert_array_equal(dst, want.astype(np.int32))


@SETTINGS
@given(x=ints(-(2 ** 40), 2 ** 40, EDGES), bits=st.integers(2, 33))
def test_saturate_signed(x, bits):
    y, ovf = arith.saturate_signed(x, bits)
    assert y == min(max(x, -(2 ** (bits - 1))), 2 ** (bits - 1) - 1) and ovf == (y != x)


@SETTINGS
@given(x=ints(-(2 ** 40), 2 ** 40, EDGES), e=st.integers(-16, 16))
def test_floor_shift_is_floor_of_power_of_two_scaling(x, e):
    expect = x * 2 ** e if e >= 0 else x // 2 ** (-e)     # Python // floors
    assert arith.floor_shift(x, e) == expect


@SETTINGS
@given(x=ints(I32[0], I32[1], EDGES), du=st.integers(-1, 4095))
def test_decay_trunc_rounds_toward_zero(x, du):
    f = 4096 - (du + 1)
    p = x * f
    expect = (abs(p) // 4096) * (1 if p >= 0 else -1)
    assert arith.decay_trunc(x, f, 12) == expect == arith.decay_trunc.py_func(x, f, 12)


def test_lava_wrap_u_boundaries():
    """2**23 is kept, 2**23 + 1 wraps; -2**23 wraps to +2**23 (Lava's asymmetric test)."""
    cases = {H - 1: H - 1, H: H, H + 1: -H + 1, -H + 1: -H + 1, -H: H, -H - 1: H - 1, 0: 0,
             I32[1]: I32[1] - 2 ** 24, I32[0]: I32[0] + 2 ** 24}
    for uc, expect in cases.items():
        assert arith.lava_wrap_u(uc, H) == expect, uc


# ---------------------------------------------------------------------------------------------
# compartment update vs a numpy transcription of Lava's fixed-point LIF
# ---------------------------------------------------------------------------------------------
def lava_lif_step(u, v, a, du, dv, bias, vth, kind="lif", vth_lo=0):
    """Lava ``AbstractPyLifModelFixed.subthr_dynamics`` + spiking, as numpy int32 code (copied logic)."""
    u = np.asarray(u, np.int32).copy()
    v = np.asarray(v, np.int32).copy()
    a = np.asarray(a, np.int32)
    bias = np.asarray(bias, np.int32)
    decayed_curr = np.int64(u) * (4096 - (du + 1))
    decayed_curr = np.sign(decayed_curr) * np.right_shift(np.abs(decayed_curr), 12)
    decayed_curr = np.int32(decayed_curr)
    activation_in = np.left_shift(a, 6)
    decayed_curr += activation_in
    wrapped_curr = np.where(decayed_curr > H, decayed_curr - 2 * H, decayed_curr)
    wrapped_curr = np.where(wrapped_curr <= -H, decayed_curr + 2 * H, wrapped_curr)
    u[:] = wrapped_curr
    decayed_volt = np.int64(v) * (4096 - dv)
    decayed_volt = np.sign(decayed_volt) * np.right_shift(np.abs(decayed_volt), 12)
    decayed_volt = np.int32(decayed_volt)
    updated_volt = decayed_volt + u + bias
    v[:] = np.clip(updated_volt, -np.int32(H) + 1, np.int32(H) - 1)
    v_pre = v.copy()
    if kind == "ternary_lif":
        s = (-1) * (v < np.left_shift(np.int32(vth_lo), 6)) + (v > (vth << 6))
    else:
        s = (v > (vth << 6)).astype(np.int64)
    v[s != 0] = 0
    return u, v, s, v_pre


state_ints = st.lists(ints(-(2 ** 31) + 2 ** 24, 2 ** 31 - 2 ** 24 - 1, EDGES), min_size=16, max_size=16)


@SETTINGS
@given(u=state_ints, v=st.lists(ints(-H + 1, H - 1, EDGES), min_size=16, max_size=16),
       a=st.lists(ints(*I32, EDGES + [2 ** 17, -(2 ** 17), 2 ** 25 + 3]), min_size=16, max_size=16),
       bias=st.lists(ints(-4096 * 128, 4095 * 128, [4095 * 128, -4096 * 128]), min_size=16, max_size=16),
       du=ints(-1, 4095, [-1, 0, 4095]), dv=ints(0, 4096, [0, 4096]), vth=ints(0, 2 ** 17 - 1, [0, 2 ** 17 - 1]),
       ternary=st.booleans(), vth_lo=ints(-(2 ** 17) + 1, 2 ** 17 - 1))
def test_compartment_step_matches_lava_transcription(u, v, a, bias, du, dv, vth, ternary, vth_lo):
    kind = "ternary_lif" if ternary else "lif"
    eu, ev, es, ev_pre = lava_lif_step(u, v, a, du, dv, bias, vth, kind, vth_lo)
    uu = np.asarray(u, np.int32)
    vv = np.asarray(v, np.int32)
    s = np.zeros(16, np.int8)
    code = neuron.TERNARY if ternary else neuron.LIF
    vlo = int(np.left_shift(np.int32(vth_lo), 6)) if ternary else np.iinfo(np.int64).min
    n_ovf = neuron.compartment_step(uu, vv, np.asarray(a, np.int32), code, 4096 - (du + 1), 4096 - dv,
                                    np.asarray(bias, np.int64), vth << 6, vlo, WRAP, False, s, H, 12)
    np.testing.assert_array_equal(uu, eu)
    np.testing.assert_array_equal(vv, ev)
    np.testing.assert_array_equal(s, es)
    # overflow events: u differs from its exact value, or v (before the spike reset) from its own
    def dec(x, f):
        p = np.int64(x) * f
        return np.sign(p) * (np.abs(p) >> 12)
    exact_u = dec(u, 4095 - du) + np.int64(a) * 64
    exact_v = dec(v, 4096 - dv) + eu.astype(np.int64) + np.asarray(bias, np.int64)
    assert n_ovf == int(np.sum(exact_u != eu)) + int(np.sum(exact_v != ev_pre))


@SETTINGS
@given(u=st.lists(ints(-H + 1, H - 1, EDGES), min_size=8, max_size=8),
       v=st.lists(ints(-H + 1, H - 1, EDGES), min_size=8, max_size=8),
       a=st.lists(ints(*I32, EDGES), min_size=8, max_size=8), du=st.integers(-1, 4095), dv=st.integers(0, 4096))
def test_saturate_policy_is_exact_then_clipped(u, v, a, du, dv):
    lim = H - 1
    for i in range(8):
        un, vn, ou, ov = neuron.lif_subthreshold(u[i], v[i], a[i], 4095 - du, 4096 - dv, 0, SATURATE, H, 12)
        exact_u = arith.decay_trunc.py_func(u[i], 4095 - du, 12) + a[i] * 64
        assert un == min(max(exact_u, -lim), lim) and ou == (un != exact_u)
        exact_v = arith.decay_trunc.py_func(v[i], 4096 - dv, 12) + un
        assert vn == min(max(exact_v, -lim), lim) and ov == (vn != exact_v)
        # the scalar kernel and its Python form agree
        assert neuron.lif_subthreshold.py_func(u[i], v[i], a[i], 4095 - du, 4096 - dv, 0, RAISE, H, 12) == \
            neuron.lif_subthreshold(u[i], v[i], a[i], 4095 - du, 4096 - dv, 0, RAISE, H, 12)


def test_du_dv_edges_golden():
    """Golden trace worked out by hand: du=-1 keeps u, du=4095 drops it; dv=4096 drops v, dv=0 keeps it.

    u=1000, a=1: du=-1 -> 1000 + 64 = 1064; du=4095 -> 0 + 64 = 64.
    v=500 (+u, bias 0): dv=0 -> 500 + u; dv=4096 -> u.
    """
    assert neuron.lif_subthreshold(1000, 500, 1, 4096, 4096, 0, WRAP, H, 12)[:2] == (1064, 1564)
    assert neuron.lif_subthreshold(1000, 500, 1, 0, 0, 0, WRAP, H, 12)[:2] == (64, 64)
    # du=2047 halves u (Lava test_bitacc_pm_impulse_du): 4096 - 2048 = 2048 -> u/2
    assert neuron.lif_subthreshold(1 << 13, 0, 0, 2048, 4096, 0, WRAP, H, 12)[0] == 1 << 12


@SETTINGS
@given(uv_bits=st.integers(8, 30), dshift=st.integers(4, 16), u=ints(-(2 ** 29), 2 ** 29, EDGES),
       v=ints(-(2 ** 29), 2 ** 29, EDGES), a=ints(-(2 ** 20), 2 ** 20), du=st.integers(-1, 2 ** 4 - 1),
       dv=st.integers(0, 2 ** 4), bias=st.integers(-1000, 1000))
def test_other_state_and_decay_widths(uv_bits, dshift, u, v, a, du, dv, bias):
    """A ChipSpec may vary uv_bits and decay_bits: the same rules with 2**(uv_bits-1) and 2**decay_bits."""
    h = 2 ** (uv_bits - 1)
    u, v = max(min(u, h), -h), max(min(v, h - 1), -h + 1)
    fu, fv = 2 ** dshift - (du + 1), 2 ** dshift - dv
    un, vn, ou, ov = neuron.lif_subthreshold(u, v, a, fu, fv, bias, WRAP, h, dshift)

    def dec(x, f):
        return (abs(x * f) >> dshift) * (1 if x * f >= 0 else -1)
    uc = (dec(u, fu) + a * 64 + 2 ** 31) % 2 ** 32 - 2 ** 31
    expect_u = uc - 2 * h if uc > h else (uc + 2 * h if uc <= -h else uc)
    vs = (dec(v, fv) + expect_u + bias + 2 ** 31) % 2 ** 32 - 2 ** 31
    assert (un, vn) == (expect_u, min(max(vs, -h + 1), h - 1))


# ---------------------------------------------------------------------------------------------
# synapses: delivery and hand-off vs numpy
# ---------------------------------------------------------------------------------------------
def _segments_for_dense(W, kind):
    """A one-projection segment table (see hwsim.kernels.synapse) from a dense (n_dst, n_src) matrix."""
    n_dst, n_src = W.shape
    seg_ptr = np.arange(n_src + 1, dtype=np.int64)
    seg_kind = np.full(n_src, kind, np.int64)
    seg_proj = np.zeros(n_src, np.int64)
    seg_base = np.zeros(n_src, np.int64)
    seg_off = np.arange(n_src, dtype=np.int64) * n_dst
    seg_len = np.full(n_src, n_dst, np.int64)
    wt = np.ascontiguousarray(W.T.reshape(-1))
    eight = kind in (synapse.K_CONTIG_BIN8, synapse.K_INDEX_BIN8)
    syn_w = np.zeros(1, np.int16) if eight else wt.astype(np.int16)
    syn_w8 = wt.astype(np.int8) if eight else np.zeros(1, np.int8)
    syn_idx = np.tile(np.arange(n_dst, dtype=np.int32), n_src)
    return seg_ptr, seg_kind, seg_proj, seg_base, seg_off, seg_off, seg_len, syn_w, syn_w8, syn_idx


KINDS = {  # kind: (graded, int8 weights)
    synapse.K_CONTIG_BIN: (False, False), synapse.K_INDEX_BIN: (False, False),
    synapse.K_CONTIG_BIN8: (False, True), synapse.K_INDEX_BIN8: (False, True),
    synapse.K_CONTIG_GRADED: (True, False), synapse.K_INDEX_GRADED: (True, False),
}


@SETTINGS
@given(seed=st.integers(0, 2 ** 32 - 1), n_src=st.integers(1, 40), n_dst=st.integers(1, 40),
       kind=st.sampled_from(sorted(KINDS)), big=st.booleans())
def test_deliver_matches_numpy_matvec(seed, n_src, n_dst, kind, big):
    rng = np.random.default_rng(seed)
    graded, eight = KINDS[kind]
    W = rng.integers(-128, 128, (n_dst, n_src)) if eight else rng.integers(-256, 256, (n_dst, n_src))
    tables = _segments_for_dense(W, kind)
    lim = 2 ** 23 if big else 100
    pay = rng.integers(-lim, lim, n_src) if graded else np.ones(n_src, np.int64)
    spiking = rng.random(n_src) < 0.5
    acc32 = np.zeros(n_dst, np.int32)
    acc64 = np.zeros(1, np.int64)
    active = np.zeros(1, np.int64)
    wraps = 0
    for g in np.nonzero(spiking)[0]:
        wraps += synapse.deliver(g, pay[g] if graded else 1, *tables, acc32, acc64, active)
    expect = W[:, spiking] @ pay[spiking]
    np.testing.assert_array_equal(acc32, expect.astype(np.int32))   # int32 wrap, as Lava's graded dot
    # every addition whose exact sum leaves int32 is a wrap (Python integers, added in delivery order)
    run, n_wrap = [0] * n_dst, 0
    for g in np.nonzero(spiking)[0]:
        for j in range(n_dst):
            x = run[j] + int(W[j, g]) * (int(pay[g]) if graded else 1)
            run[j] = (x + 2 ** 31) % 2 ** 32 - 2 ** 31
            n_wrap += run[j] != x
    assert wraps == n_wrap and active[0] >> 1 == n_wrap and (active[0] & 1) == spiking.any()
    if not (graded and big):
        assert n_wrap == 0


@SETTINGS
@given(seed=st.integers(0, 2 ** 32 - 1), n_src=st.integers(1, 20), n_dst=st.integers(1, 20),
       wrapprod=st.booleans())
def test_deliver_wide_kinds(seed, n_src, n_dst, wrapprod):
    """DelayDense-like (int32 products, int64 sum) and conv-like (exact) graded accumulation."""
    rng = np.random.default_rng(seed)
    W = rng.choice([-256, 255, 3, -7], (n_dst, n_src))
    kind = synapse.K_WIDE_WRAPPROD if wrapprod else synapse.K_WIDE_EXACT
    tables = _segments_for_dense(W, kind)
    pay = rng.choice([-(2 ** 23), 2 ** 23 - 1, 5], n_src)
    acc64 = np.zeros(n_dst, np.int64)
    wraps = 0
    for g in range(n_src):
        wraps += synapse.deliver(g, pay[g], *tables, np.zeros(1, np.int32), acc64, np.zeros(1, np.int64))
    exact = W * pay[None, :]
    prod = exact.astype(np.int32).astype(np.int64) if wrapprod else exact
    np.testing.assert_array_equal(acc64, prod.sum(axis=1))
    assert wraps == (int(np.sum(np.abs(exact) >= 2 ** 31) - np.sum(exact == -(2 ** 31))) if wrapprod else 0)


@SETTINGS
@given(seed=st.integers(0, 2 ** 32 - 1), e=st.integers(-8, 7), conv=st.booleans(), wide=st.booleans(),
       nslot=st.integers(1, 3), t=st.integers(0, 10))
def test_handoff_floor_shift_wrap_and_ring(seed, e, conv, wide, nslot, t):
    rng = np.random.default_rng(seed)
    nd = 5
    acc = rng.integers(-(2 ** 34), 2 ** 34, nslot * nd) if wide else rng.integers(*I32, nslot * nd)
    acc32 = np.zeros(nslot * nd, np.int32) if wide else acc.astype(np.int32)
    acc64 = acc.astype(np.int64) if wide else np.zeros(1, np.int64)
    ring = rng.integers(-1000, 1000, (nslot + 1, nd + 2)).astype(np.int32)
    before = ring.astype(np.int64).copy()
    prj = (np.array([0]), np.array([wide]), np.array([nd]), np.array([nslot]), np.array([2]), np.array([e]),
           np.array([conv]))
    wraps = synapse.handoff(0, t, *prj, acc32, acc64, ring)
    n_wrap = 0
    for k in range(nslot):
        for j in range(nd):
            x = int(acc[k * nd + j]) if wide else int(np.int32(acc[k * nd + j]))
            y = x * 2 ** e if e >= 0 else x // 2 ** (-e)
            if conv:
                yc = (y + 2 ** 23) % 2 ** 24 - 2 ** 23
                n_wrap += yc != y
                y = yc
            row = (t + 1 + k) % (nslot + 1)
            exact = int(before[row, 2 + j]) + y
            expect = (exact + 2 ** 31) % 2 ** 32 - 2 ** 31
            n_wrap += expect != exact
            assert ring[row, 2 + j] == expect
    assert wraps == n_wrap
    assert not acc32.any() and not acc64.any()


# ---------------------------------------------------------------------------------------------
# conv unrolling vs torch and explicit loops
# ---------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), groups=st.sampled_from([1, 2]), cin_g=st.integers(1, 2),
       cout_g=st.integers(1, 2), h=st.integers(3, 8), w=st.integers(3, 8), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 2), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 1), dh=st.integers(1, 2),
       dw=st.integers(1, 2))
def test_conv_synapses_match_torch_conv2d(seed, groups, cin_g, cout_g, h, w, kh, kw, sh, sw, ph, pw, dh, dw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    c_in, c_out = cin_g * groups, cout_g * groups
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if ho < 1 or wo < 1:
        return
    W = rng.integers(-256, 256, (c_out, cin_g, kh, kw))
    x = rng.integers(-50, 50, (c_in, h, w))
    ref = torch.nn.functional.conv2d(torch.tensor(x[None], dtype=torch.float64), torch.tensor(W, dtype=torch.float64),
                                     stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)[0]
    ref = ref.numpy().round().astype(np.int64)
    src, dst, wgt = conv.conv_synapses(c_in, h, w, W, sh, sw, ph, pw, dh, dw, groups, ho, wo)
    out = np.zeros(c_out * ho * wo, np.int64)
    np.add.at(out, dst, wgt * x.reshape(-1)[src])
    np.testing.assert_array_equal(out.reshape(c_out, ho, wo), ref)
    np.testing.assert_array_equal(conv.conv_reference(x, W, sh, sw, ph, pw, dh, dw, groups, ho, wo), ref)
    assert len(set(zip(src.tolist(), dst.tolist(), wgt.tolist()))) <= src.size


# ---------------------------------------------------------------------------------------------
# input events
# ---------------------------------------------------------------------------------------------
@SETTINGS
@given(seed=st.integers(0, 2 ** 32 - 1), T=st.integers(1, 6), B=st.integers(1, 3), n=st.integers(1, 9),
       dtype=st.sampled_from([np.int8, np.uint8, np.int32, np.int64, np.float32, np.float64]))
def test_events_are_the_nonzeros_in_order(seed, T, B, n, dtype):
    rng = np.random.default_rng(seed)
    x = (rng.integers(-3, 4, (T, B, n)) * (rng.random((T, B, n)) < 0.4))
    if np.dtype(dtype).kind == "u":
        x = np.abs(x)
    x = x.astype(dtype)
    counts = np.zeros((B, T), np.int64)
    assert events.check_and_count(x, -3, 3, counts)[0] == events.ERR_OK
    np.testing.assert_array_equal(counts, (x != 0).sum(axis=2).T)
    off = np.concatenate([[0], np.cumsum(counts.reshape(-1))])
    cursor = off[:-1].reshape(B, T).copy()
    ev_src = np.empty(off[-1], np.int32)
    ev_val = np.empty(off[-1], np.int32)
    events.fill_events(x, 10, cursor, ev_src, ev_val)
    for b in range(B):
        for t in range(T):
            k0 = off[b * T + t]
            nz = np.nonzero(x[t, b])[0]
            np.testing.assert_array_equal(ev_src[k0:k0 + nz.size], nz + 10)
            np.testing.assert_array_equal(ev_val[k0:k0 + nz.size], x[t, b, nz].astype(np.int64))


@pytest.mark.parametrize("value,code", [(np.nan, events.ERR_NAN), (2.5, events.ERR_NONINT), (7, events.ERR_RANGE),
                                        (-4, events.ERR_RANGE), (np.inf, events.ERR_RANGE)])
def test_events_locate_the_first_bad_entry(value, code):
    x = np.zeros((3, 2, 4), np.float64)
    x[1, 1, 2] = value
    x[2, 0, 0] = value
    got = events.check_and_count(x, -3, 3, np.zeros((2, 3), np.int64))
    assert got[:4] == (code, 1, 1, 2)



@SETTINGS
@given(seed=st.integers(0, 2 ** 32 - 1), N=st.integers(1, 5), Tx=st.integers(1, 4), T=st.integers(1, 6),
       drain=st.integers(0, 3), n=st.integers(1, 40), shift=st.integers(0, 6), density=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
       xdtype=st.sampled_from([np.uint8, np.int32, np.int64]))
def test_sample_events_are_the_nonzeros_of_the_dense_frames(seed, N, Tx, T, drain, n, shift, density, xdtype):
    """Events of samples X[idx]: step t < T carries the nonzeros of frame t % Tx shifted, later steps
    none; the oracle is numpy's nonzero of the dense frames built by fancy indexing. The output
    buffers start as garbage and are larger than needed."""
    rng = np.random.default_rng(seed)
    X = (rng.integers(1, 256, (N, Tx, n)) * (rng.random((N, Tx, n)) < density)).astype(xdtype)
    idx = rng.integers(0, N, rng.integers(1, 6)).astype(np.int64)
    steps = T + drain
    nnz = np.count_nonzero(X, axis=2).astype(np.int64)
    ptr = events.sample_event_ptr(nnz, idx, T, steps)
    total = int(ptr[-1, -1])
    ch = np.full(total + 7, -99, np.int32)
    val = np.full(total + 7, -99, np.int32)
    events.sample_events(X, idx, T, shift, ptr, ch, val)
    dense = np.zeros((idx.size, steps, n), np.int64)
    dense[:, :T] = X[idx][:, np.arange(T) % Tx].astype(np.int64) << shift
    k = 0
    for s in range(idx.size):
        for t in range(steps):
            nzc = np.flatnonzero(dense[s, t])
            assert ptr[s, t] == k
            np.testing.assert_array_equal(ch[k:k + nzc.size], nzc)
            np.testing.assert_array_equal(val[k:k + nzc.size], dense[s, t, nzc])
            k += nzc.size
        assert ptr[s, steps] == k
    assert k == total and np.all(ch[total:] == -99)


@SETTINGS
@given(seed=st.integers(0, 2 ** 32 - 1), T=st.integers(1, 30), nc=st.integers(1, 9), big=st.booleans())
def test_split_counts_is_the_largest_remainder_method(seed, T, nc, big):
    """Each row's split sums to its count; the oracle is the largest-remainder method in exact
    rationals (quota n * share / total, floors, then one more to the largest fractional parts, ties to
    the lower core), written with Python's fractions."""
    from fractions import Fraction
    from hwsim.kernels.mapping import split_counts
    rng = np.random.default_rng(seed)
    share = rng.integers(0 if nc > 1 else 1, 2 ** 20 if big else 7, nc).astype(np.int64)
    if share.sum() == 0:
        share[-1] = 1
    n = rng.integers(0, 2 ** 30 if big else 50, T).astype(np.int64)
    out = np.full((T, nc), -1, np.int64)
    split_counts(n, share, out)
    total = int(share.sum())
    for r in range(T):
        quota = [Fraction(int(n[r]) * int(c), total) for c in share]
        base = [q.numerator // q.denominator for q in quota]
        rest = int(n[r]) - sum(base)
        order = sorted(range(nc), key=lambda c: (-(quota[c] - base[c]), c))
        expect = [b + (1 if c in order[:rest] else 0) for c, b in enumerate(base)]
        assert out[r].tolist() == expect


# ---------------------------------------------------------------------------------------------
# greedy core packing vs a Python loop
# ---------------------------------------------------------------------------------------------
def _pack_python(n, in_ptr, in_axon, comp_bits, cap, max_fan_in, max_bits):
    starts, cur_axons, cur_bits, used = [0], set(), 0, 0
    for j in range(n):
        own = set(in_axon[in_ptr[j]:in_ptr[j + 1]].tolist())
        if used and (used + 1 > cap or len(cur_axons | own) > max_fan_in or cur_bits + comp_bits[j] > max_bits):
            starts.append(j)
            cur_axons, cur_bits, used = set(), 0, 0
        cur_axons |= own
        cur_bits += comp_bits[j]
        used += 1
    return starts + [n]


@SETTINGS
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 30), cap=st.integers(1, 8), max_fan_in=st.integers(4, 12),
       max_bits=st.integers(40, 200))
def test_pack_population_matches_python_greedy(seed, n, cap, max_fan_in, max_bits):
    rng = np.random.default_rng(seed)
    fan = rng.integers(0, 5, n)
    in_ptr = np.concatenate([[0], np.cumsum(fan)]).astype(np.int64)
    in_axon = rng.integers(0, 15, in_ptr[-1]).astype(np.int64)
    comp_bits = (fan * 8).astype(np.int64)
    code, j, need, starts, fan_in, bits = pack_population(n, in_ptr, in_axon, comp_bits, 15, cap, max_fan_in,
                                                          max_bits, True)
    own = [len(set(in_axon[in_ptr[k]:in_ptr[k + 1]].tolist())) for k in range(n)]
    if max(own) > max_fan_in:
        assert code == RES_FAN_IN and own[j] == need > max_fan_in
        return
    if comp_bits.max() > max_bits:
        assert code == RES_MEMORY and need == comp_bits[j] > max_bits
        return
    assert code == RES_OK
    assert starts.tolist() == _pack_python(n, in_ptr, in_axon, comp_bits, cap, max_fan_in, max_bits)
    for c in range(len(starts) - 1):
        a, b = starts[c], starts[c + 1]
        assert fan_in[c] == len(set(in_axon[in_ptr[a]:in_ptr[b]].tolist())) <= max_fan_in
        assert bits[c] == comp_bits[a:b].sum() <= max_bits
