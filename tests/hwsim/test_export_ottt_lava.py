"""The on-chip OTTT learning circuit exported to Lava (hwsim/export/lava.py: mirrors as
HwMirrorLearningDense) and run sample by sample with the host protocol between samples
(hwsim/export/lava_protocol.py: Segment, SampleProtocol; verify_against_lava(segments=...)).

Oracle: Lava 0.10.0's own fixed-point models (LIF, Dense, LearningDense and its learning engine) plus
our fused processes, run by Lava's runtime with Var.get / Var.set between blocking runs; hwsim runs the
same samples with Simulator.run / add_tags_to_weights / reset_dynamics. Every step of every sample
must agree: spikes, u, v, y of every population, every learning projection's weights (and tags at
each sample's end and after the host operations).
"""
import dataclasses

import numpy as np
import pytest

from hwsim.circuits.ottt import OTTTNetwork
from hwsim.export.lava_protocol import SampleProtocol, Segment, check_segments
from hwsim.circuits.ottt_circuit import OTTTCircuit
from hwsim.simulator import Simulator

N_IN, HIDDEN, C, T = 10, (8, 6), 3, 3


def tiny_ottt(online: bool, local: bool, feedback: str, seed: int = 0) -> OTTTNetwork:
    """Hidden (8, 6), T = 3, random integer weights; stochastic rounding active everywhere: the error
    shift es = 3 and the learning-compartment shift sh = 4 (SR of y), the rule 3*2^-2*u0*x1*y2 (SR of
    the weight / tag update) and the trace leak 2048/4096 (SR of the trace decay)."""
    L = len(HIDDEN)
    H = L if local else 1
    c = OTTTCircuit(layer_sizes=(N_IN,) + HIDDEN, n_classes=C, T=T, online=online, local=local, feedback=feedback,
                    wexp=(0, 0), vth=(800, 100), dv=(2048,) * L, du=(4095,) * L, head_wexp=(0,) * H, tgt=(60,) * H,
                    es=(3,) * H, sh=(4, 4), lut=tuple(range(0, 64, 4)) + tuple(range(60, -1, -4)), lut_shift=13,
                    m=(-3,) * (L + H), e=(-2,) * (L + H), x_dec=2048, x_imp=64, seed=seed + 3)
    rng = np.random.default_rng(seed)
    sizes = (N_IN,) + HIDDEN
    W = [rng.integers(-60, 80, (sizes[l + 1], sizes[l])) for l in range(L)]
    heads = [rng.integers(-60, 60, (C, sizes[c.head_layers[h] + 1])) for h in range(H)]
    fb = None if feedback == "mirror" else [rng.integers(-60, 60, (C, sizes[c.head_layers[h] + 1])) for h in range(H)]
    return OTTTNetwork(c, W, heads, fb)


def samples(seed: int = 1, K: int = 3):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 128, (K, N_IN)), np.arange(K) % C


def hwsim_protocol(net, segments) -> dict:
    """The segments on the Simulator with the host operations between them: learned weights at the end."""
    sim = Simulator(net)
    for sg in check_segments(net, segments):
        sim.run(sg.steps, inputs=sg.inputs)
        for op in sg.ops:
            sim.add_tags_to_weights() if op == "add_tags" else sim.reset_dynamics()
    return {k: v[0] for k, v in sim.learned_weights().items()}


CASES = [(online, local, fb) for online in (False, True) for local in (True, False) for fb in ("mirror", "random")]


@pytest.mark.parametrize("online,local,feedback", CASES,
                         ids=[f"{'O' if o else 'A'}-{'local' if lc else 'global'}-{fb}" for o, lc, fb in CASES])
def test_ottt_circuit_runs_bit_identically_in_lava_sample_by_sample(lava, online, local, feedback):
    """OTTT_O / OTTT_A, local / global, mirror / random feedback: 3 samples with the file's host protocol
    between them (OTTT_A: add_tags then reset; OTTT_O: reset) are identical in hwsim and Lava at every
    step; the weights learn."""
    from hwsim.export.verify import verify_against_lava

    chip = tiny_ottt(online, local, feedback)
    net = chip.current_network()
    proto = SampleProtocol(**chip.protocol())
    assert proto.ops == (("reset",) if online else ("add_tags", "reset"))
    X, y = samples()
    segs = proto.segments(net, X, y)
    rep = verify_against_lava(net, None, segments=segs)
    assert rep.identical, rep.summary()
    assert rep.segments == [chip.steps] * 3 and rep.T == 3 * chip.steps
    mirrors = {m.of for m in net.mirrors.values()}
    assert all("HwMirrorLearningDense" in rep.exported_as[p] for p in mirrors)
    assert len(mirrors) == (0 if local else 1) + (len(HIDDEN) if local else 1) * (feedback == "mirror")
    for p in net.learning_projections():                       # weights every step, tags, after the ops
        assert rep.compared[f"{p.name}.weights"] == 3 * chip.steps * p.weights.size
        assert rep.compared[f"{p.name}.weights after host ops"] == 3 * p.weights.size
        if not online:
            assert rep.compared[f"{p.name}.tag_1"] == 3 * p.weights.size
    # activity: spikes, graded errors and learning signals flow
    assert rep.spikes["hidden1"][0] > 10 and sum(rep.messages[f"error{h + 1}"][0] for h in range(len(chip.heads))) > 5
    assert sum(n for k, (n, _) in rep.messages.items() if k.startswith("learning")) > 5
    # the segments are OTTTNetwork.train's protocol: the same learned weights, which did change
    before = chip.weights + chip.heads
    chip.train(X, y)
    after = chip.weights + chip.heads
    learned = hwsim_protocol(net, segs)
    names = [f"w{l + 1}" for l in range(len(HIDDEN))] + [f"head{h + 1}" for h in range(len(chip.heads))]
    for name, w in zip(names, after):
        np.testing.assert_array_equal(learned[name], w, err_msg=name)
    changed = [int(np.count_nonzero(a != b)) for a, b in zip(before, after)]
    assert all(n > 0 for n in changed[len(HIDDEN):]) and sum(changed[:len(HIDDEN)]) > 0, changed


def test_a_missing_lava_reset_is_detected(lava, monkeypatch):
    """Skipping reset_dynamics_lava on the Lava side (hwsim still resets) fails the comparison, in the
    second sample."""
    import hwsim.export.lava_protocol as lp
    from hwsim.export.verify import verify_against_lava

    chip = tiny_ottt(False, True, "mirror")
    net = chip.current_network()
    X, y = samples()
    segs = SampleProtocol(**chip.protocol()).segments(net, X, y)
    monkeypatch.setattr(lp, "reset_dynamics_lava", lambda procs: {})
    rep = verify_against_lava(net, None, segments=segs)
    assert not rep.identical
    assert rep.segment_of(rep.first_mismatch.step)[0] == 2
    assert "segment 2" in rep.summary()


def test_lava_learning_dense_without_the_var_set_fix_diverges(lava, monkeypatch):
    """Why PyHostLearningDenseModel exists: with Lava's own LearningDense model, a Var.set (here the host
    protocol's) re-reads the rule's trace time constant from an int Var (1.44 -> 1), and Lava then
    differs from hwsim -- and from itself without the Var.set."""
    import hwsim.export.lava_mirror as lm
    from hwsim.export.verify import verify_against_lava

    chip = tiny_ottt(True, True, "random")                 # no mirror: only plain LearningDense
    net = chip.current_network()
    X, y = samples()
    segs = SampleProtocol(**chip.protocol()).segments(net, X, y)
    monkeypatch.setattr(lm, "host_exception_map", lambda procs: {})
    rep = verify_against_lava(net, None, segments=segs)
    assert not rep.identical and rep.first_mismatch.step > chip.steps


def test_a_mirror_outside_the_back_exp_range_is_refused(lava):
    from hwsim.export.lava import UnexportableError, to_lava

    net = tiny_ottt(True, True, "mirror").current_network()
    m = net.mirrors["feedback1"]
    net.mirrors["feedback1"] = dataclasses.replace(m, weight_exp=17)     # beyond any ChipSpec's range
    with pytest.raises(UnexportableError, match=r"mirror 'feedback1' \(of 'head1'\): weight_exp=17 .*\[-16, 16\]"):
        to_lava(net, T=3)


def test_bad_segments_and_protocols_are_refused_before_running():
    from hwsim.export.verify import verify_against_lava
    from hwsim.network import Network

    chip = tiny_ottt(False, True, "mirror")
    net = chip.current_network()
    X, y = samples()
    with pytest.raises(ValueError, match=r"segments\[0\].ops=\('reset', 'shuffle'\): each must be one of"):
        check_segments(net, [Segment(ops=("reset", "shuffle"), steps=2)])
    with pytest.raises(ValueError, match=r"segments\[1\].steps=0 must be an integer >= 1"):
        check_segments(net, [Segment(steps=2), Segment(steps=0)])
    with pytest.raises(ValueError, match=r"segments\[0\]: inputs has unknown name"):
        check_segments(net, [Segment(inputs={"nope": np.zeros((2, 3))})])
    plain = Network(name="plain")
    plain.add_input("x", (2,))
    plain.add_population("h", (2,), vth=10)
    plain.connect_dense("w", "x", "h", np.eye(2, dtype=np.int64))
    with pytest.raises(ValueError, match="'add_tags' needs learning projections; network 'plain' has none"):
        check_segments(plain, [Segment(ops=("add_tags",), steps=2)])
    segs = SampleProtocol(**chip.protocol()).segments(net, X, y)
    with pytest.raises(ValueError, match="either inputs / T or segments"):
        verify_against_lava(net, {"input": np.zeros((2, N_IN))}, segments=segs)
    with pytest.raises(ValueError, match="run in Lava only"):
        verify_against_lava(net, None, segments=segs, runner=lambda *a, **k: None)
    proto = chip.protocol()
    for bad, match in (({"host_ops": "reset,reset"}, "host_ops='reset,reset'"),
                       ({"input_steps": 99}, r"input_steps=99 is outside \[1, sample_steps=7\]"),
                       ({"sample_steps": 2.5}, "sample_steps=2.5 must be an integer")):
        with pytest.raises(ValueError, match=match):
            SampleProtocol(**{**proto, **bad})
    sp = SampleProtocol(**proto)
    with pytest.raises(ValueError, match=r"payloads in \[128, 128\], outside \[0, 127\]"):
        sp.segments(net, np.full((1, N_IN), 128), [0])
    with pytest.raises(ValueError, match=r"expected \(K, 10\) or \(K, Tx, 10\)"):
        sp.segments(net, np.zeros((1, 9), np.int64), [0])
    with pytest.raises(ValueError, match=r"expected 1 integers in \[0, 2\]"):
        sp.segments(net, np.zeros((1, N_IN), np.int64), [3])
    with pytest.raises(ValueError, match="payload_input='x' is not a graded input"):
        SampleProtocol(**{**proto, "payload_input": "x"}).check(plain)


def test_protocol_segments_encode_the_sample_as_ottt_network_train_does():
    """Closed form of the frames: payload << 1 for the first T steps, one-hot label for T steps, silent
    drain; OTTT_A's ops in order."""
    chip = tiny_ottt(False, False, "random")
    net = chip.current_network()
    X, y = samples(K=2)
    segs = SampleProtocol(**chip.protocol()).segments(net, X, y)
    assert [sg.steps for sg in segs] == [chip.steps] * 2 and chip.steps == T + 3 * len(HIDDEN)
    for k, sg in enumerate(segs):
        x = sg.inputs["input"]
        np.testing.assert_array_equal(x[:T], np.tile(2 * X[k], (T, 1)))
        assert not x[T:].any()
        lab = sg.inputs["label"]
        assert lab[:T, y[k]].all() and lab.sum() == T
        assert sg.ops == ("add_tags", "reset")


def test_saved_network_keeps_learned_weights_and_protocol(tmp_path):
    from hwsim.io import FormatError, load_network, load_protocol, save_network

    chip = tiny_ottt(False, True, "mirror")
    X, y = samples()
    chip.train(X, y)
    path = save_network(chip.current_network(), tmp_path / "ottt.h5", protocol=chip.protocol())
    net = load_network(path)
    for name, w in zip(("w1", "w2", "head1", "head2"), chip.weights + chip.heads):
        np.testing.assert_array_equal(net.projections[name].weights, w)
    assert list(net.mirrors) == ["feedback1", "feedback2"]
    assert load_protocol(path) == chip.protocol()
    assert load_protocol(save_network(net, tmp_path / "plain.h5")) is None
    with pytest.raises(ValueError, match=r"protocol has unknown field\(s\) \['extra'\]"):
        save_network(net, tmp_path / "bad.h5", protocol={**chip.protocol(), "extra": 1})
    import h5py
    with h5py.File(path, "r+") as f:            # hand-edited: a wrong type
        f["protocol"].attrs["sample_steps"] = "seven"
    with pytest.raises(FormatError, match="sample_steps"):
        load_protocol(path, verify=False)


def test_weights_before_the_first_run_are_what_the_engines_start_from():
    """OTTTNetwork.weights before any run: the truncated mantissas the learning engines (and Lava's first
    run_spk) start from, here odd mixed 8-bit weights losing their LSB; a run with no learning signal
    leaves exactly those (the float twin copies them)."""
    chip = tiny_ottt(online=True, local=True, feedback="mirror")
    W_ir = chip.net.projections["w1"].weights
    assert np.any(W_ir % 2 != 0)
    np.testing.assert_array_equal(chip.weights[0], (np.asarray(W_ir) >> 1) << 1)
    chip.sim.run(1, inputs={"input": np.zeros((1, N_IN), np.int64), "label": np.zeros((1, C), np.int64)})
    np.testing.assert_array_equal(chip.weights[0], (np.asarray(W_ir) >> 1) << 1)
