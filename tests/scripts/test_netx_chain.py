"""Issue 9's acceptance chain on the command line, on a tiny run: train --save -> quantize (default
target: netx) -> run -> export --to lava --verify -> export --to netx --verify; the netx target's
errors; options the chosen backend or network does not use, refused.

Oracles: Lava 0.10.0 fixed_pt and lava-dl 0.6.0's own netx reader (the two --verify steps run the
written network there and compare every step with hwsim); netx's limits as lava-dl states them
(integer dense weights in [-256, 254], biases in units of 2**6); the default target's file, which
the netx exporter refuses (so the comparison can fail).
"""
import numpy as np
import pytest
import torch

from hwsim.io import load_network
from hwsim.program import chip_weights, effective_bias
from scripts.cli import main

torch.set_num_threads(1)
TINY = ["--epochs", "2", "--limit", "96", "--hidden", "24,16", "--T", "4", "--no-progress", "--lr", "0.01"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("chain")
    assert main(["train", "--rule", "bptt", *TINY, "--save", str(d / "m.h5")]) == 0
    return d


def _netx_limits_hold(path):
    """Independent of the exporter: every effective weight * 2**weight_exp an integer in netx's
    mixed range, every bias a multiple of 64."""
    net = load_network(path)
    for p in net.projections.values():
        assert p.weight_exp == 0
        w = chip_weights(p.weights, p.sign_mode, p.num_weight_bits, net.spec)
        assert -256 <= w.min() and w.max() <= 254
    for pop in net.populations.values():
        assert np.all(effective_bias(pop.bias_mant, pop.bias_exp) % 64 == 0)
    return net


def test_the_acceptance_chain(netx, trained, tmp_path, capsys):
    m, n = str(trained / "m.h5"), str(tmp_path / "n.h5")
    inputs = str(tmp_path / "in.npz")
    assert main(["quantize", m, "-o", n]) == 0
    out = capsys.readouterr().out
    assert "target netx" in out and "input graded x16" in out and f"wrote {n}" in out
    net = _netx_limits_hold(n)
    assert any(np.any(p.bias_mant) for p in net.populations.values())     # the biases were not dropped
    assert main(["run", n, "--dataset", "digits", "--limit", "12", "--no-progress", "--save-inputs", inputs]) == 0
    out = capsys.readouterr().out
    assert "accuracy: chip" in out and f"wrote {inputs}" in out
    assert main(["export", n, "--to", "lava", "--verify", "--inputs", inputs]) == 0
    out = capsys.readouterr().out
    assert "hwsim vs Lava fixed_pt" in out and "IDENTICAL" in out
    net_file = tmp_path / "n.net"
    assert main(["export", n, "--to", "netx", "--verify", "--inputs", inputs]) == 0
    out = capsys.readouterr().out
    assert f"wrote netx file {net_file}" in out and "hwsim vs lava-dl netx -> Lava fixed_pt" in out
    assert "IDENTICAL" in out and net_file.exists()
    # control: the same checkpoint at the chip target has biases netx cannot hold
    c = str(tmp_path / "c.h5")
    assert main(["quantize", m, "-o", c, "--target", "chip"]) == 0
    capsys.readouterr()
    assert main(["export", c, "--to", "netx", "-o", str(tmp_path / "c.net")]) == 3
    assert "not a multiple of 64" in capsys.readouterr().err
    assert not (tmp_path / "c.net").exists()


@pytest.mark.parametrize("extra, needle", [
    (["--target", "netx", "--uv-bits", "20"], "target netx: spec.uv_bits=20: Lava's fixed-point LIF uses uv_bits=24"),
    (["--target", "netx", "--bias-exp-max", "5"], "target netx: spec.bias_exp_max=5 is below 6"),
    (["--target", "netx", "--weight-bits", "9"], "outside netx's mixed range [-256, 254]"),
])
def test_netx_target_refuses_what_netx_cannot_express(trained, tmp_path, capsys, extra, needle):
    n = tmp_path / "n.h5"
    assert main(["quantize", str(trained / "m.h5"), "-o", str(n), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwlearn quantize: error: target netx: ") and needle in err
    assert not n.exists()
    # control: the chip target takes the same widths
    assert main(["quantize", str(trained / "m.h5"), "-o", str(n), *extra[2:], "--target", "chip"]) == 0
    assert n.exists()


@pytest.mark.parametrize("extra, needle", [
    (["--target", "lava-dl"], "argument --target: invalid choice: 'lava-dl'"),
    (["--input-scale", "12"], "--input-scale=12 must be a power of two in the allowed range [1, 65536]"),
    (["--input-scale", "0"], "--input-scale=0 must be a power of two"),
    (["--input-scale", "x"], "--input-scale must be an integer, got 'x'"),
    (["--headroom", "0.5"], "--headroom=0.5 is outside the allowed range [1, inf)"),
])
def test_new_option_parse_errors(trained, tmp_path, capsys, extra, needle):
    with pytest.raises(SystemExit) as e:
        main(["quantize", str(trained / "m.h5"), "-o", str(tmp_path / "n.h5"), *extra])
    assert e.value.code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "n.h5").exists()


def test_input_scale_is_used_and_refused_for_spike_inputs(trained, tmp_path, capsys):
    from models.quantize_io import load_chip_model

    n = tmp_path / "n.h5"
    assert main(["quantize", str(trained / "m.h5"), "-o", str(n), "--input-scale", "64", "--target", "chip"]) == 0
    assert "input graded x64" in capsys.readouterr().out
    assert load_chip_model(n)[0].input_scale == 64
    r = tmp_path / "r.h5"
    assert main(["train", "--rule", "bptt", *TINY, "--encoder", "rate", "--save", str(r)]) == 0
    capsys.readouterr()
    assert main(["quantize", str(r), "-o", str(tmp_path / "q.h5"), "--input-scale", "16"]) == 2
    assert "--input-scale applies to a graded (direct-encoded) input" in capsys.readouterr().err
    assert not (tmp_path / "q.h5").exists()
    # --seed: refused for the direct network (nothing is drawn), used by the rate-encoded one
    assert main(["run", str(n), "--limit", "4", "--seed", "3", "--no-progress"]) == 2
    assert "--seed 3 applies to the rate / latency encoders" in capsys.readouterr().err
    assert main(["quantize", str(r), "-o", str(tmp_path / "q.h5")]) == 0
    js = [tmp_path / f"s{k}.json" for k in range(3)]
    for seed, j in zip((1, 2, 1), js):
        assert main(["run", str(tmp_path / "q.h5"), "--limit", "24", "--seed", str(seed), "--no-progress",
                     "--json", str(j)]) == 0
    rates = [j.read_text() for j in js]
    assert rates[0] == rates[2] and rates[0] != rates[1]


@pytest.mark.parametrize("argv, needle", [
    (["train", "--backend", "chip", "--rule", "ottt-a", "--schedule-epochs", "4"], "--schedule-epochs: float-backend"),
    (["train", "--rule", "bptt", "--data-dir", "/tmp"], "--data-dir '/tmp' applies to --dataset mnist"),
    (["train", "--backend", "chip", "--rule", "ottt-a", "--data-dir", "/tmp"], "--data-dir '/tmp' applies to"),
])
def test_flags_the_backend_does_not_use_are_refused(argv, needle, capsys):
    assert main(argv + ["--no-progress"]) == 2
    assert needle in capsys.readouterr().err


def test_run_refuses_data_dir_for_digits_and_resume_checks_the_checkpoints_dataset(trained, tmp_path, capsys):
    n = tmp_path / "n.h5"
    assert main(["quantize", str(trained / "m.h5"), "-o", str(n)]) == 0
    capsys.readouterr()
    assert main(["run", str(n), "--data-dir", str(tmp_path), "--no-progress"]) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert main(["train", "--resume", str(trained / "m.h5"), "--epochs", "1", "--data-dir", str(tmp_path),
                 "--no-progress"]) == 2
    assert "applies to --dataset mnist" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--rate", "0.5"], ["--seed", "3"]])
def test_export_refuses_bernoulli_options_with_inputs(lava, trained, tmp_path, capsys, extra):
    n, inputs = tmp_path / "n.h5", tmp_path / "in.npz"
    assert main(["quantize", str(trained / "m.h5"), "-o", str(n)]) == 0
    assert main(["run", str(n), "--limit", "2", "--no-progress", "--save-inputs", str(inputs)]) == 0
    capsys.readouterr()
    assert main(["export", str(n), "--to", "lava", "--verify", "--inputs", str(inputs), *extra]) == 2
    assert f"{extra[0]} do(es) not apply to --to lava --verify --inputs" in capsys.readouterr().err
    assert main(["export", str(n), "--to", "lava", "--verify", "--steps", "5", *extra]) == 0   # control
