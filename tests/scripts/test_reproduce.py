"""``hwlearn reproduce``: the claims at the test size. Checks the SHAPE of the tables and that the
measured quantities are real (memory grows with T where the graph unrolls T, MAC counts equal the
closed form of the layer shapes, finished cells are not run again), not the verdicts."""
import numpy as np
import pytest
import torch

from scripts.cli import main
from scripts.reproduce import chenli, ottt, rate, ttl
from scripts.reproduce.common import run_claim

torch.set_num_threads(1)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("reproduce")


def _pngs(res):
    assert res.report.plots
    for p in res.report.plots:
        assert p.read_bytes()[:8] == PNG, p


def _mlp_forward_macs(n_in, widths, n_cls, T, batch):
    """Closed form: T * batch * (n_in*w1 + w1*w2 + ... + w_L*n_cls)."""
    sizes = [n_in] + list(widths) + [n_cls]
    return T * batch * sum(a * b for a, b in zip(sizes, sizes[1:]))


def test_ottt_tables_memory_and_resume(out):
    res = run_claim("ottt", "test", out, workers=1, echo=None)
    size = ottt.SIZES["test"]
    r = res.tables["results"]
    assert len(r) == len(ottt.cells("test", [0])) and res.ran == len(r)
    train = r[r["kind"] == "train"]
    assert set(train["rule"]) == {"bptt", "ottt-a", "ottt-o"} and set(train["data"]) == {"digits", "events"}
    ep = res.tables["epochs"]
    assert len(ep) == len(train) * size["epochs"]
    assert ep["test_acc"].between(0, 1).all() and ep["train_acc"].between(0, 1).all() and (ep["seconds"] > 0).all()
    assert set(ep["rule"]) == set(train["rule"]) and np.isfinite(ep["train_loss"]).all()
    for _, row in train.iterrows():     # counted MACs = closed form of the MLP's shapes
        n_in = 64 if row["data"] == "digits" else 2 * 16 * 16
        assert row["cost_macs_forward"] == _mlp_forward_macs(n_in, size["widths"], 10 if row["data"] == "digits" else 8,
                                                             row["T"], 32)
    mem = r[r["kind"] == "probe"]
    for data in ("digits", "events"):
        b = mem[(mem["data"] == data) & (mem["rule"] == "bptt")].sort_values("T")["saved_bytes_per_step"].to_numpy()
        assert len(b) == len(size["mem_T"]) and (np.diff(b) > 0).all()          # BPTT: grows with T ...
        assert b[2] - b[1] == 2 * (b[1] - b[0])                               # ... linearly (T = 2, 4, 8)
        for rule in ("ottt-a", "ottt-o"):
            o = mem[(mem["data"] == data) & (mem["rule"] == rule)]["saved_bytes_per_step"]
            assert o.nunique() == 1 and o.iloc[0] < b[-1]                     # OTTT: one step's graph
    fit = res.report.summary["memory_fit"]
    assert set(fit.columns) >= {"spread", "r2_linear", "ratio_max_min"}
    _pngs(res)
    for name in ("results", "epochs", "summary_accuracy", "summary_memory"):
        assert (res.out_dir / f"{name}.csv").is_file()
    again = run_claim("ottt", "test", out, workers=1, echo=None)             # resume: nothing runs again
    assert again.ran == 0 and again.cached == len(r)
    cols = ["key", "final_test_acc", "saved_bytes_per_step"]
    assert again.tables["results"][cols].equals(r[cols])


def test_ttl_grid_and_deep_net(out):
    res = run_claim("ttl", "test", out, workers=1, echo=None)
    size = ttl.SIZES["test"]
    grid = res.report.summary["grid"]
    assert len(grid) == 2 * len(size["K"]) * len(size["B"])
    assert set(grid["B"]) == {"1", "2", "all"} and set(grid["K"]) == set(size["K"])
    for data, g in grid.groupby("data"):
        for B, gb in g.groupby("B"):
            gb = gb.sort_values("K")
            assert (np.diff(gb["saved_bytes_per_step"].to_numpy()) > 0).all()   # memory grows with K
            assert gb["cost_macs"].nunique() == 1                              # MACs do not depend on K
        macs = g.groupby("B")["cost_macs"].first()
        # B=1: four blocks -> three 10-class heads on 16 neurons, no input gradient into layers 2..4
        n_in = 64 if data == "digits" else 512
        T, batch, ncls = size["T"], 32, 10 if data == "digits" else 8
        layers = n_in * 16 + 3 * 16 * 16
        fwd = T * batch * (layers + 3 * 16 * ncls + 16 * ncls)
        bwd = T * batch * ((layers + 3 * 16 * ncls + 16 * ncls) + 4 * 16 * ncls)
        assert macs["1"] == fwd + bwd
        bwd_all = T * batch * ((layers + 16 * ncls) + 3 * 16 * 16 + 16 * ncls)
        assert macs["all"] == T * batch * (layers + 16 * ncls) + bwd_all
    changes = res.report.summary["deep_vs_bptt"]
    assert len(changes) == len(size["deep"]) - 1
    assert {"accuracy_change_points", "memory_change_pct", "memory_access_change_pct",
            "macs_change_pct"} <= set(changes)
    assert (changes["memory_change_pct"] < 0).all()         # K=1, B=1 keeps far less than the full unroll
    _pngs(res)


def test_rate_over_T(out):
    res = run_claim("rate", "test", out, workers=1, echo=None)
    s = res.report.summary["by_T"]
    assert len(s) == len(rate.SIZES["test"]["T"]) * 3
    by = s.set_index(["rule", "T"])["saved_bytes_per_step"]
    assert by["bptt", 4] > by["bptt", 2]
    assert by["rate-m", 4] == by["rate-m", 2] and by["rate-s", 4] == by["rate-s", 2]
    assert (s["epoch_cpu_seconds"] > 0).all()
    _pngs(res)


def test_chenli_depth_sweep_health(out):
    res = run_claim("chenli", "test", out, workers=1, echo=None)
    size = chenli.SIZES["test"]
    summ = res.report.summary["depth_sweep"]
    assert len(summ) == len(size["depths"]) * len(size["variants"])
    assert {"epochs_to_target", "trains", "dead_layers_at_init"} <= set(summ.columns)
    hl = res.tables["health"]
    n_cells = len(res.tables["results"])
    assert len(hl) == 2 * sum(size["depths"]) * len(size["variants"]) and n_cells == len(summ)
    assert hl["rate"].between(0, 1).all() and hl["window_share"].between(0, 1).all() and (hl["grad_norm"] >= 0).all()
    assert set(hl["loss"]) == {"ce", "chenli-standin"} and set(hl["layer_kind"]) == {"dense"}
    assert set(res.tables["epochs"]["loss"]) == {"ce", "chenli-standin"}   # the config's loss, not the value
    init = hl[(hl["phase"] == "init")]
    # our initialisation calibrates every layer to fire; the measured rate shows it
    assert (init[init["init"] == "chen-li"]["rate"] > 0).all()
    _pngs(res)


def test_cli_prints_table_and_resumes(tmp_path, capsys):
    argv = ["reproduce", "rate", "--size-test", "--out", str(tmp_path), "--workers", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "-- by_T" in text and "rate-m" in text and "6 cells run, 0 reused" in text
    assert main(argv) == 0
    assert "0 cells run, 6 reused" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["reproduce", "nope"], "invalid choice"),
    (["reproduce", "ottt", "--workers", "0"], "--workers=0"),
    (["reproduce", "ottt", "--seeds", "x"], "--seeds"),
])
def test_bad_arguments_exit_2(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and needle in capsys.readouterr().err


def test_out_must_be_a_directory(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("")
    assert main(["reproduce", "rate", "--size-test", "--out", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err
