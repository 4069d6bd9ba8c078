"""The ``hwlearn train`` / ``demo`` CLI: JSON keys, argument errors, help text."""
import json

import pytest
import torch

from scripts.cli import build_parser, main

torch.set_num_threads(1)
REQUIRED = {"test_accuracy", "train_accuracy", "epochs", "saved_bytes_per_step", "seconds",
            "config", "seed", "peak_memory_bytes"}


@pytest.mark.parametrize("rule", ["ottt-a", "ttl"])
def test_train_writes_json_with_required_keys(tmp_path, rule):
    path = tmp_path / "out" / "r.json"
    rc = main(["train", "--rule", rule, "--epochs", "1", "--limit", "48", "--hidden", "16", "--T", "4",
               "--no-progress", "--json", str(path)])
    assert rc == 0
    out = json.loads(path.read_text())
    assert REQUIRED <= set(out)
    assert 0.0 <= out["test_accuracy"] <= 1.0 and 0.0 <= out["train_accuracy"] <= 1.0
    assert out["epochs"] == 1 and out["saved_bytes_per_step"] > 0 and out["config"]["rule"] == rule


@pytest.mark.parametrize("argv, needle", [
    (["--rule", "nope"], "--rule"),
    (["--rule", "bptt", "--T", "0"], "--T"),
    (["--rule", "ttl", "--hidden", "a,b"], "--hidden"),
])
def test_bad_arguments_exit_with_message(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        main(["train"] + argv)
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err


def test_value_errors_are_reported_with_parameter(capsys):
    rc = main(["train", "--rule", "ttl", "--T", "4", "--truncation", "6", "--limit", "8", "--no-progress"])
    assert rc == 2
    assert "truncation" in capsys.readouterr().err
    rc = main(["train", "--rule", "bptt", "--dataset", "mnist", "--no-progress"])
    assert rc == 2
    assert "data_dir" in capsys.readouterr().err


def test_help_lists_every_option():
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["train"]
    text = sub.format_help()
    for opt in ("--rule", "--dataset", "--data-dir", "--T", "--epochs", "--seed", "--batch-size", "--lr",
                "--block-size", "--truncation", "--hidden", "--encoder", "--device", "--json", "--limit"):
        assert opt in text
    assert "demo" in parser._subparsers._group_actions[0].choices


def test_demo_table_format():
    from scripts.demo import format_table
    text = format_table([{"rule": "ottt-a", "test_acc": 0.25, "ops": 1234, "missing": None}],
                        [("rule", "{}"), ("test_acc", "{:.2%}"), ("ops", "{:,}"), ("missing", "{}")])
    assert "ottt-a" in text and "25.00%" in text and "1,234" in text and " -" in text


def test_chip_backend_and_crosscheck_cli(tmp_path):
    import json

    from scripts.cli import main
    out = tmp_path / "chip.json"
    assert main(["train", "--backend", "chip", "--rule", "ottt-o", "--local-blocks", "--epochs", "1",
                 "--limit", "200", "--hidden", "32,16", "--no-progress", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["backend"] == "chip" and 0.0 <= res["chip"]["test_accuracy"] <= 1.0
    assert res["chip"]["counters"]["synapse_updates"] > 0
    cc = tmp_path / "cc.json"
    assert main(["crosscheck", "--rule", "ottt-a", "--local-blocks", "--samples", "8", "--warmup-epochs", "0",
                 "--hidden", "32,16", "--no-eval", "--json", str(cc)]) == 0
    rep = json.loads(cc.read_text())
    assert set(rep["layers"]) == {"layer1", "layer2", "head1", "head2"}
    for name in ("layer1", "layer2"):
        assert {"update_cosine", "spike_agreement"} <= set(rep["layers"][name])
    assert rep["min_update_cosine"] == min(v["update_cosine"] for v in rep["layers"].values())
    assert main(["train", "--backend", "chip", "--rule", "bptt"]) == 2
    with pytest.raises(SystemExit) as exc:                 # refused while parsing
        main(["crosscheck", "--weight-bits", "16", "--trace-bits", "16", "--lr", "-1"])
    assert exc.value.code == 2


def _write_idx(path, arr):
    import numpy as np
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(header + arr.tobytes())


def test_train_on_mnist_idx_files(tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 20)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (n,)))
    path = tmp_path / "m.json"
    rc = main(["train", "--rule", "rate-m", "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
               "--hidden", "16", "--T", "2", "--no-progress", "--json", str(path)])
    assert rc == 0
    assert json.loads(path.read_text())["config"]["dataset"] == "mnist"


def test_missing_mnist_dir_reports_path(tmp_path, capsys):
    rc = main(["train", "--rule", "bptt", "--dataset", "mnist", "--data-dir", str(tmp_path / "none"), "--no-progress"])
    assert rc == 2
    assert "none" in capsys.readouterr().err
