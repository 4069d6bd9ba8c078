"""Mapping compartments onto cores: limits respected, errors name population, resource, need, limit."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim import ChipSpec, Network
from hwsim.mapper import RESOURCES, map_network
from hwsim.spec import MappingError, SpecError


def mlp(spec=None, n_in=784, n_h=512, n_o=10, seed=0):
    rng = np.random.default_rng(seed)
    net = Network(spec) if spec else Network()
    net.add_input("in", n_in)
    net.add_population("h", n_h, du=1024, dv=256, vth=500)
    net.add_population("o", n_o, du=1024, dv=256, vth=500)
    net.connect_dense("w1", "in", "h", rng.integers(-32, 34, (n_h, n_in)))
    net.connect_dense("w2", "h", "o", rng.integers(-32, 40, (n_o, n_h)))
    return net


def check_within_limits(m):
    for core, res in m.utilization().items():
        for r in RESOURCES:
            used, mx = res[r]
            assert 0 <= used <= mx, (core, r, used, mx)


def test_mlp_is_memory_bound():
    """784 inputs x 8-bit dense weights = 784 bytes per compartment: 131072 // 784 = 167 per core."""
    m = map_network(mlp())
    assert [b[3] - b[2] for b in m.blocks] == [167, 167, 167, 11, 10]
    assert m.cores_of("h") == [0, 1, 2, 3] and m.cores_of("o") == [4]
    u = m.utilization()
    assert u[0]["synaptic_memory_bytes"] == (167 * 784, 131072)
    assert u[0]["fan_in_axons"] == (784, 4096)
    assert u[0]["fan_out_axons"] == (167, 4096)     # each h compartment targets the one core of o
    assert u[4]["fan_out_axons"][0] == 0
    check_within_limits(m)
    assert m.fits()
    text = m.report()
    assert "synaptic_memory_bytes" in text and "130928/131072" in text


def test_compartments_per_core_splits_populations():
    net = Network()
    net.add_input("in", 3)
    net.add_population("big", 2500)
    net.connect_dense("w", "in", "big", np.ones((2500, 3), int))
    m = map_network(net)
    assert [b[3] - b[2] for b in m.blocks] == [1024, 1024, 452]


def test_sparse_fan_in_is_distinct_sources():
    net = Network()
    net.add_input("in", 100)
    net.add_population("p", 50)
    dst = np.repeat(np.arange(50), 2)
    src = np.stack([np.arange(50), np.arange(50) + 50], axis=1).reshape(-1)
    net.connect_sparse("s", "in", "p", dst, src, np.ones(100, int))
    m = map_network(net, ChipSpec(fan_in_axons_per_core=20))
    assert all(f <= 20 for f in m.usage["fan_in_axons"]) and sum(b[3] - b[2] for b in m.blocks) == 50
    assert [b[3] - b[2] for b in m.blocks] == [10] * 5


def test_fan_in_error_names_population_resource_need_and_limit():
    net = Network()
    net.add_input("in", 5000)
    net.add_population("p", 4)
    net.connect_dense("w", "in", "p", np.zeros((4, 5000), int))
    with pytest.raises(MappingError, match=r"population 'p': fan_in_axons: compartment 0 alone needs 5000 input "
                                           r"axons, limit fan_in_axons_per_core=4096"):
        map_network(net)
    assert issubclass(MappingError, SpecError)


def test_memory_error():
    spec = ChipSpec(synaptic_memory_bytes_per_core=512)
    with pytest.raises(MappingError, match=r"population 'h': synaptic_memory_bytes: compartment 0 alone needs 784 "
                                           r"bytes of synaptic memory, limit synaptic_memory_bytes_per_core=512"):
        map_network(mlp(), spec)


def test_cores_per_chip_error():
    with pytest.raises(MappingError, match=r"population 'h': cores_per_chip: the network needs 5 cores, limit "
                                           r"cores_per_chip=3"):
        map_network(mlp(), ChipSpec(cores_per_chip=3))


def test_fan_out_limit_splits_the_source_population():
    """Each h compartment sends to every core of o (o split in 4 by compartments_per_core): 4 output
    axons per h compartment; a fan-out limit of 40 allows 10 h compartments per core."""
    spec = ChipSpec(compartments_per_core=8, fan_out_axons_per_core=40)
    net = mlp(spec, n_in=10, n_h=30, n_o=32)
    m = map_network(net)
    check_within_limits(m)
    h_sizes = [b[3] - b[2] for b in m.blocks if b[1] == "h"]
    assert max(h_sizes) <= 10 and sum(h_sizes) == 30


def test_fan_out_error_for_one_compartment():
    spec = ChipSpec(compartments_per_core=1, fan_out_axons_per_core=3)
    net = mlp(spec, n_in=2, n_h=2, n_o=4)
    with pytest.raises(MappingError, match=r"population 'h': fan_out_axons: compartment 0 alone needs 4 output "
                                           r"axons, limit fan_out_axons_per_core=3"):
        map_network(net)


def test_non_strict_mapping_exceeds_limits_without_raising():
    """h compartments (784 bytes each) get a core each, over the limit; o ones (512 bytes) just fit."""
    m = map_network(mlp(), ChipSpec(synaptic_memory_bytes_per_core=512, cores_per_chip=2), strict=False)
    assert not m.fits() and m.n_cores == 522
    assert m.usage["synaptic_memory_bytes"][0] == 784 and m.usage["synaptic_memory_bytes"][-1] == 512


def test_delay_and_sparse_index_bits_count_in_memory():
    """Delays 0..7 add 3 bits; sparse synapses add a 10-bit target index (1024 compartments per core)."""
    net = Network()
    net.add_input("in", 4)
    net.add_population("a", 2)
    net.add_population("b", 2)
    net.connect_dense("d", "in", "a", np.ones((2, 4), int), delays=np.full((2, 4), 7), num_weight_bits=6)
    net.connect_sparse("s", "in", "b", [0, 1], [0, 3], [1, 1], num_weight_bits=8)
    m = map_network(net)
    mem = m.usage["synaptic_memory_bytes"]
    assert mem[0] == (8 * (6 + 3) + 7) // 8 and mem[1] == (2 * (8 + 10) + 7) // 8
