"""Networks with readout / error / learning populations (docs/compartments.md) exported by
:func:`hwsim.export.lava.to_lava` (the fused processes of hwsim/export/lava_kinds.py) and run by Lava
0.10.0 in fixed point, against :class:`hwsim.simulator.Simulator` at every step: u, v and spikes of
the LIF-family populations and readouts, y of the error and learning populations, weights (every step)
and tags of the learning projections.

The oracle is Lava running the exported graph (its own LIF, Dense, DelayDense, LearningDense; the
compartment-kind models are checked against an independent reference in test_lava_kinds.py); nothing
here shares code with the simulator. Each Lava run is small (T <= 30, a few processes: a few seconds).
A control test checks that the comparison fails when the feedback arrives one step late.
"""
import dataclasses

import numpy as np
import pytest

from hwsim import Network
from hwsim.export.lava import UnexportableError, run_lava, to_lava
from hwsim.export.verify import verify_against_lava
from hwsim.learning import LearningRule, stdp_loihi
from hwsim.simulator import Simulator

pytestmark = pytest.mark.lava


def _labels(rng, T, C, hold=10):
    lab = np.zeros((T, C), np.int8)
    lab[np.arange(T), rng.integers(0, C, T // hold + 1).repeat(hold)[:T]] = 1
    return lab


def _identical(net, inputs, T, **kw):
    rep = verify_against_lava(net, inputs, T, **kw)
    assert rep.identical, rep.summary()
    return rep


# ---------------------------------------------------------------------------------------------
# (a) readout + error with a label path; a readout without error; graded messages out of the error
# ---------------------------------------------------------------------------------------------
def readout_net(seed=0, T=30):
    """x -> h (LIF) -> o (readout) + e (error); label -> DelayDense -> e; h -> DelayDense -> r (readout
    alone: HwReadout); e -> graded Dense -> q (LIF)."""
    rng = np.random.default_rng(seed)
    net = Network(name="readout-error")
    net.add_input("x", 6)
    net.add_input("label", 3)
    net.add_population("h", 5, du=3000, dv=400, vth=100)
    net.connect_dense("w", "x", "h", rng.integers(-40, 90, (5, 6)))
    net.add_readout("o", 3, du=1500, dv=700)
    net.add_error("e", "o", tgt=20000, es=10, seed=2 ** 63 - 1)
    net.connect_dense("head", "h", "o", rng.integers(-60, 150, (3, 5)))
    net.connect_dense("lab", "label", "e", 2 * np.eye(3, dtype=np.int64), delays=np.eye(3, dtype=np.int64))
    net.add_readout("r", 2)                                   # defaults: v = a << 6 of the step
    net.connect_dense("hr", "h", "r", rng.integers(-50, 50, (2, 5)), delays=rng.integers(0, 3, (2, 5)))
    net.add_population("q", 4, du=1000, dv=500, vth=200)
    net.connect_dense("eq", "e", "q", rng.integers(-30, 60, (4, 3)), weight_exp=-1)
    x = {"x": (rng.random((T, 6)) < 0.4).astype(np.int8), "label": _labels(rng, T, 3)}
    return net, x, T


def test_readout_error_and_label_path(lava):
    net, x, T = readout_net()
    rep = _identical(net, x, T)
    assert {"o.u", "o.v", "e.y", "r.u", "r.v", "q.s", "h.s"} <= set(rep.compared)
    assert not {"o.s", "e.s", "e.v", "r.s"} & set(rep.compared)       # nothing Lava does not have
    assert rep.compared["e.y"] == T * 3
    rec = Simulator(net).run(T, inputs=x, probes=[("e", "y"), ("q", "v")])
    y = rec.probes[("e", "y")]
    assert (y > 0).any() and (y < 0).any() and 0 < np.isin(y, (-128, 127)).sum() < y.size   # clip, not always
    assert rep.messages["e"][0] == np.count_nonzero(y) and rep.spikes["h"][0] > 0
    assert np.count_nonzero(rec.probes[("q", "v")]) > 10           # the graded messages of e reached q
    graph = to_lava(net, x, T=T)
    graph.close()
    s = graph.summary()
    assert "population 'e' (3,) -> HwReadoutError(3,) (fused with 'o')" in s and "'r' (2,) -> HwReadout(2,)" in s


def test_error_population_as_y1_and_y3(lava):
    """third_factor keys other than y2: the fused process's s_out_y2 feeds s_in_y1 and s_in_y3."""
    net, x, T = readout_net()
    rule = LearningRule(dw="-2^-2*u0*x1*y1+2^-3*u0*x0*y3", x1_impulse=30, x1_tau=6, rng_seed=4, kind="3F")
    net.connect_dense("lrn", "h", "o", np.random.default_rng(3).integers(-60, 150, (3, 5)), learning=rule,
                      third_factor={"y1": "e", "y3": "e"})
    rep = _identical(net, x, T)
    assert rep.compared["lrn.weights"] == T * 15
    w = Simulator(net).run(T, inputs=x).weights["lrn"]
    assert np.abs(w.astype(np.int64) - net.projections["lrn"].weights).sum() > 100


# ---------------------------------------------------------------------------------------------
# (b) LIF + learning compartment, graded feedback from an error population
# ---------------------------------------------------------------------------------------------
def feedback_net(delay, kind="lif", fb_delay=None, seed=1, T=30):
    """x -> h (kind) + hl (learning, delay); h -> o (readout) + e; label -> e; e -> graded Dense (fb) -> hl;
    hl -> graded Dense -> q (LIF). ``fb_delay`` delays the feedback (the control test)."""
    rng = np.random.default_rng(seed)
    net = Network(name=f"feedback-{kind}-d{delay}")
    net.add_input("x", 6)
    net.add_input("label", 3)
    kw = dict(reset_interval=11, reset_offset=4) if kind == "lif_reset" else {}
    net.add_population("h", 5, du=3000, dv=300, vth=100, kind=kind, bias_mant=rng.integers(-5, 6, 5), bias_exp=3,
                       **kw)
    net.add_learning_compartment("hl", "h", lut=[2, 8, 20, 40, 20, 8, 2], lut_shift=9, sh=8, delay=delay,
                                 seed=12345 + delay)
    net.connect_dense("w", "x", "h", rng.integers(-40, 90, (5, 6)))
    net.add_readout("o", 3, du=1500, dv=700)
    net.add_error("e", "o", tgt=20000, es=9, seed=77)
    net.connect_dense("head", "h", "o", rng.integers(-100, 120, (3, 5)))
    net.connect_dense("lab", "label", "e", np.eye(3, dtype=np.int64))
    dl = None if fb_delay is None else np.full((5, 3), fb_delay)
    net.connect_dense("fb", "e", "hl", rng.integers(-60, 60, (5, 3)), delays=dl)
    net.add_population("q", 2, du=1000, dv=500, vth=30)
    net.connect_dense("hq", "hl", "q", rng.integers(-40, 80, (2, 5)))
    x = {"x": (rng.random((T, 6)) < 0.4).astype(np.int8), "label": _labels(rng, T, 3)}
    return net, x, T



@pytest.mark.parametrize("delay, kind, reader", [
    (0, "lif", "fast"), (2, "lif", "lava"), (0, "lif_reset", "fast"),
    (2, "lif_reset", "fast"),
])
def test_learning_compartment_with_feedback(lava, delay, kind, reader):
    net, x, T = feedback_net(delay, kind)
    rep = _identical(net, x, T, reader=reader)
    assert {"h.u", "h.v", "h.s", "hl.y", "e.y", "q.v"} <= set(rep.compared) and "hl.v" not in rep.compared
    rec = Simulator(net).run(T, inputs=x, probes=[("hl", "y"), ("q", "v")])
    y = rec.probes[("hl", "y")]
    assert np.count_nonzero(y) >= 5 and (y > 0).any() and (y < 0).any(), y
    assert 0 < rep.spikes["h"][0] < T * 5
    assert np.count_nonzero(rec.probes[("q", "v")]) > 0             # hl's graded messages reached q
    assert rep.exported_as["fb"] == "Dense" and rep.exported_as["hq"] == "Dense"


def test_one_step_late_feedback_is_caught(lava):
    """Control: Lava runs the same network with the feedback one step late; the comparison must fail,
    first at a learning output y."""
    net, x, T = feedback_net(0)
    late, _, _ = feedback_net(0, fb_delay=1)
    rep = verify_against_lava(net, x, T, runner=lambda _n, *a, **k: run_lava(late, *a, **k))
    assert not rep.identical
    assert (rep.first_mismatch.population, rep.first_mismatch.variable) == ("hl", "y"), rep.summary()
    assert rep.mismatches["hl.y"] > 0


# ---------------------------------------------------------------------------------------------
# (c) an OTTT-shaped chain: both learning projections read their third factor from populations
# ---------------------------------------------------------------------------------------------
def ottt_net(seed, delay, T=30, n_in=8, n_h=6, C=3):
    """img (graded, payloads 2k) -> w1 (3F, overwrite, y2 = hl) -> h (LIF) + hl (learning); h -> w2 (3F,
    y2 = e, with a tag) -> o (readout) + e (error); label -> e; e -> fb (graded, fixed) -> hl."""
    rng = np.random.default_rng(seed)
    net = Network(name=f"ottt-{seed}-d{delay}")
    net.add_input("img", n_in, graded=True)
    net.add_input("label", C)
    net.add_population("h", n_h, du=1200, dv=600, vth=60)
    net.add_learning_compartment("hl", "h", lut=[4, 16, 40, 64, 40, 16, 4], lut_shift=10, sh=10, delay=delay,
                                 seed=seed + 3)
    r1 = LearningRule(dw="1*2^-2*x0*x1*y2", x1_impulse=0, x1_tau=65535, t_epoch=1, rng_seed=seed + 1, kind="3F")
    net.connect_dense("w1", "img", "h", rng.integers(-40, 90, (n_h, n_in)), weight_exp=-8, learning=r1,
                      graded_spike_cfg="overwrite", third_factor={"y2": "hl"})
    net.add_readout("o", C, du=2000, dv=1000)
    net.add_error("e", "o", tgt=1500, es=6, seed=seed + 7)
    r2 = LearningRule(dw="-2^-2*u0*x1*y2", dt="2^-4*x0*y2-u0*t", x1_impulse=30, x1_tau=6, t_epoch=1,
                      rng_seed=seed + 2, kind="3F")
    net.connect_dense("w2", "h", "o", rng.integers(-80, 120, (C, n_h)), learning=r2, third_factor={"y2": "e"})
    net.connect_dense("lab", "label", "e", np.eye(C, dtype=np.int64))
    net.connect_dense("fb", "e", "hl", rng.integers(-40, 40, (n_h, C)))
    img = 2 * rng.integers(0, 128, (T, n_in)) * (rng.random((T, n_in)) < 0.5)
    return net, {"img": img, "label": _labels(rng, T, C)}, T


@pytest.mark.parametrize("seed, delay", [(0, 0), (1, 2)])
def test_ottt_chain_every_step(lava, seed, delay):
    net, x, T = ottt_net(seed, delay)
    lava_out = {}

    def runner(*a, **k):
        lava_out.update(run_lava(*a, **k))
        return lava_out

    rep = _identical(net, x, T, runner=runner)
    assert rep.exported_as["w1"] == rep.exported_as["w2"] == "LearningDense (Loihi3FLearningRule)"
    assert {"h.s", "h.u", "h.v", "hl.y", "o.u", "o.v", "e.y", "w1.weights", "w2.weights", "w2.tag_1"} <= set(rep.compared)
    # the tags at every step (verify compares them at the end): step the simulator one step at a time
    sim = Simulator(net)
    for t in range(T):
        rec = sim.run(1, inputs={k: v[t:t + 1] for k, v in x.items()}, record_weights=1)
        np.testing.assert_array_equal(rec.tags["w2"]["tag_1"], lava_out["tags"]["w2"]["tag_1"][t], err_msg=f"step {t + 1}")
        for p in ("w1", "w2"):
            np.testing.assert_array_equal(rec.weights[p], lava_out["weights"][p][t], err_msg=f"{p} step {t + 1}")
    # what the run exercised
    tag = lava_out["tags"]["w2"]["tag_1"]
    assert tag.any() and len({tag[t].tobytes() for t in range(T)}) > 2          # the tag moves over time
    for p in ("w1", "w2"):
        assert np.any(lava_out["weights"][p][-1] != net.projections[p].weights), p
    assert rep.messages["hl"][0] >= 5 and rep.messages["e"][0] >= 10 and 0 < rep.spikes["h"][0] < T * 6
    graph = to_lava(net, x, T=T)
    graph.close()
    s = graph.summary()
    assert "projection 'w1' img -> h: LearningDense (Loihi3FLearningRule) (s_in_y2 <- HwLearningLIF.s_out_y2 of 'hl')" in s
    assert "(from HwReadoutError.s_out; into HwLearningLIF.a_third_factor_in)" in s


# ---------------------------------------------------------------------------------------------
# what Lava cannot express: UnexportableError naming the part, the value and the limit
# ---------------------------------------------------------------------------------------------
def _small():
    net = Network()
    net.add_input("x", 3)
    net.add_input("label", 3)
    net.add_population("h", 3, vth=20)
    net.connect_dense("w", "x", "h", np.full((3, 3), 40))
    net.add_readout("o", 3)
    net.connect_dense("head", "h", "o", np.eye(3, dtype=np.int64) * 50)
    net.add_error("e", "o", tgt=10, es=2)
    net.add_learning_compartment("hl", "h", lut=[1, 2, 1], lut_shift=8, sh=2)
    net.connect_dense("fb", "e", "hl", np.eye(3, dtype=np.int64) * 5)
    return net


def _replace(mapping, name, **kw):
    mapping[name] = dataclasses.replace(mapping[name], **kw)


def _multi_dim(net):
    net.add_readout("o2", (2, 3))
    net.add_error("e2", "o2", tgt=1, es=0)


def _ternary_partner(net):
    net.add_population("t", 3, kind="ternary_lif", vth_lo=-5)
    _replace(net.populations, "hl", partner="t")


def _learning_from_error(net):
    rule = LearningRule(dw="2^-2*u0*x1", x1_impulse=16, x1_tau=5, rng_seed=1, kind="plain")
    net.connect_dense("le", "x", "h", np.ones((3, 3), int), learning=rule)
    _replace(net.projections, "le", src="e", graded=True)


@pytest.mark.parametrize("change, match", [
    (_multi_dim, r"population 'o2': kind 'readout' with shape \(2, 3\): the Lava processes of the compartment "
                 r"kinds \(hwsim/export/lava_kinds.py\) are 1-D only"),
    (lambda n: n.add_error("e2", "o", tgt=1, es=0),
     r"population 'o' has two error populations, 'e' and 'e2': HwReadoutError fuses an error population with a "
     r"readout, one error population per partner"),
    (lambda n: n.add_learning_compartment("hl2", "h", lut=[1], lut_shift=0, sh=0),
     r"population 'h' has two learning populations, 'hl' and 'hl2'"),
    (_ternary_partner, r"population 'hl' \(learning\): partner='t' is a 'ternary_lif' population; HwLearningLIF "
                       r"fuses a learning compartment with a Lava LIF or LIFReset \(partner kind one of "
                       r"\('lif', 'lif_reset'\)\)"),
    (lambda n: _replace(n.projections, "fb", graded=False),
     r"projection 'fb': src='e' is an error population, whose outputs are graded values y; a non-graded "
     r"projection \(graded=False\)"),
    (_learning_from_error, r"projection 'le': learning with src='e' \(error\)"),
    (lambda n: n.connect_dense("lo", "x", "o", np.ones((3, 3), int), learning=stdp_loihi(1, 1, -1, 4, 4, rng_seed=1)),
     r"projection 'lo': bap=True from dst='o', a readout population, which sends no spikes"),
])
def test_unexportable(lava, change, match):
    net = _small()
    change(net)
    with pytest.raises(UnexportableError, match=match):
        to_lava(net, T=3)


def test_probes_of_the_kinds(lava):
    net = _small()
    with pytest.raises(ValueError, match=r"probe \('e', 'v'\): a 'error' population records \('y',\) in Lava"):
        to_lava(net, T=3, probes=[("e", "v")])
    with pytest.raises(ValueError, match=r"probe \('h', 'y'\): a 'lif' population records \('u', 'v', 's'\)"):
        to_lava(net, T=3, probes=[("h", "y")])
    net.add_probe("e", "v")                        # hwsim records 0 there; Lava has no such Var: not recorded
    net.add_probe("hl", "y")
    graph = to_lava(net, T=3)
    graph.close()
    assert graph.probes == [("hl", "y")]


# ---------------------------------------------------------------------------------------------
# (d) the CLI on a saved network with these kinds
# ---------------------------------------------------------------------------------------------
def test_cli_export_verify_saved_network(lava, tmp_path, capsys):
    import json

    from hwsim.io import save_network
    from scripts.cli import main

    net, _, _ = feedback_net(2)
    path = save_network(net, tmp_path / "kinds.h5")
    js = tmp_path / "v.json"
    code = main(["export", "--to", "lava", "--verify", str(path), "--steps", "25", "--rate", "0.4", "--json", str(js)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "variables s,u,v,y: IDENTICAL" in out and "hl.y" in out and "e.y" in out and "o.v" in out
    report = json.loads(js.read_text())["report"]
    assert report["compared"]["hl.y"] == 25 * 5 and report["messages"]["e"][0] > 0
    assert main(["export", "--to", "lava", str(path), "--steps", "5"]) == 0
    assert "population 'hl' (5,) -> HwLearningLIF(5,) (fused with 'h')" in capsys.readouterr().out


def test_simulator_learning_compartment_after_a_reset():
    """The simulator alone against docs/compartments.md (no Lava): a lif_reset partner (resets at t = 3, 8),
    delay 2, feedback 1 every step, a 2-entry LUT that holds every vpre of the run but not 0. y(t) reads
    vpre(t - 2), which is 0 (outside the table: y = 0) when t - 2 is before the first step or the last reset."""
    net = Network()
    net.add_input("x", 1)
    net.add_input("f", 1, graded=True)
    net.add_population("h", 1, kind="lif_reset", reset_interval=5, reset_offset=3, du=4095, dv=0, vth=300)
    net.add_learning_compartment("hl", "h", lut=[1, 1], lut_shift=14, sh=0, delay=2)
    net.connect_dense("w", "x", "h", [[100]])
    net.connect_dense("fb", "f", "hl", [[1]])
    T = 10
    rec = Simulator(net).run(T, inputs={"x": np.ones((T, 1), np.int8), "f": np.ones((T, 1), np.int32)},
                             probes=[("h", "v"), ("hl", "y")])
    assert rec.probes[("h", "v")][:, 0].tolist() == [0, 6400, 6400, 12800, 19200, 0, 6400, 6400, 12800, 19200]
    assert rec.probes[("hl", "y")][:, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, 0, 0, 1]
