"""Bad values and huge sizes are refused before any work (issue 12, items 4 and 6).

Oracles: the message (names the parameter, the value and the range); tracemalloc (numpy reports
its allocations there), which shows that nothing of the refused size was allocated and that the
simulator's own estimate of a run's record bytes matches what a run really allocates.
"""
import math
import time
import tracemalloc

import numpy as np
import pytest

from hwsim import ChipSpec, Network, SpecError
from hwsim.simulator import Simulator


@pytest.mark.parametrize("field, value, match", [
    ("uv_bits", math.inf, r"ChipSpec: uv_bits=inf is not an integer; allowed range \[8, 32\]"),
    ("uv_bits", math.nan, r"uv_bits=nan is not an integer"),
    ("uv_bits", 24.5, r"uv_bits=24.5 is not an integer"),
    ("weight_bits", True, r"weight_bits=True is a bool, not an integer; allowed range \[1, 16\]"),
    ("weight_bits", "8", r"weight_bits='8' is not an integer"),
    ("max_delay", 10 ** 30, r"max_delay=1000000000000000000000000000000 is outside the allowed range \[0, 255\]"),
])
def test_chip_spec_refuses_non_integers(field, value, match):
    with pytest.raises(SpecError, match=match):
        ChipSpec(**{field: value})


def test_chip_spec_stores_plain_ints():
    spec = ChipSpec(uv_bits=24.0, weight_bits=np.int64(6))
    assert type(spec.uv_bits) is int and type(spec.weight_bits) is int and spec == ChipSpec(weight_bits=6)
    assert spec.total_compartments == 1024 * 128


@pytest.mark.parametrize("kw, match", [
    (dict(du=math.inf), r"population 'p': du=inf is not an integer; allowed range \[-1, 4095\]"),
    (dict(dv=float("nan")), r"dv=nan is not an integer"),
    (dict(vth=True), r"vth=True is a bool"),
    (dict(bias_mant=np.array([1, "x", 3], dtype=object)), r"bias_mant must be an integer array, got dtype object"),
    (dict(u_init=[0.5, 0, 0]), r"u_init must hold integers; entry 0.5"),
])
def test_population_parameters(kw, match):
    with pytest.raises(SpecError, match=match):
        Network().add_population("p", 3, **kw)


@pytest.mark.parametrize("shape, match", [
    (2.7, r"shape\[0\]=2.7 is not an integer"),
    ((2.7,), r"shape\[0\]=2.7 is not an integer"),
    ((3, 2.5), r"shape\[1\]=2.5 is not an integer"),
    ((), r"must be a positive integer or a non-empty tuple"),
    ("ab", r"shape\[0\]='a' is not an integer"),
    (None, r"shape=None must be a positive integer"),
    ((0,), r"shape\[0\]=0 is outside the allowed range"),
    (True, r"shape\[0\]=True is a bool"),
])
def test_shapes_are_integers(shape, match):
    with pytest.raises(SpecError, match=match):
        Network().add_population("p", shape)
    with pytest.raises(SpecError, match=match):
        Network().add_input("i", shape)


def test_integral_float_shape_is_accepted():
    assert Network().add_population("p", (2.0, 3)).shape == (2, 3)


def test_object_dtype_weights_are_refused_before_use():
    net = Network()
    net.add_input("i", 2)
    net.add_population("p", 3)
    for w in (np.array([[1, 2], [3, 4], [5, "x"]], dtype=object), np.array([[1, 2], [3, 4], [5, 6]], dtype=object)):
        with pytest.raises(SpecError, match=r"projection 'w': weights must be an integer array, got dtype object"):
            net.connect_dense("w", "i", "p", w)
    with pytest.raises(SpecError, match=r"stride\[0\]=1.5 is not an integer"):
        net2 = Network()
        net2.add_input("i", (1, 4, 4))
        net2.add_population("p", (1, 3, 3))
        net2.connect_conv("c", "i", "p", np.ones((1, 1, 2, 2), int), stride=1.5)


def test_huge_population_refused_before_allocating():
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(SpecError, match=r"population 'p': shape=\(1000000000,\) has 1000000000 elements, more "
                                            r"than the chip's 131072 compartments \(compartments_per_core 1024 x "
                                            r"cores_per_chip 128\)"):
            Network().add_population("p", 10 ** 9)
        with pytest.raises(SpecError, match=r"shape=\(1000, 1000\) has 1000000 elements, more than the chip's 131072"):
            Network().add_population("p", (1000, 1000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20 and time.perf_counter() - t0 < 5
    assert Network(ChipSpec(cores_per_chip=1)).add_population("p", 1024).size == 1024
    with pytest.raises(SpecError, match="more than the chip's 1024 compartments"):
        Network(ChipSpec(cores_per_chip=1)).add_population("p", 1025)


def _small_net():
    net = Network()
    net.add_input("in", 3)
    net.add_population("p", 6)
    net.connect_dense("w", "in", "p", np.ones((6, 3), int))
    net.add_probe("p", "v")
    net.add_probe("p", "u")
    return net


def test_run_too_long_is_refused_before_allocating():
    sim = Simulator(_small_net())
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"T=1000000000 \(batch 1\) needs [\d,]+ bytes of run records, more than "
                                             r"the limit of [\d,]+ bytes .*HWLEARN_MAX_RUN_BYTES"):
            sim.run(10 ** 9)
        with pytest.raises(ValueError, match=r"T=3000000 \(batch 4096\) needs"):
            sim.run(3_000_000, batch=4096)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    with pytest.raises(ValueError, match=r"T=10000000000 is outside the allowed range \[1, 2147483647\]"):
        sim.run(10 ** 10)


def test_run_limit_env_and_estimate_match_real_allocation(monkeypatch):
    sim = Simulator(_small_net())
    sim.run(10)                                         # compile first (numba's own allocations)
    T = 20_000
    est = sim.run_bytes(T)
    tracemalloc.start()
    try:
        sim.run(T)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0.5 * peak <= est <= 2.0 * peak, (est, peak)
    monkeypatch.setenv("HWLEARN_MAX_RUN_BYTES", str(est - 1))
    with pytest.raises(ValueError, match=rf"T={T} \(batch 1\) needs {est:,} bytes .*limit of {est - 1:,} bytes"):
        sim.run(T)
    monkeypatch.setenv("HWLEARN_MAX_RUN_BYTES", "lots")
    with pytest.raises(ValueError, match="HWLEARN_MAX_RUN_BYTES='lots' is not a number of bytes"):
        sim.run(5)
