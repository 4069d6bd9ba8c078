"""The readout, error and learning compartment kinds (docs/compartments.md) against a slow pure-Python
transcription of that page: random circuits (hypothesis) of a LIF layer, its learning compartments, a
readout with its error compartments, labels and graded feedback, stochastic rounding with several
seeds and shifts, LUT edges and voltage delays; third factors read from those populations by 3F
learning projections (the learning arithmetic is :class:`LearningDenseEngine`'s, Lava-verified in
test_learning_lava.py); and the IR's validation of the new kinds.

The reference shares no code with the kernels: its random bits, rounding, LIF update and message
passing are written here from the specification.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim import Network, SpecError
from hwsim.learning import LearningDenseEngine, LearningRule
from hwsim.simulator import Simulator

M64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------------
# the specification, in plain Python integers
# ---------------------------------------------------------------------------------------------
def mix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def rbits(seed: int, t: int, c: int) -> int:
    return mix(mix(seed ^ ((t * 0xD1B54A32D192ED03) & M64)) ^ c)


def sr(z: int, s: int, seed: int, t: int, c: int) -> int:
    if s <= 0:
        return z * 2 ** (-s)
    q = z // 2 ** s                       # floor
    rem = z - q * 2 ** s
    r = rbits(seed, t, c) >> (64 - s)
    return q + (1 if r < rem else 0)


def clip_y(x: int, tb: int = 7) -> int:
    return max(-(2 ** tb), min(2 ** tb - 1, x))


def wrap32(x):
    return ((np.asarray(x, np.int64) + 2 ** 31) % 2 ** 32) - 2 ** 31


def lif(u, v, a, du, dv, vth, spiking=True):
    """Lava's LIF (bias 0) on int64 arrays: (u, v_after_reset, vpre, s)."""
    p = u * (4096 - (du + 1))
    uc = wrap32(np.sign(p) * (np.abs(p) >> 12) + wrap32(a * 64))
    w = np.where(uc > 2 ** 23, uc - 2 ** 24, uc)
    u = np.where(w <= -2 ** 23, uc + 2 ** 24, w)
    q = v * (4096 - dv)
    vn = np.clip(wrap32(np.sign(q) * (np.abs(q) >> 12) + u), -(2 ** 23 - 1), 2 ** 23 - 1)
    s = (vn > vth * 64) if spiking else np.zeros_like(vn, bool)
    return u, np.where(s, 0, vn), vn, s.astype(np.int64)


def truncate(w, nwb=8, sign_mode="mixed"):
    """Lava's truncation of the low weight bits (inhibitory weights do not occur here)."""
    ntb = 8 - nwb + (sign_mode == "mixed")
    return (np.asarray(w, np.int64) >> ntb) << ntb


def reference(net: Network, inputs: dict, T: int, resets=()):
    """Step the circuit: per step every projection delivers what it accumulated at t-1, then the
    populations update in order (partners first), then every projection accumulates the step's
    outputs (spikes, or graded y) and learning projections learn (with y of this step); a mirror
    sends its source's y of the step back through its projection's weights before that step's
    learning. Before each step in ``resets`` the dynamic state is zeroed (a host's reset between
    samples: u, v, pending inputs, vpre history, learning traces; weights and tags stay)."""
    pops = net.populations
    st_u = {k: np.zeros(p.size, np.int64) for k in pops for p in [pops[k]]}
    st_v = {k: np.zeros(p.size, np.int64) for k, p in pops.items()}
    hist = {k: {} for k in pops}                      # vpre per step, per LIF population
    out = {k: np.zeros(p.size, np.int64) for k, p in pops.items()}   # spikes or y of the step
    buf = {q: np.zeros(net.node(p.dst).size, np.int64) for q, p in net.projections.items()}
    buf.update({q: np.zeros(net.node(m.dst).size, np.int64) for q, m in net.mirrors.items()})
    eng = {q: LearningDenseEngine(p.weights, p.learning, weight_exp=p.weight_exp, num_weight_bits=p.num_weight_bits,
                                  sign_mode=p.sign_mode) for q, p in net.projections.items() if p.learning is not None}
    rec = {k: {"s": [], "v": [], "y": []} for k in pops}
    for t in range(1, T + 1):
        if t in resets:
            for d in (st_u, st_v, out, buf):        # new arrays: the records hold the old ones
                for key in d:
                    d[key] = np.zeros_like(d[key])
            for k in hist:
                hist[k].clear()
            for e in eng.values():
                e.reset_traces()
        a_in = {k: np.zeros(p.size, np.int64) for k, p in pops.items()}
        for q, p in net.projections.items():
            a_in[p.dst] = wrap32(a_in[p.dst] + buf[q])
        for q, m in net.mirrors.items():
            a_in[m.dst] = wrap32(a_in[m.dst] + buf[q])
        for k, p in pops.items():
            a = a_in[k]
            y = np.zeros(p.size, np.int64)
            if p.kind in ("lif", "readout"):
                st_u[k], st_v[k], vpre, s = lif(st_u[k], st_v[k], a, p.du, p.dv, p.vth, p.kind == "lif")
                hist[k][t] = vpre
                out[k] = s
            elif p.kind == "error":
                vp = st_v[p.partner]
                for c in range(p.size):
                    y[c] = clip_y(sr(int(vp[c]) - p.tgt * int(a[c]), p.shift, p.seed, t, c))
                out[k] = y
            elif p.kind == "learning":
                partner = pops[p.partner]
                vp = hist[p.partner].get(t - p.delay, np.zeros(p.size, np.int64))
                L = len(p.lut)
                for c in range(p.size):
                    idx = ((int(vp[c]) - partner.vth * 64) >> p.lut_shift) + L // 2
                    if a[c] != 0 and 0 <= idx < L:
                        y[c] = clip_y(sr(int(a[c]) * p.lut[idx], p.shift, p.seed, t, c))
                out[k] = y
            rec[k]["s"].append(out[k] if p.kind == "lif" else np.zeros(p.size, np.int64))
            rec[k]["v"].append(st_v[k].copy())
            rec[k]["y"].append(y)
        for q, m in net.mirrors.items():      # the weights before this step's learning, transposed
            acc = eng[m.of].weights.astype(np.int64).T @ out[m.src]
            e = m.weight_exp
            buf[q] = wrap32(acc << e if e >= 0 else acc >> -e)
        for q, p in net.projections.items():
            if p.src in net.inputs:
                x = np.asarray(inputs.get(p.src, np.zeros((T, net.node(p.src).size))), np.int64)[t - 1]
            else:
                x = out[p.src]
            if q in eng:
                ys = {f: out[src] for f, src in p.third_factor.items()}
                eng[q].step(t, x != 0, **ys)
                buf[q] = eng[q].a_pending.astype(np.int64)
            else:
                acc = truncate(p.weights, p.num_weight_bits, p.sign_mode) @ (x if p.graded else (x != 0).astype(np.int64))
                e = p.weight_exp
                buf[q] = wrap32(acc << e if e >= 0 else acc >> -e)
    res = {k: {n: np.array(a) for n, a in d.items()} for k, d in rec.items()}
    return res, eng


# ---------------------------------------------------------------------------------------------
# random circuits
# ---------------------------------------------------------------------------------------------
def circuit(seed, n_in=7, n_h=6, C=3, es=3, sh=4, delay=0, lut_shift=6, learn=False, feedback_from="error",
            tgt=900):
    rng = np.random.default_rng(seed)
    net = Network(name=f"kinds{seed}")
    net.add_input("x", n_in)
    net.add_input("label", C)
    net.add_population("h", n_h, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4097)),
                       vth=int(rng.integers(20, 200)))
    rule = LearningRule(dw="2^-2*u0*x1*y2", x1_impulse=40, x1_tau=6, rng_seed=int(seed) + 3, kind="3F")
    kw = dict(learning=rule, third_factor={"y2": "hl"}) if learn else {}
    net.add_learning_compartment("hl", "h", lut=rng.integers(0, 256, int(rng.integers(1, 12))), lut_shift=lut_shift,
                                 sh=sh, delay=delay, seed=int(seed) * 7 + 1)
    net.connect_dense("w", "x", "h", rng.integers(-100, 200, (n_h, n_in)), **kw)
    net.add_readout("o", C, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4097)))
    net.add_error("e", "o", tgt=tgt, es=es, seed=int(seed) + 11)
    kw = dict(learning=LearningRule(dw="-2^-1*u0*x1*y2", x1_impulse=30, x1_tau=4, rng_seed=int(seed) + 5, kind="3F"),
              third_factor={"y2": "e"}) if learn else {}
    net.connect_dense("head", "h", "o", rng.integers(-120, 120, (C, n_h)), **kw)
    net.connect_dense("lab", "label", "e", np.eye(C, dtype=np.int64))
    if feedback_from == "error":
        net.connect_dense("fb", "e", "hl", rng.integers(-60, 60, (n_h, C)), sign_mode="mixed")
    elif feedback_from == "mirror":
        net.add_mirror("fb", "head", "e", "hl", weight_exp=int(rng.integers(-3, 2)))
    T = 40
    x = (rng.random((T, n_in)) < 0.4).astype(np.int8)
    labels = np.zeros((T, C), np.int8)
    labels[np.arange(T), rng.integers(0, C, T)] = 1
    return net, {"x": x, "label": labels}, T


def check(net, inputs, T):
    probes = [(k, var) for k in net.populations for var in ("v", "y")]
    rec = Simulator(net).run(T, inputs=inputs, probes=probes)
    ref, eng = reference(net, inputs, T)
    for k, p in net.populations.items():
        if p.kind == "lif":
            np.testing.assert_array_equal(rec.spikes[k], ref[k]["s"], err_msg=f"{k}.s")
        np.testing.assert_array_equal(rec.probes[(k, "v")], ref[k]["v"] if p.kind in ("lif", "readout")
                                      else np.zeros_like(ref[k]["v"]), err_msg=f"{k}.v")
        np.testing.assert_array_equal(rec.probes[(k, "y")], ref[k]["y"], err_msg=f"{k}.y")
    for q, e in eng.items():
        np.testing.assert_array_equal(rec.weights[q], e.weights, err_msg=f"{q}.weights")
    return rec, ref


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 16), es=st.integers(-32, 9), sh=st.integers(-32, 10), delay=st.integers(0, 2),
       lut_shift=st.integers(4, 12), tgt=st.integers(0, 5000))
def test_kinds_match_the_specification(seed, es, sh, delay, lut_shift, tgt):
    net, x, T = circuit(seed, es=es, sh=sh, delay=delay, lut_shift=lut_shift, tgt=tgt)
    rec, ref = check(net, x, T)
    HITS.append(int((ref["hl"]["y"] != 0).sum()))


HITS = []


def test_the_property_test_saw_learning_outputs():
    """Guard against a vacuous property test: most drawn circuits produce non-zero learning outputs."""
    if not HITS:
        pytest.skip("run together with test_kinds_match_the_specification")
    assert sum(h > 0 for h in HITS) >= len(HITS) // 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_third_factors_from_error_and_learning_populations(seed):
    net, x, T = circuit(seed, learn=True)
    rec, ref = check(net, x, T)
    assert np.any(ref["hl"]["y"] != 0) and np.any(ref["e"]["y"] < 0) and np.any(ref["e"]["y"] > 0)
    w0 = truncate(net.projections["head"].weights)
    assert np.any(rec.weights["head"] != w0) and np.any(rec.weights["w"] != truncate(net.projections["w"].weights))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mirror_sends_back_through_the_learning_weights(seed):
    """A mirror (OTTT's mirrored feedback) reads its projection's weights of the step, transposed."""
    net, x, T = circuit(seed, learn=True, feedback_from="mirror", delay=seed % 3, lut_shift=11, sh=2)
    rec, ref = check(net, x, T)
    assert np.any(ref["hl"]["y"] != 0)
    w0 = truncate(net.projections["head"].weights)
    assert np.any(rec.weights["head"] != w0)
    per = rec.counters.per_population()
    n_y = int((ref["e"]["y"] != 0).sum())
    assert per["hl"]["synaptic_ops"] == n_y * net.populations["hl"].size    # mirror ops on the dst's cores


def test_mirror_hdf5_round_trip_and_validation(tmp_path):
    from hwsim.io import diff_networks, load_network, save_network
    net, x, T = circuit(0, learn=True, feedback_from="mirror")
    path = save_network(net, tmp_path / "m.h5")
    back = load_network(path)
    assert diff_networks(net, back) == [] and list(back.mirrors) == ["fb"]
    with pytest.raises(SpecError, match="not a learning projection"):
        net.add_mirror("m2", "lab", "e", "hl")
    with pytest.raises(SpecError, match="already has a mirror"):
        net.add_mirror("m2", "head", "e", "hl")
    with pytest.raises(SpecError, match="must be an error / learning population"):
        net.add_mirror("m2", "w", "h", "hl")
    with pytest.raises(SpecError, match="compartments, projection 'w' has 6 destinations"):
        net.add_mirror("m2", "w", "e", "hl")


def test_reset_dynamics_between_samples_keeps_what_was_learned():
    net, x, T = circuit(5, learn=True, feedback_from="mirror", delay=2, lut_shift=11, sh=2)
    sim = Simulator(net)
    probes = [(k, var) for k in net.populations for var in ("v", "y")]
    a = sim.run(20, inputs={k: v[:20] for k, v in x.items()}, probes=probes)
    sim.reset_dynamics()
    b = sim.run(T - 20, inputs={k: v[20:] for k, v in x.items()}, probes=probes)
    ref, eng = reference(net, x, T, resets={21})
    for k, p in net.populations.items():
        for var in ("v", "y"):
            got = np.concatenate([a.probes[(k, var)], b.probes[(k, var)]])
            want = ref[k][var] if var == "y" or p.kind in ("lif", "readout") else np.zeros_like(ref[k][var])
            np.testing.assert_array_equal(got, want, err_msg=f"{k}.{var}")
    for q, e in eng.items():
        np.testing.assert_array_equal(b.weights[q], e.weights, err_msg=q)
    ref_no, _ = reference(net, x, T)
    assert not np.array_equal(ref_no["h"]["v"], ref["h"]["v"])      # the reset changed the run


def test_add_tags_to_weights():
    net = Network(name="tags")
    net.add_input("x", 3)
    net.add_input("g", 2, graded=True)
    net.add_population("h", 2, du=4095, dv=4096, vth=1000)
    rule = LearningRule(dt="2^3*u0*x1*y2", x1_impulse=60, x1_tau=0, rng_seed=1, kind="3F")
    net.connect_dense("w", "x", "h", np.array([[250, 0, -250], [2, 4, 6]]), learning=rule, third_factor={"y2": "g"})
    sim = Simulator(net)
    T = 6
    r = sim.run(T, inputs={"x": np.ones((T, 3)), "g": np.tile([[40, -40]], (T, 1))})
    tag = r.tags["w"]["tag_1"].astype(np.int64)
    w = r.weights["w"].astype(np.int64)
    assert np.any(tag != 0)
    n = sim.add_tags_to_weights()
    after = sim.learned_weights()["w"][0].astype(np.int64)
    np.testing.assert_array_equal(after, np.clip(w + tag, -256, 255))
    assert n == {"w": int(np.count_nonzero(after != w))}
    r2 = sim.run(1, inputs={"x": np.zeros((1, 3))})
    np.testing.assert_array_equal(r2.tags["w"]["tag_1"], 0)
    with pytest.raises(ValueError, match="not learning projections"):
        sim.add_tags_to_weights(["nope"])


def test_outputs_are_exercised():
    """The random circuits reach every branch: clipped errors, zero feedback, LUT misses and hits."""
    net, x, T = circuit(4, es=0, sh=0, lut_shift=9)
    rec, ref = check(net, x, T)
    y_e, y_l = ref["e"]["y"], ref["hl"]["y"]
    assert (np.abs(y_e) == 128).any() or (y_e == 127).any()
    assert (y_l != 0).any() and (y_l == 0).any()


def test_batch_and_counters():
    net, x, T = circuit(5, learn=True)
    B = 3
    xb = {k: np.repeat(v[:, None], B, axis=1) for k, v in x.items()}
    rec = Simulator(net).run(T, inputs=xb, probes=[("e", "y")])
    one = Simulator(net).run(T, inputs=x, probes=[("e", "y")])
    for b in range(B):
        np.testing.assert_array_equal(rec.probes[("e", "y")][:, b], one.probes[("e", "y")])
        np.testing.assert_array_equal(rec.weights["w"][b], one.weights["w"])
    per = one.counters.per_population()
    assert per["e"]["spikes"] == int((one.probes[("e", "y")] != 0).sum())    # one message per non-zero y
    assert per["o"]["spikes"] == 0


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def base():
    net = Network()
    net.add_input("x", 4)
    net.add_input("g", 3, graded=True)
    net.add_population("h", 3)
    net.add_readout("o", 3)
    return net


@pytest.mark.parametrize("call, match", [
    (lambda n: n.add_error("e", "h", tgt=1, es=0), r"partner='h' is a 'lif' population; expected one of \('readout',\)"),
    (lambda n: n.add_error("e", "nope", tgt=1, es=0), r"partner='nope' is not a population"),
    (lambda n: n.add_error("e", "o", tgt=-1, es=0), r"tgt=-1 is outside"),
    (lambda n: n.add_error("e", "o", tgt=1, es=63), r"es=63 is outside"),
    (lambda n: n.add_learning_compartment("l", "o", lut=[1], lut_shift=0, sh=0), r"partner='o' is a 'readout'"),
    (lambda n: n.add_learning_compartment("l", "h", lut=[256], lut_shift=0, sh=0), r"lut"),
    (lambda n: n.add_learning_compartment("l", "h", lut=[], lut_shift=0, sh=0), r"lut must be a non-empty"),
    (lambda n: n.add_learning_compartment("l", "h", lut=[1], lut_shift=0, sh=0, delay=99), r"delay=99 is outside"),
    (lambda n: n.connect_dense("r", "o", "h", np.ones((3, 3), int)), r"src='o' is a readout, which never sends"),
])
def test_validation(base, call, match):
    with pytest.raises(SpecError, match=match):
        call(base)


def test_third_factor_must_be_graded_population(base):
    rule = LearningRule(dw="2^-2*u0*x1*y2", x1_impulse=40, x1_tau=6, rng_seed=1, kind="3F")
    with pytest.raises(SpecError, match=r"third_factor\['y2'\]='o' is a 'readout' population"):
        base.connect_dense("w", "x", "h", np.ones((3, 4), int), learning=rule, third_factor={"y2": "o"})
    base.add_error("e", "o", tgt=1, es=0)
    p = base.connect_dense("w", "x", "h", np.ones((3, 4), int), learning=rule, third_factor={"y2": "e"})
    assert p.third_factor == {"y2": "e"}


def test_hdf5_round_trip_of_the_new_kinds(tmp_path):
    from hwsim.io import diff_networks, load_network, save_network

    net, x, T = circuit(7, learn=True, delay=2)
    save_network(net, tmp_path / "c.h5")
    back = load_network(tmp_path / "c.h5")
    assert diff_networks(net, back) == []
    assert back.populations["hl"].lut == net.populations["hl"].lut and back.populations["hl"].delay == 2
    a = Simulator(net).run(T, inputs=x, probes=[("hl", "y"), ("e", "y")])
    b = Simulator(back).run(T, inputs=x, probes=[("hl", "y"), ("e", "y")])
    for key in a.probes:
        np.testing.assert_array_equal(a.probes[key], b.probes[key])
    np.testing.assert_array_equal(a.weights["w"], b.weights["w"])


def test_hdf5_round_trip_of_graded_pre_spikes(tmp_path):
    from hwsim.io import diff_networks, load_network, save_network

    net = Network()
    net.add_input("g", 4, graded=True)
    net.add_population("p", 3, vth=50)
    rule = LearningRule(dw="2^-2*u0*x1", x1_impulse=0, x1_tau=5, rng_seed=1, kind="plain")
    net.connect_dense("a", "g", "p", np.arange(12).reshape(3, 4), learning=rule, graded_spike_cfg="overwrite")
    save_network(net, tmp_path / "g.h5")
    back = load_network(tmp_path / "g.h5")
    assert diff_networks(net, back) == [] and back.projections["a"].graded_spike_cfg == "overwrite"


def test_large_values_with_negative_shifts_do_not_overflow():
    """fb * lut up to 2**31 * 255 shifted left by 32 (beyond int64) still gives the clipped value."""
    from hwsim.kernels.compartments import error_block, learning_block

    slot = np.array([2 ** 31 - 1, -(2 ** 31), 3, 0], np.int32)
    y = np.zeros(4, np.int32)
    vh = np.zeros(4, np.int32)
    lut = np.array([255], np.int64)
    learning_block(slot.copy(), vh, y, 0, 4, 0, 0, 0, lut, 0, 1, 0, -32, 1, 1, -128, 127)
    assert y.tolist() == [127, -128, 127, 0]
    v = np.array([2 ** 23 - 1, -(2 ** 23 - 1), 1, 0], np.int32)
    error_block(np.zeros(4, np.int32), v, y, 0, 4, 0, 0, 0, -32, 1, 1, -128, 127)
    assert y.tolist() == [127, -128, 127, 0]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2 ** 64 - 1), t=st.integers(1, 2 ** 40), s=st.integers(-32, 62),
       vals=st.lists(st.integers(-(2 ** 31), 2 ** 31 - 1), min_size=1, max_size=12),
       lut=st.lists(st.integers(0, 255), min_size=1, max_size=9), lut_shift=st.integers(0, 20),
       vth=st.integers(0, 2 ** 17 - 1), tgt=st.integers(0, 2 ** 23 - 1))
def test_kernels_agree_with_the_lava_models_arithmetic(seed, t, s, vals, lut, lut_shift, vth, tgt):
    """The simulator's kernels and the Lava models' numpy arithmetic (hwsim/export/lava_kinds.py, an
    independent transcription of docs/compartments.md checked against Lava) give the same outputs,
    random stream included, over the whole parameter range."""
    from hwsim.export.lava_kinds import error_y, learning_y
    from hwsim.kernels.compartments import error_block, learning_block

    n = len(vals)
    a = np.array(vals, np.int64)
    v24 = np.clip(a >> 8, -(2 ** 23 - 1), 2 ** 23 - 1)
    label = (a & 1).astype(np.int32)
    y = np.zeros(n, np.int32)
    error_block(label.copy(), v24.astype(np.int32), y, 0, n, 0, 0, tgt, s, seed % 2 ** 63, t, -128, 127)
    np.testing.assert_array_equal(y, error_y(v24, label, tgt, s, seed % 2 ** 63, t, 7))
    fb = a.astype(np.int32)
    L = np.array(lut, np.int64)
    learning_block(fb.copy(), v24.astype(np.int32), y, 0, n, 0, 0, vth << 6, L, 0, L.size, lut_shift, s,
                   seed % 2 ** 63, t, -128, 127)
    np.testing.assert_array_equal(y, learning_y(fb, v24, vth, lut, lut_shift, s, seed % 2 ** 63, t, 7))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2 ** 63 - 1), t=st.integers(1, 2 ** 40), s=st.integers(-32, 62),
       vals=st.lists(st.integers(-(2 ** 31), 2 ** 31 - 1), min_size=1, max_size=40),
       lut=st.lists(st.integers(0, 255), min_size=1, max_size=9), lut_shift=st.integers(0, 20),
       vth=st.integers(0, 2 ** 17 - 1), off=st.integers(0, 5), k_off=st.integers(0, 3), p_off=st.integers(0, 7),
       l_off=st.integers(0, 4))
def test_learning_block_at_offsets_agrees_with_the_lava_models_arithmetic(seed, t, s, vals, lut, lut_shift, vth,
                                                                          off, k_off, p_off, l_off):
    """A block that starts inside its population (``c0 > pop0``), a partner and a table at offsets in
    their arrays: the block's outputs are the Lava models' (compartment index k = c - pop0 in the random
    stream), its input slot is cleared, and nothing outside ``c0 .. c1-1`` is written."""
    from hwsim.export.lava_kinds import learning_y
    from hwsim.kernels.compartments import learning_block

    n = len(vals)
    a = np.array(vals, np.int64)
    v24 = np.clip(a >> 8, -(2 ** 23 - 1), 2 ** 23 - 1)
    n_pop = k_off + n                             # the population: k_off compartments before the block
    vh = np.full(p_off + n_pop + 3, 12345, np.int32)
    vh[p_off + k_off:p_off + n_pop] = v24
    table = np.concatenate([np.full(l_off, 7), lut, [9, 9]]).astype(np.int64)
    c0 = off + k_off
    slot = np.full(c0 + n + 2, 77, np.int32)
    slot[c0:c0 + n] = a.astype(np.int32)
    y = np.full(c0 + n + 2, -5, np.int32)
    msg, act = learning_block(slot, vh, y, c0, c0 + n, off, p_off, vth << 6, table, l_off, len(lut), lut_shift, s,
                              seed, t, -128, 127)
    full = learning_y(np.concatenate([np.zeros(k_off, np.int64), a]).astype(np.int32),
                      np.concatenate([np.zeros(k_off, np.int64), v24]), vth, lut, lut_shift, s, seed, t, 7)
    np.testing.assert_array_equal(y[c0:c0 + n], full[k_off:])
    assert (y[:c0] == -5).all() and (y[c0 + n:] == -5).all()
    assert (slot[c0:c0 + n] == 0).all() and (slot[:c0] == 77).all() and (slot[c0 + n:] == 77).all()
    assert msg == int(np.count_nonzero(full[k_off:])) and act == int(np.count_nonzero(a))
