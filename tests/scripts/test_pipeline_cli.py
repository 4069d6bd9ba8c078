"""The pipeline on the command line: train --save / --resume, info, quantize, run.

Oracles: an uninterrupted training run (resume), the chip simulator driven directly from the
network file with the checkpoint's own readout weights (run's chip accuracy), the trainer's own
evaluation function (run's float accuracy), hwsim.io's readers (files), matplotlib's PNG reader.
"""
import json

import numpy as np
import pytest
import torch

from hwsim.io import load_network, load_run
from rules import checkpoint as ck
from scripts.cli import main

torch.set_num_threads(1)
TINY = ["--epochs", "1", "--limit", "64", "--hidden", "24,16", "--T", "4", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipe")
    assert main(["train", "--rule", "bptt", "--lr", "0.01", *TINY, "--save", str(d / "m.h5")]) == 0
    return d


def test_resume_on_the_command_line_equals_a_straight_run(tmp_path, capsys):
    a, b, c = (str(tmp_path / n) for n in ("a.h5", "b.h5", "c.h5"))
    args = ["--rule", "bptt", "--limit", "64", "--hidden", "16,8", "--T", "4", "--no-progress"]
    assert main(["train", *args, "--epochs", "1", "--schedule-epochs", "2", "--save", a]) == 0
    assert main(["train", "--resume", a, "--epochs", "1", "--no-progress", "--save", b]) == 0
    assert main(["train", *args, "--epochs", "2", "--save", c]) == 0
    out = capsys.readouterr().out
    assert "resuming" in out and "saved checkpoint" in out
    mb, mc = ck.load(b), ck.load(c)
    assert mb["epochs_done"] == mc["epochs_done"] == 2
    for k in mc["model"]:
        np.testing.assert_array_equal(mb["model"][k], mc["model"][k])
    for x, y in zip(mb["extra"], mc["extra"]):
        for k in y:
            np.testing.assert_array_equal(x[k], y[k])


@pytest.mark.parametrize("extra, needle", [
    (["--hidden", "32"], "hidden=(32,) differs"),
    (["--rule", "ttl"], "rule='ttl' differs"),
    ([], "--resume needs --epochs"),
])
def test_resume_mismatch_is_refused(trained, capsys, extra, needle):
    argv = ["train", "--resume", str(trained / "m.h5"), "--no-progress", *extra]
    if needle != "--resume needs --epochs":
        argv += ["--epochs", "1"]
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_bad_checkpoints_and_backend_are_refused(trained, tmp_path, capsys):
    data = (trained / "m.h5").read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[:len(data) // 3])
    assert main(["train", "--resume", str(tmp_path / "trunc.h5"), "--epochs", "1", "--no-progress"]) == 2
    assert "truncated" in capsys.readouterr().err
    assert main(["quantize", str(tmp_path / "trunc.h5"), "-o", str(tmp_path / "n.h5")]) == 2
    assert "truncated" in capsys.readouterr().err
    assert not (tmp_path / "n.h5").exists()
    assert main(["train", "--backend", "chip", "--rule", "ottt-a", "--timing", "layer-sync", "--save",
                 str(tmp_path / "c.h5")]) == 2
    assert "--timing='layer-sync': the layer-synchronous integer kernel was removed" in capsys.readouterr().err
    assert not (tmp_path / "c.h5").exists()
    assert main(["train", "--backend", "chip", "--resume", str(tmp_path / "trunc.h5"), "--epochs", "1"]) == 2
    assert "expected format 'hwlearn-run'" in capsys.readouterr().err     # a float checkpoint is not a chip run
    assert main(["train", "--epochs", "1", "--no-progress"]) == 2
    assert "--rule" in capsys.readouterr().err


def test_info_on_a_checkpoint(trained, capsys):
    assert main(["info", str(trained / "m.h5")]) == 0
    out = capsys.readouterr().out
    assert "hwlearn-checkpoint" in out and "integrity: ok" in out and "rule bptt" in out
    assert "dense:24 -> dense:16" in out


def test_quantize_run_and_info(trained, tmp_path, capsys):
    m, n = str(trained / "m.h5"), str(tmp_path / "n.h5")
    assert main(["quantize", m, "-o", n]) == 0
    out = capsys.readouterr().out
    assert "layer0" in out and "layer1" in out and "clipped" in out and "overflow risk" in out
    net = load_network(n)                                   # a plain network file for every other reader
    assert list(net.populations) == ["layer0", "layer1"]
    assert main(["info", n]) == 0
    assert "scale policy exact" in capsys.readouterr().out

    rec, js, plots = tmp_path / "r.h5", tmp_path / "s.json", tmp_path / "plots"
    assert main(["run", n, "--dataset", "digits", "--limit", "40", "--record", str(rec), "--plots", str(plots),
                 "--json", str(js), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "accuracy: chip" in out and "synaptic ops" in out and "mapping:" in out
    s = json.loads(js.read_text())

    # oracle for the chip accuracy: the simulator driven directly, the checkpoint's readout weights
    from hwsim.simulator import Simulator
    from rules.train import TrainConfig, evaluate, load_data
    split = load_data(TrainConfig())
    x = np.asarray(split.x_test)[:40].reshape(40, -1)
    y = np.asarray(split.y_test)[:40]
    c = ck.load(m)
    from models.quantize_io import load_chip_model
    q = load_chip_model(n)[0].input_scale                              # 16: the default (netx) target's
    assert q == 16
    pay = np.round(x * q).astype(np.int32)
    inp = np.concatenate([np.repeat(pay[None], 4, 0), np.zeros((2, 40, 64), np.int32)])
    r = Simulator(net).run(6, inputs={"in": inp})
    last = r.spikes["layer1"][2:6].astype(np.float64)                # layer 1 aligned: rows 2..5
    logits = last @ c["model"]["readout.fc.weight"].astype(np.float64).T + c["model"]["readout.fc.bias"]
    assert s["chip_accuracy"] == np.mean(logits.sum(0).argmax(-1) == y)
    # oracle for the float accuracy: the trainer's evaluation
    fnet = ck.net_from_checkpoint(c)
    assert s["float_accuracy"] == evaluate(fnet, torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y), 4)
    assert s["samples"] == 40 and len(s["layers"]) == 2
    assert s["per_sample"]["synaptic_ops"] == r.counters.synaptic_ops.sum() / 40

    run = load_run(rec, rebuild=False)
    np.testing.assert_array_equal(run["labels"], y)
    assert run["spike_counts"]["layer1"].shape == (40, 16)
    import matplotlib.image as mpimg
    for name in ("raster.png", "rates.png", "agreement.png"):
        img = mpimg.imread(plots / name)
        assert img.ndim == 3 and img.shape[0] > 100


def test_quantize_and_run_errors(trained, tmp_path, capsys):
    m, n = str(trained / "m.h5"), str(tmp_path / "n.h5")
    with pytest.raises(SystemExit) as e:
        main(["quantize", m, "-o", n, "--uv-bits", "40"])
    assert e.value.code == 2 and "--uv-bits=40 is outside the allowed range [8, 32]" in capsys.readouterr().err
    assert main(["quantize", m, "-o", n, "--num-weight-bits", "9"]) == 2
    assert "--num-weight-bits=9" in capsys.readouterr().err
    assert main(["quantize", m, "-o", n, "--soft-reset", "error"]) == 2
    assert "soft" in capsys.readouterr().err
    assert not (tmp_path / "n.h5").exists()
    assert main(["run", m]) == 2                              # a checkpoint is not a chip network
    assert "expected format 'hwlearn-network'" in capsys.readouterr().err
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    assert main(["info", str(tmp_path / "junk.h5")]) == 2
    assert "not an HDF5 file" in capsys.readouterr().err
