"""The command line under bad input (issue 12, items 3, 4, 5, 7): every bad value or combination
is one line on stderr and exit 2 before any work; options never lie; divergence stops the run.

Oracles: the exit status and stderr of ``scripts.cli.main`` run in-process; "before any work" is
observed by replacing each command's work function (training, cross-check, export) with one that
raises, so a refusal that comes too late shows as that exception; JSON files are read back with
Python's strict parser (NaN refused).
"""
import json
import math
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.cli import main

torch.set_num_threads(1)


class WorkStarted(BaseException):
    """Raised by the patched work functions: validation is over and the work would begin."""


def _work(*a, **k):
    raise WorkStarted()


@pytest.fixture
def no_work(monkeypatch):
    import hwsim.export.lava
    import hwsim.export.verify
    import hwsim.io
    import rules.crosscheck
    import rules.onchip
    import rules.train
    import scripts.export

    for mod, name in ((rules.train, "train"), (rules.onchip, "train_chip"), (rules.crosscheck, "crosscheck"),
                      (hwsim.export.lava, "to_lava"), (hwsim.export.verify, "verify_against_lava"),
                      (hwsim.io, "save_network"), (scripts.export, "bernoulli_inputs")):
        monkeypatch.setattr(mod, name, _work)


def _strict_json(path):
    def bad(x):
        raise ValueError(f"non-standard JSON constant {x}")
    return json.loads(path.read_text(), parse_constant=bad)


def run_cli(argv, capsys):
    """(exit status or 'work', stderr)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    except WorkStarted:
        code = "work"
    return code, capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# property test: random values for every numeric option of every command
# ---------------------------------------------------------------------------------------------
NUMBERS = st.one_of(
    st.integers(-10 ** 12, 10 ** 12).map(str),
    st.integers(-3, 40).map(str),
    st.sampled_from(["-1", "0", "1", "2", "-5", "1000000", "4294967296"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e30", "1e-30", "0", "-0.0", "1e8", "2.5", "", "x", "0x10", "1,2"]),
)
HIDDEN = st.one_of(NUMBERS, st.lists(st.integers(-2, 5000), min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))))

COMMANDS = {
    "train": (["train", "--rule", "ottt-a", "--no-progress"],
              ["--T", "--epochs", "--batch-size", "--lr", "--momentum", "--weight-decay", "--leak", "--alpha",
               "--truncation", "--block-size", "--mse-weight", "--seed", "--limit", "--threads", "--hidden"]),
    "train-ttl-sgd": (["train", "--rule", "ttl", "--optimizer", "sgd", "--no-progress"],
                      ["--T", "--truncation", "--block-size", "--momentum", "--lr", "--hidden"]),
    "train-chip": (["train", "--rule", "ottt-o", "--backend", "chip", "--no-progress"],
                   ["--T", "--epochs", "--lr", "--leak", "--alpha", "--seed", "--limit", "--weight-bits", "--trace-bits",
                    "--in-bits", "--accumulator-bits", "--tag-bits", "--weight-range", "--hidden"]),
    "crosscheck": (["crosscheck"],
                   ["--samples", "--warmup-epochs", "--T", "--lr", "--seed", "--weight-bits", "--trace-bits",
                    "--in-bits", "--accumulator-bits", "--tag-bits", "--weight-range", "--hidden"]),
    "demo": (["demo", "--no-progress"], ["--epochs", "--samples", "--seed", "--threads"]),
    "export": (["export", "NET"], ["--steps", "--rate", "--seed"]),
}


@pytest.fixture(scope="module")
def net_file(tmp_path_factory):
    from hwsim import Network
    from hwsim.io import save_network

    net = Network(name="small")
    net.add_input("in", 4)
    net.add_population("p", 3, vth=5)
    net.connect_dense("w", "in", "p", np.arange(12).reshape(3, 4) - 5)
    return str(save_network(net, tmp_path_factory.mktemp("net") / "net.h5"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), command=st.sampled_from(sorted(COMMANDS)))
def test_numeric_options_exit_0_or_2_with_one_line_naming_the_option(no_work, capsys, net_file, data, command):
    base, options = COMMANDS[command]
    chosen = data.draw(st.lists(st.sampled_from(options), min_size=1, max_size=2, unique=True))
    argv = [net_file if a == "NET" else a for a in base]
    for opt in chosen:
        argv += [f"{opt}={data.draw(HIDDEN if opt == '--hidden' else NUMBERS)}"]
    t0 = time.perf_counter()
    code, err = run_cli(argv, capsys)
    assert time.perf_counter() - t0 < 20, argv            # parse + validation only: never a hang
    assert "Traceback" not in err, (argv, err)
    if code == "work" or code == 0:
        return
    assert code == 2, (argv, code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, (argv, err)
    names = [o for o in chosen] + [o[2:].replace("-", "_") for o in chosen]
    assert any(n in lines[0] for n in names), (argv, err)


# ---------------------------------------------------------------------------------------------
# item 3: checks that can run before the work run before it
# ---------------------------------------------------------------------------------------------
def test_chip_mapping_fails_before_training(monkeypatch, capsys):
    import hwsim.circuits.ottt as circuit

    monkeypatch.setattr(circuit.OTTTNetwork, "train", _work)        # training must not start
    for timing in ([], ["--timing", "chip"]):
        code, err = run_cli(["train", "--backend", "chip", "--rule", "ottt-a", "--hidden", "4100,8", "--limit", "64",
                             *timing, "--no-progress"], capsys)
        assert code == 3, err
        assert "does not fit the chip (nothing was trained)" in err and "4100" in err, err
        assert len(err.strip().splitlines()) == 1


LAYER_SYNC_REMOVED = ("--timing='layer-sync': the layer-synchronous integer kernel was removed (one chip); "
                      "allowed: 'chip'; the layer-synchronous reference is the float OTTT (--backend float --rule ottt-a)")


@pytest.mark.parametrize("argv", [
    ["train", "--backend", "chip", "--rule", "ottt-a", "--timing", "layer-sync"],
    ["train", "--backend", "chip", "--rule", "ottt-o", "--timing", "layer-sync", "--save", "RUN"],
    ["train", "--backend", "float", "--rule", "ottt-a", "--timing", "layer-sync"],
    ["crosscheck", "--rule", "ottt-a", "--timing", "layer-sync"],
])
def test_layer_sync_timing_is_refused_before_any_work(no_work, tmp_path, capsys, argv):
    """The layer-synchronous integer kernel was removed (one chip): --timing layer-sync exits 2 with one
    line naming the option, the value, the allowed value and the float reference; nothing is written."""
    run = tmp_path / "c.h5"
    code, err = run_cli([str(run) if a == "RUN" else a for a in argv], capsys)
    assert code == 2, err                                           # not 'work': refused before it
    assert err.strip().endswith(LAYER_SYNC_REMOVED) and len(err.strip().splitlines()) == 1, err
    assert not run.exists()


@pytest.mark.parametrize("backend", ["float", "chip"])
def test_unwritable_json_fails_before_training(no_work, tmp_path, capsys, backend):
    (tmp_path / "file").write_text("x")
    for target, why in ((tmp_path, "is a directory"), (tmp_path / "file" / "r.json", "cannot create its folder")):
        code, err = run_cli(["train", "--rule", "ottt-a", "--backend", backend, "--json", str(target)], capsys)
        assert code == 2 and f"cannot write --json {target}" in err and why in err, err
    code, _ = run_cli(["train", "--rule", "ottt-a", "--backend", backend, "--json", str(tmp_path / "new" / "r.json")],
                      capsys)
    assert code == "work"                                           # a missing folder is created


# ---------------------------------------------------------------------------------------------
# item 4: messages, not tracebacks
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["demo", "--epochs", "0"], "--epochs=0 is outside the allowed range [1, 1000]"),
    (["demo", "--samples", "0"], "--samples=0 is outside the allowed range [1, 1437]"),
    (["train", "--rule", "bptt", "--device", "bogus"], "--device='bogus' is not a device"),
    (["train", "--rule", "bptt", "--T", "1000000000"], "--T=1000000000 is outside the allowed range [1, 10000]"),
    (["train", "--rule", "bptt", "--momentum", "nan"], "--momentum=nan is outside the allowed range [0, 1)"),
    (["train", "--rule", "bptt", "--hidden", "100000000"], "--hidden='100000000': layer sizes must be in"),
    (["train", "--rule", "bptt", "--hidden", "900000,900000"], "--hidden / --batch-size / --T: training this network"),
    (["train", "--rule", "ottt-a", "--backend", "chip", "--hidden", "100000,100000"],
     "200000 hidden compartments, more than the chip's 131072"),
    (["export", "NET", "--steps", "1e8"], "--steps must be an integer, got '1e8'"),
    (["export", "NET", "--steps", "100000000"], "--steps: 100000000 steps of this network"),
    (["export", "NET", "--steps", "0"], "--steps=0 is outside the allowed range"),
    (["export", "NET", "--rate", "nan"], "--rate=nan is outside the allowed range [0, 1]"),
])
def test_bad_values_are_one_line_exit_2(no_work, net_file, capsys, monkeypatch, argv, needle):
    monkeypatch.setenv("HWLEARN_MAX_RUN_BYTES", str(4 << 30))      # the same verdict on every machine
    code, err = run_cli([net_file if a == "NET" else a for a in argv], capsys)
    assert code == 2, err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_export_inputs_with_a_0d_array(net_file, tmp_path, capsys):
    np.savez(tmp_path / "in.npz", **{"in": np.array(3)})
    code, err = run_cli(["export", net_file, "--inputs", str(tmp_path / "in.npz")], capsys)
    assert code == 2 and "['in'] are 0-d" in err


def test_export_output_paths(net_file, tmp_path, capsys):
    from hwsim.io import diff_networks, load_network

    code, err = run_cli(["export", "--to", "hdf5", net_file, "-o", str(tmp_path)], capsys)
    assert code == 2 and f"cannot write --output {tmp_path}: is a directory" in err
    out = tmp_path / "missing" / "dir" / "copy.h5"
    code, _ = run_cli(["export", "--to", "hdf5", net_file, "-o", str(out)], capsys)
    assert code == 0 and diff_networks(load_network(net_file), load_network(out)) == []
    code, err = run_cli(["export", "--to", "lava", net_file, "-o", str(out)], capsys)
    assert code == 2 and "--output applies to --to netx, nir and hdf5" in err
    code, err = run_cli(["export", "--to", "hdf5", net_file, "--verify"], capsys)
    assert code == 2 and "--verify needs --to lava, netx or nir" in err


# ---------------------------------------------------------------------------------------------
# item 5: options that lie
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["--backend", "float", "--weight-bits", "6"], "--weight-bits: chip option(s), used only with --backend chip"),
    (["--backend", "float", "--trace-bits", "6", "--weight-range", "4"], "--trace-bits, --weight-range: chip option"),
    (["--backend", "chip", "--batch-size", "8"], "--batch-size: float-backend option(s), not used by --backend chip"),
    (["--backend", "chip", "--optimizer", "sgd", "--device", "cpu"], "--optimizer, --device: float-backend"),
    (["--momentum", "0.5"], "--momentum applies to --optimizer sgd only"),
    (["--truncation", "2"], "--truncation applies to --rule ttl, not ottt-a"),
    (["--backend", "chip", "--accumulator-bits", "4"], "accumulator_bits=4 must be >= weight_bits=8"),
    (["--backend", "chip", "--trace-bits", "4", "--in-bits", "5"], "in_bits=5 is outside the allowed range [1, trace_bits=4]"),
    (["--backend", "chip", "--leak", "1"], "--leak=1.0 is outside the allowed range (0, 1) for --backend chip"),
])
def test_options_used_elsewhere_are_refused(no_work, capsys, argv, needle):
    code, err = run_cli(["train", "--rule", "ottt-a"] + argv, capsys)
    assert code == 2 and needle in err, err
    assert "lr=" not in err                                        # width errors do not blame the learning rate


def test_chip_options_reach_the_chip(monkeypatch, capsys):
    """--trace-bits 4 works (input payloads follow it), --init chen-li is used, --in-bits is honoured."""
    import rules.onchip

    seen = []
    monkeypatch.setattr(rules.onchip, "train_chip", lambda cfg, **k: (seen.append(cfg), _work())[1])
    for argv in (["--trace-bits", "4"], ["--init", "chen-li"], ["--trace-bits", "6", "--in-bits", "3"]):
        code, _ = run_cli(["train", "--rule", "ottt-a", "--backend", "chip"] + argv, capsys)
        assert code == "work"
    assert (seen[0].trace_bits, seen[0].in_bits) == (4, 4)
    assert seen[1].init == "chen-li" and seen[1].in_bits == 7
    assert (seen[2].trace_bits, seen[2].in_bits) == (6, 3)


def test_trace_bits_4_trains_on_chip(tmp_path):
    out = tmp_path / "c.json"
    assert main(["train", "--backend", "chip", "--rule", "ottt-a", "--local-blocks", "--trace-bits", "4", "--epochs",
                 "1", "--limit", "64", "--hidden", "16", "--init", "chen-li", "--no-progress", "--json", str(out)]) == 0
    res = _strict_json(out)
    assert res["spec"]["trace_bits"] == 4 and res["config"]["in_bits"] == 4 and res["config"]["init"] == "chen-li"


# ---------------------------------------------------------------------------------------------
# item 7: divergence stops the run; JSON is always valid
# ---------------------------------------------------------------------------------------------
def test_divergence_stops_with_exit_4_and_valid_json(tmp_path, capsys):
    out = tmp_path / "d.json"
    code, err = run_cli(["train", "--rule", "ottt-a", "--lr", "1e30", "--epochs", "3", "--limit", "64", "--hidden", "16",
                         "--T", "2", "--no-progress", "--json", str(out)], capsys)
    assert code == 4 and "training diverged" in err and len(err.strip().splitlines()) == 1
    rec = _strict_json(out)
    assert rec["status"] == 4 and len(rec["history"]) == 1          # stopped after the first epoch
    assert rec["history"][0]["loss"] is None                        # NaN written as null


def test_non_finite_weights_with_finite_loss_exit_4(monkeypatch, tmp_path, capsys):
    import rules.train

    real = rules.train.train

    def poisoned(cfg, **kw):
        res = real(cfg, **kw)
        with torch.no_grad():
            next(res.net.parameters()).fill_(math.inf)
        return res

    monkeypatch.setattr(rules.train, "train", poisoned)
    code, err = run_cli(["train", "--rule", "rate-s", "--epochs", "1", "--limit", "32", "--hidden", "8", "--T", "2",
                         "--no-progress", "--json", str(tmp_path / "w.json")], capsys)
    assert code == 4 and "non-finite weights" in err
    assert _strict_json(tmp_path / "w.json")["status"] == 4


def test_write_json_never_writes_nan(tmp_path):
    from scripts.options import write_json

    write_json(str(tmp_path / "x.json"), {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": np.float64(2)})
    assert _strict_json(tmp_path / "x.json") == {"a": None, "b": [1.0, None, {"c": None}], "d": 2.0}


# ---------------------------------------------------------------------------------------------
# item 10: export's documented exit statuses (docs/export.md, docs/errors.md) are the code's
# ---------------------------------------------------------------------------------------------
def test_export_exit_statuses_as_documented(lava, tmp_path, capsys):
    from hwsim import ChipSpec, Network
    from hwsim.io import save_network

    big = Network(ChipSpec(cores_per_chip=1), name="toobig")
    big.add_input("in", 4)
    for name in ("a", "b"):
        big.add_population(name, 600)
        big.connect_dense(f"w{name}", "in", name, np.ones((600, 4), int))
    ovf = Network(name="ovf")
    ovf.add_input("in", 40)
    ovf.add_population("a", 2, du=-1, dv=0, vth=(1 << 17) - 1, bias_mant=4095, bias_exp=7)
    ovf.connect_dense("w", "in", "a", np.full((2, 40), 255), weight_exp=7)
    b, o = save_network(big, tmp_path / "big.h5"), save_network(ovf, tmp_path / "ovf.h5")
    code, err = run_cli(["export", "--to", "lava", "--verify", str(b), "--steps", "5"], capsys)
    assert code == 3 and "does not fit the chip spec" in err and "cores_per_chip=1" in err
    code, err = run_cli(["export", "--to", "lava", "--verify", str(o), "--steps", "10", "--rate", "1",
                         "--overflow", "raise"], capsys)
    assert code == 1 and "hwsim stopped on overflow (--overflow raise)" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
