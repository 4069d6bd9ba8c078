"""Rounding of learning updates as a projection option: the Simulator's engines use it, HDF5 keeps it,
Lava refuses what it cannot run, and on-chip OTTT on chip timing trains with it."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim import Network
from hwsim.io import diff_networks, load_network, save_network
from hwsim.learning import LearningDenseEngine, LearningRule
from hwsim.simulator import Simulator


def _net(rounding):
    rng = np.random.default_rng(0)
    net = Network(name=f"r_{rounding}")
    net.add_input("x", 6)
    net.add_input("g", 4, graded=True)
    net.add_population("h", 4, du=4095, dv=4096, vth=2000)
    rule = LearningRule(dw="-3*2^-3*u0*x1*y2", x1_impulse=50, x1_tau=3, rng_seed=2, kind="3F")
    net.connect_dense("w", "x", "h", rng.integers(-100, 100, (4, 6)), learning=rule, third_factor={"y2": "g"},
                      rounding=rounding)
    x = {"x": (rng.random((30, 6)) < 0.5).astype(np.int8), "g": rng.integers(-60, 60, (30, 4))}
    return net, x


@pytest.mark.parametrize("rounding", ["stochastic", "nearest", "floor"])
def test_simulator_uses_the_projection_rounding(tmp_path, rounding):
    net, x = _net(rounding)
    rec = Simulator(net).run(30, inputs=x)
    p = net.projections["w"]
    eng = LearningDenseEngine(p.weights, p.learning, rounding=rounding)     # the engine alone, stepped
    for t in range(30):
        eng.step(t + 1, x["x"][t], y2=x["g"][t])
    np.testing.assert_array_equal(rec.weights["w"], eng.weights)
    back = load_network(save_network(net, tmp_path / "n.h5"))
    assert diff_networks(net, back) == [] and back.projections["w"].rounding == rounding


def test_roundings_differ_and_lava_refuses_non_stochastic(lava):
    from hwsim.export.lava import UnexportableError, to_lava

    w = {r: Simulator(_net(r)[0]).run(30, inputs=_net(r)[1]).weights["w"] for r in ("stochastic", "nearest", "floor")}
    assert not np.array_equal(w["nearest"], w["floor"])
    with pytest.raises(UnexportableError, match="floor"):
        to_lava(_net("floor")[0], _net("floor")[1])


def test_rounding_is_validated_and_needs_learning():
    net = Network()
    net.add_input("x", 2)
    net.add_population("h", 2)
    with pytest.raises(Exception, match="rounding='up'"):
        net.connect_dense("w", "x", "h", np.ones((2, 2)), learning=LearningRule(dw="u0*x1", rng_seed=0, kind="plain"),
                          rounding="up")
    with pytest.raises(Exception, match="need learning="):
        net.connect_dense("w2", "x", "h", np.ones((2, 2)), rounding="floor")


def test_onchip_ottt_trains_with_each_rounding():
    from rules.onchip import ChipTrainConfig, build, epoch_orders

    out = {}
    for r in ("stochastic", "floor"):
        cfg = ChipTrainConfig(rule="ottt-o", hidden=(16,), T=4, limit=30, seed=1, rounding=r, timing="chip")
        model, (ptr, ytr), _ = build(cfg)
        assert all(p.rounding == r for p in model.chip.network().learning_projections())
        model.chip.train(ptr, ytr, epoch_orders(len(ptr), 1, 1)[0])
        out[r] = model.chip.weights
    assert any(np.any(a != b) for a, b in zip(out["stochastic"], out["floor"]))
