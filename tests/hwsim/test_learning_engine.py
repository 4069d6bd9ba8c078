"""LearningDenseEngine: the per-step API, the compiled run loop, counters and input validation, with
hwsim.learning.reference (numpy transcription of Lava's model) as the oracle over many epochs."""
import numpy as np
import pytest

from hwsim.learning import (LearningDenseEngine, LearningRule, RuleError, reward_modulated_stdp,
                            stdp_loihi)
from hwsim.learning.engine import CONN_SEED, RandomStreams
from hwsim.learning.reference import ReferenceLearningDense
from hwsim.spec import ChipSpec, SpecError

RULES = {
    "stdp": stdp_loihi(1, 2, -2, 8, 6, rng_seed=4),
    "stdp_te3": stdp_loihi(0.5, 4, -3, 8, 6, t_epoch=3, rng_seed=4),
    "three_targets": LearningRule(
        dw="x0*y1*y2 - y0*x1*x2 + u0*w*2^-4", dt="x0*(y1-3) + y0*sgn(t) - 2^-5*u0*t",
        dd="y0*x2*2^3 + u0*d*(-1) + x0*sgn(w+2)", x1_impulse=30, x1_tau=4, x2_impulse=12.7,
        x2_tau=0, y1_impulse=9.5, y1_tau=6, y2_impulse=40, y2_tau=20, y3_impulse=3, y3_tau=2,
        t_epoch=2, rng_seed=7),
    "rstdp": reward_modulated_stdp(1, 2, -2, 10, 10, 16, 16, 0.5, rng_seed=5),
    "ottt_like_3f": LearningRule(dw="-2^-3*u0*x1*y2", x1_impulse=20, x1_tau=2, kind="3F",
                                 rng_seed=1),
    "plain_decimated": LearningRule(dw="x0*3 + u1*x1*2^-2", dt="u1*(t+3)", x1_impulse=5.5,
                                    x1_tau=3, kind="plain", rng_seed=2),
    # tag_1 reads t: every target of a row is computed before any is written (single-product
    # columns of dw still take the delta form); dd has two y0 products (no delta form)
    "reads_tags": LearningRule(dw="x0*y1 - y0*x1", dt="y0*(t-2)*2^-2 + x0*x1*2^-3",
                               dd="y0*x2 + y0*x1*2^-1", x1_impulse=20, x1_tau=5, x2_impulse=7,
                               x2_tau=3, y1_impulse=14, y1_tau=4, rng_seed=8),
    # one x0 product with only pre factors (a per-row constant) in dw; two x0 products in dd;
    # a tag_1 rule that reads no synaptic variable (targets written as soon as computed)
    "row_constant_x0": LearningRule(dw="x0*x1*2^-1 + y0*x1", dd="x0*y1 + x0*2 + y0*3",
                                    dt="x0*y1*2^-1 - y0*y1*2", x1_impulse=20, x1_tau=5,
                                    y1_impulse=14, y1_tau=4, rng_seed=6),
}


def _inputs(rule, n_pre, n_post, T, seed, rates=(0.3, 0.3)):
    rng = np.random.default_rng(seed)
    kw = {}
    S = rng.random((T, n_pre)) < rates[0]
    if rule.kind != "plain":
        kw["bap"] = rng.random((T, n_post)) < rates[1]
    if rule.kind == "3F":
        kw["y1"] = rng.integers(0, 128, (T, n_post))
        kw["y2"] = rng.integers(-128, 128, (T, n_post))
    return S, kw


def _check_same(eng, ref):
    np.testing.assert_array_equal(eng.weights, ref.weights)
    np.testing.assert_array_equal(eng.tag_1, ref.tag_1)
    np.testing.assert_array_equal(eng.tag_2, ref.tag_2)
    np.testing.assert_array_equal(np.stack([eng.x1, eng.x2]), ref.x)
    np.testing.assert_array_equal(np.stack([eng.y1, eng.y2, eng.y3]), ref.y)


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("sign_mode", ["mixed", "excitatory", "inhibitory"])
def test_run_matches_reference(name, sign_mode):
    rule = RULES[name]
    n_pre, n_post, T = 9, 6, 48
    rng = np.random.default_rng(len(name))
    lo, hi = ChipSpec().weight_range(sign_mode)
    W = rng.integers(lo, hi + 1, (n_post, n_pre))
    tags = dict(tag_1=rng.integers(-257, 256, (n_post, n_pre)), tag_2=rng.integers(0, 256, (n_post, n_pre)))
    tags["tag_1"][rng.random((n_post, n_pre)) < 0.2] = -257     # the value Lava's clip moves
    eng = LearningDenseEngine(W, rule, sign_mode=sign_mode, **tags)
    ref = ReferenceLearningDense(W, rule, sign_mode=sign_mode, **tags)
    S, kw = _inputs(rule, n_pre, n_post, T, seed=3)
    a, _ = eng.run(T, S, **kw)
    a_ref = [ref.step(t, S[t - 1], **{k: v[t - 1] for k, v in kw.items()}) for t in range(1, T + 1)]
    np.testing.assert_array_equal(a, np.array(a_ref))
    _check_same(eng, ref)


@pytest.mark.parametrize("spec", [ChipSpec(trace_bits=5, trace_frac_bits=3, tag_bits=5,
                                           accumulator_bits=11, weight_bits=6),
                                  ChipSpec(trace_bits=9, trace_frac_bits=10, tag_bits=10,
                                           accumulator_bits=20, weight_bits=12)])
def test_other_widths_match_reference(spec):
    rule = RULES["three_targets"]
    n_pre, n_post, T = 7, 5, 30
    rng = np.random.default_rng(1)
    lo, hi = spec.weight_range("mixed")
    W = rng.integers(lo, hi + 1, (n_post, n_pre))
    kw = dict(spec=spec, num_weight_bits=spec.weight_bits, weight_exp=1)
    eng, ref = LearningDenseEngine(W, rule, **kw), ReferenceLearningDense(W, rule, **kw)
    S, ins = _inputs(rule, n_pre, n_post, T, seed=5)
    for t in range(1, T + 1):
        np.testing.assert_array_equal(eng.step(t, S[t - 1], bap=ins["bap"][t - 1]),
                                      ref.step(t, S[t - 1], bap=ins["bap"][t - 1]))
    _check_same(eng, ref)


def test_step_and_run_agree_and_record():
    rule = RULES["three_targets"]
    n_pre, n_post, T = 8, 5, 40
    W = np.random.default_rng(0).integers(-256, 256, (n_post, n_pre))
    S, kw = _inputs(rule, n_pre, n_post, T, seed=1)
    e1 = LearningDenseEngine(W, rule, record_epochs=True)
    a1 = np.array([e1.step(t, S[t - 1], bap=kw["bap"][t - 1]) for t in range(1, T + 1)])
    e2 = LearningDenseEngine(W, rule, record_epochs=True)
    a2a, wa = e2.run(15, S[:15], bap=kw["bap"][:15], record_weights=5)
    a2b, wb = e2.run(T - 15, S[15:], bap=kw["bap"][15:], record_weights=25)
    np.testing.assert_array_equal(a1, np.concatenate([a2a, a2b]))
    for attr in ("weights", "tag_1", "tag_2", "x1", "x2", "y1", "y2", "y3"):
        np.testing.assert_array_equal(getattr(e1, attr), getattr(e2, attr))
    c1, c2 = e1.counters, e2.counters
    np.testing.assert_array_equal(c1.per_epoch, c2.per_epoch)
    assert (c1.steps, c1.epochs, c1.trace_updates, c1.synapse_updates, c1.syn_ops) == \
        (c2.steps, c2.epochs, c2.trace_updates, c2.synapse_updates, c2.syn_ops)
    assert wa.shape == (3, n_post, n_pre) and wb.shape == (1, n_post, n_pre)
    np.testing.assert_array_equal(wb[0], e2.weights)
    e3 = LearningDenseEngine(W, rule)
    for t in range(1, 11):
        e3.step(t, S[t - 1], bap=kw["bap"][t - 1])
    np.testing.assert_array_equal(wa[1], e3.weights)      # after step 10


@pytest.mark.parametrize("name", ["stdp", "three_targets", "rstdp"])
def test_replica_is_an_independent_engine_in_the_same_state(name):
    """A replica (fresh, and mid-run across a random-draw window) runs exactly as an engine built and run
    the same way, and running it leaves the original untouched (and the other way round)."""
    rule = RULES[name]
    n_pre, n_post, T = 9, 6, 5000
    W = np.random.default_rng(2).integers(-200, 200, (n_post, n_pre))
    S, kw = _inputs(rule, n_pre, n_post, T, seed=3, rates=(0.3, 0.3))
    S2, kw2 = _inputs(rule, n_pre, n_post, T, seed=4, rates=(0.3, 0.3))
    orig = LearningDenseEngine(W, rule)
    twin = orig.replica()                      # fresh replica, run on other inputs first, in two calls
    twin.run(2500, S2[:2500], **{k: v[:2500] for k, v in kw2.items()})   # (the second drops old draws)
    twin.run(T - 2500, S2[2500:], **{k: v[2500:] for k, v in kw2.items()})
    control = LearningDenseEngine(W, rule)
    control.run(T, S2, **kw2)
    _check_engines_equal(twin, control)
    orig.run(4200, S[:4200], **{k: v[:4200] for k, v in kw.items()})   # the original is untouched by the twin
    mid = orig.replica()
    for e in (orig, mid):
        e.run(T - 4200, S[4200:], **{k: v[4200:] for k, v in kw.items()})
    fresh = LearningDenseEngine(W, rule)
    fresh.run(T, S, **kw)
    _check_engines_equal(orig, fresh)
    _check_engines_equal(mid, fresh)


def _check_engines_equal(a, b):
    for attr in ("weights", "tag_1", "tag_2", "x1", "x2", "y1", "y2", "y3"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    assert a.t == b.t
    ca, cb = a.counters, b.counters
    assert (ca.steps, ca.epochs, ca.trace_updates, ca.synapse_updates, ca.syn_ops) == \
        (cb.steps, cb.epochs, cb.trace_updates, cb.synapse_updates, cb.syn_ops)


def test_long_run_crosses_random_windows():
    """More draws than one pre-generated chunk of the random streams (4096)."""
    rule = LearningRule(dw="x0*y1 - y0*x1 + u0*2^-7*x1*y1", x1_impulse=24.5, x1_tau=6,
                        y1_impulse=24.5, y1_tau=6, rng_seed=77)
    n_pre, n_post, T = 3, 2, 4500
    W = np.array([[10, -20, 30], [-40, 50, 0]])
    S, kw = _inputs(rule, n_pre, n_post, T, seed=9, rates=(0.2, 0.2))
    eng, ref = LearningDenseEngine(W, rule), ReferenceLearningDense(W, rule)
    eng.run(2000, S[:2000], bap=kw["bap"][:2000])
    eng.run(T - 2000, S[2000:], bap=kw["bap"][2000:])
    for t in range(1, T + 1):
        ref.step(t, S[t - 1], bap=kw["bap"][t - 1])
    _check_same(eng, ref)


def test_random_windows_keep_their_buffers_and_draws():
    """RandomStreams moves its windows in place (a compiled caller may hold the buffers): draw d of
    each stream is numpy's generator output d (blocks of ``chunk`` draws from seed + k), whatever
    the sequence of windows, and the buffers stay the same objects once they have room."""
    chunk, seed, hi = 64, 11, 1 << 8
    rs = RandomStreams(seed, hi, chunk=chunk)
    n_total = 120 * chunk
    gens = [np.random.default_rng(seed + k) for k in range(4)]
    want = [np.concatenate([g.random(chunk) if k in (0, 2) else g.integers(0, hi, chunk, dtype=np.int64)
                            for _ in range(n_total // chunk)]) for k, g in enumerate(gens)]
    conn_g = np.random.default_rng(CONN_SEED)
    want_conn = np.concatenate([conn_g.random(chunk) for _ in range(n_total // chunk)])
    rng = np.random.default_rng(3)
    t, ids = 0, []
    while t + 3 * chunk < n_total:
        n = int(rng.integers(1, chunk // 2))          # contiguous windows of irregular length
        rs.ensure(t, t + n - 1, t // 2, (t + n - 1) // 2)
        ids.append(tuple(map(id, rs.trace)) + (id(rs.conn), id(rs.offs)))
        for k in range(4):
            np.testing.assert_array_equal(rs.trace[k][t - rs.r_off:t + n - rs.r_off], want[k][t:t + n])
        np.testing.assert_array_equal(rs.conn[t // 2 - rs.c_off:(t + n - 1) // 2 + 1 - rs.c_off],
                                      want_conn[t // 2:(t + n - 1) // 2 + 1])
        t += n
    assert rs.r_off > 2 * chunk                       # old draws were dropped ...
    assert len(set(ids[-len(ids) // 3:])) == 1        # ... in place, without new buffers
    st = rs.state_dict()                              # the held window only, as before
    assert st["trace"][0].shape[0] == rs.n_trace and st["r_off"] == rs.r_off
    rs2 = RandomStreams(seed, hi, chunk=chunk)
    rs2.load_state_dict(st)
    rs.ensure(t, t + chunk, t // 2, (t + chunk) // 2)
    rs2.ensure(t, t + chunk, t // 2, (t + chunk) // 2)
    for a, b in zip(rs.trace + [rs.conn], rs2.trace + [rs2.conn]):
        np.testing.assert_array_equal(a[:rs.n_trace if a is not rs.conn else rs.n_conn],
                                      b[:rs2.n_trace if b is not rs2.conn else rs2.n_conn])


def _numpy_draws(seed, hi, chunk, n_chunks):
    """Draws 0 .. n_chunks * chunk - 1 of the four trace streams and the connection stream, from
    numpy's generators directly (blocks of ``chunk``, as RandomStreams draws them)."""
    gens = [np.random.default_rng(seed + k) for k in range(4)]
    trace = [np.concatenate([g.random(chunk) if k in (0, 2) else g.integers(0, hi, chunk, dtype=np.int64)
                             for _ in range(n_chunks)]) for k, g in enumerate(gens)]
    conn_g = np.random.default_rng(CONN_SEED)
    return trace, np.concatenate([conn_g.random(chunk) for _ in range(n_chunks)])


def test_started_streams_are_fresh_streams_and_independent():
    """``RandomStreams.started`` (a copy of a cached prototype, generators made only when drawing past
    the first window) holds what a new stream after ``ensure(0, 0, 0, 0)`` holds, continues as numpy's
    generators do, and copies of it (and of its replicas) draw independently; a state_dict taken before
    any generator was made resumes the same draws."""
    chunk, seed, hi = 32, 5, 1 << 7
    want, want_conn = _numpy_draws(seed, hi, chunk, 8)
    fresh = RandomStreams(seed, hi, chunk=chunk)
    fresh.ensure(0, 0, 0, 0)
    a = RandomStreams.started(seed, hi, chunk=chunk)
    assert a.state_dict()["gens"] == fresh.state_dict()["gens"]
    st0 = a.state_dict()
    b = a.replica()
    a.ensure(0, 6 * chunk, 0, 6 * chunk)              # a draws past its window; b and the prototype do not move
    for k in range(4):
        np.testing.assert_array_equal(a.trace[k][:6 * chunk + 1], want[k][:6 * chunk + 1])
    np.testing.assert_array_equal(a.conn[:6 * chunk + 1], want_conn[:6 * chunk + 1])
    c = RandomStreams.started(seed, hi, chunk=chunk)
    assert c.state_dict()["gens"] == st0["gens"] and b.state_dict()["gens"] == st0["gens"]
    for rs in (b, c):
        rs.ensure(3 * chunk, 7 * chunk, 2 * chunk, 7 * chunk)
        for k in range(4):
            np.testing.assert_array_equal(rs.trace[k][3 * chunk - rs.r_off:7 * chunk + 1 - rs.r_off],
                                          want[k][3 * chunk:7 * chunk + 1])
        np.testing.assert_array_equal(rs.conn[2 * chunk - rs.c_off:7 * chunk + 1 - rs.c_off],
                                      want_conn[2 * chunk:7 * chunk + 1])
    d = RandomStreams(seed + 1, hi, chunk=chunk)       # other seeds: a state saved before any draw
    d.load_state_dict(st0)
    d.ensure(0, 5 * chunk, 0, 5 * chunk)
    np.testing.assert_array_equal(d.trace[1][:5 * chunk + 1], want[1][:5 * chunk + 1])
    np.testing.assert_array_equal(d.conn[:5 * chunk + 1], want_conn[:5 * chunk + 1])


def test_counters_are_event_counts():
    rule = LearningRule(dw="x0*y1 + y0*x1", dt="y0*x1", x1_impulse=16, x1_tau=4, y1_impulse=16,
                        y1_tau=4, rng_seed=1)
    n_pre, n_post = 6, 4
    eng = LearningDenseEngine(np.zeros((n_post, n_pre), int), rule, record_epochs=True)
    s = np.array([1, 0, 1, 0, 0, 0], bool)
    b = np.array([0, 1, 0, 0], bool)
    eng.step(1, s, bap=b)
    c = eng.counters
    # dw: 2 spiking pre rows x 4 + the other 4 rows x 1 spiking post column; dt: 6 rows x 1 column
    assert c.synapse_updates == {"dw": 2 * 4 + 4 * 1, "dt": 6}
    assert c.weight_writebacks == 12 and c.tag_writebacks == 6 and c.total_synapse_updates == 18
    assert c.syn_ops == 2 * 4 and (c.steps, c.epochs) == (1, 1)
    assert c.trace_updates == 0           # traces were 0 before the epoch's decay
    eng.step(2, np.zeros(n_pre, bool), bap=np.zeros(n_post, bool))
    c = eng.counters
    assert c.trace_updates == 2 + 1          # x1 of the 2 pre neurons, y1 of the post neuron
                                             # (x2, y2, y3 have tau = 0: no decay)
    np.testing.assert_array_equal(c.per_epoch[:, 0], [1, 2])
    assert c.per_epoch[:, 2].sum() == c.total_synapse_updates
    assert c.per_epoch[:, 1].sum() == c.trace_updates


def test_pending_output_views_and_dtype():
    W = np.arange(-6, 6).reshape(3, 4) * 10
    eng = LearningDenseEngine(W, stdp_loihi(1, 1, -1, 5, 5, rng_seed=0))
    np.testing.assert_array_equal(eng.weights, W)       # mixed, 8 bits: even values unchanged
    assert eng.weights.dtype == np.int16 and eng.weights.shape == (3, 4)
    s = np.array([1, 0, 1, 0])
    a1 = eng.step(1, s)
    np.testing.assert_array_equal(a1, 0)
    np.testing.assert_array_equal(eng.a_pending, W[:, [0, 2]].sum(axis=1))
    np.testing.assert_array_equal(eng.step(2, np.zeros(4)), W[:, [0, 2]].sum(axis=1))
    eng.weights[0, 0] = 7                               # a view: writes reach the state
    assert eng._SV[0, 0, 0] == 7
    assert not eng.x0.any() and eng.tx.shape == (4,)
    odd = LearningDenseEngine(np.array([[3, -3]]), stdp_loihi(1, 1, -1, 5, 5, rng_seed=0))
    np.testing.assert_array_equal(odd.weights, [[2, -4]])   # Lava's mixed-mode LSB truncation


@pytest.mark.slow
def test_wide_spec_uses_int32():
    spec = ChipSpec(weight_bits=16, tag_bits=15, accumulator_bits=24)
    W = np.array([[40000, -50000], [3, 0]])
    rule = stdp_loihi(1, 2, -2, 5, 5, rng_seed=0)
    eng = LearningDenseEngine(W, rule, spec=spec, num_weight_bits=16)
    ref = ReferenceLearningDense(W, rule, spec=spec, num_weight_bits=16)
    assert eng.weights.dtype == np.int32
    S, kw = _inputs(rule, 2, 2, 30, seed=0, rates=(0.5, 0.5))
    eng.run(30, S, **kw)
    for t in range(1, 31):
        ref.step(t, S[t - 1], bap=kw["bap"][t - 1])
    _check_same(eng, ref)


def test_validation_errors():
    rule = stdp_loihi(1, 1, -1, 5, 5, rng_seed=0)
    with pytest.raises(SpecError, match=r"weights\[0, 1\]=300 is outside the allowed range \[-256, 255\]"):
        LearningDenseEngine(np.array([[0, 300]]), rule)
    with pytest.raises(SpecError, match="excitatory"):
        LearningDenseEngine(np.array([[0, -1]]), rule, sign_mode="excitatory")
    with pytest.raises(SpecError, match="sign_mode='signed'"):
        LearningDenseEngine(np.zeros((2, 2)), rule, sign_mode="signed")
    with pytest.raises(SpecError, match="2-D"):
        LearningDenseEngine(np.zeros(3), rule)
    with pytest.raises(SpecError, match="weight_exp=9"):
        LearningDenseEngine(np.zeros((2, 2)), rule, weight_exp=9)
    with pytest.raises(SpecError, match="tag_1"):
        LearningDenseEngine(np.zeros((2, 2)), rule, tag_1=np.full((2, 2), -300))
    with pytest.raises(RuleError, match="rng_seed is None"):
        LearningDenseEngine(np.zeros((2, 2)), stdp_loihi(1, 1, -1, 5, 5))
    with pytest.raises(TypeError, match="from_lava"):
        LearningDenseEngine(np.zeros((2, 2)), object())
    with pytest.raises(SpecError, match="accumulator_bits=6 must be >= weight_bits=8"):
        LearningDenseEngine(np.zeros((2, 2)), rule, spec=ChipSpec(accumulator_bits=6))
    eng = LearningDenseEngine(np.zeros((2, 3)), rule)
    with pytest.raises(ValueError, match="consecutive"):
        eng.step(2, np.zeros(3))
    with pytest.raises(ValueError, match=r"s_in has shape \(2,\)"):
        eng.step(1, np.zeros(2))
    with pytest.raises(ValueError, match="only a '3F' rule"):
        eng.step(1, np.zeros(3), y2=np.zeros(2))
    with pytest.raises(ValueError, match=r"bap has shape"):
        eng.run(2, np.zeros((2, 3)), bap=np.zeros((2, 3)))
    plain = LearningDenseEngine(np.zeros((2, 3)), LearningRule(dw="x0", kind="plain", rng_seed=0))
    with pytest.raises(ValueError, match="plain"):
        plain.step(1, np.zeros(3), bap=np.zeros(2))
    three = LearningDenseEngine(np.zeros((2, 3)), RULES["ottt_like_3f"])
    with pytest.raises(SpecError, match="int32"):
        three.step(1, np.zeros(3), y2=np.array([2 ** 31, 0]))


@pytest.mark.parametrize("name", ["stdp", "stdp_te3", "three_targets", "rstdp", "reads_tags",
                                  "row_constant_x0"])
@pytest.mark.parametrize("post_rate", [0.02, 0.15, 0.6])
@pytest.mark.parametrize("spec", [ChipSpec(), ChipSpec(weight_bits=14, tag_bits=12,
                                                       accumulator_bits=20)],
                         ids=["loihi", "no_int16_shortcut"])
def test_event_paths_match_reference(name, post_rate, spec):
    """Wider post populations, so that every evaluation path runs: gathered and masked post-spike
    columns, split rows (single-product columns in int16 lanes), and their int64 fallbacks."""
    rule = RULES[name]
    n_pre, n_post, T = 10, 48, 24
    rng = np.random.default_rng(int(post_rate * 100))
    lo, hi = spec.weight_range("mixed")
    W = rng.integers(lo // 2, hi // 2, (n_post, n_pre))
    th = 2 ** spec.tag_bits - 1
    tag_1 = rng.integers(-th - 2, th + 1, (n_post, n_pre))
    tag_1[rng.random((n_post, n_pre)) < 0.2] = -th - 2
    kw = dict(spec=spec, num_weight_bits=spec.weight_bits, tag_1=tag_1,
              tag_2=rng.integers(0, th + 1, (n_post, n_pre)))
    eng, ref = LearningDenseEngine(W, rule, **kw), ReferenceLearningDense(W, rule, **kw)
    S, ins = _inputs(rule, n_pre, n_post, T, seed=2, rates=(0.3, post_rate))
    eng.run(T, S, **ins)
    for t in range(1, T + 1):
        ref.step(t, S[t - 1], **{k: v[t - 1] for k, v in ins.items()})
    _check_same(eng, ref)


def test_learn_step_for_an_external_accumulation_loop():
    """What a simulator does: accumulate the step's spikes with the current weights itself, then
    call kernels.learn_step with LearningDenseEngine.kernel_args; same as LearningDenseEngine.step."""
    from hwsim.learning import kernels as K
    rule = RULES["stdp_te3"]
    n_pre, n_post, T = 9, 7, 30
    W = np.random.default_rng(4).integers(-256, 256, (n_post, n_pre))
    S, kw = _inputs(rule, n_pre, n_post, T, seed=8)
    ref, ext = LearningDenseEngine(W, rule), LearningDenseEngine(W, rule)
    zeros = np.zeros(n_post, np.int64)
    no_y = np.zeros(3, np.bool_)
    sums = []
    for t in range(1, T + 1):
        a = ref.step(t, S[t - 1], bap=kw["bap"][t - 1])
        if t > 1:
            np.testing.assert_array_equal(a, sums[-1])
        sums.append(ext.weights[:, S[t - 1]].sum(axis=1))      # accumulate before learning
        K.learn_step(t, S[t - 1], kw["bap"][t - 1], True, zeros, zeros, zeros, no_y,
                     ext.kernel_args(t, t))
        ext.t = t
    for name in ("weights", "tag_1", "tag_2", "x1", "x2", "y1", "y2", "y3"):
        np.testing.assert_array_equal(getattr(ref, name), getattr(ext, name), err_msg=name)
    assert ref.counters.synapse_updates == ext.counters.synapse_updates



def test_3f_third_factors_no_factor_reads_are_still_counted():
    """A 3F rule reading only y2, one step per epoch: y1 and y3 (overwritten by the third factors every
    step) have no history to compute, but Lava decays their non-zero values, so they are counted:
    closed form = the non-zero third-factor inputs of the step (x traces all 0)."""
    rule = LearningRule(dw="x0*x1*y2", kind="3F", t_epoch=1, rng_seed=4)   # y taus 65535: decaying
    eng = LearningDenseEngine(np.zeros((5, 3), int), rule)
    assert list(eng.program.trace_need) == [True, True, False, True, False]
    eng.step(1, np.zeros(3, bool), y1=np.array([3, 0, 1, 0, 0]), y2=np.array([0, 7, 0, 0, 0]),
             y3=np.array([1, 1, 1, 1, 0]))
    assert eng.counters.trace_updates == 2 + 1 + 4
