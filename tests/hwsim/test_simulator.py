"""Simulator API: batches equal single instances, runs continue, overflow policies, input errors."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim import Network
from hwsim.overflow import StateOverflowError
from hwsim.simulator import RunRecord, Simulator


def mixed_net(seed=0) -> Network:
    """Every synapse kind: dense (+delays, recurrent), sparse (+delays), conv, graded input, ternary, reset."""
    rng = np.random.default_rng(seed)
    net = Network()
    net.add_input("img", (2, 6, 5))
    net.add_input("g", 4, graded=True)
    net.add_population("c", (3, 4, 3), du=300, dv=400, vth=40, bias_mant=rng.integers(-5, 5, 36), bias_exp=2)
    net.add_population("t", 7, du=100, dv=900, vth=30, vth_lo=-30, kind="ternary_lif")
    net.add_population("r", 5, du=0, dv=200, vth=25, kind="lif_reset", reset_interval=5, reset_offset=2)
    net.connect_conv("k", "img", "c", rng.integers(-200, 200, (3, 2, 3, 3)), stride=(1, 1), padding=(0, 0))
    net.connect_dense("ct", "c", "t", rng.integers(-60, 60, (7, 36)), delays=rng.integers(0, 4, (7, 36)))
    net.connect_dense("gt", "g", "t", rng.integers(-3, 3, (7, 4)), weight_exp=-2)
    flat = rng.choice(35, 15, replace=False)
    net.connect_sparse("tr", "t", "r", flat // 7, flat % 7, rng.integers(-250, 250, 15),
                       delays=rng.integers(0, 3, 15))
    net.connect_dense("rr", "r", "r", rng.integers(-100, 100, (5, 5)), weight_exp=1)
    net.add_probe("t", "v")
    net.add_probe("r", "u")
    return net


def mixed_inputs(rng, T, B=None):
    lead = (T,) if B is None else (T, B)
    return {"img": (rng.random(lead + (2, 6, 5)) < 0.4).astype(np.int8),
            "g": rng.integers(-1000, 1000, lead + (4,)).astype(np.int32)}


def test_run_record_shapes_and_dtypes():
    net = mixed_net()
    rec = Simulator(net).run(12, inputs=mixed_inputs(np.random.default_rng(0), 12))
    assert isinstance(rec, RunRecord) and rec.batch is None and rec.t_start == 0
    assert rec.spikes["c"].shape == (12, 36) and rec.spikes["c"].dtype == np.int8
    assert rec.probes[("t", "v")].shape == (12, 7) and rec.probes[("t", "v")].dtype == np.int32
    assert set(rec.overflow) == {"c", "t", "r"}
    assert set(np.unique(rec.spikes["t"])) <= {-1, 0, 1}


def test_batch_equals_each_instance_alone():
    rng = np.random.default_rng(1)
    net = mixed_net(1)
    T, B = 25, 5
    x = mixed_inputs(rng, T, B)
    sim = Simulator(net)
    rec = sim.run(T, inputs=x, probes=[("c", "u"), ("c", "s")])
    assert rec.batch == B and rec.spikes["t"].shape == (T, B, 7)
    total = 0
    for b in range(B):
        one = Simulator(net).run(T, inputs={k: v[:, b] for k, v in x.items()}, probes=[("c", "u"), ("c", "s")])
        for p in net.populations:
            np.testing.assert_array_equal(rec.spikes[p][:, b], one.spikes[p])
        for key in one.probes:
            np.testing.assert_array_equal(rec.probes[key][:, b], one.probes[key])
        total += one.counters.synaptic_ops.sum()
    assert rec.counters.synaptic_ops.sum() == total and rec.counters.batch == B


def test_unbatched_input_is_shared_by_the_batch():
    rng = np.random.default_rng(2)
    net = mixed_net(2)
    x = mixed_inputs(rng, 10)
    xb = {"img": x["img"], "g": np.stack([x["g"], -x["g"], x["g"]], axis=1)}
    rec = Simulator(net).run(10, inputs=xb)
    one = Simulator(net).run(10, inputs=x)
    np.testing.assert_array_equal(rec.spikes["c"][:, 0], one.spikes["c"])
    np.testing.assert_array_equal(rec.spikes["c"][:, 2], one.spikes["c"])
    np.testing.assert_array_equal(rec.spikes["t"][:, 2], one.spikes["t"])


def test_second_run_continues_like_one_long_run():
    """Synaptic buffers (delays in flight), LIFReset phase and state carry over; reset() starts again."""
    rng = np.random.default_rng(3)
    net = mixed_net(3)
    x = mixed_inputs(rng, 30)
    long = Simulator(net).run(30, inputs=x)
    sim = Simulator(net)
    a = sim.run(13, inputs={k: v[:13] for k, v in x.items()})
    b = sim.run(17, inputs={k: v[13:] for k, v in x.items()})
    assert b.t_start == 13 and sim.time_step == 30
    for p in net.populations:
        np.testing.assert_array_equal(np.concatenate([a.spikes[p], b.spikes[p]]), long.spikes[p])
    np.testing.assert_array_equal(np.concatenate([a.probes[("r", "u")], b.probes[("r", "u")]]), long.probes[("r", "u")])
    joined = a.counters.concatenate(b.counters)
    np.testing.assert_array_equal(joined.synaptic_ops, long.counters.synaptic_ops)
    sim.reset()
    again = sim.run(30, inputs=x)
    np.testing.assert_array_equal(again.spikes["r"], long.spikes["r"])


def test_missing_input_is_silent_and_batch_argument():
    net = mixed_net()
    sim = Simulator(net)
    rec = sim.run(5, batch=3)
    assert rec.spikes["c"].shape == (5, 3, 36)
    with pytest.raises(ValueError, match="holds 3 instance"):
        sim.run(5)
    sim.reset()
    assert sim.run(5).spikes["c"].shape == (5, 36)


# ---------------------------------------------------------------------------------------------
# overflow policies
# ---------------------------------------------------------------------------------------------
def overflow_net():
    """u grows by 2**20 per step (a = 128 << 7 = 2**14, no decay): wraps after 8 inputs; v (dv=0)
    sums u and clips from the 4th input on (10 * 2**20 > 2**23 - 1)."""
    net = Network()
    net.add_input("in", 1)
    net.add_population("p", 2, du=-1, dv=0, vth=(1 << 17) - 1)
    net.add_population("q", 1, du=4095, dv=4096, vth=1)
    net.connect_dense("w", "in", "p", [[128], [0]], weight_exp=7, sign_mode="excitatory")
    net.add_probe("p", "u")
    net.add_probe("p", "v")
    return net


def test_wrap_policy_counts_and_wraps():
    rec = Simulator(overflow_net(), overflow="wrap").run(12, inputs={"in": np.ones((12, 1), np.int8)})
    u = rec.probes[("p", "u")][:, 0]
    # row k holds u after k inputs (the first input arrives at row 1): k * 2**20, wrapped; 2**23 is kept
    expect = [((k * 2 ** 20 + 2 ** 23) % 2 ** 24) - 2 ** 23 if k * 2 ** 20 != 2 ** 23 else 2 ** 23 for k in range(12)]
    np.testing.assert_array_equal(u, expect)
    assert u[8] == 2 ** 23 and u[9] == -(2 ** 23) + 2 ** 20
    assert rec.overflow["p"] > 0 and rec.overflow["q"] == 0


def test_saturate_policy_clips_u():
    rec = Simulator(overflow_net(), overflow="saturate").run(12, inputs={"in": np.ones((12, 1), np.int8)})
    u = rec.probes[("p", "u")][:, 0]
    np.testing.assert_array_equal(u, [min(k * 2 ** 20, 2 ** 23 - 1) for k in range(12)])
    assert np.all(rec.probes[("p", "v")] <= 2 ** 23 - 1)
    assert rec.overflow["p"] >= 4


def test_raise_policy_names_population_variable_and_step():
    sim = Simulator(overflow_net(), overflow="raise")
    with pytest.raises(StateOverflowError, match=r"population 'p': v was clipped .* at time step 5 \(record row 4\), "
                                                 r"compartment 0") as exc:
        sim.run(8, inputs={"in": np.ones((8, 1), np.int8)})
    assert exc.value.population == "p" and exc.value.variable == "v" and exc.value.time_step == 5
    with pytest.raises(RuntimeError, match="reset"):
        sim.run(2)
    sim.reset()
    sim.run(2)


def test_overflow_policy_validated():
    with pytest.raises(ValueError, match="overflow='clip' is not one of"):
        Simulator(overflow_net(), overflow="clip")


# ---------------------------------------------------------------------------------------------
# bad inputs: clear errors naming the parameter, the value and the allowed range
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("T,inputs,match", [
    (0, {}, r"T=0 is outside the allowed range \[1, 2147483647\]"),
    (2.5, {}, r"T=2.5 is not an integer"),
    (3, {"nope": np.zeros((3, 1))}, r"unknown name\(s\) \['nope'\]"),
    (3, {"img": np.zeros((3, 2, 6))},
     r"inputs\['img'\] has shape \(3, 2, 6\); expected \(T, \*shape\) = \(3, 2, 6, 5\)"),
    (3, {"img": np.zeros((4, 2, 6, 5))}, r"has shape \(4, 2, 6, 5\)"),
    (3, {"img": np.full((3, 2, 6, 5), "a")}, r"inputs\['img'\] has dtype <U1"),
    (3, {"img": np.full((3, 2, 6, 5), 2, np.int8)}, r"inputs\['img'\] at row 0, channel \(0, 0, 0\) is 2, outside the "
                                                     r"allowed range \[0, 1\] \(binary input\)"),
    (3, {"img": np.full((3, 2, 6, 5), 0.5)}, r"is 0.5, not an integer; allowed range \[0, 1\]"),
    (3, {"img": np.full((3, 2, 6, 5), np.nan)}, r"is NaN"),
    (3, {"g": np.full((3, 4), 2 ** 23)},
     r"inputs\['g'\] at row 0, channel \(0,\) is 8388608, outside the allowed range "
                                         r"\[-8388608, 8388607\] \(graded input: message_range\)"),
])
def test_bad_inputs_raise_clear_errors(T, inputs, match):
    with pytest.raises(ValueError, match=match):
        Simulator(mixed_net()).run(T, inputs=inputs)


def test_batch_size_mismatch_and_probe_errors():
    sim = Simulator(mixed_net())
    with pytest.raises(ValueError, match="batch size 3, another input has 2"):
        sim.run(2, inputs={"img": np.zeros((2, 2, 2, 6, 5)), "g": np.zeros((2, 3, 4))})
    with pytest.raises(ValueError, match=r"probe var='w' is not one of"):
        sim.run(2, probes=[("c", "w")])
    with pytest.raises(ValueError, match=r"probe target='img' is not a population"):
        sim.run(2, probes=[("img", "v")])


def test_integral_float_and_bool_inputs_accepted():
    net = mixed_net()
    rng = np.random.default_rng(5)
    x = mixed_inputs(rng, 6)
    a = Simulator(net).run(6, inputs=x)
    b = Simulator(net).run(6, inputs={"img": x["img"].astype(bool), "g": x["g"].astype(np.float64)})
    for p in net.populations:
        np.testing.assert_array_equal(a.spikes[p], b.spikes[p])
