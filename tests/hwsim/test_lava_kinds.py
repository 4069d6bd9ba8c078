"""The Lava processes of the compartment kinds (hwsim/export/lava_kinds.py) run by Lava 0.10.0 in
fixed point, against a slow pure-Python reference written here from docs/compartments.md and
../shared/reference/lava-semantics.md (LIF, Dense, LearningDense 3F; it imports nothing from hwsim).
Lava's own LIF, fed the same input in the same run, is a second oracle for the LIF part.

The circuit (one step per projection, Lava's timing)::

    src (RingBuffer) -> LD1 (LearningDense, dw = m 2^e u0 x1 y2) -> H (HwLearningLIF) -> LD2 (LearningDense)
                        LD1 -> LIF1 (Lava LIF, same parameters as H: the oracle of H's spikes)
    LD2 -> RO (HwReadoutError) ; label (RingBuffer) -> DL (Dense) -> RO.a_label ; LD2 -> LIF2 (no spikes)
    RO.s_out (graded) -> DF (Dense, graded) -> H.a_third_factor_in
    H.s_out_y2 -> LD1.s_in_y2 ;  RO.s_out_y2 -> LD2.s_in_y2

Every step: u, v of H and RO, spikes and y of H, y of RO, both weight matrices.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.lava

M64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------------
# reference arithmetic (Python ints; docs/compartments.md)
# ---------------------------------------------------------------------------------------------
def _mix(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def _bits(seed, t, c):
    return _mix(_mix(seed ^ ((t * 0xD1B54A32D192ED03) & M64)) ^ c)


def _sr(z, s, seed, t, c):
    if s <= 0:
        return z * 2 ** (-s)
    r = _bits(seed, t, c) >> (64 - s)
    return z // 2 ** s + (1 if r < z % 2 ** s else 0)


def _clip(x, lo, hi):
    return max(lo, min(hi, x))


def _clip_y(x, y_bits=7):
    return _clip(x, -2 ** y_bits, 2 ** y_bits - 1)


def _decay(x, d):
    """Lava fixed-point decay of u or v: x * (4096 - d) / 4096 rounded toward zero."""
    p = x * (4096 - d)
    return -((-p) >> 12) if p < 0 else p >> 12


def _lif_sub(u, v, a, du, dv, bias=0):
    """Lava's LIF sub-threshold update (lava-semantics.md 1.1), one compartment."""
    uc = _decay(u, du + 1) + (a << 6)
    w = uc - 2 ** 24 if uc > 2 ** 23 else uc
    w = uc + 2 ** 24 if w <= -2 ** 23 else w
    v = _clip(_decay(v, dv) + w + bias, -(2 ** 23 - 1), 2 ** 23 - 1)
    return w, v


class _LearningDenseRef:
    """LearningDense (bit-approximate, fixed_pt) with a Loihi3FLearningRule ``m*2^e*u0*x1*y2``,
    t_epoch = 1, binary pre spikes, no bap (lava-semantics.md 2.3). Weights are Lava's raw
    weights, exported as 2*w with weight_exp = -1."""

    def __init__(self, W, m, e, x1_impulse, x1_tau, seed):
        self.W = [list(map(int, row)) for row in W]
        self.m, self.e = m, e
        self.imp, self.tau = x1_impulse, x1_tau
        n_post, n_pre = len(W), len(W[0])
        self.x1 = [0] * n_pre
        self.a_buff = [0] * n_post
        x_dec = np.random.default_rng(seed)
        x_imp = np.random.default_rng(seed + 1)
        y_dec = np.random.default_rng(seed + 2)
        conn = np.random.default_rng(2)
        # draw 0 at init, two per step: step t's learning uses draw 2t (trace streams), draw t (conn)
        self._x_dec = [x_dec.random(1)[0] for _ in range(2 * 400 + 1)]
        self._x_imp = [x_imp.integers(0, 128, size=1, dtype=int)[0] for _ in range(2 * 400 + 1)]
        self._y_dec = [y_dec.random(1)[0] for _ in range(2 * 400 + 1)]
        self._conn = [conn.random(1)[0] for _ in range(401)]
        self.dec = np.exp(-1 / np.array([[x1_tau]]))[0, 0]
        self.y_dec = np.exp(-1 / np.array([[65535]]))[0, 0]

    def send(self):
        return list(self.a_buff)

    def step(self, t, s_in, y2):
        """run_spk (accumulate with the current weights) and run_lrn of step t."""
        self.a_buff = [sum(w for w, s in zip(row, s_in) if s) >> 1 for row in self.W]
        for i, x in enumerate(self.x1):                      # trace: decay, then this step's impulse
            f = self.dec * x
            x = math.floor(f) + (1 if self._x_dec[2 * t] < f % 1 else 0)
            if s_in[i]:
                x = _clip(x + self.imp, 0, 127)
            self.x1[i] = x
        y2u = []                                             # 3F: y2 decays with tau 65535 (stochastic)
        for y in y2:
            f = self.y_dec * y
            y2u.append(math.floor(f) + (1 if self._y_dec[2 * t] < f % 1 else 0))
        r = self._conn[t]
        for j, row in enumerate(self.W):
            for i in range(len(row)):
                cur = (self.m * _clip(self.x1[i], -128, 127) * _clip(y2u[j], -128, 127)) >> 3
                cur = _clip(cur << (self.e + 7), -2 ** 15 - 1, 2 ** 15 - 1)
                acc = _clip((row[i] << 7) + cur, -2 ** 15 - 1, 2 ** 15 - 1)
                q = acc / 128
                acc = (math.floor(q) + (1 if r < q % 1 else 0)) * 128
                row[i] = _clip(acc >> 7, -256, 255)


def reference(cfg, src, label, T):
    """Every recorded quantity of the circuit, step by step (t = 1..T)."""
    n_h, n_o = cfg["n_h"], cfg["n_o"]
    ld1 = _LearningDenseRef(cfg["W1"], *cfg["rule1"])
    ld2 = _LearningDenseRef(cfg["W2"], *cfg["rule2"])
    F = cfg["F"]
    du, dv, vth = cfg["du"], cfg["dv"], cfg["vth"]
    lut, lsh, sh, d, seed_h = cfg["lut"], cfg["lut_shift"], cfg["sh"], cfg["delay"], cfg["seed_h"]
    rdu, rdv, tgt, es, seed_o = cfg["rdu"], cfg["rdv"], cfg["tgt"], cfg["es"], cfg["seed_o"]
    L = len(lut)
    uH, vH, uO, vO = [0] * n_h, [0] * n_h, [0] * n_o, [0] * n_o
    hist = []                                  # vpre(1), vpre(2), ...
    lab_buf, fb_buf = [0] * n_o, [0] * n_h
    rec = {k: [] for k in ("uH", "vH", "sH", "yH", "uO", "vO", "yO", "W1", "W2")}
    cases = {"fb0": 0, "idx<0": 0, "idx>=L": 0, "in": 0, "clip": 0}
    for t in range(1, T + 1):
        aH, aO, aL, fbH = ld1.send(), ld2.send(), lab_buf, fb_buf          # buffers of step t-1
        sH, yH, vpre = [], [], []
        for c in range(n_h):
            uH[c], v = _lif_sub(uH[c], vH[c], aH[c], du, dv)
            vpre.append(v)
            s = v > (vth << 6)
            vH[c] = 0 if s else v
            sH.append(int(s))
        hist.append(vpre)
        for c in range(n_h):
            vp = hist[t - 1 - d][c] if t - d >= 1 else 0
            idx = ((vp - (vth << 6)) >> lsh) + L // 2
            if fbH[c] == 0:
                cases["fb0"] += 1
                yH.append(0)
            elif idx < 0 or idx >= L:
                cases["idx<0" if idx < 0 else "idx>=L"] += 1
                yH.append(0)
            else:
                cases["in"] += 1
                z = _sr(fbH[c] * lut[idx], sh, seed_h, t, c)
                cases["clip"] += z != _clip_y(z)
                yH.append(_clip_y(z))
        yO = []
        for c in range(n_o):
            uO[c], vO[c] = _lif_sub(uO[c], vO[c], aO[c], rdu, rdv)
            z = _sr(vO[c] - tgt * aL[c], es, seed_o, t, c)
            cases["clip"] += z != _clip_y(z)
            yO.append(_clip_y(z))
        # synapses receive this step's messages; learning of step t uses the y sent at t
        s_src = [int(x) for x in src[:, t - 1]]
        ld1.step(t, s_src, yH)
        ld2.step(t, sH, yO)
        lab_buf = [int(x) for x in label[:, t - 1]]
        fb_buf = [sum(int(F[j][k]) * yO[k] for k in range(n_o)) for j in range(n_h)]
        for k, val in (("uH", uH), ("vH", vH), ("sH", sH), ("yH", yH), ("uO", uO), ("vO", vO), ("yO", yO),
                       ("W1", ld1.W), ("W2", ld2.W)):
            rec[k].append(np.array(val, dtype=np.int64))
    return {k: np.stack(v) for k, v in rec.items()}, cases


# ---------------------------------------------------------------------------------------------
# the Lava run
# ---------------------------------------------------------------------------------------------
def run_lava(cfg, src, label, T):
    from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.dense.process import Dense, LearningDense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    from hwsim.export.lava_kinds import lava_kinds, run_cfg

    K = lava_kinds()
    n_h, n_o = cfg["n_h"], cfg["n_o"]

    def rule(m, e, imp, tau, seed):
        return Loihi3FLearningRule(dw=f"{m}*2^{e}*u0*x1*y2", x1_impulse=imp, x1_tau=tau, t_epoch=1, rng_seed=seed)

    s_src = RingBuffer(data=src.astype(np.int32))
    s_lab = RingBuffer(data=label.astype(np.int32))
    ld1 = LearningDense(weights=np.asarray(cfg["W1"]), weight_exp=-1, learning_rule=rule(*cfg["rule1"]))
    ld2 = LearningDense(weights=np.asarray(cfg["W2"]), weight_exp=-1, learning_rule=rule(*cfg["rule2"]))
    H = K.HwLearningLIF(shape=(n_h,), du=cfg["du"], dv=cfg["dv"], vth=cfg["vth"], lut=cfg["lut"],
                        lut_shift=cfg["lut_shift"], sh=cfg["sh"], delay=cfg["delay"], seed=cfg["seed_h"])
    lif1 = LIF(shape=(n_h,), du=cfg["du"], dv=cfg["dv"], vth=cfg["vth"])
    RO = K.HwReadoutError(shape=(n_o,), du=cfg["rdu"], dv=cfg["rdv"], tgt=cfg["tgt"], es=cfg["es"],
                          seed=cfg["seed_o"])
    lif2 = LIF(shape=(n_o,), du=cfg["rdu"], dv=cfg["rdv"], vth=2 ** 17 - 1)
    dl = Dense(weights=2 * np.eye(n_o, dtype=int), weight_exp=-1)
    df = Dense(weights=2 * np.asarray(cfg["F"]), weight_exp=-1, num_message_bits=24)    # exact: no LSB drop
    s_src.s_out.connect(ld1.s_in)
    ld1.a_out.connect(H.a_in)
    ld1.a_out.connect(lif1.a_in)
    H.s_out.connect(ld2.s_in)
    ld2.a_out.connect(RO.a_in)
    ld2.a_out.connect(lif2.a_in)
    s_lab.s_out.connect(dl.s_in)
    dl.a_out.connect(RO.a_label)
    RO.s_out.connect(df.s_in)
    df.a_out.connect(H.a_third_factor_in)
    H.s_out_y2.connect(ld1.s_in_y2)
    RO.s_out_y2.connect(ld2.s_in_y2)
    probes = {"uH": H.u, "vH": H.v, "sH": H.s_out, "yH": H.s_out_graded, "yH2": H.s_out_y2, "uO": RO.u,
              "vO": RO.v, "yO": RO.s_out, "yO2": RO.s_out_y2, "W1": ld1.weights, "W2": ld2.weights,
              "s_lif1": lif1.s_out, "v_lif1": lif1.v, "u_lif2": lif2.u, "v_lif2": lif2.v}
    mons = []                                      # a Lava Monitor records one target
    for target in probes.values():
        mons.append(Monitor())
        mons[-1].probe(target, T)
    try:
        H.run(condition=RunSteps(num_steps=T), run_cfg=run_cfg([H, RO]))
        data = {}
        for mon in mons:
            for proc, d in mon.get_data().items():
                data.setdefault(proc, {}).update(d)
        out = {}
        for key, target in probes.items():
            out[key] = np.rint(np.asarray(data[target.process.name][target.name])).astype(np.int64)
    finally:
        H.stop()
    return out


def _inputs(seed, n_in, n_o, T, rate=0.4):
    rng = np.random.default_rng(seed)
    src = (rng.random((n_in, T)) < rate).astype(np.int64)
    label = np.zeros((n_o, T), np.int64)
    label[rng.integers(0, n_o, T // 10 + 1).repeat(10)[:T], np.arange(T)] = 1
    return src, label


CONFIGS = {
    # stream seed, delay, sh (learning shift), es (error shift), lut, lut_shift;
    # rules (m, e, x1_impulse, x1_tau, rng_seed) of LD1 and LD2
    "d0_sh3": dict(seed=1, delay=0, sh=3, es=4, lut=(3, 9, 15, 9, 3), lut_shift=8,
                   rule1=(1, -6, 20, 4, 11), rule2=(-3, -7, 24, 6, 12)),
    "d2_sh-1": dict(seed=2, delay=2, sh=-1, es=0, lut=(1, 2, 1), lut_shift=9,
                    rule1=(3, -7, 16, 3, 21), rule2=(5, -7, 30, 2, 22)),
    "d2_sh0": dict(seed=3, delay=2, sh=0, es=5, lut=(0, 1, 3, 1, 0, 1), lut_shift=8,
                   rule1=(-1, -5, 20, 5, 31), rule2=(1, -7, 20, 5, 32)),
    "d1_sh5": dict(seed=4, delay=1, sh=5, es=7, lut=(40,), lut_shift=10,
                   rule1=(7, -7, 12, 8, 41), rule2=(1, -7, 12, 8, 42)),
}


def _config(name, T=40, n_in=6, n_h=5, n_o=3):
    c = CONFIGS[name]
    rng = np.random.default_rng(100 + c["seed"])
    cfg = dict(n_h=n_h, n_o=n_o, du=512, dv=256, vth=30, rdu=1024, rdv=128, tgt=700,
               W1=2 * rng.integers(-3, 6, (n_h, n_in)), W2=2 * rng.integers(-20, 25, (n_o, n_h)),
               F=rng.integers(-3, 4, (n_h, n_o)), seed_h=[7, 2 ** 64 - 1, 12345, 2 ** 63][c["seed"] - 1],
               seed_o=[8, 0, 2 ** 40 + 3, 99][c["seed"] - 1], **{k: c[k] for k in c if k != "seed"})
    src, label = _inputs(c["seed"], n_in, n_o, T)
    return cfg, src, label


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_circuit_every_step_against_reference(lava, name):
    T = 40
    cfg, src, label = _config(name, T)
    ref, cases = reference(cfg, src, label, T)
    got = run_lava(cfg, src, label, T)
    for key in ("uH", "vH", "sH", "yH", "uO", "vO", "yO", "W1", "W2"):
        np.testing.assert_array_equal(got[key], ref[key], err_msg=f"{name}: {key}")
    np.testing.assert_array_equal(got["yH2"], got["yH"])                   # both y ports carry y
    np.testing.assert_array_equal(got["yO2"], got["yO"])
    np.testing.assert_array_equal(got["s_lif1"], got["sH"])                # Lava's own LIF: same spikes
    np.testing.assert_array_equal(got["v_lif1"], got["vH"])
    np.testing.assert_array_equal(got["u_lif2"], got["uO"])                # readout = LIF sub-threshold
    np.testing.assert_array_equal(got["v_lif2"], got["vO"])
    # the run exercised what it claims to test
    assert got["sH"].sum() > 0 and (got["sH"] == 0).sum() > 0
    assert (got["yH"] != 0).sum() >= 10 and (got["yH"] < 0).any() and (got["yH"] > 0).any()
    assert (got["yO"] != 0).sum() >= 10 and (got["yO"] < 0).any()              # negative errors
    assert any(np.isin(got[k], (-128, 127)).any() for k in ("yH", "yO"))       # the clip at +-2**7
    assert all(cases[k] > 0 for k in ("fb0", "in")), cases
    assert cases["idx<0"] + cases["idx>=L"] > 0, cases
    assert np.any(got["W1"][-1] != np.asarray(cfg["W1"])) and np.any(got["W2"][-1] != np.asarray(cfg["W2"]))


def test_reference_is_sensitive():
    """The comparison above would catch a shifted random stream or a one-step shift of y."""
    T = 40
    cfg, src, label = _config("d0_sh3", T)
    ref, _ = reference(cfg, src, label, T)
    shifted = dict(cfg, seed_h=cfg["seed_h"] + 1, seed_o=cfg["seed_o"] + 1)
    ref2, _ = reference(shifted, src, label, T)
    assert np.any(ref2["yH"] != ref["yH"]) and np.any(ref2["yO"] != ref["yO"])
    delayed = dict(cfg, delay=1)
    assert np.any(reference(delayed, src, label, T)[0]["yH"] != ref["yH"])


# ---------------------------------------------------------------------------------------------
# graded pre spikes on Lava's LearningDense (docs/compartments.md, "Graded pre spikes on
# LearningDense"): the documented behaviour, checked against Lava itself
# ---------------------------------------------------------------------------------------------
GRADED_P = np.array([
    [1, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0], [3, 3, 3, 0, 0, 0], [5, 0, 7, 0, 9, 0],
    [254, 0, 0, 0, 0, 0], [255, 255, 0, 0, 0, 0], [256, 0, 0, 0, 0, 0], [300, 0, 0, 0, 0, 0],
    [-2, 0, 0, 0, 0, 0], [-7, 0, 0, 0, 0, 0], [200, 200, 0, 100, 0, 0], [100, 100, 100, 0, 0, 0],
])


def _graded_reference(P, mode, tau, seed):
    """Weights after each step under dw = "x0*x1-u0*w" (= x1 at recorded spikes, else 0)."""
    T = P.shape[1]
    dec = np.random.default_rng(seed)
    draws = [dec.random(1)[0] for _ in range(2 * T + 1)]
    e = np.exp(-1 / np.array([[tau]]))[0, 0] if tau else None
    x1 = [0] * P.shape[0]
    out = []
    for t in range(1, T + 1):
        w = []
        for i, p in enumerate(P[:, t - 1]):
            q = round(int(p) / 2) % 256                      # numpy round (half to even), uint8 cast
            spiked = p != 0
            if mode == "OVERWRITE" and spiked:
                x1[i] = q
            elif mode == "ADD_WITHOUT_SATURATION":
                s = (x1[i] + q) % 256
                spiked = s > 127
                x1[i] = s - 127 if spiked else s
            if tau:
                f = e * x1[i]
                x1[i] = math.floor(f) + (1 if draws[2 * t] < f % 1 else 0)
            else:
                x1[i] = 0
            if spiked:
                x1[i] = _clip(x1[i], 0, 127)
            w.append(x1[i] if spiked else 0)
        out.append(w)
    return np.array(out, dtype=np.int64)


def test_graded_pre_spikes_on_learning_dense(lava):
    from lava.magma.core.learning.constants import GradedSpikeCfg
    from lava.magma.core.learning.learning_rule import Loihi3FLearningRule
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import LearningDense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    P, T = GRADED_P, GRADED_P.shape[1]
    W0 = 2 * np.arange(-6, 6).reshape(1, -1)
    cases = {"ow": ("OVERWRITE", 65535, 5), "ow_tau0": ("OVERWRITE", 0, 9),
             "add": ("ADD_WITHOUT_SATURATION", 65535, 13)}
    src = RingBuffer(data=P.astype(np.int32))
    procs, mons = {}, {}
    for key, (mode, tau, seed) in cases.items():
        rule = Loihi3FLearningRule(dw="x0*x1-u0*w", x1_impulse=20, x1_tau=tau, t_epoch=1, rng_seed=seed)
        ld = LearningDense(weights=W0.copy(), learning_rule=rule, num_message_bits=24,
                           graded_spike_cfg=getattr(GradedSpikeCfg, mode))
        src.s_out.connect(ld.s_in)
        assert rule.x1_impulse == 0                                        # changed in place
        procs[key] = ld
        mons[key] = Monitor()
        mons[key].probe(ld.weights, T)
    sink = Sink(shape=(1,), buffer=T)
    procs["ow"].a_out.connect(sink.a_in)
    try:
        src.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        w = {k: np.rint(m.get_data()[procs[k].name]["weights"][:, 0, :]).astype(np.int64) for k, m in mons.items()}
        a = np.rint(sink.data.get()[0]).astype(np.int64)
    finally:
        src.stop()
    for key, (mode, tau, seed) in cases.items():
        np.testing.assert_array_equal(w[key], _graded_reference(P, mode, tau, seed), err_msg=key)
    assert not w["ow_tau0"].any() and w["ow"].any() and w["add"].any()
    # activation: W (after the previous step's learning) . raw payload, one step later
    W_used = np.vstack([W0, w["ow"][:-1]])
    expected = np.concatenate([[0], np.einsum("ti,it->t", W_used[:-1], P[:, :-1])])
    np.testing.assert_array_equal(a, expected)


# ---------------------------------------------------------------------------------------------
# the models' numpy arithmetic against the Python-int reference (no Lava needed)
# ---------------------------------------------------------------------------------------------
_seeds = st.integers(0, M64)
_steps = st.integers(1, 2 ** 40)


@given(z=st.lists(st.integers(-2 ** 62, 2 ** 62 - 1), min_size=1, max_size=12), s=st.integers(-32, 62),
       seed=_seeds, t=_steps, y_bits=st.integers(1, 16))
def test_sr_clip_matches_reference(z, s, seed, t, y_bits):
    import warnings

    from hwsim.export.lava_kinds import sr_clip

    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no overflow / promotion warnings from numpy
        got = sr_clip(np.array(z, np.int64), s, seed, t, y_bits)
    assert got.dtype == np.int64
    assert got.tolist() == [_clip_y(_sr(x, s, seed, t, c), y_bits) for c, x in enumerate(z)]


@given(v=st.lists(st.integers(-2 ** 23 + 1, 2 ** 23 - 1), min_size=1, max_size=8), data=st.data(),
       tgt=st.integers(0, 2 ** 23 - 1), es=st.integers(-32, 62), seed=_seeds, t=_steps)
def test_error_y_matches_reference(v, data, tgt, es, seed, t):
    from hwsim.export.lava_kinds import error_y

    label = data.draw(st.lists(st.integers(-2 ** 31, 2 ** 31 - 1), min_size=len(v), max_size=len(v)))
    got = error_y(np.array(v, np.int32), np.array(label, np.int32), tgt, es, seed, t, 7)
    assert got.tolist() == [_clip_y(_sr(x - tgt * lab, es, seed, t, c)) for c, (x, lab) in enumerate(zip(v, label))]


@given(data=st.data(), n=st.integers(1, 10), L=st.integers(1, 9), lut_shift=st.integers(0, 12),
       vth=st.integers(0, 2 ** 17 - 1), sh=st.integers(-32, 62), seed=_seeds, t=_steps)
def test_learning_y_matches_reference(data, n, L, lut_shift, vth, sh, seed, t):
    from hwsim.export.lava_kinds import learning_y

    lut = data.draw(st.lists(st.integers(0, 2 ** 31 - 1), min_size=L, max_size=L))
    fb = data.draw(st.lists(st.sampled_from([0, 1, -1, 2 ** 31 - 1, -2 ** 31]) | st.integers(-2 ** 31, 2 ** 31 - 1),
                            min_size=n, max_size=n))
    # voltages on and around the table's edges: idx = -1, 0, L - 1, L and beyond
    edge = st.sampled_from([-1, 0, L - 1, L, L + 3, -5]).map(
        lambda k: (vth << 6) + ((k - L // 2) << lut_shift) + data.draw(st.integers(0, (1 << lut_shift) - 1)))
    vpre = data.draw(st.lists(edge | st.integers(-2 ** 23 + 1, 2 ** 23 - 1), min_size=n, max_size=n))
    got = learning_y(np.array(fb, np.int32), np.array(vpre, np.int64), vth, tuple(lut), lut_shift, sh, seed, t, 7)
    want = []
    for c in range(n):
        idx = ((vpre[c] - (vth << 6)) >> lut_shift) + L // 2
        ok = fb[c] != 0 and 0 <= idx < L
        want.append(_clip_y(_sr(fb[c] * lut[idx], sh, seed, t, c)) if ok else 0)
    assert got.tolist() == want


def test_stream_values():
    """Golden values of bits(seed, t, c), computed by hand from the splitmix64 definition with
    Python ints (docs/compartments.md), pin the stream's constants and order of operations."""
    from hwsim.export.lava_kinds import sr_bits

    for seed, t in ((0, 1), (2 ** 64 - 1, 7), (12345, 2 ** 33)):
        assert sr_bits(seed, t, 4).tolist() == [_bits(seed, t, c) for c in range(4)]
    # splitmix64's published first output for state 0 is 0xE220A8397B1DCDAF: mix(0) here
    assert _mix(0) == 0xE220A8397B1DCDAF


# ---------------------------------------------------------------------------------------------
# readout-only process, the LIF part with bias, an unconnected feedback port
# ---------------------------------------------------------------------------------------------
def test_readout_and_learning_lif_against_lava_lif(lava):
    """HwReadout equals Lava's LIF without spikes (bias 0); HwLearningLIF with a bias equals Lava's
    LIF; with a_third_factor_in unconnected its y is 0. Both against the reference too."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    from hwsim.export.lava_kinds import lava_kinds, run_cfg

    K = lava_kinds()
    T, n_in, n = 30, 5, 4
    rng = np.random.default_rng(5)
    src = (rng.random((n_in, T)) < 0.5).astype(np.int32)
    W = 2 * rng.integers(-10, 40, (n, n_in))
    bias = rng.integers(-20, 40, n)
    s = RingBuffer(data=src)
    d = Dense(weights=W, weight_exp=-1)
    s.s_out.connect(d.s_in)
    ro = K.HwReadout(shape=(n,), du=300, dv=700)
    ref_ro = LIF(shape=(n,), du=300, dv=700, vth=2 ** 17 - 1)
    hl = K.HwLearningLIF(shape=(n,), du=2000, dv=100, vth=40, bias_mant=bias, bias_exp=2, lut=(5, 5, 5),
                         lut_shift=12, sh=0, delay=0, seed=1)
    ref_hl = LIF(shape=(n,), du=2000, dv=100, vth=40, bias_mant=bias, bias_exp=2)
    for p in (ro, ref_ro, hl, ref_hl):
        d.a_out.connect(p.a_in)
    targets = {"ro_u": ro.u, "ro_v": ro.v, "lif_u": ref_ro.u, "lif_v": ref_ro.v, "hl_v": hl.v, "hl_s": hl.s_out,
               "hl_y": hl.s_out_graded, "ref_v": ref_hl.v, "ref_s": ref_hl.s_out}
    mons = {}
    for key, target in targets.items():
        mons[key] = Monitor()
        mons[key].probe(target, T)
    try:
        s.run(condition=RunSteps(num_steps=T), run_cfg=run_cfg([ro, hl]))
        got = {k: np.rint(m.get_data()[targets[k].process.name][targets[k].name]).astype(np.int64)
               for k, m in mons.items()}
    finally:
        s.stop()
    for a, b in (("ro_u", "lif_u"), ("ro_v", "lif_v"), ("hl_v", "ref_v"), ("hl_s", "ref_s")):
        np.testing.assert_array_equal(got[a], got[b], err_msg=a)
    assert not got["hl_y"].any() and got["hl_s"].any() and (got["hl_s"] == 0).any()
    # the readout against the reference arithmetic
    u, v, us, vs = [0] * n, [0] * n, [], []
    a_prev = [0] * n
    for t in range(1, T + 1):
        for c in range(n):
            u[c], v[c] = _lif_sub(u[c], v[c], a_prev[c], 300, 700)
        us.append(list(u))
        vs.append(list(v))
        a_prev = [int(np.dot(W[c], src[:, t - 1])) >> 1 for c in range(n)]
    np.testing.assert_array_equal(got["ro_u"], us)
    np.testing.assert_array_equal(got["ro_v"], vs)


@pytest.mark.parametrize("kind, kwargs, match", [
    ("HwReadoutError", dict(tgt=2 ** 23), r"tgt=8388608 must be an integer in \[0, 8388607\]"),
    ("HwReadoutError", dict(tgt=-1), r"tgt=-1 must be"),
    ("HwReadoutError", dict(es=63), r"es=63 must be an integer in \[-32, 62\]"),
    ("HwReadoutError", dict(seed=2 ** 64),
     r"seed=18446744073709551616 must be an integer in \[0, 18446744073709551615\]"),
    ("HwReadoutError", dict(y_bits=0), r"y_bits=0 must be an integer in \[1, 16\]"),
    ("HwReadoutError", dict(shape=(2, 3)), r"HwReadoutError: shape=\(2, 3\) must be a 1-D shape"),
    ("HwLearningLIF", dict(lut=()), r"lut=\(\) must be a sequence of L >= 1 integers"),
    ("HwLearningLIF", dict(lut=(1, -2)), r"lut\[1\]=-2 must be an integer in \[0, 2147483647\]"),
    ("HwLearningLIF", dict(lut_shift=-1), r"lut_shift=-1 must be an integer in \[0, 62\]"),
    ("HwLearningLIF", dict(sh=-33), r"sh=-33 must be an integer in \[-32, 62\]"),
    ("HwLearningLIF", dict(delay=-1), r"delay=-1 must be an integer >= 0"),
    ("HwLearningLIF", dict(delay=1.5), r"delay=1.5 must be an integer >= 0"),
    ("HwLearningLIF", dict(reset_interval=-1), r"reset_interval=-1 must be an integer >= 0"),
    ("HwLearningLIF", dict(reset_offset=-2), r"reset_offset=-2 must be an integer >= 0"),
    ("HwLearningLIF", dict(shape=(0,)), r"HwLearningLIF: shape=\(0,\) must be a 1-D shape \(n,\) with n >= 1"),
])
def test_bad_parameters(lava, kind, kwargs, match):
    from hwsim.export.lava_kinds import lava_kinds

    base = {"HwReadoutError": dict(shape=(3,), du=0, dv=0, tgt=10, es=2, seed=1),
            "HwLearningLIF": dict(shape=(3,), lut=(1, 2), lut_shift=4, sh=2, delay=0, seed=1)}[kind]
    with pytest.raises(ValueError, match=match):
        getattr(lava_kinds(), kind)(**{**base, **kwargs})


@pytest.mark.parametrize("delay", [0, 2])
def test_learning_lif_with_reset(lava, delay):
    """reset_interval > 0: the LIF part equals Lava's LIFReset, and vpre before the reset reads 0."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIFReset
    from lava.proc.monitor.process import Monitor

    from hwsim.export.lava_kinds import lava_kinds, run_cfg

    T, n_in, n, every, offset = 24, 5, 4, 7, 10
    du, dv, vth, lut, lsh, sh, seed = 1000, 300, 25, (2, 6, 11, 6, 2), 8, 2, 77
    rng = np.random.default_rng(9 + delay)
    src = (rng.random((n_in, T)) < 0.5).astype(np.int32)
    fb = rng.integers(-40, 40, (n, T)).astype(np.int32)
    W = 2 * rng.integers(-5, 20, (n, n_in))
    s, f = RingBuffer(data=src), RingBuffer(data=fb)
    d = Dense(weights=W, weight_exp=-1)
    H = lava_kinds().HwLearningLIF(shape=(n,), du=du, dv=dv, vth=vth, lut=lut, lut_shift=lsh, sh=sh, delay=delay,
                                   seed=seed, reset_interval=every, reset_offset=offset)
    ref = LIFReset(shape=(n,), du=du, dv=dv, vth=vth, reset_interval=every, reset_offset=offset)
    s.s_out.connect(d.s_in)
    d.a_out.connect(H.a_in)
    d.a_out.connect(ref.a_in)
    f.s_out.connect(H.a_third_factor_in)                   # no synapse: fb(t) is column t-1
    targets = {"v": H.v, "s": H.s_out, "y": H.s_out_y2, "ref_v": ref.v, "ref_s": ref.s_out}
    mons = {k: Monitor() for k in targets}
    for k, m in mons.items():
        m.probe(targets[k], T)
    try:
        s.run(condition=RunSteps(num_steps=T), run_cfg=run_cfg([H]))
        got = {k: np.rint(m.get_data()[targets[k].process.name][targets[k].name]).astype(np.int64)
               for k, m in mons.items()}
    finally:
        s.stop()
    np.testing.assert_array_equal(got["v"], got["ref_v"])
    np.testing.assert_array_equal(got["s"], got["ref_s"])
    u, v, hist, ys = [0] * n, [0] * n, {}, []
    a_prev = [0] * n
    last_reset = 0
    for t in range(1, T + 1):
        if t % every == offset % every:
            u, v, last_reset = [0] * n, [0] * n, t
        vpre = []
        for c in range(n):
            u[c], vv = _lif_sub(u[c], v[c], a_prev[c], du, dv)
            vpre.append(vv)
            v[c] = 0 if vv > (vth << 6) else vv
        hist[t] = vpre
        y = []
        for c in range(n):
            vp = hist[t - delay][c] if t - delay >= max(1, last_reset) else 0
            idx = ((vp - (vth << 6)) >> lsh) + len(lut) // 2
            ok = fb[c, t - 1] != 0 and 0 <= idx < len(lut)
            y.append(_clip_y(_sr(int(fb[c, t - 1]) * lut[idx], sh, seed, t, c)) if ok else 0)
        ys.append(y)
        a_prev = [int(np.dot(W[c], src[:, t - 1])) >> 1 for c in range(n)]
    np.testing.assert_array_equal(got["y"], ys)
    assert np.count_nonzero(got["y"]) >= 5 and got["s"].any()
