"""The learning engine against Lava's LearningDense, fixed_pt (PyLearningDenseModelBitApproximate,
lava-nc 0.10.0): the oracle. Same rule, weights and inputs; final weights, tags, traces and the
activations sent every step must be identical, and the weight trajectory for the first steps.

Wiring as in ../shared/reference/lava-semantics.md: RingBuffer sources drive s_in, s_in_bap and
s_in_y1..3 (column t-1 is sent at step t), a sink RingBuffer records a_out; weights are read with
``Var.get()`` (float64, small matrices only).
"""
import numpy as np
import pytest

from hwsim.learning import LearningDenseEngine, LearningRule

pytestmark = pytest.mark.lava

N_PRE, N_POST, T = 12, 8, 60


def _lava(lava_rule, W, pre, bap=None, ys=None, sign_mode=None, tag_1=None, tag_2=None,
          weight_exp=0, num_weight_bits=8, traj_steps=0, lif=None):
    """Run a Lava LearningDense; with ``lif`` (du, dv, vth) its bap comes from a LIF it drives."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import LearningDense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.utils.weightutils import SignMode

    n_steps = pre.shape[1]
    kw = dict(weights=W, learning_rule=lava_rule, weight_exp=weight_exp,
              num_weight_bits=num_weight_bits)
    if sign_mode:
        kw["sign_mode"] = {"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY,
                           "inhibitory": SignMode.INHIBITORY}[sign_mode]
    if tag_1 is not None:
        kw["tag_1"] = tag_1
    if tag_2 is not None:
        kw["tag_2"] = tag_2
    ld = LearningDense(**kw)
    src = Source(data=pre)
    src.s_out.connect(ld.s_in)
    keep = [src]
    if bap is not None:
        b = Source(data=bap)
        b.s_out.connect(ld.s_in_bap)
        keep.append(b)
    for k, y in (ys or {}).items():
        ysrc = Source(data=y)
        ysrc.s_out.connect(getattr(ld, f"s_in_y{k}"))
        keep.append(ysrc)
    a_sink = Sink(shape=(W.shape[0],), buffer=n_steps)
    ld.a_out.connect(a_sink.a_in)
    s_sink = None
    if lif is not None:
        du, dv, vth = lif
        neuron = LIF(shape=(W.shape[0],), du=du, dv=dv, vth=vth)
        ld.a_out.connect(neuron.a_in)
        neuron.s_out.connect(ld.s_in_bap)
        s_sink = Sink(shape=(W.shape[0],), buffer=n_steps)
        neuron.s_out.connect(s_sink.a_in)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    traj = []
    try:
        for _ in range(traj_steps):
            ld.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
            traj.append(ld.weights.get().astype(np.int64))
        ld.run(condition=RunSteps(num_steps=n_steps - traj_steps), run_cfg=cfg)
        out = {k: getattr(ld, k).get().astype(np.int64)
               for k in ("weights", "tag_1", "tag_2", "x1", "x2", "y1", "y2", "y3")}
        out["a_out"] = a_sink.data.get().astype(np.int64).T
        out["traj"] = traj
        if s_sink is not None:
            out["post_spikes"] = s_sink.data.get().astype(np.int64)
    finally:
        ld.stop()
    return out


def _ours(lava_rule, W, pre, bap=None, ys=None, sign_mode="mixed", tag_1=None, tag_2=None,
          weight_exp=0, num_weight_bits=8, traj_steps=0):
    eng = LearningDenseEngine(W, LearningRule.from_lava(lava_rule), sign_mode=sign_mode,
                              tag_1=tag_1, tag_2=tag_2, weight_exp=weight_exp,
                              num_weight_bits=num_weight_bits)
    initial = eng.weights.astype(np.int64)
    n_steps = pre.shape[1]
    inputs = {"bap": None if bap is None else bap.T}
    inputs.update({f"y{k}": v.T for k, v in (ys or {}).items()})
    traj, a_out = [], []
    for k in range(traj_steps):       # step by step, through the per-step API
        kw = {n: None if v is None else v[k] for n, v in inputs.items()}
        a_out.append(eng.step(k + 1, pre[:, k], **kw)[None])
        traj.append(eng.weights.astype(np.int64))
    kw = {n: None if v is None else v[traj_steps:] for n, v in inputs.items()}
    a, _ = eng.run(n_steps - traj_steps, pre.T[traj_steps:], **kw)     # the rest in one run
    a_out.append(a)
    out = {"weights": eng.weights, "tag_1": eng.tag_1, "tag_2": eng.tag_2, "x1": eng.x1,
           "x2": eng.x2, "y1": eng.y1, "y2": eng.y2, "y3": eng.y3,
           "a_out": np.concatenate(a_out).astype(np.int64), "traj": traj, "initial_weights": initial}
    return out


def _assert_same(lava_rule, W, pre, min_change=1, **kw):
    theirs = _lava(lava_rule, W, pre, **kw)
    kw.pop("lif", None)
    ours = _ours(lava_rule, W, pre, **kw)
    for key in ("weights", "tag_1", "tag_2", "x1", "x2", "y1", "y2", "y3", "a_out"):
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    assert len(ours["traj"]) == len(theirs["traj"])
    for k, (a, b) in enumerate(zip(ours["traj"], theirs["traj"])):
        np.testing.assert_array_equal(a, b, err_msg=f"weights after step {k + 1}")
    # the test is only meaningful if learning moved the weights
    assert np.abs(theirs["weights"] - ours["initial_weights"]).sum() >= min_change
    return theirs


def _data(seed, rate_pre=0.25, rate_post=0.25):
    rng = np.random.default_rng(seed)
    pre = (rng.random((N_PRE, T)) < rate_pre).astype(np.int64)
    post = (rng.random((N_POST, T)) < rate_post).astype(np.int64)
    W = rng.integers(-200, 200, (N_POST, N_PRE))
    return rng, pre, post, W


@pytest.mark.parametrize("t_epoch", [1, 2, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_stdp_bap_from_ringbuffer(lava, t_epoch, seed):
    from lava.proc.learning_rules.stdp_learning_rule import STDPLoihi
    _, pre, post, W = _data(seed)
    rule = STDPLoihi(learning_rate=1, A_plus=2, A_minus=-2, tau_plus=10, tau_minus=8,
                     t_epoch=t_epoch, rng_seed=5 + seed)
    _assert_same(rule, W, pre, bap=post, traj_steps=3 if seed == 0 else 0)


@pytest.mark.parametrize("t_epoch", [1, 2])
def test_stdp_bap_from_lif(lava, t_epoch):
    """bap from a LIF the LearningDense drives (post spike at t from input up to t-1): the engine,
    given the LIF's recorded spikes, reproduces Lava's weights and activations."""
    from lava.proc.learning_rules.stdp_learning_rule import STDPLoihi
    rng = np.random.default_rng(3)
    pre = (rng.random((N_PRE, T)) < 0.3).astype(np.int64)
    W = np.random.default_rng(4).integers(-40, 60, (N_POST, N_PRE))
    rule = STDPLoihi(learning_rate=1, A_plus=1, A_minus=-2, tau_plus=8, tau_minus=8,
                     t_epoch=t_epoch, rng_seed=9)
    du, dv, vth = 1024, 512, 500
    theirs = _lava(rule, W, pre, lif=(du, dv, vth))
    spikes = theirs["post_spikes"]
    assert np.all(spikes.sum(axis=1) > 0) and spikes.sum() < 0.5 * spikes.size
    ours = _ours(rule, W, pre, bap=spikes)
    for key in ("weights", "x1", "y1", "a_out"):
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    # closed loop: a bit-accurate LIF (lava-semantics 1.1) fed from a_pending drives the bap
    eng = LearningDenseEngine(W, LearningRule.from_lava(rule))
    u = np.zeros(N_POST, np.int64)
    v = np.zeros(N_POST, np.int64)
    for t in range(1, T + 1):
        p = u * (4096 - (du + 1))
        uc = np.sign(p) * (np.abs(p) >> 12) + (eng.a_pending.astype(np.int64) << 6)
        w = np.where(uc > 2 ** 23, uc - 2 ** 24, uc)
        u = np.where(w <= -2 ** 23, uc + 2 ** 24, w)
        q = v * (4096 - dv)
        v = np.clip(np.sign(q) * (np.abs(q) >> 12) + u, -(2 ** 23 - 1), 2 ** 23 - 1)
        s = v > (vth << 6)
        v[s] = 0
        np.testing.assert_array_equal(s, spikes[:, t - 1].astype(bool), err_msg=f"step {t}")
        eng.step(t, pre[:, t - 1], bap=s)
    np.testing.assert_array_equal(eng.weights, theirs["weights"])


@pytest.mark.parametrize("t_epoch", [1, 2, 4])
def test_reward_modulated_stdp(lava, t_epoch):
    from lava.proc.learning_rules.r_stdp_learning_rule import RewardModulatedSTDP
    rng, pre, post, W = _data(10 + t_epoch)
    y1 = rng.integers(0, 128, (N_POST, T))
    y2 = rng.integers(-128, 128, (N_POST, T))
    rule = RewardModulatedSTDP(learning_rate=1, A_plus=2, A_minus=-2, pre_trace_decay_tau=10,
                               post_trace_decay_tau=10, pre_trace_kernel_magnitude=16,
                               post_trace_kernel_magnitude=16, eligibility_trace_decay_tau=0.5,
                               t_epoch=t_epoch, rng_seed=7)
    _assert_same(rule, W, pre, bap=post, ys={1: y1, 2: y2}, traj_steps=2 if t_epoch == 1 else 0)


@pytest.mark.parametrize("t_epoch", [1, 2, 4])
@pytest.mark.parametrize("with_bap", [False, True])
def test_custom_3f_signed_y2(lava, t_epoch, with_bap):
    """dw = -2^-3*u0*x1*y2 with a signed y2 (an OTTT-like three-factor rule). With a bap, y2 is
    clipped to [0, 127] at the bap times (Lava's quirk) and the engine must do the same."""
    from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
    rng, pre, post, W = _data(20 + t_epoch)
    y2 = rng.integers(-128, 128, (N_POST, T))
    y3 = rng.integers(-300, 300, (N_POST, T))
    rule = Loihi3FLearningRule(dw="-2^-3*u0*x1*y2", x1_impulse=20, x1_tau=5, t_epoch=t_epoch,
                               rng_seed=3)
    _assert_same(rule, W, pre, bap=post if with_bap else None, ys={2: y2, 3: y3})


@pytest.mark.parametrize("t_epoch", [1, 2, 4])
def test_dd_dt_and_sgn(lava, t_epoch):
    """All three targets, sgn(), (var + C) factors, two- and three-trace products, u terms, and
    random initial tags including tag_1 = -257 (the value Lava's accumulator clip moves)."""
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
    rng, pre, post, W = _data(30 + t_epoch)
    rule = Loihi2FLearningRule(
        dw="x0*y1*y2 - y0*x1*x2 + u0*w*2^-4", dt="x0*(y1-3) + y0*sgn(t) - 2^-5*u0*t",
        dd="y0*x2*2^3 + u0*d*(-1) + x0*sgn(w+2)", x1_impulse=30, x1_tau=4, x2_impulse=12.7,
        x2_tau=0, y1_impulse=9.5, y1_tau=6, y2_impulse=40, y2_tau=20, y3_impulse=3, y3_tau=2,
        t_epoch=t_epoch, rng_seed=11)
    tag_1 = rng.integers(-257, 256, (N_POST, N_PRE))
    tag_1[0, :3] = -257
    tag_2 = rng.integers(0, 256, (N_POST, N_PRE))
    theirs = _assert_same(rule, W, pre, bap=post, tag_1=tag_1, tag_2=tag_2)
    assert not np.array_equal(theirs["tag_1"], tag_1) and not np.array_equal(theirs["tag_2"], tag_2)


@pytest.mark.parametrize("sign_mode", ["excitatory", "inhibitory"])
def test_sign_modes_weight_exp_and_precision(lava, sign_mode):
    from lava.proc.learning_rules.stdp_learning_rule import STDPLoihi
    _, pre, post, W = _data(40)
    W = np.clip(np.abs(W), 0, 255) * (1 if sign_mode == "excitatory" else -1)
    rule = STDPLoihi(learning_rate=1, A_plus=4, A_minus=-4, tau_plus=5, tau_minus=5, t_epoch=2,
                     rng_seed=2)
    _assert_same(rule, W, pre, bap=post, sign_mode=sign_mode, weight_exp=-1, num_weight_bits=7)


def test_plain_rule_with_decimation(lava):
    from lava.magma.core.learning.learning_rule import LoihiLearningRule
    _, pre, _, W = _data(50)
    rule = LoihiLearningRule(dw="x0*3 + u1*x1*2^-2", dt="u1*(t+3)", x1_impulse=5.5, x1_tau=3,
                             t_epoch=2, rng_seed=2)
    _assert_same(rule, W, pre)


def test_3f_tau_65535_drift(lava):
    """A 3F post trace decays with tau = 65535 inside the epoch: y = 127 becomes 126 when the
    epoch's random number exceeds 127 * exp(-1/65535) % 1 (about 0.998). With rng_seed = 49 that
    happens at step 21 (draw 42 of default_rng(51)); the learned weights must follow it."""
    from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
    rng, pre, _, W = _data(60)
    y2 = np.full((N_POST, T), 127)
    rule = Loihi3FLearningRule(dw="u0*x1*y2*2^-3", x1_impulse=20, x1_tau=5, rng_seed=49)
    theirs = _lava(rule, W, pre, ys={2: y2})
    eng = LearningDenseEngine(W, LearningRule.from_lava(rule))
    drifted = []
    for t in range(1, T + 1):
        eng.step(t, pre[:, t - 1], y2=y2[:, t - 1])
        if np.all(eng._Hy[-1, 1] == 126):      # the y2 the products saw this epoch
            drifted.append(t)
    assert drifted and drifted[0] == 21
    np.testing.assert_array_equal(eng.weights, theirs["weights"])
    np.testing.assert_array_equal(eng.y2, theirs["y2"])
