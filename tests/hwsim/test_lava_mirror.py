"""The Lava mirror process (hwsim/export/lava_mirror.py) and the host protocol on Lava processes
(hwsim/export/lava_protocol.py), run by Lava 0.10.0 in fixed point, against hwsim's Simulator on
the equivalent network (its mirrors and ``reset_dynamics`` / ``add_tags_to_weights`` are tested
against the pure-Python reference in test_compartments.py), and the mirror's messages against the
closed form ``floor_shift(W^T y, back_exp)`` written here with the weights Lava itself reports.

Network (Lava side; the hwsim side in :func:`_network`)::

    x (RingBuffer, binary) -> LD (HwMirrorLearningDense, 3F rule, third factor g) -> H (LIF)
    x -> D (Dense) -> H ;  g (RingBuffer, graded) -> LD.s_in_y2
    y (RingBuffer, graded: the error population's y recorded by hwsim) -> LD.s_in_back
    LD.a_out_back -> B (LIF, n_pre) and a sink

On the hwsim side ``y`` is the output of an error population ``e`` (of a readout ``o`` driven by a
graded input ``z``), the mirror ``m`` has ``src="e"``, ``dst="B"``; ``e`` does not depend on the
rest of the network, so its recorded ``y`` is what Lava's RingBuffer replays.

The host protocol (reset_dynamics_lava / add_tags_to_weights_lava between run() calls) is compared
with hwsim's Simulator.reset_dynamics / add_tags_to_weights at the same points, on this network
(3F, 3F with tags, t_epoch = 2 with mid-epoch resets, 2F with bap) and on the fused OTTT circuit
(HwLearningLIF, HwReadoutError of hwsim/export/lava_kinds.py, the mirror as its feedback).
Mutants are detected: a back pass with the post-learning weights, and a reset of u / v only.
"""
import numpy as np
import pytest

from hwsim import Network
from hwsim.learning import LearningRule
from hwsim.simulator import Simulator

pytestmark = pytest.mark.lava

N_PRE, N_POST = 5, 4
PROBES = [(p, v) for p in ("H", "B") for v in ("u", "v")] + [("e", "y")]


def _network(seed, rule, back_exp=-1, bap=False):
    rng = np.random.default_rng(seed)
    net = Network(name=f"mirror{seed}")
    net.add_input("x", N_PRE)
    net.add_input("g", N_POST, graded=True)
    net.add_input("z", N_POST, graded=True)
    net.add_population("H", N_POST, du=int(rng.integers(0, 2000)), dv=int(rng.integers(0, 2000)), vth=40,
                       v_init=int(rng.integers(100, 2000)))
    net.add_population("B", N_PRE, du=4095, dv=int(rng.integers(200, 3000)), vth=300, u_init=64 * 7)
    tf = {"y2": "g"} if rule.kind == "3F" else None
    net.connect_dense("LD", "x", "H", rng.integers(-220, 220, (N_POST, N_PRE)), learning=rule, third_factor=tf,
                      bap=bap or None, sign_mode="mixed")
    net.connect_dense("D", "x", "H", rng.integers(-60, 60, (N_POST, N_PRE)), sign_mode="mixed")
    net.add_readout("o", N_POST)
    net.add_error("e", "o", tgt=0, es=5, seed=seed + 1)
    net.connect_dense("zo", "z", "o", np.eye(N_POST, dtype=np.int64), graded=True)
    net.add_mirror("m", "LD", "e", "B", weight_exp=back_exp)
    return net


def _inputs(seed, T):
    rng = np.random.default_rng(seed + 100)
    return {"x": (rng.random((T, N_PRE)) < 0.5).astype(np.int64),
            "g": rng.integers(-100, 101, (T, N_POST)),
            "z": rng.integers(-6000, 6000, (T, N_POST))}       # v = z << 6, y = clip(SR(v, 5)): spans +-128


def _hwsim(net, inputs, T, resets=(), tags_at=()):
    """hwsim step by step; before step t in ``tags_at``: add_tags_to_weights, in ``resets``:
    reset_dynamics (tags first, as OTTT_A's host does at a sample's end)."""
    sim = Simulator(net)
    out = {k: [] for k in ("H.s", "B.s", "H.u", "H.v", "B.u", "B.v", "y", "weights", "tag_1")}
    for t in range(1, T + 1):
        if t in tags_at:
            sim.add_tags_to_weights()
        if t in resets:
            sim.reset_dynamics()
        r = sim.run(1, inputs={k: v[t - 1:t] for k, v in inputs.items()}, probes=PROBES)
        out["H.s"].append(r.spikes["H"][0])
        out["B.s"].append(r.spikes["B"][0])
        for p in ("H", "B"):
            for v in ("u", "v"):
                out[f"{p}.{v}"].append(r.probes[(p, v)][0])
        out["y"].append(r.probes[("e", "y")][0])
        out["weights"].append(r.weights["LD"])
        out["tag_1"].append(r.tags["LD"]["tag_1"])
    return {k: np.array(v, np.int64) for k, v in out.items()}


def _lava(net, inputs, y, T, resets=(), tags_at=(), model=None, reset_fn=None):
    """The Lava network, run one step at a time (Var.get after each step); host operations between
    runs at the same points as :func:`_hwsim`."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.utils.weightutils import SignMode

    from hwsim.export.lava import lava_rule
    from hwsim.export.lava_mirror import lava_mirror, run_cfg
    from hwsim.export.lava_protocol import add_tags_to_weights_lava, reset_dynamics_lava

    M = lava_mirror()
    pj, d, m = net.projections["LD"], net.projections["D"], net.mirrors["m"]
    pH, pB = net.populations["H"], net.populations["B"]

    def lif(p):
        return LIF(shape=(p.size,), du=int(p.du), dv=int(p.dv), vth=int(p.vth), u=np.asarray(p.u_init),
                   v=np.asarray(p.v_init), bias_mant=0, name=p.name)

    ld = M.HwMirrorLearningDense(weights=np.asarray(pj.weights), learning_rule=lava_rule(pj.learning),
                                 back_exp=m.weight_exp, weight_exp=pj.weight_exp, num_weight_bits=pj.num_weight_bits,
                                 sign_mode=SignMode.MIXED, name="LD")
    dense = Dense(weights=np.asarray(d.weights), weight_exp=d.weight_exp, num_weight_bits=d.num_weight_bits,
                  sign_mode=SignMode.MIXED, name="D")
    H, B = lif(pH), lif(pB)
    src = {k: Source(data=np.asarray(a, np.int64).T) for k, a in (("x", inputs["x"]), ("g", inputs["g"]), ("y", y))}
    src["x"].s_out.connect(ld.s_in)
    src["x"].s_out.connect(dense.s_in)
    if pj.third_factor:
        src["g"].s_out.connect(ld.s_in_y2)
    if pj.bap:
        H.s_out.connect(ld.s_in_bap)
    src["y"].s_out.connect(ld.s_in_back)
    ld.a_out.connect(H.a_in)
    dense.a_out.connect(H.a_in)
    ld.a_out_back.connect(B.a_in)
    sinks = {n: Sink(shape=(k,), buffer=T) for n, k in (("H.s", N_POST), ("B.s", N_PRE), ("back", N_PRE))}
    H.s_out.connect(sinks["H.s"].a_in)
    B.s_out.connect(sinks["B.s"].a_in)
    ld.a_out_back.connect(sinks["back"].a_in)
    procs = [ld, dense, H, B, *src.values(), *sinks.values()]
    cfg = run_cfg(procs, model=model)
    out = {k: [] for k in ("H.u", "H.v", "B.u", "B.v", "weights", "tag_1")}
    done = []
    try:
        for t in range(1, T + 1):
            if t in tags_at:
                add_tags_to_weights_lava(ld)
            if t in resets:
                done.append((reset_fn or reset_dynamics_lava)(procs))
            ld.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
            for p, proc in (("H", H), ("B", B)):
                out[f"{p}.u"].append(proc.u.get())
                out[f"{p}.v"].append(proc.v.get())
            out["weights"].append(ld.weights.get())
            out["tag_1"].append(ld.tag_1.get())
        for n, s in sinks.items():
            out[n] = s.data.get().T
    finally:
        ld.stop()
    res = {k: np.rint(np.array(v, np.float64)).astype(np.int64) for k, v in out.items()}
    res["reset"] = done
    return res


def _compare(ours, lava, T):
    """The first (step, quantity) where hwsim and Lava differ, or None."""
    for t in range(T):
        for k in ("H.s", "B.s", "H.u", "H.v", "B.u", "B.v", "weights", "tag_1"):
            if not np.array_equal(ours[k][t], lava[k][t]):
                return t + 1, k
    return None


def _closed_form_back(w0, weights, y, back_exp):
    """What the mirror sends at step t (t = 1..T): back(t - 1) = floor_shift(W(t-1)^T y(t-1), e) with
    W(t-1) the weights before step t-1's learning (after step t-2's; Lava's initial truncation for
    t-1 = 1), wrapped to int32; 0 at step 1."""
    T = y.shape[0]
    before = np.concatenate([w0[None], weights[:-1]]).astype(np.int64)
    out = np.zeros((T, before.shape[2]), np.int64)
    for t in range(1, T):
        acc = sum(int(y[t - 1, j]) * before[t - 1, j] for j in range(before.shape[1]))
        acc = acc * 2 ** back_exp if back_exp >= 0 else acc // 2 ** (-back_exp)
        out[t] = (acc + 2 ** 31) % 2 ** 32 - 2 ** 31
    return out


RULE = LearningRule(dw="2^-2*u0*x1*y2", x1_impulse=40, x1_tau=6, rng_seed=7, kind="3F")


@pytest.mark.parametrize("seed,back_exp", [(0, -1), (1, 0)])
def test_mirror_matches_hwsim_every_step(lava, seed, back_exp):
    T = 20
    net = _network(seed, RULE, back_exp)
    x = _inputs(seed, T)
    ours = _hwsim(net, x, T)
    got = _lava(net, x, ours["y"], T)
    assert _compare(ours, got, T) is None, f"first difference (step, quantity): {_compare(ours, got, T)}"
    # the run exercises what it claims: weights change during the run, y and the back sums are rich
    assert len({w.tobytes() for w in got["weights"]}) > T // 2
    assert np.count_nonzero(ours["y"]) > T and (np.any(ours["y"] == 127) or np.any(ours["y"] == -128))
    assert np.count_nonzero(got["back"]) > T and got["H.s"].any() and got["B.s"].any()
    # the messages against the closed form, with Lava's own weights (its truncation at step 1)
    w0 = (np.asarray(net.projections["LD"].weights, np.int64) >> 1) << 1
    np.testing.assert_array_equal(got["back"], _closed_form_back(w0, got["weights"], ours["y"], back_exp))
    # and B's current is the back sum of the previous step (du = 4095: u = a << 6, no wrap here)
    np.testing.assert_array_equal(ours["B.u"][1:], got["back"][1:] * 64)


def test_a_back_pass_after_learning_is_detected(lava):
    """The same comparison fails for a model that reads the weights after the step's learning."""
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    from hwsim.export.lava_mirror import lava_mirror
    M = lava_mirror()

    @implements(proc=M.HwMirrorLearningDense, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PostLearningModel(M.MirrorModelBase):
        def run_spk(self):
            self.a_out_back.send(self.a_buff_back)
            super().run_spk()
            self._y = self.s_in_back.recv()

        def run_lrn(self):
            super().run_lrn()
            self._back(self._y)

    T = 12
    net = _network(0, RULE, -1)
    x = _inputs(0, T)
    ours = _hwsim(net, x, T)
    got = _lava(net, x, ours["y"], T, model=PostLearningModel)
    first = _compare(ours, got, T)
    assert first is not None and first[1] in ("B.u", "B.v", "B.s"), first


PROTOCOL_CASES = {
    "3F": (RULE, False, 8, False),
    # OTTT_A's form: the rule changes only tag_1; the host adds it to the weights between samples
    "3F+tags": (LearningRule(dt="2^-1*u0*x1*y2", x1_impulse=40, x1_tau=6, rng_seed=11, kind="3F"), False, 8, True),
    # t_epoch = 2 and resets in the middle of an epoch: the spike times tx / x0 are not yet cleared
    "3F-epoch2": (LearningRule(dw="2^-2*u0*x1*y2", x1_impulse=40, x1_tau=6, rng_seed=7, kind="3F", t_epoch=2),
                  False, 7, False),
    # 2F with the post spikes as bap (post trace y1), t_epoch = 2, mid-epoch resets (ty / y0 too)
    "2F-bap-epoch2": (LearningRule(dw="2^-2*x1*y0 - 2^-2*y1*x0", x1_impulse=40, x1_tau=6, y1_impulse=30, y1_tau=5,
                                   rng_seed=5, kind="2F", t_epoch=2), True, 7, False),
}


@pytest.mark.parametrize("case", list(PROTOCOL_CASES))
def test_host_protocol_matches_hwsim(lava, case):
    """N steps, (add tags), reset, N steps, (add tags), reset, N steps: identical every step."""
    rule, bap, N, with_tags = PROTOCOL_CASES[case]
    T = 3 * N
    net = _network(2, rule, -1, bap=bap)
    x = _inputs(2, T)
    x["x"][N - 1] = 1                       # pending activations and fresh traces at each reset
    x["x"][2 * N - 1] = 1
    resets = (N + 1, 2 * N + 1)
    tags_at = resets if with_tags else ()
    ours = _hwsim(net, x, T, resets=resets, tags_at=tags_at)
    got = _lava(net, x, ours["y"], T, resets=resets, tags_at=tags_at)
    assert _compare(ours, got, T) is None, f"first difference (step, quantity): {_compare(ours, got, T)}"
    assert got["reset"][0] == {"LD": ["a_buff", "x0", "tx", "x1", "x2", "y0", "ty", "y1", "y2", "y3", "a_buff_back"],
                               "D": ["a_buff"], "H": ["u", "v"], "B": ["u", "v"]}
    # the host operations changed the run: without them hwsim differs
    plain = _hwsim(net, x, T)
    assert not np.array_equal(plain["H.v"], ours["H.v"]) and not np.array_equal(plain["B.u"], ours["B.u"])
    assert len({w.tobytes() for w in got["weights"]}) > 2
    if with_tags:                           # weights change only at the host's add_tags, tag_1 restarts at 0
        w = got["weights"]
        assert all(np.array_equal(w[k], w[k + 1]) for k in range(T - 1) if k + 2 not in tags_at)
        assert not np.array_equal(w[N - 1], w[N]) and not np.array_equal(w[2 * N - 1], w[2 * N])
        assert np.any(got["tag_1"][N - 1] != 0) and np.any(got["tag_1"][2 * N - 1] != 0)
    if bap:
        assert got["H.s"][:N].any()


def test_an_incomplete_reset_is_detected(lava):
    """Resetting only u and v (not the pending activations, traces and back sums) is seen."""
    from hwsim.export.lava_protocol import reset_dynamics_lava

    def only_uv(procs):
        for p in procs:
            if p.name in ("H", "B"):
                for var in (p.u, p.v):
                    var.set(np.broadcast_to(np.asarray(var.init, float), var.shape).copy())
        return {}

    N, T = 8, 14
    net = _network(2, RULE, -1)
    x = _inputs(2, T)
    x["x"][N - 1] = 1
    ours = _hwsim(net, x, T, resets=(N + 1,))
    got = _lava(net, x, ours["y"], T, resets=(N + 1,), reset_fn=only_uv)
    first = _compare(ours, got, T)
    assert first is not None and first[0] == N + 1, first
    assert reset_dynamics_lava([]) == {}


def test_bad_parameters_are_refused_before_lava_builds_anything(lava):
    from hwsim.export.lava import lava_rule
    from hwsim.export.lava_mirror import lava_mirror
    M = lava_mirror()
    W = np.zeros((3, 2), np.int64)
    r = lava_rule(RULE)
    with pytest.raises(ValueError, match=r"back_exp=17 must be an integer in \[-16, 16\]"):
        M.HwMirrorLearningDense(weights=W, learning_rule=r, back_exp=17)
    with pytest.raises(ValueError, match=r"back_exp=0.5 must be an integer"):
        M.HwMirrorLearningDense(weights=W, learning_rule=r, back_exp=0.5)
    with pytest.raises(ValueError, match=r"weights: shape=\(3,\) must be 2-D"):
        M.HwMirrorLearningDense(weights=np.zeros(3), learning_rule=r)
    with pytest.raises(ValueError, match=r"weights: dtype float64 must hold integers"):
        M.HwMirrorLearningDense(weights=np.full((2, 2), 0.5), learning_rule=r)
    with pytest.raises(ValueError, match="learning_rule=None"):
        M.HwMirrorLearningDense(weights=W)


def test_protocol_refuses_what_it_cannot_reset(lava):
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.process.variable import Var
    from lava.proc.dense.process import Dense

    from hwsim.export.lava_protocol import add_tags_to_weights_lava, reset_dynamics_lava

    class Foreign(AbstractProcess):
        def __init__(self):
            super().__init__(name="foreign")
            self.s = Var(shape=(2,), init=0)

    with pytest.raises(ValueError, match=r"'foreign' \(.*Foreign\) is not a process whose dynamic state"):
        reset_dynamics_lava([Foreign()])
    d = Dense(weights=np.eye(2))
    assert reset_dynamics_lava([d]) == {}                  # never run: holds its initial values
    with pytest.raises(ValueError, match="must be a Lava LearningDense"):
        add_tags_to_weights_lava(d)


# ---------------------------------------------------------------------------------------------
# the OTTT form: the mirror between the compartment kinds of hwsim/export/lava_kinds.py
# ---------------------------------------------------------------------------------------------
def _ottt_net(seed, dt_rule):
    """x -> w (3F, y2 = hl) -> h + learning compartment hl -> head (3F, y2 = e) -> readout o + error e;
    label -> lab -> e; mirror of head from e into hl (OTTT's mirrored feedback). ``delay = 3``, one
    more than the pipeline needs, so that a stale ``vpre`` history would be read after a reset."""
    rng = np.random.default_rng(seed)
    net = Network(name=f"ottt{seed}")
    net.add_input("x", 6)
    net.add_input("label", 3)
    net.add_population("h", 5, du=int(rng.integers(0, 3000)), dv=int(rng.integers(0, 3000)), vth=60)
    net.add_learning_compartment("hl", "h", lut=rng.integers(1, 200, 7), lut_shift=13, sh=10, delay=3, seed=seed + 3)
    tgt = "dt" if dt_rule else "dw"
    r1 = LearningRule(**{tgt: "2^-1*u0*x1*y2"}, x1_impulse=40, x1_tau=6, rng_seed=seed + 5, kind="3F")
    r2 = LearningRule(**{tgt: "-2^-1*u0*x1*y2"}, x1_impulse=30, x1_tau=4, rng_seed=seed + 9, kind="3F")
    net.connect_dense("w", "x", "h", rng.integers(-150, 250, (5, 6)), learning=r1, third_factor={"y2": "hl"},
                      sign_mode="mixed")
    net.add_readout("o", 3, du=4095, dv=int(rng.integers(0, 4097)))
    net.add_error("e", "o", tgt=2000, es=4, seed=seed + 11)
    net.connect_dense("head", "h", "o", rng.integers(-200, 200, (3, 5)), learning=r2, third_factor={"y2": "e"},
                      sign_mode="mixed")
    net.connect_dense("lab", "label", "e", np.eye(3, dtype=np.int64), sign_mode="excitatory")
    net.add_mirror("fb", "head", "e", "hl", weight_exp=-2)
    return net


OTTT_PROBES = [("h", "u"), ("h", "v"), ("o", "v"), ("e", "y"), ("hl", "y")]
OTTT_KEYS = ("h.s", "h.u", "h.v", "o.v", "e.y", "hl.y", "w", "head", "w.tag_1", "head.tag_1")


def _ottt_hwsim(net, x, T, host_at, add_tags):
    sim = Simulator(net)
    out = {k: [] for k in OTTT_KEYS}
    for t in range(1, T + 1):
        if t in host_at:
            if add_tags:
                sim.add_tags_to_weights()
            sim.reset_dynamics()
        r = sim.run(1, inputs={k: v[t - 1:t] for k, v in x.items()}, probes=OTTT_PROBES)
        out["h.s"].append(r.spikes["h"][0])
        for (p, v) in OTTT_PROBES:
            out[f"{p}.{v}"].append(r.probes[(p, v)][0])
        for q in ("w", "head"):
            out[q].append(r.weights[q])
            out[f"{q}.tag_1"].append(r.tags[q]["tag_1"])
    return {k: np.array(v, np.int64) for k, v in out.items()}


def _ottt_lava(net, x, T, host_at, add_tags):
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.dense.process import Dense, LearningDense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.utils.weightutils import SignMode

    from hwsim.export.lava import lava_rule
    from hwsim.export.lava_kinds import lava_kinds
    from hwsim.export.lava_mirror import lava_mirror, run_cfg
    from hwsim.export.lava_protocol import add_tags_to_weights_lava, reset_dynamics_lava

    K, M = lava_kinds(), lava_mirror()
    P, J = net.populations, net.projections
    h, hl, o, e = P["h"], P["hl"], P["o"], P["e"]
    H = K.HwLearningLIF(shape=(h.size,), du=h.du, dv=h.dv, vth=h.vth, lut=tuple(int(v) for v in hl.lut),
                        lut_shift=hl.lut_shift, sh=hl.shift, delay=hl.delay, seed=hl.seed, name="H")
    RO = K.HwReadoutError(shape=(o.size,), du=o.du, dv=o.dv, tgt=e.tgt, es=e.shift, seed=e.seed, name="RO")
    w = LearningDense(weights=np.asarray(J["w"].weights), learning_rule=lava_rule(J["w"].learning),
                      sign_mode=SignMode.MIXED, name="w")
    head = M.HwMirrorLearningDense(weights=np.asarray(J["head"].weights), learning_rule=lava_rule(J["head"].learning),
                                   back_exp=net.mirrors["fb"].weight_exp, sign_mode=SignMode.MIXED, name="head")
    lab = Dense(weights=np.asarray(J["lab"].weights), sign_mode=SignMode.EXCITATORY, name="lab")
    sx, sl = Source(data=x["x"].T), Source(data=x["label"].T)
    sx.s_out.connect(w.s_in)
    w.a_out.connect(H.a_in)
    H.s_out_y2.connect(w.s_in_y2)
    H.s_out.connect(head.s_in)
    head.a_out.connect(RO.a_in)
    sl.s_out.connect(lab.s_in)
    lab.a_out.connect(RO.a_label)
    RO.s_out_y2.connect(head.s_in_y2)
    RO.s_out.connect(head.s_in_back)
    head.a_out_back.connect(H.a_third_factor_in)
    spikes = Sink(shape=(h.size,), buffer=T)
    H.s_out.connect(spikes.a_in)
    procs = [H, RO, w, head, lab, sx, sl, spikes]
    cfg = run_cfg(procs)
    out = {k: [] for k in OTTT_KEYS if k != "h.s"}
    try:
        for t in range(1, T + 1):
            if t in host_at:
                if add_tags:
                    add_tags_to_weights_lava(w)
                    add_tags_to_weights_lava(head)
                reset_dynamics_lava(procs)
            H.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
            for k, var in (("h.u", H.u), ("h.v", H.v), ("o.v", RO.v), ("e.y", RO.y2), ("hl.y", H.y2),
                           ("w", w.weights), ("head", head.weights), ("w.tag_1", w.tag_1),
                           ("head.tag_1", head.tag_1)):
                out[k].append(var.get())
        out["h.s"] = spikes.data.get().T
    finally:
        H.stop()
    return {k: np.rint(np.array(v, np.float64)).astype(np.int64) for k, v in out.items()}


@pytest.mark.parametrize("add_tags", [False, True])
def test_ottt_circuit_with_the_mirror_and_the_host_protocol(lava, add_tags):
    """The fused OTTT processes (HwLearningLIF, HwReadoutError) with HwMirrorLearningDense as the
    feedback, three samples with the host protocol between them: identical to hwsim every step."""
    seed, N = 3, 9
    T = 3 * N
    net = _ottt_net(seed, add_tags)
    rng = np.random.default_rng(seed)
    x = {"x": (rng.random((T, 6)) < 0.5).astype(np.int64), "label": np.zeros((T, 3), np.int64)}
    for s in range(3):
        x["label"][s * N:(s + 1) * N, s % 3] = 1
    host_at = (N + 1, 2 * N + 1)
    ours = _ottt_hwsim(net, x, T, host_at, add_tags)
    got = _ottt_lava(net, x, T, host_at, add_tags)
    for t in range(T):
        for k in OTTT_KEYS:
            np.testing.assert_array_equal(got[k][t], ours[k][t], err_msg=f"step {t + 1}: {k}")
    assert np.count_nonzero(ours["hl.y"]) > 3 and np.count_nonzero(ours["e.y"]) > 3 and ours["h.s"].any()
    assert not np.array_equal(ours["head"][0], ours["head"][-1]) and not np.array_equal(ours["w"][0], ours["w"][-1])
