"""On-chip OTTT on the Simulator (chip timing): checkpoints of the learning state resume
bit-identically; the network is an ordinary Network (mapped, saved, the Simulator runs it)."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim.io import diff_networks, load_network, load_run, save_network, save_run
from rules.onchip import ChipTrainConfig, build, epoch_orders


def _cfg(rule, **kw):
    return ChipTrainConfig(rule=rule, hidden=(24, 16), T=4, epochs=2, limit=40, seed=3, timing="chip", **kw)


@pytest.mark.parametrize("rule, local", [("ottt-a", True), ("ottt-o", False)])
def test_resume_from_a_checkpoint_is_bit_identical(tmp_path, rule, local):
    cfg = _cfg(rule, local_blocks=local)
    model, (ptr, ytr), _ = build(cfg)
    orders = epoch_orders(len(ptr), 2, cfg.seed)
    model.chip.train(ptr, ytr, orders[0])
    model.chip.train(ptr, ytr, orders[1])
    straight = model.chip.checkpoint()

    first, _, _ = build(cfg)
    first.chip.train(ptr, ytr, orders[0])
    path = save_run(first.chip.checkpoint(), tmp_path / "ck.h5", network=first.chip.net)
    resumed, _, _ = build(cfg)
    resumed.chip.restore(load_run(path, rebuild=False))
    resumed.chip.train(ptr, ytr, orders[1])
    again = resumed.chip.checkpoint()

    assert again["samples_seen"] == straight["samples_seen"] == 2 * len(ptr)
    for w_a, w_b in zip(again["sim"]["engines"], straight["sim"]["engines"]):
        for k in w_b[0]["arrays"]:
            np.testing.assert_array_equal(w_a[0]["arrays"][k], w_b[0]["arrays"][k], err_msg=k)
    assert again["sim"]["t"] == straight["sim"]["t"]
    for f, a in straight["counters"].items():
        np.testing.assert_array_equal(again["counters"][f], a, err_msg=f)
    w0 = build(cfg)[0].chip.weights
    assert any(np.any(a != b) for a, b in zip(model.chip.weights, w0))        # it learned


def test_the_circuit_is_an_ordinary_network(tmp_path):
    model, (ptr, ytr), _ = build(_cfg("ottt-a", feedback="random"))
    net = model.chip.network()
    assert {p.kind for p in net.populations.values()} == {"lif", "learning", "readout", "error"}
    assert len(net.learning_projections()) == 4
    back = load_network(save_network(net, tmp_path / "ottt.h5"))
    assert diff_networks(net, back) == []
    assert model.chip.mapping().n_cores >= len(net.populations)
