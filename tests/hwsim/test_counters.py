"""Counters checked independently of the kernels, and the energy / time estimate."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim import ChipSpec, Network
from hwsim.counters import FIELDS, Counters, EnergyModel, estimate
from hwsim.simulator import Simulator


def counted_net():
    rng = np.random.default_rng(0)
    spec = ChipSpec(compartments_per_core=16)
    net = Network(spec)
    net.add_input("in", 20)
    net.add_input("img", (1, 5, 5))
    net.add_population("h", 40, du=500, dv=500, vth=20)
    net.add_population("c", (2, 3, 3), du=500, dv=500, vth=20)
    net.add_population("o", 24, du=500, dv=500, vth=20)
    net.connect_dense("w1", "in", "h", rng.integers(-50, 100, (40, 20)))
    flat = rng.choice(24 * 40, 150, replace=False)
    net.connect_sparse("s", "h", "o", flat // 40, flat % 40, rng.integers(0, 100, 150),
                       delays=rng.integers(0, 3, 150))
    net.connect_conv("k", "img", "c", rng.integers(0, 100, (2, 1, 3, 3)))
    net.connect_dense("co", "c", "o", rng.integers(0, 50, (24, 18)))
    return net


def synapse_core_counts(net, mapping):
    """Per source node and index: number of synapses per target core, from the IR (not the kernels)."""
    torch = pytest.importorskip("torch")
    pop_core = {}
    for core, name, a, b in mapping.blocks:
        arr = pop_core.setdefault(name, np.zeros(net.populations[name].size, int))
        arr[a:b] = core
    counts = {name: np.zeros((node.size, mapping.n_cores), int) for name, node in
              list(net.inputs.items()) + list(net.populations.items())}
    for p in net.projections.values():
        dst_core = pop_core[p.dst]
        kind = type(p).__name__
        if kind == "DenseProjection":
            for j in range(p.weights.shape[0]):
                counts[p.src][:, dst_core[j]] += 1
        elif kind == "SparseProjection":
            np.add.at(counts[p.src], (p.src_index, dst_core[p.dst_index]), 1)
        else:  # conv: structure = number of kernel taps linking (src, dst), via torch on one-hot inputs
            shape = net.node(p.src).shape
            n = int(np.prod(shape))
            eye = torch.eye(n, dtype=torch.float64).reshape((n,) + shape)
            ones = torch.ones(p.weights.shape, dtype=torch.float64)
            taps = torch.nn.functional.conv2d(eye, ones, stride=p.stride, padding=p.padding, dilation=p.dilation,
                                              groups=p.groups).reshape(n, -1).numpy().round().astype(int)
            for j in range(taps.shape[1]):
                counts[p.src][:, dst_core[j]] += taps[:, j]
    return counts, pop_core


def test_counters_match_an_independent_count():
    net = counted_net()
    rng = np.random.default_rng(1)
    T = 30
    x = {"in": (rng.random((T, 20)) < 0.3).astype(np.int8), "img": (rng.random((T, 1, 5, 5)) < 0.4).astype(np.int8)}
    sim = Simulator(net)
    rec = sim.run(T, inputs=x)
    m = sim.mapping
    counts, pop_core = synapse_core_counts(net, m)
    syn = np.zeros((T, m.n_cores), int)
    msg = np.zeros((T, m.n_cores), int)
    spk = np.zeros((T, m.n_cores), int)
    for t in range(T):
        active = {"in": np.nonzero(x["in"][t])[0], "img": np.nonzero(x["img"][t].reshape(-1))[0]}
        for name in net.populations:
            active[name] = np.nonzero(rec.spikes[name][t].reshape(-1))[0]
            np.add.at(spk[t], pop_core[name][active[name]], 1)
        for name, idx in active.items():
            syn[t] += counts[name][idx].sum(axis=0)
            msg[t] += (counts[name][idx] > 0).sum(axis=0)
    c = rec.counters
    np.testing.assert_array_equal(c.synaptic_ops, syn)
    np.testing.assert_array_equal(c.messages, msg)
    np.testing.assert_array_equal(c.spikes, spk)
    sizes = np.array([b[3] - b[2] for b in sorted(m.blocks)])
    np.testing.assert_array_equal(c.neuron_updates, np.tile(sizes, (T, 1)))
    assert np.all(c.active_neuron_updates <= c.neuron_updates) and c.active_neuron_updates.sum() > 0
    for f in ("trace_updates", "synapse_updates", "weight_writebacks"):
        assert not getattr(c, f).any()
    assert c.core_population == tuple(b[1] for b in sorted(m.blocks))
    # bytes read: a message to a core reads ceil(synapses * bits / 8) bytes of the projection's rows
    assert np.all(c.synaptic_bytes_read >= (c.synaptic_ops + 7) // 8)
    per_pop = c.per_population()
    assert per_pop["o"]["spikes"] == int(np.abs(rec.spikes["o"]).sum())
    assert c.total()["synaptic_ops"] == syn.sum()


def test_dense_bytes_read_exact():
    """A dense 8-bit row of 6 targets on one core: 6 bytes per input spike."""
    net = Network()
    net.add_input("in", 3)
    net.add_population("p", 6, vth=1000)
    net.connect_dense("w", "in", "p", np.ones((6, 3), int), num_weight_bits=8)
    x = np.array([[1, 1, 0], [0, 0, 1]], np.int8)
    c = Simulator(net).run(2, inputs={"in": x}).counters
    np.testing.assert_array_equal(c.synaptic_bytes_read[:, 0], [12, 6])
    np.testing.assert_array_equal(c.synaptic_ops[:, 0], [12, 6])
    np.testing.assert_array_equal(c.messages[:, 0], [2, 1])


def test_batch_counters_are_sums():
    net = counted_net()
    rng = np.random.default_rng(2)
    x = {"in": (rng.random((10, 3, 20)) < 0.3).astype(np.int8),
         "img": (rng.random((10, 3, 1, 5, 5)) < 0.4).astype(np.int8)}
    rec = Simulator(net).run(10, inputs=x)
    total = sum(Simulator(net).run(10, inputs={k: v[:, b] for k, v in x.items()}).counters.synaptic_ops
                for b in range(3))
    np.testing.assert_array_equal(rec.counters.synaptic_ops, total)
    assert rec.counters.batch == 3 and rec.counters.neuron_updates[0].sum() == 3 * (40 + 18 + 24)


def test_estimate_uses_the_table_and_can_be_overridden():
    z = Counters.zeros(2, 2, core_population=("a", "b"))
    z.synaptic_ops[:] = [[10, 0], [0, 20]]
    z.neuron_updates[:] = 5
    z.active_neuron_updates[:] = 2
    z.messages[:] = 1
    m = EnergyModel()
    e = estimate(z)
    expect = 30 * 23.6e-12 + 8 * 81e-12 + 12 * 52e-12 + 4 * 1.7e-12
    assert e["energy_J"] == pytest.approx(expect)
    step0 = 10 * m.t_synaptic_op + 2 * m.t_neuron_active + 3 * m.t_neuron_inactive + m.t_step_sync
    assert e["time_per_step_s"][0] == pytest.approx(step0)
    assert e["time_s"] == pytest.approx(e["time_per_step_s"].sum())
    cheap = estimate(z, EnergyModel(e_synaptic_op=0.0))
    assert cheap["energy_J"] == pytest.approx(expect - 30 * 23.6e-12)


def test_counters_round_trip_and_fields():
    z = Counters.zeros(3, 2, core_population=("a", "a"), batch=4)
    z.spikes[1, 1] = 7
    back = Counters.from_dict(z.as_dict())
    assert back.batch == 4 and back.core_population == ("a", "a") and back.spikes[1, 1] == 7
    assert set(z.total()) == set(FIELDS)
