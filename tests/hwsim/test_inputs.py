"""Sparse inputs (InputEvents) run exactly as the dense arrays of the same events, and bad events are refused
with an error naming the input, the step, the event and the allowed range."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim import Network
from hwsim.inputs import InputEvents
from hwsim.learning import stdp_loihi
from hwsim.simulator import Simulator

from .randnet import random_network


def _events_of(x: np.ndarray, shape: tuple, batched: bool) -> InputEvents:
    """The nonzeros of a dense input as InputEvents, built with numpy only (the oracle's conversion)."""
    T = x.shape[0]
    xb = x.reshape(T, 1, -1) if not batched else x.reshape(T, x.shape[1], -1)
    B = xb.shape[1]
    ptr = np.zeros((B, T + 1), np.int64)
    ch, val = [], []
    k = 0
    for b in range(B):
        for t in range(T):
            ptr[b, t] = k
            nz = np.flatnonzero(xb[t, b])
            ch.append(nz)
            val.append(xb[t, b, nz])
            k += nz.size
        ptr[b, T] = k
    return InputEvents(ptr if batched else ptr[0], np.concatenate(ch), np.concatenate(val).astype(np.int64))


def _same_record(a, b):
    assert a.spikes.keys() == b.spikes.keys()
    for k in a.spikes:
        np.testing.assert_array_equal(a.spikes[k], b.spikes[k])
    assert a.probes.keys() == b.probes.keys()
    for k in a.probes:
        np.testing.assert_array_equal(a.probes[k], b.probes[k])
    for f in ("synaptic_ops", "spikes", "messages", "synaptic_bytes_read", "trace_updates", "synapse_updates"):
        np.testing.assert_array_equal(getattr(a.counters, f), getattr(b.counters, f))
    assert a.overflow == b.overflow
    for k in a.weights:
        np.testing.assert_array_equal(a.weights[k], b.weights[k])


@pytest.mark.parametrize("seed", range(12))
def test_events_run_as_their_dense_arrays(seed):
    """Random networks (binary, image-shaped and graded inputs; every synapse kind): all inputs as
    events, and half of them as events beside dense arrays, give the dense run's record."""
    net, T, inputs = random_network(seed)
    probes = [(name, v) for name in net.populations for v in ("u", "v")]
    ref = Simulator(net).run(T, inputs=inputs, probes=probes)
    ev = {k: _events_of(x, net.inputs[k].shape, False) for k, x in inputs.items()}
    _same_record(ref, Simulator(net).run(T, inputs=ev, probes=probes))
    mixed = {k: (ev[k] if i % 2 == seed % 2 else x) for i, (k, x) in enumerate(inputs.items())}
    _same_record(ref, Simulator(net).run(T, inputs=mixed, probes=probes))


@pytest.mark.parametrize("seed", range(4))
def test_batched_and_shared_events(seed):
    """Batched events (one stream per instance) and unbatched events shared by all instances of a
    batched run match the dense forms."""
    net, T, inputs = random_network(100 + seed)
    rng = np.random.default_rng(seed)
    B = 3
    batched = {k: np.stack([np.roll(x, b, axis=0) if b else x for b in range(B)], axis=1) for k, x in inputs.items()}
    names = list(inputs)
    shared = names[int(rng.integers(0, len(names)))]
    dense = dict(batched)
    dense[shared] = inputs[shared]
    ref = Simulator(net).run(T, inputs=dense)
    ev = {k: (_events_of(inputs[k], net.inputs[k].shape, False) if k == shared
              else _events_of(batched[k], net.inputs[k].shape, True)) for k in names}
    _same_record(ref, Simulator(net).run(T, inputs=ev))


def _stdp(n_in=12, n_h=6, seed=0):
    rng = np.random.default_rng(seed)
    net = Network()
    net.add_input("in", n_in)
    net.add_population("h", n_h, du=1024, dv=256, vth=300)
    net.connect_dense("w", "in", "h", rng.integers(-20, 60, (n_h, n_in)),
                      learning=stdp_loihi(1, 1, -1, 5, 5, t_epoch=1, rng_seed=3))
    return net


def test_learning_from_events_equals_learning_from_dense():
    rng = np.random.default_rng(5)
    x = (rng.random((80, 2, 12)) < 0.3).astype(np.int8)
    net = _stdp()
    ref = Simulator(net).run(80, inputs={"in": x})
    got = Simulator(net).run(80, inputs={"in": _events_of(x, (12,), True)})
    _same_record(ref, got)
    assert not np.array_equal(ref.weights["w"][0], net.projections["w"].weights)      # it learned


def test_from_arrays_sorts_and_to_dense_is_the_inverse():
    rng = np.random.default_rng(1)
    T, B, n = 7, 3, 10
    dense = (rng.random((T, B, n)) < 0.3) * rng.integers(1, 50, (T, B, n))
    t, b, c = np.nonzero(dense)
    perm = rng.permutation(t.size)
    ev = InputEvents.from_arrays(t[perm], c[perm], dense[t, b, c][perm], T=T, instances=b[perm], batch=B)
    np.testing.assert_array_equal(ev.to_dense(n), dense)
    assert ev.batch == B and ev.T == T
    for bb in range(B):
        for tt in range(T):
            np.testing.assert_array_equal(ev.channels[ev.ptr[bb, tt]:ev.ptr[bb, tt + 1]], np.flatnonzero(dense[tt, bb]))
    single = InputEvents.from_arrays([2, 0, 2], [4, 1, 0], T=3)
    assert single.batch is None
    np.testing.assert_array_equal(single.to_dense(5), [[0, 1, 0, 0, 0], [0] * 5, [1, 0, 0, 0, 1]])


def _net():
    net = Network()
    net.add_input("b", 4)
    net.add_input("g", (2, 3), graded=True)
    net.add_population("p", 3, vth=100)
    net.connect_dense("wb", "b", "p", np.ones((3, 4), np.int64))
    net.connect_dense("wg", "g", "p", np.ones((3, 6), np.int64), graded=True)
    return net


@pytest.mark.parametrize("inp, message", [
    ({"b": InputEvents([0, 1, 1], [4])}, r"inputs\['b'\] at row 0, event 0 \(channel 4\): channel outside \[0, 3\]"),
    ({"b": InputEvents([0, 2, 2], [2, 2])}, r"row 0, event 1 \(channel 2\): channels of a step must be strictly increasing"),
    ({"b": InputEvents([0, 0, 2], [3, 1])}, r"row 1, event 1 \(channel 1\): channels of a step must be strictly"),
    ({"b": InputEvents([0, 1, 1], [0], [2])}, r"inputs\['b'\] at row 0, event 0 is 2, outside the allowed range \[0, 1\] \(binary input\)"),
    ({"g": InputEvents([0, 1, 2], [0, 5], [3, 0])}, r"row 1, event 1 has payload 0; an event's payload must be non-zero"),
    ({"g": InputEvents([0, 1, 1], [0], [2.5])}, r"event 0 is 2.5, not an integer"),
    ({"g": InputEvents([0, 1, 1], [0], [1 << 30])}, r"event 0 is 1073741824, outside the allowed range \[-8388608, 8388607\]"),
    ({"b": InputEvents([0, 0, 0, 0], [])}, r"inputs\['b'\] holds events of 3 steps for a run of T=2"),
    ({"b": InputEvents(np.zeros((2, 3), np.int64), []), "g": np.zeros((2, 3, 2, 3))},
     r"inputs\['g'\] has batch size 3, another input has 2"),
])
def test_bad_events_name_the_input_step_event_and_range(inp, message):
    with pytest.raises(ValueError, match=message):
        Simulator(_net()).run(2, inputs=inp)


@pytest.mark.parametrize("kw, message", [
    (dict(ptr=[0, 2, 1], channels=[0, 1]), r"ptr must be non-decreasing along each row and within \[0, 2\]"),
    (dict(ptr=[0, 1, 3], channels=[0, 1]), r"within \[0, 2\]"),
    (dict(ptr=[0], channels=[]), r"ptr has shape \(1,\)"),
    (dict(ptr=[0.0, 1.0], channels=[0]), r"ptr has shape \(2,\) and dtype float64"),
    (dict(ptr=[0, 1], channels=[0.5]), r"channels has shape \(1,\) and dtype float64"),
    (dict(ptr=[0, 1], channels=[0], payloads=[1, 2]), r"payloads has shape \(2,\)"),
])
def test_malformed_events_are_refused_when_built(kw, message):
    with pytest.raises(ValueError, match=message):
        InputEvents(**kw)


def test_from_arrays_checks_its_ranges():
    with pytest.raises(ValueError, match=r"steps must be in \[0, 2\] \(T=3\); got values in \[0, 3\]"):
        InputEvents.from_arrays([0, 3], [1, 1], T=3)
    with pytest.raises(ValueError, match=r"instances must be in \[0, 1\] \(batch=2\)"):
        InputEvents.from_arrays([0, 1], [1, 1], T=3, instances=[0, 2], batch=2)
    with pytest.raises(ValueError, match="batch is given without instances"):
        InputEvents.from_arrays([0], [1], T=3, batch=2)
