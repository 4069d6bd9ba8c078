"""``hwlearn export``: exit codes and messages (0 identical, 1 mismatch, 2 bad file, 3 unexportable)."""
import json

import numpy as np
import pytest

from hwsim import Network
from hwsim.io import diff_networks, load_network, save_network
from scripts.cli import main


@pytest.fixture
def net_path(tmp_path):
    rng = np.random.default_rng(0)
    net = Network(name="cli net")
    net.add_input("in", (1, 5, 5))
    net.add_population("c", (2, 3, 3), du=400, dv=300, vth=8)
    net.connect_conv("k", "in", "c", rng.integers(-100, 200, (2, 1, 3, 3)))
    net.add_population("o", 4, du=400, dv=300, vth=8)
    net.connect_dense("d", "c", "o", rng.integers(-50, 200, (4, 18)))
    return save_network(net, tmp_path / "net.h5")


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--to", "--verify", "--inputs", "--steps", "--rate", "--seed", "--variables", "--overflow",
                "--reader", "--output", "--json", "exit status"):
        assert opt in out, opt


def test_verify_identical_bernoulli(lava, net_path, tmp_path, capsys):
    js = tmp_path / "out" / "verify.json"
    code = main(["export", "--to", "lava", "--verify", str(net_path), "--steps", "25", "--rate", "0.3",
                 "--seed", "4", "--json", str(js)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "IDENTICAL" in out and "seed 4" in out
    rec = json.loads(js.read_text())
    assert rec["status"] == 0 and rec["report"]["identical"] is True and rec["report"]["T"] == 25
    assert "--verify" in rec["command"]


def test_verify_identical_npz_inputs(lava, net_path, tmp_path, capsys):
    x = (np.random.default_rng(1).random((15, 1, 5, 5)) < 0.4).astype(np.int8)
    np.savez(tmp_path / "in.npz", **{"in": x})
    assert main(["export", "--verify", str(net_path), "--inputs", str(tmp_path / "in.npz"),
                 "--variables", "s,v"]) == 0
    out = capsys.readouterr().out
    assert "15 steps" in out and "variables s,v" in out and "c.u" not in out


def test_mismatch_exits_nonzero(lava, net_path, monkeypatch, capsys):
    import hwsim.export.verify as ver

    real = ver._run_hwsim

    def off_by_one(net, inputs, T, probes, overflow):
        out = real(net, inputs, T, probes, overflow)
        out["spikes"]["o"] = out["spikes"]["o"].copy()
        out["spikes"]["o"][4, 2] ^= 1
        return out

    monkeypatch.setattr(ver, "_run_hwsim", off_by_one)
    code = main(["export", "--to", "lava", "--verify", str(net_path), "--steps", "10", "--variables", "s"])
    out = capsys.readouterr().out
    assert code == 1
    assert "MISMATCH" in out and "time step 5" in out and "'o'" in out


def test_bad_files_exit_2(tmp_path, net_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_text("not a network")
    assert main(["export", "--verify", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.h5: not an HDF5 file" in err and err.startswith("hwlearn export: error:")

    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(net_path.read_bytes()[:3000])
    assert main(["export", "--verify", str(trunc)]) == 2
    assert "trunc.h5" in capsys.readouterr().err

    assert main(["export", str(tmp_path / "missing.h5")]) == 2
    assert "no such file" in capsys.readouterr().err

    np.savez(tmp_path / "wrong.npz", nope=np.zeros((3, 4)))
    assert main(["export", "--verify", str(net_path), "--inputs", str(tmp_path / "wrong.npz")]) == 2
    assert "name no network input" in capsys.readouterr().err


def test_unexportable_exit_3(lava, tmp_path, capsys):
    net = Network(name="tern")
    net.add_input("x", 2)
    net.add_population("t", 2, kind="ternary_lif", vth=1, vth_lo=5)
    net.connect_dense("w", "x", "t", np.ones((2, 2), int))
    path = save_network(net, tmp_path / "t.h5")
    assert main(["export", "--verify", str(path), "--steps", "3"]) == 3
    assert "cannot export to Lava" in capsys.readouterr().err


def test_to_lava_without_verify_and_to_hdf5(lava, net_path, tmp_path, capsys):
    assert main(["export", "--to", "lava", str(net_path), "--steps", "5"]) == 0
    out = capsys.readouterr().out
    assert "projection 'k' in -> c: Conv" in out and "RingBuffer(5, 5, 1)" in out
    copy = tmp_path / "copy.h5"
    assert main(["export", "--to", "hdf5", str(net_path), "--output", str(copy)]) == 0
    assert diff_networks(load_network(net_path), load_network(copy)) == []


# ---- --to netx / --to nir -------------------------------------------------------------------------
def test_netx_verify_identical_and_json(netx, net_path, tmp_path, capsys):
    """The fixture net is conv (1, 5, 5) -> (2, 3, 3) -> flatten -> dense 4: a netx chain."""
    out_file, js = tmp_path / "n.net", tmp_path / "netx.json"
    code = main(["export", str(net_path), "--to", "netx", "-o", str(out_file), "--verify", "--steps", "20",
                 "--rate", "0.4", "--json", str(js)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"wrote netx file {out_file} (2 layers: conv->c, dense->o)" in out
    assert "hwsim vs lava-dl netx -> Lava fixed_pt, 20 steps" in out and "IDENTICAL" in out
    rec = json.loads(js.read_text())
    assert rec["to"] == "netx" and rec["status"] == 0 and rec["output"] == str(out_file)


def test_netx_unexportable_exit_3_and_no_file(tmp_path, capsys):
    net = Network(name="two inputs")
    net.add_input("a", 2)
    net.add_input("b", 2)
    net.add_population("p", 2)
    net.connect_dense("wa", "a", "p", np.ones((2, 2), int))
    net.connect_dense("wb", "b", "p", np.ones((2, 2), int))
    path = save_network(net, tmp_path / "two.h5")
    assert main(["export", str(path), "--to", "netx"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("hwlearn export: error: cannot export to netx:") and "exactly one input" in err
    assert not (tmp_path / "two.net").exists()


def test_nir_export_verify_and_flags_that_do_not_apply(nir_pkg, net_path, tmp_path, capsys):
    out_file = tmp_path / "n.nir"
    assert main(["export", str(net_path), "--to", "nir", "-o", str(out_file), "--verify"]) == 0
    out = capsys.readouterr().out
    assert f"wrote NIR graph {out_file} (1 Conv2d, 2 CubaLIF, 1 Flatten, 1 Input, 1 Linear, 1 Output" in out
    assert "read back: IDENTICAL chip network (every integer)" in out
    assert main(["export", str(net_path), "--to", "nir", "--steps", "5"]) == 2
    assert "--steps do(es) not apply to --to nir" in capsys.readouterr().err
    assert main(["export", str(net_path), "--to", "netx", "--verify", "--reader", "lava"]) == 2
    assert "--reader do(es) not apply to --to netx --verify" in capsys.readouterr().err
    assert main(["export", str(net_path), "--to", "lava", "--variables", "s", "--steps", "3"]) == 2
    assert "--variables do(es) not apply to --to lava" in capsys.readouterr().err
    assert main(["export", str(net_path), "--to", "hdf5", "--verify"]) == 2
