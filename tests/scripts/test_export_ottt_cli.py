"""``hwlearn export --to lava --verify`` on a saved on-chip OTTT network: the file's host protocol runs
sample by sample (--samples / --sample-source / per-sample --inputs); options that do not apply are
refused with exit 2 (3 for a target that cannot run the protocol)."""
import json

import numpy as np
import pytest

from hwsim.io import save_network
from scripts.cli import main
from tests.hwsim.test_export_ottt_lava import samples, tiny_ottt


@pytest.fixture(scope="module")
def ottt_file(tmp_path_factory):
    chip = tiny_ottt(False, True, "mirror")
    X, y = samples()
    chip.train(X, y)
    d = tmp_path_factory.mktemp("ottt")
    np.savez(d / "samples.npz", input=X[:2], label=y[:2])
    np.savez(d / "wrong.npz", input=X[:2])
    save_network(chip.current_network(), d / "plain.h5")
    return save_network(chip.current_network(), d / "ottt.h5", protocol=chip.protocol()), d


def test_random_samples_verify_with_the_protocol(lava, ottt_file, capsys):
    path, d = ottt_file
    code = main(["export", "--to", "lava", "--verify", str(path), "--samples", "2", "--sample-source", "random",
                 "--seed", "4", "--json", str(d / "v.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 random samples (payloads uniform in [0, 127], seed 4); host protocol: 7 steps per sample, then " \
           "add_tags,reset" in out
    assert "IDENTICAL" in out and "host protocol: 2 segments of 7 steps, after each: add_tags+reset" in out
    rec = json.loads((d / "v.json").read_text())
    assert rec["report"]["segments"] == [7, 7] and rec["report"]["host_ops"] == [["add_tags", "reset"]] * 2
    assert "--samples 2 --sample-source random --seed 4" in rec["command"]


def test_per_sample_inputs_verify(lava, ottt_file, capsys):
    path, d = ottt_file
    code = main(["export", "--to", "lava", "--verify", str(path), "--inputs", str(d / "samples.npz")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"2 samples from {d / 'samples.npz'}" in out and "IDENTICAL" in out


@pytest.mark.parametrize("args, code, message", [
    (["--steps", "5"], 2, "--steps / --rate draw one Bernoulli run; .* holds a host protocol"),
    (["--samples", "2"], 2, "--sample-source digits: the bundled digits have 64 pixels, the payload input 'input' "
                            "has 10 compartments"),
    (["--inputs", "wrong.npz"], 2, r"holds \['input'\]; a protocol network needs exactly \['input', 'label'\]"),
    (["--sample-source", "random"], 2, "--sample-source do\\(es\\) not apply"),
])
def test_bad_protocol_options_are_refused(ottt_file, capsys, args, code, message):
    path, d = ottt_file
    args = [str(d / a) if a.endswith(".npz") else a for a in args]
    assert main(["export", "--to", "lava", "--verify", str(path)] + args) == code
    import re
    assert re.search(message, capsys.readouterr().err)


def test_samples_need_a_protocol_and_lava(ottt_file, capsys):
    path, d = ottt_file
    assert main(["export", "--to", "lava", "--verify", str(d / "plain.h5"), "--samples", "2"]) == 2
    assert "holds no host protocol" in capsys.readouterr().err
    assert main(["export", "--to", "netx", "--verify", str(path), "-o", str(d / "x.net")]) == 3
    assert "runs with --to lava" in capsys.readouterr().err
