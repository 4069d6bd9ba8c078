"""scripts/bench_learning.py at tiny sizes (the Lava side: test_bench_lava_learning.py), and its
baselines from git history (scripts/bench_history.py)."""

import pytest

from scripts import bench_history
from scripts.bench_learning import _pool_ottt, circuit_kernel, main, simulator_ottt_steps_per_s, simulator_stdp


def _history_or_skip(commit):
    """Skip (naming why) only where this checkout cannot hold the commit: no git repository, or a
    shallow clone without it; in a full clone a missing baseline commit fails the tests."""
    try:
        bench_history.resolve(commit)
    except bench_history.HistoryUnavailable as exc:
        try:
            shallow = bench_history._git("rev-parse", "--is-shallow-repository") == "true"
        except bench_history.HistoryUnavailable:
            shallow = True                      # not a git checkout at all (a tarball)
        if not shallow:
            raise
        pytest.skip(f"baseline commit {commit} not in this shallow / non-git checkout: {exc}")


def test_simulator_side_reports_work_and_speed():
    r = simulator_ottt_steps_per_s(n_in=40, n_hidden=24, n_out=4, T=4, samples=6, input_rate=0.3, repeats=1)
    assert r["steps_per_sample"] == 7 and r["steps"] == 42 and r["steps_per_s"] > 0
    assert r["us_per_sample_median"] == pytest.approx(7 * r["us_per_step_median"])
    assert 0.0 < r["hidden_rate_untrained"] < 1.0 and 0.0 < r["hidden_rate"] < 1.0
    assert r["synapse_updates_per_step"] > 0 and all(0.0 < f <= 1.0 for f in r["weights_changed"])
    assert set(r["rule_strings"]) == {"w1", "head1"} and "y2" in r["rule_strings"]["head1"]["dw"]


def test_former_step_loop_from_history_learns_the_same_weights():
    # the filing-time Simulator (per-step Python learning loop) run from git history: the compiled path
    # must learn bit-identical weights on the same network and input (batch 2: each instance its own)
    _history_or_skip(bench_history.FILED)
    r = simulator_stdp(16, 8, 40, 2, input_rate=0.3, repeats=1)
    assert r["step_loop_commit"] == bench_history.resolve(bench_history.FILED)
    assert r["identical_weights"] is True and r["speedup_vs_step_loop"] > 0
    # the compiled side is timed in a fresh interpreter too (the same source as the old side)
    assert r["compiled_fresh_equals_in_process"] is True and len(r["compiled_seconds"]) == 1
    assert r["compiled_in_process_us_per_step_median"] > 0


def test_circuit_kernel_from_history():
    _history_or_skip(bench_history.LAST_CIRCUIT_KERNEL)
    r = circuit_kernel(bench_history.LAST_CIRCUIT_KERNEL, n_in=40, n_hidden=24, n_out=4, T=4, samples=6,
                       input_rate=0.3, repeats=1)
    assert r["commit"] == bench_history.resolve(bench_history.LAST_CIRCUIT_KERNEL)
    assert r["steps"] == 24 and r["us_per_step_median"] > 0 and 0.0 < r["hidden_rate"] < 1.0


def test_unknown_commit_is_unavailable_not_a_crash():
    with pytest.raises(bench_history.HistoryUnavailable, match="0000000"):
        bench_history.checkout("0000000")
    r = circuit_kernel("0000000", n_in=8, n_hidden=4, n_out=2, T=2, samples=2, repeats=1)
    assert r["commit"] == "0000000" and "0000000" in r["unavailable"]


def test_cli_refuses_bad_options_before_running(capsys, tmp_path):
    for argv, msg in ((["--samples", "1"], "--samples=1: must be >= 2"),
                      (["--input-rate", "0"], "--input-rate=0.0: must be in (0, 1]"),
                      (["--settle", "-1"], "--settle=-1.0: must be in [0, 600] seconds"),
                      (["--json", str(tmp_path)], "directory")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and msg in capsys.readouterr().err


def test_simulator_timings_pool_both_sides_of_lava():
    # the speedup's Simulator median is over the repeats before and after the Lava measurement
    so = {"seconds": [0.3, 0.1], "seconds_after_lava": [0.2, 0.5, 0.4], "steps": 100, "samples": 10}
    _pool_ottt(so)
    assert so["seconds_before_lava"] == [0.3, 0.1] and so["seconds"] == [0.3, 0.1, 0.2, 0.5, 0.4]
    assert so["us_per_step_median"] == pytest.approx(3000.0) and so["us_per_step_min"] == pytest.approx(1000.0)
    assert so["us_per_sample_median"] == pytest.approx(30000.0) and so["steps_per_s"] == pytest.approx(1000 / 3)
