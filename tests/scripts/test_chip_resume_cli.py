"""`hwlearn train --backend chip --save / --resume`: the chip's learning state resumes bit-identically."""
from __future__ import annotations

import numpy as np

from rules.onchip import load_chip_run
from scripts.cli import main

BASE = ["train", "--backend", "chip", "--rule", "ottt-a", "--local-blocks", "--hidden", "24", "--T", "4",
        "--limit", "40", "--no-progress"]


def test_resume_equals_straight_run(tmp_path, capsys):
    a, b, c = (str(tmp_path / n) for n in ("a.h5", "b.h5", "c.h5"))
    assert main(BASE + ["--epochs", "2", "--save", a]) == 0
    assert main(BASE + ["--epochs", "1", "--save", b]) == 0
    assert main(["train", "--backend", "chip", "--resume", b, "--epochs", "1", "--no-progress", "--save", c]) == 0
    out = capsys.readouterr().out
    assert "resuming" in out and "1 epochs done" in out
    ra, rc = load_chip_run(a), load_chip_run(c)
    assert ra["epochs_done"] == rc["epochs_done"] == 2 and ra["history"] == rc["history"]
    ea, ec = ra["chip"]["sim"]["engines"], rc["chip"]["sim"]["engines"]
    for x, y in zip(ea, ec):
        for k in x[0]["arrays"]:
            np.testing.assert_array_equal(x[0]["arrays"][k], y[0]["arrays"][k], err_msg=k)
    for f, v in ra["chip"]["counters"].items():
        np.testing.assert_array_equal(v, rc["chip"]["counters"][f], err_msg=f)


def test_resume_refusals(tmp_path, capsys):
    b = str(tmp_path / "b.h5")
    assert main(BASE + ["--epochs", "1", "--save", b]) == 0
    assert main(["train", "--backend", "chip", "--resume", b, "--no-progress"]) == 2
    assert "--resume needs --epochs" in capsys.readouterr().err
    assert main(BASE[:-1] + ["--hidden", "16", "--resume", b, "--epochs", "1"]) == 2
    assert "options differ from the saved run" in capsys.readouterr().err
    assert main(BASE + ["--epochs", "1", "--timing", "layer-sync", "--save", b]) == 2
    assert "--timing='layer-sync': the layer-synchronous integer kernel was removed" in capsys.readouterr().err
    assert main(["train", "--backend", "chip", "--resume", b, "--epochs", "1", "--timing", "layer-sync"]) == 2
    assert "allowed: 'chip'" in capsys.readouterr().err
    assert main(["train", "--rule", "bptt", "--timing", "chip", "--epochs", "1"]) == 2
    assert "--timing" in capsys.readouterr().err
