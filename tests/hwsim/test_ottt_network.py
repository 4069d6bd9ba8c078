"""On-chip OTTT on the Simulator (hwsim.circuits.ottt: OTTTNetwork, run on Lava's timing) and its
parameters (hwsim.circuits.ottt_circuit.OTTTCircuit): properties of the host protocol (OTTT_A learns
between samples only, training in pieces equals one call, seeds matter), the network it builds, the
counters, and bad input. The arithmetic against Lava is tested step by step in
test_export_ottt_lava.py; the learning engine in test_learning_*.py."""
import numpy as np
import pytest

from hwsim.circuits.ottt import OTTTNetwork, inference_network
from hwsim.circuits.ottt_circuit import OTTTCircuit
from hwsim.simulator import Simulator
from hwsim.spec import SpecError


def circuit(**kw):
    base = dict(layer_sizes=(12, 16), n_classes=3, T=6, online=True, local=False, feedback="mirror",
                wexp=(0,), vth=(600,), dv=(2048,), du=(4095,), head_wexp=(0,), tgt=(200,), es=(2,), sh=(8,),
                lut=tuple(range(0, 64, 4)) + tuple(range(60, -1, -4)), lut_shift=12, m=(-3, -2), e=(-5, -6),
                x_dec=2048, x_imp=64, seed=3)
    base.update(kw)
    return OTTTCircuit(**base)


# thresholds and LUT bins where the hidden layers fire at 15-50 % and every projection learns
TWO_LAYERS = dict(layer_sizes=(12, 16, 8), wexp=(0, 0), vth=(600, 80), dv=(2048, 2048), du=(4095, 4095),
                  sh=(8, 8), m=(-3, -3, -2), e=(-5, -5, -6))


def random_chip(c, seed=0, feedback=None):
    rng = np.random.default_rng(seed)
    sizes = c.layer_sizes
    W = [rng.integers(-40, 60, (sizes[l + 1], sizes[l])) for l in range(c.n_layers)]
    H = [rng.integers(-50, 50, (c.n_classes, sizes[c.head_layers[h] + 1])) for h in range(c.n_heads)]
    return OTTTNetwork(c, W, H, feedback)


def _learned(chip):
    return chip.weights + chip.heads


def test_ottt_a_changes_weights_only_between_samples():
    """Within a sample OTTT_A keeps the weights (updates wait in the tag, added by the host at the
    sample's end): the hidden spikes of a learning sample equal those of the static forward network
    with the initial weights, and the weights changed afterwards."""
    c = circuit(online=False, T=8, **TWO_LAYERS)
    X = np.random.default_rng(8).integers(0, 65, (1, 8, 12))
    chip = random_chip(c, seed=9)
    w0 = _learned(chip)
    rec = chip.record(X, [2])
    sim = Simulator(inference_network(c, w0[:c.n_layers], w0[-1], c.head_layers[-1]))     # static weights
    frames = np.zeros((chip.steps, 12), np.int64)
    frames[:c.T] = 2 * X[0]                          # the graded message is 2 x (PAYLOAD_SHIFT), then the drain
    ref = sim.run(chip.steps, inputs={"input": frames})
    for l in range(c.n_layers):
        assert 0 < rec.spikes[l][0].sum() < rec.spikes[l][0].size
        np.testing.assert_array_equal(rec.spikes[l][0], ref.spikes[f"hidden{l + 1}"].astype(np.int64))
    assert all(np.any(a != b) for a, b in zip(_learned(chip), w0))


def test_ottt_a_equals_ottt_o_for_one_step():
    """One input step: every projection learns once per sample, so adding the tag at the sample's end
    (OTTT_A) equals updating the weight when it happens (OTTT_O)."""
    X = np.random.default_rng(6).integers(0, 65, (5, 1, 12))
    y = [0, 1, 2, 1, 0]
    a = random_chip(circuit(T=1, online=False), seed=7)
    o = random_chip(circuit(T=1, online=True), seed=7)
    w0 = _learned(a)
    a.train(X, y)
    o.train(X, y)
    for wa, wo in zip(_learned(a), _learned(o)):
        np.testing.assert_array_equal(wa, wo)
    assert all(np.any(wa != w) for wa, w in zip(_learned(a), w0))         # both projections learned


def test_reproducible_and_chunking_invariant():
    """Training in two calls equals one call (the learning state and random streams carry over);
    another circuit seed learns differently."""
    X = np.random.default_rng(10).integers(0, 65, (20, 12))
    y = np.random.default_rng(11).integers(0, 3, 20)
    c = circuit(**TWO_LAYERS)
    one, two, other = random_chip(c), random_chip(c), random_chip(OTTTCircuit(**{**c.__dict__, "seed": 4}))
    w0 = _learned(one)
    one.train(X, y)
    two.train(X[:7], y[:7])
    two.train(X[7:], y[7:])
    other.train(X, y)
    assert one.samples_seen == two.samples_seen == 20
    for a, b in zip(_learned(one), _learned(two)):
        np.testing.assert_array_equal(a, b)
    assert one.counters.total() == two.counters.total()
    assert all(np.any(a != b) for a, b in zip(_learned(one), w0))              # every projection learned
    assert any(np.any(a != b) for a, b in zip(_learned(one), _learned(other)))


def test_local_random_feedback_and_counters():
    c = circuit(**{**TWO_LAYERS, "m": (-3, -3, -2, -2), "e": (-5, -5, -6, -6)}, local=True, feedback="random",
                head_wexp=(0, 0), tgt=(200, 200), es=(2, 2))
    rng = np.random.default_rng(12)
    F = [rng.integers(-50, 50, (3, 16)), rng.integers(-50, 50, (3, 8))]
    chip = random_chip(c, seed=13, feedback=F)
    X = rng.integers(0, 65, (10, 12))
    w0 = _learned(chip)
    cnt = chip.train(X, rng.integers(0, 3, 10))
    for h, f in enumerate(F):                        # random feedback: fixed (static) projections
        np.testing.assert_array_equal(chip.feedback[h], f)
        p = chip.net.projections[f"feedback{h + 1}"]
        assert p.learning is None
        np.testing.assert_array_equal(p.weights, f.T)
    assert set(chip.sim.learned_weights()) == {"w1", "w2", "head1", "head2"}
    assert all(np.any(a != b) for a, b in zip(_learned(chip), w0))             # every projection learned
    assert not chip.net.mirrors
    tot = cnt.total()
    assert tot["synapse_updates"] > 0 and tot["weight_writebacks"] > 0 and tot["trace_updates"] > 0
    assert cnt.total() == chip.counters.total()
    assert cnt.core_population == tuple(b[1] for b in sorted(chip.mapping().blocks))


def test_bad_input_names_parameter():
    with pytest.raises(SpecError, match="m\\[0\\]"):
        circuit(m=(-9, -2))
    with pytest.raises(SpecError, match="feedback"):
        circuit(feedback="sideways")
    with pytest.raises(SpecError, match="weight_exp"):
        circuit(wexp=(99,))
    with pytest.raises(SpecError, match="input_trace"):
        circuit(input_trace="ramp")
    chip = random_chip(circuit())
    with pytest.raises(SpecError, match="input payload"):
        chip.train(np.full((2, 12), 200), [0, 1])
    with pytest.raises(SpecError, match="labels"):
        chip.train(np.zeros((2, 12), np.int64), [0, 7])
    with pytest.raises(SpecError, match="shape"):
        chip.train(np.zeros((2, 11), np.int64), [0, 1])
    with pytest.raises(SpecError, match="order"):
        chip.train(np.zeros((2, 12), np.int64), [0, 1], order=[0, 2])
    with pytest.raises(SpecError, match="random"):
        random_chip(circuit(), feedback=[np.zeros((3, 16), np.int64)])      # 'mirror' takes no matrices


def test_global_mirror_circuit_as_a_network_is_mapped():
    """Global mode with mirrored feedback: the head's and the upper layer's feedback are mirrors of the
    learning projections (no copies to keep equal), and the network maps onto cores."""
    chip = random_chip(circuit(**TWO_LAYERS), seed=14)
    net = chip.network()
    assert set(net.populations) == {"hidden1", "hidden2", "learning1", "learning2", "readout1", "error1"}
    assert {k: (m.of, m.src, m.dst) for k, m in net.mirrors.items()} == {
        "feedback1": ("head1", "error1", "learning2"), "feedback_w2": ("w2", "learning2", "learning1")}
    np.testing.assert_array_equal(chip.feedback[0], chip.heads[0])
    mp = chip.mapping()
    assert mp.fits() and mp.n_cores >= len(net.populations)
