"""hwsim vs Lava 0.10.0 fixed_pt (``Loihi2SimCfg(select_tag="fixed_pt")``): identical spikes, u and v.

The oracle is Lava's bit-accurate CPU models; every test builds an IR network, runs it in hwsim and,
through the small local helper :func:`run_lava`, as Lava processes (RingBuffer sources, Monitors),
then compares every recorded step. Randomised networks are drawn from seeded generators (the seed
is in the test id) and reach the edge values of du, dv, vth, bias, weight_exp and num_weight_bits
and the u-wrap / v-clip rules. Lava costs about 1 ms per step and process, plus ~0.3 s to start and
~16 us per value read, so networks are small and short.
"""
from __future__ import annotations

import numpy as np
import pytest

from hwsim import Network
from hwsim.program import chip_weights
from hwsim.simulator import Simulator

pytestmark = pytest.mark.lava


# ---------------------------------------------------------------------------------------------
# Lava side: IR network -> Lava processes (kept local and small; the exporter lives in hwsim/export)
# ---------------------------------------------------------------------------------------------
def _lava_shape(shape):
    """IR (C, H, W) populations are Lava (W, H, C) = (X, Y, C); everything else is flat."""
    return tuple(reversed(shape)) if len(shape) == 3 else (int(np.prod(shape)),)


def _to_lava(a, shape):
    """Per-compartment array in IR order -> Lava layout."""
    a = np.asarray(a).reshape(shape)
    return a.transpose(2, 1, 0) if len(shape) == 3 else a.reshape(-1)


def _from_lava(a, shape):
    """Monitor data (T, *lava_shape) -> (T, n) in IR order."""
    a = np.asarray(a)
    if len(shape) == 3:
        a = a.transpose(0, 3, 2, 1)
    return a.reshape(a.shape[0], -1)


def _sign_mode(name):
    from lava.utils.weightutils import SignMode
    return {"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY, "inhibitory": SignMode.INHIBITORY}[name]


def run_lava(net: Network, T: int, inputs: dict, pops=None):
    """Run ``net`` in Lava fixed_pt for T steps; return {pop: {"s", "u", "v"}} arrays (T, n) in IR order."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF, LIFReset, TernaryLIF
    from lava.proc.monitor.process import Monitor
    from lava.proc.sparse.process import DelaySparse, Sparse
    from scipy.sparse import csr_matrix

    procs = {}
    for name, node in net.inputs.items():
        x = np.asarray(inputs.get(name, np.zeros((T,) + node.shape, np.int32))).reshape((T,) + node.shape)
        data = np.stack([_to_lava(x[t], node.shape) for t in range(T)], axis=-1).astype(np.int32)
        procs[name] = RingBuffer(data=data)
    for name, p in net.populations.items():
        common = dict(shape=_lava_shape(p.shape), du=p.du, dv=p.dv, u=_to_lava(p.u_init, p.shape),
                      v=_to_lava(p.v_init, p.shape), bias_mant=_to_lava(p.bias_mant, p.shape),
                      bias_exp=_to_lava(p.bias_exp, p.shape), name=name)
        if p.kind == "lif":
            procs[name] = LIF(vth=p.vth, **common)
        elif p.kind == "lif_reset":
            procs[name] = LIFReset(vth=p.vth, reset_interval=p.reset_interval, reset_offset=p.reset_offset, **common)
        else:
            procs[name] = TernaryLIF(vth_hi=p.vth, vth_lo=p.vth_lo, **common)

    def flat_out(node_name):
        shape = net.node(node_name).shape
        port = procs[node_name].s_out
        return port.transpose([2, 1, 0]).flatten() if len(shape) == 3 else port

    def connect_in(a_out, dst_name):
        shape = net.node(dst_name).shape
        (a_out.reshape(shape).transpose([2, 1, 0]) if len(shape) == 3 else a_out).connect(procs[dst_name].a_in)

    spec = net.spec
    for proj in net.projections.values():
        kw = dict(weight_exp=proj.weight_exp, num_weight_bits=proj.num_weight_bits,
                  sign_mode=_sign_mode(proj.sign_mode), num_message_bits=spec.message_bits if proj.graded else 0)
        kind = type(proj).__name__
        if kind == "DenseProjection":
            if proj.delays is None:
                c = Dense(weights=proj.weights, **kw)
            else:
                c = DelayDense(weights=proj.weights, delays=proj.delays, **kw)
            flat_out(proj.src).connect(c.s_in)
            connect_in(c.a_out, proj.dst)
        elif kind == "SparseProjection":
            shape = (proj.n_dst, proj.n_src)
            w = csr_matrix((proj.weights, (proj.dst_index, proj.src_index)), shape=shape)
            if proj.delays is None:
                c = Sparse(weights=w, **kw)
            else:
                d = csr_matrix((proj.delays, (proj.dst_index, proj.src_index)), shape=shape)
                c = DelaySparse(weights=w, delays=d, **kw)
            flat_out(proj.src).connect(c.s_in)
            connect_in(c.a_out, proj.dst)
        elif proj.weight_exp != 0 or not np.array_equal(
                chip_weights(proj.weights, proj.sign_mode, proj.num_weight_bits, spec), proj.weights):
            # Lava's Conv ignores weight_exp and num_weight_bits: use the equivalent Sparse (sums of
            # binary spikes stay far below the conv's 24-bit wrap)
            dst, src, w, _ = _conv_as_sparse(proj.weights, net.node(proj.src).shape, proj.stride, proj.padding,
                                             proj.dilation, proj.groups)
            c = Sparse(weights=csr_matrix((w, (dst, src)), shape=(net.node(proj.dst).size, net.node(proj.src).size)),
                       **kw)
            flat_out(proj.src).connect(c.s_in)
            connect_in(c.a_out, proj.dst)
        else:  # conv: Lava wants (C_out, KX, KY, C_in/g), flipped (true convolution), (X, Y) pairs
            w = proj.weights[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)
            src_shape = net.node(proj.src).shape
            c = Conv(weight=np.ascontiguousarray(w), input_shape=_lava_shape(src_shape),
                     stride=proj.stride[::-1], padding=proj.padding[::-1], dilation=proj.dilation[::-1],
                     groups=proj.groups, weight_exp=proj.weight_exp, num_weight_bits=proj.num_weight_bits,
                     num_message_bits=spec.message_bits if proj.graded else 0)
            procs[proj.src].s_out.connect(c.s_in)
            c.a_out.connect(procs[proj.dst].a_in)
    # Lava runs only the connected component of the process it is started from: tie the others to
    # it with all-zero Dense processes (they add nothing)
    root = {k: k for k in procs}

    def find(k):
        while root[k] != k:
            k = root[k]
        return k

    for proj in net.projections.values():
        root[find(proj.src)] = find(proj.dst)
    names = list(procs)
    for name in names[1:]:
        if name in net.populations and find(name) != find(names[0]):
            first_node = net.node(names[0])
            c = Dense(weights=np.zeros((net.node(name).size, first_node.size), np.int64))
            flat_out(names[0]).connect(c.s_in)
            connect_in(c.a_out, name)
            root[find(name)] = find(names[0])
    pops = list(net.populations) if pops is None else pops
    monitors = {}
    for name in pops:
        for var in ("u", "v", "s_out"):
            m = Monitor()
            m.probe(getattr(procs[name], var), T)
            monitors[(name, var)] = m
    first = next(iter(procs.values()))
    first.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    try:
        out = {}
        for name in pops:
            shape = net.populations[name].shape
            got = {}
            for var, key in (("u", "u"), ("v", "v"), ("s_out", "s")):
                data = monitors[(name, var)].get_data()[name][var]
                got[key] = _from_lava(data, shape).astype(np.int64)
            out[name] = got
    finally:
        first.stop()
    return out


def assert_same(net, T, inputs, seed_note="", sim_kwargs=None):
    """Run hwsim and Lava on the same network and input; every step of s, u, v must agree."""
    for p in net.populations:
        for var in ("u", "v"):
            if not any(pr.target == p and pr.var == var for pr in net.probes):
                net.add_probe(p, var)
    rec = Simulator(net, **(sim_kwargs or {})).run(T, inputs=inputs)
    ref = run_lava(net, T, inputs)
    for p in net.populations:
        for key, mine in (("s", rec.spikes[p]), ("u", rec.probes[(p, "u")]), ("v", rec.probes[(p, "v")])):
            theirs = ref[p][key]
            if not np.array_equal(mine.astype(np.int64), theirs):
                bad = np.argwhere(mine.astype(np.int64) != theirs)
                t, i = bad[0]
                raise AssertionError(f"{seed_note} population {p!r} {key} differs first at row {t}, compartment {i}: "
                                     f"hwsim {mine[t, i]} vs Lava {theirs[t, i]} ({len(bad)} entries differ)")
    return rec, ref


# ---------------------------------------------------------------------------------------------
# randomised networks
# ---------------------------------------------------------------------------------------------
EDGE_DU = (-1, 0, 4095)
EDGE_DV = (0, 4096)


def _rand_pop(net, rng, name, shape, kind="lif", **over):
    n = int(np.prod(shape))
    du = int(rng.choice([*EDGE_DU, rng.integers(1, 4095)]))
    dv = int(rng.choice([*EDGE_DV, rng.integers(1, 4096)]))
    kw = dict(du=du, dv=dv, vth=int(rng.choice([0, 1, rng.integers(2, 400), (1 << 17) - 1])),
              bias_mant=rng.integers(-40, 41, n) * rng.integers(0, 2), bias_exp=rng.integers(0, 8, n),
              u_init=rng.integers(-5000, 5000, n), v_init=rng.integers(-5000, 5000, n), kind=kind)
    kw.update(over)
    return net.add_population(name, shape, **kw)


def _rand_weights(rng, shape, sign_mode):
    w = rng.integers(-256, 256, shape)
    if sign_mode == "excitatory":
        w = np.abs(w) % 256
    elif sign_mode == "inhibitory":
        w = -(np.abs(w) % 256)
    w[rng.random(shape) < 0.2] = 0
    return w


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_dense_lif_random(lava, seed):
    """Two dense layers plus a recurrent projection; random sign modes, exponents, weight bits and
    states; over the seeds every edge du (-1, 0, 4095), dv (0, 4096), vth (0, 2**17 - 1) and bias
    mantissa (-4096, 4095) occurs."""
    rng = np.random.default_rng(seed)
    net = Network()
    net.add_input("in", 12)
    bias = rng.integers(-40, 41, 9) * rng.integers(0, 2)
    bias[seed % 9] = (-4096, 4095, 0, 17)[seed]
    _rand_pop(net, rng, "h", 9, du=EDGE_DU[seed % 3], dv=EDGE_DV[seed % 2], vth=int(rng.integers(50, 300)),
              bias_mant=bias)
    _rand_pop(net, rng, "o", 5, du=EDGE_DU[(seed + 1) % 3], dv=EDGE_DV[(seed + 1) % 2],
              vth=(0, 1, 77, (1 << 17) - 1)[seed])
    modes = rng.permutation(["mixed", "excitatory", "inhibitory"])
    net.connect_dense("w1", "in", "h", _rand_weights(rng, (9, 12), "mixed"), sign_mode="mixed",
                      weight_exp=int(rng.integers(-3, 4)), num_weight_bits=int(rng.integers(5, 9)))
    net.connect_dense("w2", "h", "o", _rand_weights(rng, (5, 9), modes[0]), sign_mode=modes[0],
                      weight_exp=int(rng.integers(-8, 8)), num_weight_bits=int(rng.integers(1, 9)))
    net.connect_dense("rec", "h", "h", _rand_weights(rng, (9, 9), modes[1]), sign_mode=modes[1],
                      weight_exp=int(rng.integers(-4, 3)), num_weight_bits=8)
    x = (rng.random((30, 12)) < 0.4).astype(np.int8)
    assert_same(net, 30, {"in": x}, f"seed={seed}")


def test_wrap_and_clip(lava):
    """Large weights with weight_exp=7 and a large bias drive u through its wrap (including the
    int32 wrap of a << 6) and v into its clip; the overflow counters see them."""
    rng = np.random.default_rng(7)
    net = Network()
    net.add_input("in", 40)
    net.add_population("a", 6, du=-1, dv=0, vth=(1 << 17) - 1, bias_mant=[4095, -4096, 0, 4095, -4096, 100],
                       bias_exp=[7, 7, 0, 7, 7, 3])
    net.add_population("b", 4, du=0, dv=4096, vth=(1 << 17) - 1)
    net.connect_dense("w", "in", "a", rng.integers(-256, 256, (6, 40)), weight_exp=7)
    net.connect_dense("w2", "in", "b", np.full((4, 40), 255), weight_exp=7, sign_mode="excitatory")
    net.connect_dense("w3", "in", "b", np.full((4, 40), 255), weight_exp=7, sign_mode="excitatory")
    x = (rng.random((25, 40)) < 0.9).astype(np.int8)
    rec, _ = assert_same(net, 25, {"in": x})
    assert rec.overflow["a"] > 0 and rec.overflow["b"] > 0


def test_u_wrap_boundary_values(lava):
    """u lands exactly on 2**23 (kept by Lava), on -2**23 (wrapped to +2**23) and just past both."""
    h = 1 << 23
    net = Network()
    net.add_input("in", 2)
    net.add_population("p", 4, du=-1, dv=4096, vth=(1 << 17) - 1,
                       u_init=[h - 64, -h + 64, h - 1, -h + 1])
    w = np.array([[2, 0], [0, -2], [2, 0], [0, -2]])   # a = +-1: 2 * 2**-1 (mixed drops the LSB of odd weights)
    net.connect_dense("w", "in", "p", w, num_weight_bits=8, sign_mode="mixed", weight_exp=-1)
    x = np.array([[0, 0], [1, 1], [0, 0], [1, 1], [1, 1]], np.int8)
    rec, _ = assert_same(net, 5, {"in": x})
    u = rec.probes[("p", "u")]
    assert (u == h).sum() >= 2 and rec.overflow["p"] >= 2


def test_sparse_and_delays(lava):
    """Sparse, DelayDense and DelaySparse projections (delays 0..7), binary spikes."""
    rng = np.random.default_rng(11)
    net = Network()
    net.add_input("in", 10)
    _rand_pop(net, rng, "h", 8, du=100, dv=300, vth=60)
    _rand_pop(net, rng, "o", 6, du=0, dv=1000, vth=40)
    nnz = 30
    flat = rng.choice(8 * 10, nnz, replace=False)
    net.connect_sparse("sp", "in", "h", flat // 10, flat % 10, rng.integers(-256, 256, nnz), weight_exp=-1,
                       num_weight_bits=7)
    net.connect_dense("dd", "in", "o", _rand_weights(rng, (6, 10), "mixed"), delays=rng.integers(0, 8, (6, 10)),
                      weight_exp=1)
    flat = rng.choice(6 * 8, 20, replace=False)
    net.connect_sparse("ds", "h", "o", flat // 8, flat % 8, rng.integers(0, 256, 20), delays=rng.integers(0, 6, 20),
                       sign_mode="excitatory", weight_exp=-2)
    x = (rng.random((30, 10)) < 0.5).astype(np.int8)
    assert_same(net, 30, {"in": x})


def test_graded_inputs_every_synapse_kind(lava):
    """Graded payloads (up to the 24-bit message range) into Dense, Sparse, DelayDense and DelaySparse
    with weight_exp -7/-8: the int32 wrap of Lava's graded sums before the shift (Dense, Sparse,
    DelaySparse) and its absence in DelayDense (int64 sum of int32 products) are reproduced."""
    rng = np.random.default_rng(5)
    net = Network()
    net.add_input("g", 6, graded=True)
    for name in ("a", "b", "c", "d"):
        net.add_population(name, 4, du=4095, dv=4096, vth=(1 << 17) - 1)
    w = np.array(rng.integers(-256, 256, (4, 6)))
    w[0] = 255
    # weight_exp < -6: a wrong 32-bit wrap before the shift would survive LIF's int32 (a << 6)
    net.connect_dense("dense", "g", "a", w, weight_exp=-8, num_weight_bits=8)
    net.connect_sparse("sparse", "g", "b", np.repeat(np.arange(4), 6), np.tile(np.arange(6), 4), w.reshape(-1),
                       weight_exp=-7)
    net.connect_dense("ddense", "g", "c", w, delays=rng.integers(0, 3, (4, 6)), weight_exp=-7)
    net.connect_sparse("dsparse", "g", "d", np.repeat(np.arange(4), 6), np.tile(np.arange(6), 4), w.reshape(-1),
                       delays=rng.integers(0, 3, 24), weight_exp=-8)
    lo, hi = net.spec.message_range
    x = rng.integers(-300, 300, (12, 6))
    x[2] = hi
    x[4] = lo
    x[6, :3] = hi
    x[6, 3:] = lo
    assert_same(net, 12, {"g": x})


def test_graded_sum_wrap_is_counted_and_raises(lava):
    """Issue 12 item 8: two graded inputs of 2**23 - 1 through weight 255 (weight_exp -8): Lava's int32
    graded sum wraps (u gets -65538 << 6 instead of 16711678 << 6); hwsim does the same, counts the
    wrap in ``overflow`` of the destination, and ``overflow='raise'`` stops on it."""
    from hwsim.overflow import SynapseOverflowError

    net = Network()
    net.add_input("g", 2, graded=True)
    net.add_population("p", 1, du=4095, dv=4096, vth=(1 << 17) - 1)
    net.add_population("q", 2, du=4095, dv=4096, vth=(1 << 17) - 1)
    net.connect_dense("w", "g", "p", np.array([[255, 255]]), weight_exp=-8)
    net.connect_sparse("s", "g", "q", [0, 0, 1], [0, 1, 1], [255, 255, 3], weight_exp=-8)
    x = np.zeros((4, 2), np.int64)
    x[0] = x[2] = (1 << 23) - 1
    rec, ref = assert_same(net, 4, {"g": x})
    assert ref["p"]["u"][1, 0] == -65538 << 6            # Lava wraps ...
    assert rec.overflow == {"p": 2, "q": 2}              # ... and hwsim counts each wrap (steps 1 and 3)
    x1 = np.minimum(x, 1000)                             # no wrap (and no u overflow): nothing counted
    assert Simulator(net).run(4, inputs={"g": x1}).overflow == {"p": 0, "q": 0}
    with pytest.raises(SynapseOverflowError, match=r"projection 'w' -> population 'p': the synaptic input sent "
                                                   r"at time step 1 \(record row 0\)"):
        Simulator(net, overflow="raise").run(4, inputs={"g": x})


def test_conv_vs_lava_conv(lava):
    """Conv with stride, padding, dilation and groups (weight_exp=0, weights exact under truncation),
    binary spikes from a (C, H, W) input and graded spikes from a ternary population."""
    rng = np.random.default_rng(3)
    net = Network()
    net.add_input("img", (2, 7, 6))
    net.add_population("c1", (4, 4, 3), du=500, dv=200, vth=30)
    w1 = rng.integers(-128, 128, (4, 1, 3, 2)) * 2            # even: MIXED truncation keeps them
    net.connect_conv("k1", "img", "c1", w1, stride=(2, 2), padding=(1, 1), dilation=(1, 2), groups=2)
    net.add_population("t", (2, 5, 4), du=300, dv=600, vth=20, vth_lo=-20, kind="ternary_lif")
    w2 = rng.integers(0, 256, (2, 2, 3, 3))
    net.connect_conv("k2", "img", "t", w2, padding=(0, 0), stride=(1, 1), sign_mode="excitatory")
    net.add_population("c2", (3, 3, 2), du=1000, dv=1000, vth=10)
    w3 = rng.integers(-128, 128, (3, 2, 3, 3)) * 2
    net.connect_conv("k3", "t", "c2", w3, stride=(1, 1), dilation=(1, 1))   # graded from ternary
    # graded input: sums pass 2**23, so the conv's 24-bit wrap shows (and stay below 2**31, where
    # Lava's float64 -> int32 cast would be undefined)
    net.add_input("gimg", (2, 5, 5), graded=True)
    net.add_population("cg", (2, 3, 3), du=4095, dv=4096, vth=(1 << 17) - 1)
    net.connect_conv("kg", "gimg", "cg", rng.choice([-254, 254], (2, 2, 3, 3)))
    x = (rng.random((20, 2, 7, 6)) < 0.5).astype(np.int8)
    g = rng.integers(-(1 << 16), 1 << 16, (20, 2, 5, 5))
    rec, _ = assert_same(net, 20, {"img": x, "gimg": g})
    assert np.abs(rec.probes[("cg", "u")]).max() > (1 << 22)


def _conv_as_sparse(weights, in_shape, stride, padding, dilation, groups):
    """(dst, src, w) of a torch conv2d, found by convolving one-hot inputs with torch itself."""
    import torch
    n_in = int(np.prod(in_shape))
    eye = torch.eye(n_in, dtype=torch.float64).reshape((n_in,) + tuple(in_shape))
    out = torch.nn.functional.conv2d(eye, torch.tensor(weights, dtype=torch.float64), stride=stride,
                                     padding=padding, dilation=dilation, groups=groups)
    dense = out.reshape(n_in, -1).numpy().T.round().astype(np.int64)   # (n_dst, n_src)
    dst, src = np.nonzero(dense)
    return dst, src, dense[dst, src], out.shape[1:]


def test_conv_vs_lava_sparse_with_weight_exp(lava):
    """This IR's conv applies weight_exp and num_weight_bits like Dense: it equals Lava's Sparse built
    from the same (pre-truncated) conv, with weight_exp != 0."""
    rng = np.random.default_rng(9)
    in_shape = (2, 6, 5)
    w = rng.integers(-256, 256, (4, 1, 3, 3))
    args = dict(stride=(1, 2), padding=(1, 0), dilation=(2, 1), groups=2)
    for weight_exp, nwb in ((-2, 6), (3, 8)):
        wq = chip_weights(w, "mixed", nwb, Network().spec)
        dst, src, ws, out_shape = _conv_as_sparse(wq, in_shape, **args)
        net_conv = Network()
        net_conv.add_input("x", in_shape)
        net_conv.add_population("p", tuple(out_shape), du=2000, dv=3000, vth=100)
        net_conv.connect_conv("k", "x", "p", w, weight_exp=weight_exp, num_weight_bits=nwb, sign_mode="mixed", **args)
        net_sp = Network()
        net_sp.add_input("x", in_shape)
        net_sp.add_population("p", tuple(out_shape), du=2000, dv=3000, vth=100)
        # wq is already truncated; pass it with num_weight_bits=8 would truncate the LSB again, so use
        # the same num_weight_bits: truncation is idempotent
        net_sp.connect_sparse("k", "x", "p", dst, src, ws, weight_exp=weight_exp, num_weight_bits=nwb,
                              sign_mode="mixed")
        x = (rng.random((15,) + in_shape) < 0.5).astype(np.int8)
        net_conv.add_probe("p", "u")
        net_conv.add_probe("p", "v")
        rec_conv = Simulator(net_conv).run(15, inputs={"x": x})
        rec_sp, ref = assert_same(net_sp, 15, {"x": x}, f"weight_exp={weight_exp}")
        np.testing.assert_array_equal(rec_conv.spikes["p"], rec_sp.spikes["p"])
        np.testing.assert_array_equal(rec_conv.probes[("p", "u")], ref["p"]["u"])
        np.testing.assert_array_equal(rec_conv.probes[("p", "v")], ref["p"]["v"])


def test_ternary_and_reset(lava):
    """TernaryLIF (-1 spikes through a graded Dense), LIFReset with interval/offset, recurrent ternary."""
    rng = np.random.default_rng(21)
    net = Network()
    net.add_input("in", 8)
    net.add_population("t", 6, du=200, dv=500, vth=30, vth_lo=-25, kind="ternary_lif",
                       bias_mant=rng.integers(-20, 20, 6), bias_exp=3)
    net.add_population("r", 5, du=0, dv=100, vth=20, kind="lif_reset", reset_interval=4, reset_offset=6)
    net.add_population("r1", 3, du=4095, dv=4096, vth=5, kind="lif_reset", reset_interval=1, reset_offset=0)
    net.connect_dense("w1", "in", "t", rng.integers(-256, 256, (6, 8)))
    net.connect_dense("w2", "t", "r", rng.integers(-256, 256, (5, 6)), weight_exp=1)
    net.connect_dense("w3", "t", "t", rng.integers(-100, 100, (6, 6)))
    net.connect_dense("w4", "in", "r1", rng.integers(0, 256, (3, 8)), sign_mode="excitatory")
    x = (rng.random((24, 8)) < 0.5).astype(np.int8)
    rec, _ = assert_same(net, 24, {"in": x})
    assert (rec.spikes["t"] == -1).any() and (rec.spikes["t"] == 1).any()


def _random_network(seed):
    import importlib.util
    import pathlib
    spec = importlib.util.spec_from_file_location("hwsim_tests_randnet", pathlib.Path(__file__).with_name("randnet.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.random_network(seed)


@pytest.mark.parametrize("seed", [3, 6, 10, 11])   # seeds with long runs, overflows and every projection kind
def test_random_mixed_networks(lava, seed):
    """The random networks of the numpy-reference test (every projection kind, delays, graded and
    ternary sources, LIFReset, recurrence, random u/v anywhere in 24 bits) against Lava itself."""
    net, T, inputs = _random_network(seed)
    assert_same(net, T, inputs, f"randnet seed={seed}")
