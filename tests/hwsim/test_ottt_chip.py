"""The on-chip OTTT circuit (hwsim.circuits.ottt_sync) against independent oracles: the Lava-exact
simulator (neuron arithmetic), Lava's learning equation in closed form (weight update), and
statistics of stochastic rounding."""
import numpy as np
import pytest

from hwsim.network import Network
from hwsim.simulator import Simulator
from hwsim.circuits.ottt_sync import OTTTChip, OTTTCircuit
from hwsim.circuits.ottt_sync_kernels import sr_shift
from hwsim.spec import SpecError


def circuit(**kw):
    base = dict(layer_sizes=(12, 16), n_classes=3, T=6, online=True, local=False, feedback="mirror",
                wexp=(0,), vth=(20,), dv=(2048,), du=(4095,), head_wexp=(0,), tgt=(200,), es=(2,), sh=(12,),
                lut=tuple(range(0, 64, 4)) + tuple(range(60, -1, -4)), lut_shift=8, m=(-3, -2), e=(-5, -6),
                x_dec=2048, x_imp=64, seed=3)
    base.update(kw)
    return OTTTCircuit(**base)


def random_chip(c, seed=0, feedback=None):
    rng = np.random.default_rng(seed)
    sizes = c.layer_sizes
    W = [rng.integers(-40, 60, (sizes[l + 1], sizes[l])) for l in range(c.n_layers)]
    H = [rng.integers(-50, 50, (c.n_classes, sizes[c.head_layers[h] + 1])) for h in range(c.n_heads)]
    return OTTTChip(c, W, H, feedback)


def test_forward_matches_lava_exact_simulator():
    """Learning off: hidden spikes and membranes equal hwsim's Lava-exact simulator, one step
    later (the simulator has Lava's one step of synaptic delay; the circuit is layer-synchronous)."""
    c = circuit(layer_sizes=(12, 16), T=10, vth=(1200,))
    chip = random_chip(c, seed=1)
    # even weights: Lava truncates mixed-sign 8-bit weights to even values when loading them (the
    # circuit, like Lava's learning engine after its first step, uses every integer)
    W = np.random.default_rng(1).integers(-50, 50, (16, 12))
    chip = OTTTChip(c, [(W >> 1) << 1], chip.heads)
    rng = np.random.default_rng(2)
    X = rng.integers(0, 65, (1, c.T, 12))
    rec = chip.record(X, [0], learn=False)
    net = Network()
    net.add_input("in", (12,), graded=True)
    net.add_population("h", (16,), du=4095, dv=2048, vth=1200)
    net.connect_dense("w", "in", "h", chip.weights[0], weight_exp=0, graded=True)
    net.add_probe("h", "v")
    inp = np.concatenate([X[0], np.zeros((1, 12), np.int64)])
    sim = Simulator(net).run(c.T + 1, {"in": inp})
    s_sim = sim.spikes["h"][1:]
    v_sim = sim.probes[("h", "v")][1:]
    assert 0.1 < rec.spikes[0].mean() < 0.6
    np.testing.assert_array_equal(rec.spikes[0][0], s_sim)
    quiet = s_sim == 0
    np.testing.assert_array_equal(rec.vpre[0][0][quiet], v_sim[quiet])


def test_head_update_is_lava_learning_equation():
    """T=1, OTTT_O, exact shifts (es <= 0, e >= 0): the head's update is Lava's sum-of-products
    arithmetic (lava-semantics.md 2.3) for ``dw = m*2^e*u0*x1*y2``: ``cur = ((m x1 y2) >> ps) <<
    (e + 7)`` clipped to the 15-bit accumulator, added to ``w << 7``, clipped, shifted back."""
    c = circuit(T=1, es=(-1,), m=(-3, -1), e=(-5, 0), tgt=(30,), x_imp=4)
    chip = random_chip(c, seed=4)
    R0 = chip.heads[0].copy()
    rng = np.random.default_rng(5)
    X = rng.integers(0, 65, (1, 1, 12))
    rec = chip.record(X, [1], learn=False)
    s = rec.spikes[0][0, 0]
    assert 0 < s.sum() < s.size
    o = R0 @ s
    err = o - 30 * (np.arange(3) == 1)
    y2 = np.clip(err * 2, -128, 127)
    x1 = 4 * s
    lim = 2 ** 15
    cur = np.clip(((c.m[1] * x1[None, :] * y2[:, None]) >> c.ps) << (c.e[1] + 7), -lim - 1, lim - 1)
    acc = np.clip((R0 << 7) + cur, -lim - 1, lim - 1)
    expected = np.clip(acc >> 7, *c.weight_range)
    assert np.count_nonzero(expected != R0) > 5
    chip.train(X, [1])
    np.testing.assert_array_equal(chip.heads[0], expected)


def test_ottt_a_equals_ottt_o_for_one_step():
    X = np.random.default_rng(6).integers(0, 65, (5, 1, 12))
    y = [0, 1, 2, 1, 0]
    a = random_chip(circuit(T=1, online=False), seed=7)
    o = random_chip(circuit(T=1, online=True), seed=7)
    a.train(X, y)
    o.train(X, y)
    for wa, wo in zip(a.weights + a.heads, o.weights + o.heads):
        np.testing.assert_array_equal(wa, wo)


def test_ottt_a_changes_weights_only_between_samples():
    """Within a sample OTTT_A keeps the weights (updates wait in the tag): recording a learning
    run of one sample sees the same spikes as inference with the initial weights."""
    c = circuit(online=False, T=8)
    X = np.random.default_rng(8).integers(0, 65, (1, 8, 12))
    learn = random_chip(c, seed=9)
    infer = random_chip(c, seed=9)
    r1 = learn.record(X, [2], learn=True)
    r2 = infer.record(X, [2], learn=False)
    np.testing.assert_array_equal(r1.spikes[0], r2.spikes[0])
    assert any(np.any(a != b) for a, b in zip(learn.weights + learn.heads, infer.weights + infer.heads))


def test_reproducible_and_chunking_invariant():
    X = np.random.default_rng(10).integers(0, 65, (20, 12))
    y = np.random.default_rng(11).integers(0, 3, 20)
    c = circuit(layer_sizes=(12, 16, 8), wexp=(0, 0), vth=(20, 20), dv=(2048, 2048), du=(4095, 4095),
                sh=(12, 12), m=(-3, -3, -2), e=(-5, -5, -6))
    one, two, other = random_chip(c), random_chip(c), random_chip(OTTTCircuit(**{**c.__dict__, "seed": 4}))
    one.train(X, y)
    two.train(X[:7], y[:7])
    two.train(X[7:], y[7:])
    other.train(X, y)
    for a, b in zip(one.weights + one.heads, two.weights + two.heads):
        np.testing.assert_array_equal(a, b)
    assert any(np.any(a != b) for a, b in zip(one.weights + one.heads, other.weights + other.heads))


def test_stochastic_rounding_is_unbiased():
    state = np.array([12345], np.uint64)
    for z, sh in ((37, 3), (-37, 3), (1000, 7), (-5, 7), (3, 1)):
        draws = np.array([sr_shift(z, sh, state) for _ in range(40000)])
        assert set(np.unique(draws)) <= {z >> sh, (z >> sh) + 1}
        assert abs(draws.mean() - z / 2 ** sh) < 0.01


def test_local_random_feedback_and_counters():
    c = circuit(layer_sizes=(12, 16, 8), wexp=(0, 0), vth=(20, 20), dv=(2048, 2048), du=(4095, 4095),
                sh=(12, 12), m=(-3, -3, -2, -2), e=(-5, -5, -6, -6), local=True, feedback="random",
                head_wexp=(0, 0), tgt=(200, 200), es=(2, 2))
    rng = np.random.default_rng(12)
    F = [rng.integers(-50, 50, (3, 16)), rng.integers(-50, 50, (3, 8))]
    chip = random_chip(c, seed=13, feedback=F)
    X = rng.integers(0, 65, (10, 12))
    cnt = chip.train(X, rng.integers(0, 3, 10))
    for a, b in zip(chip.feedback, F):
        np.testing.assert_array_equal(a, b)          # random feedback stays fixed
    tot = cnt.total()
    assert tot["synapse_updates"] > 0 and tot["weight_writebacks"] > 0 and tot["trace_updates"] > 0
    assert cnt.core_population == c.role_names()


def test_bad_input_names_parameter():
    with pytest.raises(SpecError, match="m\\[0\\]"):
        circuit(m=(-9, -2))
    with pytest.raises(SpecError, match="feedback"):
        circuit(feedback="sideways")
    with pytest.raises(SpecError, match="weight_exp"):
        circuit(wexp=(99,))
    chip = random_chip(circuit())
    with pytest.raises(SpecError, match="input payload"):
        chip.train(np.full((2, 12), 200), [0, 1])
    with pytest.raises(SpecError, match="labels"):
        chip.train(np.zeros((2, 12), np.int64), [0, 7])
    with pytest.raises(SpecError, match="shape"):
        chip.train(np.zeros((2, 11), np.int64), [0, 1])


def test_circuit_as_chip_ir_is_mapped():
    c = circuit(layer_sizes=(12, 16, 8), wexp=(0, 0), vth=(20, 20), dv=(2048, 2048), du=(4095, 4095),
                sh=(12, 12), m=(-3, -3, -2), e=(-5, -5, -6))
    chip = random_chip(c, seed=14)
    net = chip.network()
    assert set(net.populations) == {"hidden1", "hidden2", "readout1", "error1"}
    np.testing.assert_array_equal(net.projections["feedback1"].weights, chip.heads[0].T)     # mirror
    np.testing.assert_array_equal(net.projections["feedback_w2"].weights, chip.weights[1].T)  # global mode
    mp = chip.mapping()
    assert mp.n_cores == 4 and mp.fits()
