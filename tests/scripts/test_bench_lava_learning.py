"""scripts.bench_lava_learning: Lava's 3F-learning benchmark runs, learns and reports positive timings."""
import numpy as np

from scripts.bench_lava_learning import _y2_data, lava_learning_steps_per_s


def test_y2_is_signed_sparse_int_in_range():
    y2 = _y2_data(np.random.default_rng(0), 50, 400, 0.2)
    assert y2.dtype == np.int32 and y2.shape == (50, 400)
    assert np.abs(y2).max() <= 127 and y2.min() < 0 < y2.max()
    assert 0.15 < np.mean(y2 != 0) < 0.25


def test_tiny_network_learns_and_times(lava):
    res = lava_learning_steps_per_s(n_in=20, n_hidden=8, n_out=3, T=20, input_rate=0.5, repeats=1)
    assert res["weights_changed"] is True
    assert res["lava_ms_per_step_min"] > 0 and res["lava_ms_per_step_median"] > 0
    assert res["lava_steps_per_s"] > 0
    assert 0 < res["hidden_rate"] < 1
    assert (res["T"], res["repeats"], res["n_in"], res["n_hidden"], res["n_out"]) == (20, 1, 20, 8, 3)
    assert res["lava_version"] == "0.10.0"
