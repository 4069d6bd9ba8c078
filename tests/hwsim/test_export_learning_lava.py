"""Learning projections exported to Lava (LearningDense, fixed_pt) against the simulator: identical
spikes, u and v of every population and weights of every learning projection at every step.

Tests needing Lava request the ``lava`` fixture (tests/conftest.py). Each Lava run is small
(~50 steps, a few processes: a few seconds).
"""
import numpy as np
import pytest

from hwsim import ChipSpec, Network
from hwsim.export.lava import UnexportableError, lava_rule, run_lava, to_lava
from hwsim.export.verify import verify_against_lava
from hwsim.learning import LearningRule, reward_modulated_stdp, stdp_loihi
from hwsim.simulator import Simulator

T = 50


def _check(net, inputs, min_change=1, **kw):
    """verify_against_lava must be identical, learning must have moved the weights."""
    rep = verify_against_lava(net, inputs, T, **kw)
    assert rep.identical, rep.summary()
    for p in net.learning_projections():
        assert rep.compared[f"{p.name}.weights"] == T * p.weights.size
    rec = Simulator(net).run(T, inputs=inputs)
    for p in net.learning_projections():
        assert np.abs(rec.weights[p.name].astype(np.int64) - p.weights).sum() >= min_change, p.name
    for pop, (a, _) in rep.spikes.items():
        assert a > 0, f"population {pop!r} never spiked: the test would be weak"
    return rep


def stdp_chain(seed, t_epoch, learn_second=False):
    """input -> LearningDense (STDP, bap from the LIF) -> LIF -> Dense (or a second STDP) -> LIF."""
    rng = np.random.default_rng(seed)
    net = Network(name=f"stdp-chain-{seed}")
    net.add_input("in", 16)
    net.add_population("h", 10, du=1024, dv=512, vth=150)
    net.add_population("o", 4, du=2048, dv=256, vth=100)
    rule = stdp_loihi(1, 2, -2, 10, 8, t_epoch=t_epoch, rng_seed=5 + seed)
    net.connect_dense("w_ih", "in", "h", rng.integers(-40, 90, (10, 16)), learning=rule)
    kw = {}
    if learn_second:
        kw = dict(learning=stdp_loihi(1, 1, -1, 6, 6, t_epoch=t_epoch, rng_seed=2, x1_impulse=20.5))
    net.connect_dense("w_ho", "h", "o", rng.integers(-30, 120, (4, 10)), **kw)
    x = (rng.random((T, 16)) < 0.3).astype(np.int8)
    return net, {"in": x}


@pytest.mark.parametrize("t_epoch", [1, 2, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_stdp_2f_chain(lava, seed, t_epoch):
    net, x = stdp_chain(seed, t_epoch)
    rep = _check(net, x)
    assert rep.exported_as["w_ih"] == "LearningDense (Loihi2FLearningRule)" and rep.exported_as["w_ho"] == "Dense"


def test_stdp_between_populations_and_lava_reader(lava):
    """A learning projection fed by a population (h -> o), recorded with Lava's own sink/Monitor."""
    net, x = stdp_chain(2, 2, learn_second=True)
    _check(net, x, reader="lava")


@pytest.mark.parametrize("t_epoch", [1, 2])
@pytest.mark.parametrize("with_bap", [False, True])
def test_3f_signed_third_factor(lava, t_epoch, with_bap):
    """dw = -2^-3*u0*x1*y2 with a signed graded y2 from an input RingBuffer; with a bap, Lava clips
    y2 to [0, 127] at the bap times and the simulator must do the same."""
    rng = np.random.default_rng(10 + t_epoch)
    net = Network(name="3f")
    net.add_input("in", 12)
    net.add_input("err", 6, graded=True)
    net.add_population("p", 6, du=1500, dv=700, vth=100)
    net.add_population("q", 3, du=1500, dv=700, vth=60)
    rule = LearningRule(dw="-2^-3*u0*x1*y2", x1_impulse=20, x1_tau=5, t_epoch=t_epoch, rng_seed=3, kind="3F")
    net.connect_dense("w", "in", "p", rng.integers(-60, 100, (6, 12)), learning=rule,
                      third_factor={"y2": "err"}, bap=with_bap)
    net.connect_dense("pq", "p", "q", rng.integers(0, 120, (3, 6)))
    x = {"in": (rng.random((T, 12)) < 0.3).astype(np.int8), "err": rng.integers(-128, 128, (T, 6))}
    rep = _check(net, x)
    assert rep.exported_as["w"] == "LearningDense (Loihi3FLearningRule)"


@pytest.mark.parametrize("t_epoch", [1, 2])
def test_reward_modulated_stdp(lava, t_epoch):
    """R-STDP (Lava's RewardModulatedSTDP strings): bap from the LIF (y0), y1 and the reward y2 from
    inputs; the eligibility tag (tag_1) is compared at the end too."""
    rng = np.random.default_rng(20 + t_epoch)
    net = Network(name="rstdp")
    net.add_input("in", 12)
    net.add_input("post_trace", 6, graded=True)
    net.add_input("reward", 6, graded=True)
    net.add_population("p", 6, du=1500, dv=700, vth=90)
    rule = reward_modulated_stdp(1, 2, -2, 10, 10, 16, 16, 0.5, t_epoch=t_epoch, rng_seed=7)
    net.connect_dense("w", "in", "p", rng.integers(-60, 100, (6, 12)), learning=rule,
                      third_factor={"y1": "post_trace", "y2": "reward"})
    x = {"in": (rng.random((T, 12)) < 0.3).astype(np.int8), "post_trace": rng.integers(0, 128, (T, 6)),
         "reward": rng.integers(-128, 128, (T, 6))}
    rep = _check(net, x)
    assert rep.compared["w.tag_1"] == 6 * 12


def test_lava_rule_from_learning_rule(lava):
    from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
    rule = reward_modulated_stdp(1, 2, -2, 10, 10, 16, 16, 0.5, t_epoch=2, rng_seed=7)
    lr = lava_rule(rule)
    assert isinstance(lr, Loihi3FLearningRule) and lr.t_epoch == 2 and lr.rng_seed == 7
    assert LearningRule.from_lava(lr) == rule


def test_run_lava_returns_weights_every_step(lava):
    net, x = stdp_chain(3, 1)
    out = run_lava(net, x, T)
    w = out["weights"]["w_ih"]
    assert w.shape == (T, 10, 16) and out["tags"] == {}
    ours = Simulator(net).run(T, inputs=x, record_weights=1)
    np.testing.assert_array_equal(w, ours.weight_history["w_ih"])


def test_unexportable_learning_widths(lava):
    net, x = stdp_chain(0, 1)
    spec = ChipSpec(trace_bits=8)
    odd = Network(spec)
    odd.add_input("in", 16)
    odd.add_population("h", 10)
    p = net.projections["w_ih"]
    odd.connect_dense("w_ih", "in", "h", p.weights, learning=p.learning)
    with pytest.raises(UnexportableError, match=r"spec.trace_bits=8: Lava's LearningDense uses trace_bits=7"):
        to_lava(odd, x)


def test_sign_modes_exponents_layouts_and_two_learning_inputs(lava):
    """Two learning projections into one (C, H, W) population (Lava WHC layout for bap, y and a_out):
    an excitatory 2F with weight_exp=-1 and 6 weight bits, an inhibitory 3F with weight_exp=1 whose
    y2 comes from a (C, H, W) graded input and whose bap is connected."""
    rng = np.random.default_rng(30)
    net = Network(name="layouts")
    net.add_input("a", 16)
    net.add_input("b", 6)
    net.add_input("err", (2, 2, 3), graded=True)
    net.add_population("p", (2, 2, 3), du=1500, dv=700, vth=60)
    net.add_population("q", 3, du=1500, dv=700, vth=40)
    net.connect_dense("exc", "a", "p", rng.integers(0, 200, (12, 16)), sign_mode="excitatory", weight_exp=-1,
                      num_weight_bits=6, learning=stdp_loihi(1, 2, -2, 10, 8, t_epoch=2, rng_seed=4))
    rule = LearningRule(dw="2^-2*u0*x1*y2 - x0*y0", x1_impulse=24, x1_tau=6, t_epoch=2, rng_seed=8, kind="3F")
    net.connect_dense("inh", "b", "p", rng.integers(-120, 1, (12, 6)), sign_mode="inhibitory", weight_exp=1,
                      learning=rule, third_factor={"y2": "err"})
    net.connect_dense("pq", "p", "q", rng.integers(0, 100, (3, 12)))
    assert net.projections["inh"].bap                   # its rule uses y0
    x = {"a": (rng.random((T, 16)) < 0.35).astype(np.int8), "b": (rng.random((T, 6)) < 0.3).astype(np.int8),
         "err": rng.integers(-128, 128, (T, 2, 2, 3))}
    _check(net, x)
    rec = Simulator(net).run(T, inputs=x)
    assert rec.weights["exc"].min() >= 0 and rec.weights["inh"].max() <= 0


@pytest.mark.parametrize("t_epoch, tau, seed", [(1, 2, 0), (1, 20, 1), (2, 5, 2)])
def test_graded_pre_spikes_overwrite_x1(lava, t_epoch, tau, seed):
    """GradedSpikeCfg.OVERWRITE (OTTT's graded first layer): a graded input (payloads 0..255, odd ones
    included, so the half-to-even rounding of payload / 2 is exercised) into a 3F LearningDense
    ``m 2^e u0 x1 y2`` with a signed y2 from an input; Lava and the simulator agree on every step."""
    rng = np.random.default_rng(40 + seed)
    net = Network(name=f"graded-pre-{seed}")
    net.add_input("img", 12, graded=True)
    net.add_input("err", 5, graded=True)
    net.add_population("h", 5, du=2000, dv=900, vth=2000)
    rule = LearningRule(dw="-2^-4*u0*x1*y2", x1_impulse=0, x1_tau=tau, t_epoch=t_epoch, rng_seed=9 + seed,
                        kind="3F")
    net.connect_dense("w", "img", "h", rng.integers(-60, 90, (5, 12)), learning=rule,
                      graded_spike_cfg="overwrite", third_factor={"y2": "err"})
    img = rng.integers(0, 256, (T, 12)) * (rng.random((T, 12)) < 0.6)
    x = {"img": img, "err": rng.integers(-128, 128, (T, 5))}
    _check(net, x)


def test_graded_pre_validation():
    from hwsim import SpecError

    net = Network()
    net.add_input("g", 4, graded=True)
    net.add_input("b", 4)
    net.add_population("p", 3)
    rule = LearningRule(dw="2^-2*u0*x1", x1_impulse=0, x1_tau=5, rng_seed=1, kind="plain")
    with pytest.raises(SpecError, match=r"graded_spike_cfg='overwrite' needs a graded input as src"):
        net.connect_dense("a", "b", "p", np.ones((3, 4), int), learning=rule, graded_spike_cfg="overwrite")
    bad = LearningRule(dw="2^-2*u0*x1", x1_impulse=16, x1_tau=5, rng_seed=1, kind="plain")
    with pytest.raises(SpecError, match=r"needs learning.x1_impulse=0"):
        net.connect_dense("a", "g", "p", np.ones((3, 4), int), learning=bad, graded_spike_cfg="overwrite")
    with pytest.raises(SpecError, match=r"src='g' is a graded input"):
        net.connect_dense("a", "g", "p", np.ones((3, 4), int), learning=rule)
    net.connect_dense("a", "g", "p", np.ones((3, 4), int), learning=rule, graded_spike_cfg="overwrite")
    with pytest.raises(ValueError, match=r"inputs\['g'\] at row 0.*is 256, outside the allowed range \[0, 255\]"):
        Simulator(net).run(1, inputs={"g": np.full((1, 4), 256)})
