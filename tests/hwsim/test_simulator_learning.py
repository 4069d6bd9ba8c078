"""Learning projections in the simulator (no Lava): the per-step path against an independent
step-by-step reference built from numpy LIF arithmetic (lava-semantics.md 1.1/1.2) and one
:class:`LearningDenseEngine` per learning projection; batches, continued runs, reset, counters and
the IR's validation of learning parameters.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim import ChipSpec, Network, SpecError
from hwsim.counters import estimate
from hwsim.learning import LearningDenseEngine, LearningRule, reward_modulated_stdp, stdp_loihi
from hwsim.mapper import map_network
from hwsim.simulator import Simulator

from .test_learning_outer import SPECS, outer_rules


# ---------------------------------------------------------------------------------------------
# reference: Lava's processes step by step (dense, binary or graded-overwrite pre spikes, no delays; LIF without bias)
# ---------------------------------------------------------------------------------------------
def _lif(u, v, a, pop):
    p = u * (4096 - (pop.du + 1))
    uc = np.sign(p) * (np.abs(p) >> 12) + (a << 6)
    w = np.where(uc > 2 ** 23, uc - 2 ** 24, uc)
    u = np.where(w <= -2 ** 23, uc + 2 ** 24, w)
    q = v * (4096 - pop.dv)
    v = np.clip(np.sign(q) * (np.abs(q) >> 12) + u, -(2 ** 23 - 1), 2 ** 23 - 1)
    s = v > (pop.vth << 6)
    v = np.where(s, 0, v)
    return u, v, s


def _truncate(w, sign_mode, nwb):
    ntb = 8 - nwb + (sign_mode == "mixed")
    return (np.asarray(w, np.int64) >> ntb) << ntb


def reference_run(net: Network, inputs: dict, T: int):
    """Spikes, u, v (T, n) per population and weights (T, n_dst, n_src) per learning projection."""
    pops = net.populations
    u = {k: p.u_init.astype(np.int64) for k, p in pops.items()}
    v = {k: p.v_init.astype(np.int64) for k, p in pops.items()}
    buf = {k: np.zeros(net.node(p.dst).size, np.int64) for k, p in net.projections.items()}
    eng = {k: LearningDenseEngine(p.weights, p.learning, weight_exp=p.weight_exp,
                                  num_weight_bits=p.num_weight_bits, sign_mode=p.sign_mode, spec=net.spec,
                                  graded_spike_cfg=p.graded_spike_cfg, rounding=p.rounding)
           for k, p in net.projections.items() if p.learning is not None}
    out = {"s": {k: [] for k in pops}, "u": {k: [] for k in pops}, "v": {k: [] for k in pops},
           "w": {k: [] for k in eng}}
    for t in range(1, T + 1):
        spk = {}
        for k, pop in pops.items():
            a = sum((buf[q] for q, p in net.projections.items() if p.dst == k), np.zeros(pop.size, np.int64))
            a = ((a + 2 ** 31) % 2 ** 32) - 2 ** 31
            u[k], v[k], spk[k] = _lif(u[k], v[k], a, pop)
            for name, arr in (("s", spk[k]), ("u", u[k]), ("v", v[k])):
                out[name][k].append(arr.astype(np.int64))
        for q, p in net.projections.items():
            if p.src in pops:
                s = spk[p.src]
            else:
                s = np.asarray(inputs.get(p.src, np.zeros((T, net.node(p.src).size), np.int64)))[t - 1]
                s = s if p.graded_spike_cfg == "overwrite" else s != 0      # payloads, or binary spikes
            if q in eng:
                bap = spk[p.dst] if p.bap else None
                ys = {k: np.asarray(inputs[i])[t - 1] for k, i in p.third_factor.items() if i in inputs}
                eng[q].step(t, s, bap=bap, **ys)
                buf[q] = eng[q].a_pending.astype(np.int64)
                out["w"][q].append(eng[q].weights.astype(np.int64))
            else:
                W = _truncate(p.weights, p.sign_mode, p.num_weight_bits)
                acc = W[:, s].sum(axis=1)
                buf[q] = acc << p.weight_exp if p.weight_exp >= 0 else acc >> -p.weight_exp
    res = {k: {n: np.array(a) for n, a in d.items()} for k, d in out.items()}
    res["engines"] = eng
    return res


def assert_matches_reference(net, inputs, T, min_change=1):
    sim = Simulator(net)
    probes = [(p, var) for p in net.populations for var in ("u", "v")]
    rec = sim.run(T, inputs=inputs, probes=probes, record_weights=1)
    ref = reference_run(net, inputs, T)
    for k in net.populations:
        np.testing.assert_array_equal(rec.spikes[k], ref["s"][k], err_msg=f"{k}.s")
        np.testing.assert_array_equal(rec.probes[(k, "u")], ref["u"][k], err_msg=f"{k}.u")
        np.testing.assert_array_equal(rec.probes[(k, "v")], ref["v"][k], err_msg=f"{k}.v")
    for q, eng in ref["engines"].items():
        np.testing.assert_array_equal(rec.weight_history[q], ref["w"][q], err_msg=f"{q}.weights")
        np.testing.assert_array_equal(rec.weights[q], eng.weights)
        np.testing.assert_array_equal(rec.tags[q]["tag_1"], eng.tag_1)
        np.testing.assert_array_equal(rec.tags[q]["tag_2"], eng.tag_2)
        p = net.projections[q]
        assert np.abs(rec.weights[q] - _truncate(p.weights, p.sign_mode, p.num_weight_bits)).sum() >= min_change
    return rec, ref


def stdp_net(seed, t_epoch, two_layers=True, learn_hidden=False):
    rng = np.random.default_rng(seed)
    net = Network(name=f"stdp{seed}")
    net.add_input("in", 12)
    net.add_population("h", 8, du=1024, dv=512, vth=150)
    rule = stdp_loihi(1, 2, -2, 10, 8, t_epoch=t_epoch, rng_seed=5 + seed)
    net.connect_dense("w_in", "in", "h", rng.integers(-40, 90, (8, 12)), learning=rule)
    if two_layers:
        net.add_population("o", 3, du=2048, dv=256, vth=120)
        kw = dict(learning=stdp_loihi(1, 1, -1, 6, 6, t_epoch=t_epoch, rng_seed=11)) if learn_hidden else {}
        net.connect_dense("w_ho", "h", "o", rng.integers(-30, 120, (3, 8)), **kw)
    x = (rng.random((60, 12)) < 0.3).astype(np.int8)
    return net, {"in": x}


@pytest.mark.parametrize("t_epoch", [1, 2, 4])
def test_single_learning_projection_matches_engine(t_epoch):
    net, x = stdp_net(0, t_epoch, two_layers=False)
    rec, ref = assert_matches_reference(net, x, 60)
    assert rec.spikes["h"].sum() > 0
    # the counters come from the engine
    c = ref["engines"]["w_in"].counters
    tot = rec.counters.total()
    assert tot["trace_updates"] == c.trace_updates > 0
    assert tot["synapse_updates"] == c.total_synapse_updates > 0
    assert tot["weight_writebacks"] == c.weight_writebacks


@pytest.mark.parametrize("learn_hidden", [False, True])
def test_two_layers_and_population_source(learn_hidden):
    net, x = stdp_net(1, 2, two_layers=True, learn_hidden=learn_hidden)
    rec, _ = assert_matches_reference(net, x, 60)
    assert rec.spikes["o"].sum() > 0


@pytest.mark.parametrize("with_bap", [False, True])
def test_3f_signed_third_factor_from_an_input(with_bap):
    rng = np.random.default_rng(4)
    net = Network()
    net.add_input("in", 10)
    net.add_input("err", 6, graded=True)
    net.add_population("p", 6, du=1500, dv=700, vth=100)
    rule = LearningRule(dw="-2^-3*u0*x1*y2", x1_impulse=20, x1_tau=5, t_epoch=2, rng_seed=3, kind="3F")
    proj = net.connect_dense("w", "in", "p", rng.integers(-60, 100, (6, 10)), learning=rule,
                             third_factor={"y2": "err"}, bap=with_bap or None)
    assert proj.bap is with_bap                       # a 3F rule without y0 has no bap by default
    T = 50
    x = {"in": (rng.random((T, 10)) < 0.3).astype(np.int8), "err": rng.integers(-128, 128, (T, 6))}
    assert_matches_reference(net, x, T)


def test_reward_modulated_stdp():
    rng = np.random.default_rng(5)
    net = Network()
    net.add_input("in", 10)
    net.add_input("post_trace", 5, graded=True)
    net.add_input("reward", 5, graded=True)
    net.add_population("p", 5, du=1500, dv=700, vth=80)
    rule = reward_modulated_stdp(1, 2, -2, 10, 10, 16, 16, 0.5, t_epoch=1, rng_seed=7)
    proj = net.connect_dense("w", "in", "p", rng.integers(-60, 100, (5, 10)), learning=rule,
                             third_factor={"y1": "post_trace", "y2": "reward"})
    assert proj.bap                                   # its dt uses y0
    T = 50
    x = {"in": (rng.random((T, 10)) < 0.3).astype(np.int8), "post_trace": rng.integers(0, 128, (T, 5)),
         "reward": rng.integers(-128, 128, (T, 5))}
    rec, ref = assert_matches_reference(net, x, T)
    assert np.any(rec.tags["w"]["tag_1"] != 0)


def test_missing_inputs_are_silent():
    rng = np.random.default_rng(6)
    net = Network()
    net.add_input("in", 4)
    net.add_input("y", 3, graded=True)
    net.add_population("p", 3, vth=1, bias_mant=0)
    rule = LearningRule(dw="2^-2*u0*x1*y2 - x0", x1_impulse=20, x1_tau=5, rng_seed=1, kind="3F")
    net.connect_dense("w", "in", "p", rng.integers(-60, 60, (3, 4)), learning=rule, third_factor={"y2": "y"})
    rec = Simulator(net).run(5)
    ref = reference_run(net, {}, 5)
    np.testing.assert_array_equal(rec.weights["w"], ref["engines"]["w"].weights)


# ---------------------------------------------------------------------------------------------
# wide int16 rows (n_post >= 32): the learning phase's forward sums and its int16 delta rows
# ---------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=outer_rules(), spec=st.sampled_from(SPECS), sign_mode=st.sampled_from(["mixed", "excitatory"]),
       rounding=st.sampled_from(["stochastic", "nearest", "floor"]), pre_rate=st.sampled_from([0.1, 0.5]),
       n_post=st.sampled_from([33, 64]), seed=st.integers(0, 1000))
def test_wide_int16_rows_match_engine(rule, spec, sign_mode, rounding, pre_rate, n_post, seed):
    """Random outer rules (one to three products per target, x0 / u / y0 dependencies, every rounding) on
    wide int16 rows (n_post >= 32, where the outer path's wide int16 forms apply), run by the Simulator's
    compiled learning phase: spikes, u, v, weights and tags at every step equal the step-by-step
    engine's. Some random rules change no weight in 16 steps (a tag-only rule), so no change is
    required (``min_change=0``); the OTTT test below requires one."""
    rng = np.random.default_rng(seed)
    n_pre, T = 40, 16
    net = Network(spec=spec)
    net.add_input("in", n_pre)
    net.add_population("h", n_post, du=4095, dv=2048, vth=60)
    lo, hi = spec.weight_range(sign_mode)
    kw = {}
    x = {"in": (rng.random((T, n_pre)) < pre_rate).astype(np.int8)}
    if rule.kind == "3F":
        for k in ("y1", "y2", "y3"):
            net.add_input(k, n_post, graded=True)
            x[k] = rng.integers(-200, 200, (T, n_post))
        kw["third_factor"] = {"y1": "y1", "y2": "y2", "y3": "y3"}
    net.connect_dense("w", "in", "h", rng.integers(lo, hi + 1, (n_post, n_pre)), learning=rule,
                      sign_mode=sign_mode, num_weight_bits=spec.weight_bits, rounding=rounding, **kw)
    assert_matches_reference(net, x, T, min_change=0)


@pytest.mark.parametrize("n_post", [16, 64])
@pytest.mark.parametrize("payload", [1, 40, 255])
def test_ottt_first_layer_forward_sum_matches_engine(n_post, payload):
    """OTTT's first layer, ``dw = -2^-7 x0 x1 y2``: binary spikes (payload 1) or graded spikes of one
    payload (the forward sum in int16 lanes, multiplied by the payload); wide (64) and narrow (16) rows:
    spikes, u, v, weights and tags equal the step-by-step engine's at every step."""
    rng = np.random.default_rng(n_post + payload)
    n_pre, T = 50, 24
    graded = payload > 1
    net = Network()
    net.add_input("in", n_pre, graded=graded)
    net.add_input("err", n_post, graded=True)
    net.add_population("h", n_post, du=4095, dv=2048, vth=2000 if graded else 20)
    rule = LearningRule(dw="-1*2^-7*x0*x1*y2", x1_impulse=0 if graded else 60, x1_tau=4, kind="3F", rng_seed=3)
    net.connect_dense("w", "in", "h", rng.integers(-30, 31, (n_post, n_pre)), learning=rule,
                      third_factor={"y2": "err"}, graded_spike_cfg="overwrite" if graded else "regular")
    x = {"in": (rng.random((T, n_pre)) < 0.3) * payload, "err": rng.integers(-127, 128, (T, n_post))}
    rec, _ = assert_matches_reference(net, x, T)
    assert rec.spikes["h"].sum() > 0


# ---------------------------------------------------------------------------------------------
# batches, continued runs, reset
# ---------------------------------------------------------------------------------------------
def test_batch_instances_learn_their_own_weights():
    net, _ = stdp_net(2, 2)
    rng = np.random.default_rng(7)
    T, B = 40, 3
    x = (rng.random((T, B, 12)) < 0.3).astype(np.int8)
    rec = Simulator(net).run(T, inputs={"in": x}, record_weights=5)
    assert rec.weights["w_in"].shape == (B, 8, 12) and rec.weight_history["w_in"].shape == (T // 5, B, 8, 12)
    total = 0
    for b in range(B):
        one = Simulator(net).run(T, inputs={"in": x[:, b]}, record_weights=5)
        for p in net.populations:
            np.testing.assert_array_equal(rec.spikes[p][:, b], one.spikes[p])
        np.testing.assert_array_equal(rec.weights["w_in"][b], one.weights["w_in"])
        np.testing.assert_array_equal(rec.weight_history["w_in"][:, b], one.weight_history["w_in"])
        total += one.counters.synapse_updates.sum()
    assert rec.counters.synapse_updates.sum() == total
    assert not np.array_equal(rec.weights["w_in"][0], rec.weights["w_in"][1])


@pytest.mark.parametrize("chunk", [1, 7, 10])
def test_compiled_chunks_give_the_same_run(monkeypatch, chunk):
    """Long runs are cut into compiled calls of ``_LEARN_CHUNK`` steps (the random draws held are
    bounded); where the cuts fall changes nothing, weight history and counters included."""
    import hwsim.simulator as S

    net, x = stdp_net(5, 2, learn_hidden=True)
    whole = Simulator(net).run(60, inputs=x, record_weights=4)
    monkeypatch.setattr(S, "_LEARN_CHUNK", chunk)
    cut = Simulator(net).run(60, inputs=x, record_weights=4)
    for p in net.populations:
        np.testing.assert_array_equal(cut.spikes[p], whole.spikes[p])
    for q in ("w_in", "w_ho"):
        np.testing.assert_array_equal(cut.weight_history[q], whole.weight_history[q])
        np.testing.assert_array_equal(cut.weights[q], whole.weights[q])
    for f in ("trace_updates", "synapse_updates", "weight_writebacks", "synaptic_ops"):
        np.testing.assert_array_equal(getattr(cut.counters, f), getattr(whole.counters, f))


def test_parallel_batch_equals_one_instance_at_a_time():
    """B = 9 instances run in numba's threads (chunks of instances) with their own learning state."""
    net, _ = stdp_net(6, 1, learn_hidden=True)
    rng = np.random.default_rng(9)
    T, B = 30, 9
    x = (rng.random((T, B, 12)) < 0.3).astype(np.int8)
    rec = Simulator(net).run(T, inputs={"in": x})
    for b in (0, 4, 8):
        one = Simulator(net).run(T, inputs={"in": x[:, b]})
        for q in ("w_in", "w_ho"):
            np.testing.assert_array_equal(rec.weights[q][b], one.weights[q])
        np.testing.assert_array_equal(rec.spikes["o"][:, b], one.spikes["o"])


def test_second_run_continues_learning_and_reset_restores_weights():
    net, x = stdp_net(3, 2)
    long = Simulator(net).run(60, inputs=x)
    sim = Simulator(net)
    a = sim.run(23, inputs={"in": x["in"][:23]})
    b = sim.run(37, inputs={"in": x["in"][23:]})
    for p in net.populations:
        np.testing.assert_array_equal(np.concatenate([a.spikes[p], b.spikes[p]]), long.spikes[p])
    np.testing.assert_array_equal(b.weights["w_in"], long.weights["w_in"])
    np.testing.assert_array_equal(sim.learned_weights()["w_in"][0], long.weights["w_in"])
    assert not np.array_equal(a.weights["w_in"], b.weights["w_in"])
    np.testing.assert_array_equal(a.counters.concatenate(b.counters).synapse_updates, long.counters.synapse_updates)
    sim.reset()
    assert sim.learned_weights() is None
    again = sim.run(60, inputs=x)
    np.testing.assert_array_equal(again.weights["w_in"], long.weights["w_in"])
    np.testing.assert_array_equal(again.spikes["o"], long.spikes["o"])


def test_static_network_keeps_the_fast_path():
    net, x = stdp_net(4, 1)
    static = Network()
    for node in net.inputs.values():
        static.add_input(node.name, node.shape)
    for p in net.populations.values():
        static.add_population(p.name, p.shape, du=p.du, dv=p.dv, vth=p.vth)
    for p in net.projections.values():
        static.connect_dense(p.name, p.src, p.dst, p.weights, sign_mode=p.sign_mode)
    sim = Simulator(static)
    assert not sim.learns and Simulator(net).learns
    rec = sim.run(60, inputs=x)
    assert rec.weights == {} and rec.counters.synapse_updates.sum() == 0
    with pytest.raises(ValueError, match="no learning projection"):
        sim.run(5, record_weights=1)
    with pytest.raises(ValueError, match=r"record_weights=-1 is outside the allowed range"):
        Simulator(net).run(5, record_weights=-1)


# ---------------------------------------------------------------------------------------------
# counters over several cores
# ---------------------------------------------------------------------------------------------
def test_learning_counters_on_the_destination_cores():
    spec = ChipSpec(compartments_per_core=3)
    rng = np.random.default_rng(8)
    net = Network(spec)
    net.add_input("in", 10)
    net.add_population("h", 8, du=1024, dv=512, vth=150)
    net.add_population("o", 4, du=1024, dv=512, vth=50)
    net.connect_dense("w_in", "in", "h", rng.integers(-40, 90, (8, 10)),
                      learning=stdp_loihi(1, 2, -2, 10, 8, t_epoch=2, rng_seed=2))
    net.connect_dense("w_ho", "h", "o", rng.integers(0, 100, (4, 8)))
    x = (rng.random((40, 10)) < 0.3).astype(np.int8)
    mapping = map_network(net)
    rec = Simulator(net, mapping=mapping).run(40, inputs={"in": x})
    ref = reference_run(net, {"in": x}, 40)["engines"]["w_in"].counters
    h_cores = mapping.cores_of("h")
    assert len(h_cores) == 3
    c = rec.counters
    others = [k for k in range(c.n_cores) if k not in h_cores]
    for f, total in (("trace_updates", ref.trace_updates), ("synapse_updates", ref.total_synapse_updates),
                     ("weight_writebacks", ref.weight_writebacks)):
        arr = getattr(c, f)
        assert arr.sum() == total > 0
        assert arr[:, others].sum() == 0
        per_core = arr[:, h_cores].sum(axis=0)
        assert per_core.min() > 0                      # split in proportion to 3, 3, 2 compartments
    assert (c.synapse_updates.sum(axis=1) > 0).sum() == 40 // 2   # learning only at epoch ends
    assert estimate(c)["energy_learning_J"] > 0


# ---------------------------------------------------------------------------------------------
# IR validation
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def base():
    net = Network()
    net.add_input("in", 4)
    net.add_input("g", 4, graded=True)
    net.add_input("y", 3, graded=True)
    net.add_input("yb", 3)
    net.add_input("y4", 4, graded=True)
    net.add_population("p", 3)
    net.add_population("t", 3, kind="ternary_lif", vth_lo=-5)
    return net


RULE_2F = stdp_loihi(1, 2, -2, 10, 8, rng_seed=1)
RULE_3F = LearningRule(dw="-2^-3*u0*x1*y2", x1_impulse=20, x1_tau=5, rng_seed=3, kind="3F")
RULE_PLAIN = LearningRule(dw="2^-3*u0*x1", x1_impulse=20, x1_tau=5, rng_seed=3, kind="plain")
W = np.ones((3, 4), np.int64)


def test_learning_defaults(base):
    p = base.connect_dense("a", "in", "p", W, learning=RULE_2F)
    assert p.sign_mode == "mixed" and p.bap and p.third_factor == {} and p.learning is RULE_2F
    q = base.connect_dense("b", "in", "p", W, learning=RULE_3F, third_factor={"y2": "y"})
    assert not q.bap and q.third_factor == {"y2": "y"}
    r = base.connect_dense("c", "in", "p", W, learning=RULE_PLAIN, sign_mode="excitatory")
    assert not r.bap and r.sign_mode == "excitatory"
    s = base.connect_dense("d", "in", "p", W)
    assert s.learning is None and not s.bap and s.third_factor == {} and s.sign_mode == "excitatory"
    assert [x.name for x in base.learning_projections()] == ["a", "b", "c"]


@pytest.mark.parametrize("call, match", [
    (lambda n: n.connect_sparse("x", "in", "p", [0], [0], [1], learning=RULE_2F),
     r"learning is supported on dense projections only .* not on sparse"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_2F, delays=np.ones((3, 4), int)),
     r"delays are not allowed with learning"),
    (lambda n: n.connect_dense("x", "g", "p", W, learning=RULE_2F),
     r"learning needs binary pre spikes, src='g' is a graded input"),
    (lambda n: n.connect_dense("x", "t", "p", np.ones((3, 3), int), learning=RULE_2F),
     r"src='t' is a ternary population"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_2F, graded=True),
     r"learning needs binary pre spikes"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=stdp_loihi(1, 2, -2, 10, 8)),
     r"learning.rng_seed=None; pass an integer seed"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning="dw=x0"),
     r"learning=str must be a hwsim.learning.LearningRule"),
    (lambda n: n.connect_dense("x", "in", "p", W, bap=True),
     r"bap=True, third_factor=None, graded_spike_cfg='regular' and rounding='stochastic' need learning="),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_PLAIN, bap=True),
     r"bap=True but learning.kind='plain'"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_2F, bap=1),
     r"bap=1 must be True, False or None"),
    (lambda n: n.connect_dense("x", "in", "t", W, learning=RULE_2F),
     r"bap=True needs binary dst spikes; dst='t' is a ternary population"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_2F, third_factor={"y2": "y"}),
     r"third_factor=\{'y2': 'y'\} needs a 3F rule; learning.kind='2F'"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_3F, third_factor={"y4": "y"}),
     r"third_factor key\(s\) \['y4'\] are not among \('y1', 'y2', 'y3'\)"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_3F, third_factor={"y2": "nope"}),
     r"third_factor\['y2'\]='nope' is neither a graded input nor an error / learning population"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_3F, third_factor={"y2": "p"}),
     r"third_factor\['y2'\]='p' is a 'lif' population; a population third factor must be graded"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_3F, third_factor={"y2": "yb"}),
     r"third_factor\['y2'\]='yb' must be a graded input"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_3F, third_factor={"y2": "y4"}),
     r"third_factor\['y2'\]='y4' has shape \(4,\), expected the dst shape \(3,\)"),
    (lambda n: n.connect_dense("x", "in", "p", W, learning=RULE_3F, third_factor=["y2"]),
     r"third_factor must be a dict"),
    (lambda n: n.connect_dense("x", "in", "p", np.full((3, 4), 300), learning=RULE_2F),
     r"weights\[0, 0\]=300 is outside the allowed range \[-256, 255\]"),
])
def test_learning_validation(base, call, match):
    with pytest.raises(SpecError, match=match):
        call(base)
    assert "x" not in base.projections


def test_conv_learning_is_refused():
    net = Network()
    net.add_input("img", (1, 4, 4))
    net.add_population("c", (1, 3, 3))
    with pytest.raises(SpecError, match=r"projection 'k': learning is supported on dense projections only"):
        net.connect_conv("k", "img", "c", np.ones((1, 1, 2, 2), int), learning=RULE_2F)


# ---------------------------------------------------------------------------------------------
# overflow policies on the per-step path
# ---------------------------------------------------------------------------------------------
def _overflowing(learning: bool):
    """p's u grows by 2**20 per input (no decay) and wraps after 8 steps; a learning side branch."""
    net = Network()
    net.add_input("in", 1)
    net.add_input("x", 3)
    net.add_population("p", 2, du=-1, dv=0, vth=(1 << 17) - 1)
    net.add_population("h", 2, vth=5)
    net.connect_dense("w", "in", "p", [[255], [255]], sign_mode="excitatory", weight_exp=6)
    kw = dict(learning=stdp_loihi(1, 2, -2, 10, 8, rng_seed=1)) if learning else dict(sign_mode="mixed")
    net.connect_dense("l", "x", "h", [[20, 30, 40], [10, 50, 60]], **kw)
    return net


@pytest.mark.parametrize("policy", ["wrap", "saturate", "raise"])
def test_overflow_policies_match_the_fast_path(policy):
    T = 12
    x = {"in": np.ones((T, 1), np.int8), "x": np.ones((T, 3), np.int8)}
    results = []
    for learning in (False, True):
        sim = Simulator(_overflowing(learning), overflow=policy)
        if policy == "raise":
            from hwsim.overflow import StateOverflowError
            with pytest.raises(StateOverflowError) as exc:
                sim.run(T, inputs=x)
            results.append((exc.value.population, exc.value.variable, exc.value.time_step, exc.value.row))
            with pytest.raises(RuntimeError, match="call reset"):
                sim.run(1)
        else:
            rec = sim.run(T, inputs=x, probes=[("p", "u"), ("p", "v")])
            results.append((rec.probes[("p", "u")].tolist(), rec.probes[("p", "v")].tolist(), rec.overflow))
    assert results[0] == results[1]


def test_int32_wrap_of_a_learning_projection_is_counted_and_raises():
    """A learning projection's activation that wraps the int32 input slot (Lava's int32 channel sum)
    is counted in the destination's overflow, and overflow='raise' stops on it naming the projection."""
    from hwsim.overflow import SynapseOverflowError

    net = Network()
    net.add_input("g", 300, graded=True)
    net.add_population("p", 2, vth=1)
    rule = LearningRule(dw="2^-7*u0*x1", x1_impulse=0, x1_tau=5, rng_seed=1, kind="plain")
    net.connect_dense("big", "g", "p", np.full((2, 300), 255), weight_exp=7, learning=rule,
                      graded_spike_cfg="overwrite")
    x = {"g": np.full((3, 300), 255)}
    exact = 300 * 254 * 255 * 128                       # mixed truncation: 255 -> 254
    assert exact > 2 ** 31
    rec = Simulator(net).run(3, inputs=x, probes=[("p", "u")])
    assert rec.overflow["p"] >= 2
    with pytest.raises(SynapseOverflowError, match="big"):
        Simulator(net, overflow="raise").run(3, inputs=x)
