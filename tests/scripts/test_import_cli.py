"""``hwlearn import``: our NIR graphs come back exactly, a peer's float graph is quantized onto the
chip, bad input is a one-line error with exit 2 and no output file."""
import numpy as np
import pytest
import torch

from hwsim import Network
from hwsim.io import diff_networks, load_network, save_network
from scripts.cli import main


def small_net():
    rng = np.random.default_rng(0)
    net = Network(name="imp")
    net.add_input("in", 6)
    net.add_population("h", 5, du=100, dv=200, vth=30, kind="lif_reset", reset_interval=9, reset_offset=2)
    net.connect_sparse("s", "in", "h", [0, 1, 4], [5, 2, 0], [7, -9, 120], delays=[0, 3, 1])
    return net


def test_own_graph_round_trip(nir_pkg, tmp_path, capsys):
    net = small_net()
    h5 = save_network(net, tmp_path / "a.h5")
    assert main(["export", str(h5), "--to", "nir", "-o", str(tmp_path / "a.nir")]) == 0
    assert main(["import", str(tmp_path / "a.nir"), "-o", str(tmp_path / "b.h5")]) == 0
    out = capsys.readouterr().out
    assert "hwlearn NIR graph -> chip network 'imp' (exact" in out
    assert diff_networks(net, load_network(tmp_path / "b.h5")) == []
    assert main(["import", str(tmp_path / "a.nir"), "-o", str(tmp_path / "c.h5"), "--dt", "1e-3"]) == 2
    assert "--dt applies to float graphs" in capsys.readouterr().err
    assert main(["import", str(h5), "-o", str(tmp_path / "c.h5")]) == 2
    assert "a.h5: is a hwlearn-network file, not a NIR graph" in capsys.readouterr().err
    assert not (tmp_path / "c.h5").exists()


def test_peer_graph_is_quantized(snntorch, tmp_path, capsys):
    import nir
    from snntorch.export_nir import export_to_nir

    snn = snntorch
    torch.manual_seed(0)
    peer = torch.nn.Sequential(torch.nn.Linear(8, 6), snn.Leaky(beta=torch.full((6,), 0.9), threshold=torch.ones(6),
                                                                  init_hidden=True, reset_mechanism="zero"),
                               torch.nn.Linear(6, 3), snn.Leaky(beta=torch.full((3,), 0.9), threshold=torch.ones(3),
                                                                  init_hidden=True, reset_mechanism="zero",
                                                                  output=True))
    nir.write(str(tmp_path / "p.nir"), export_to_nir(peer, torch.zeros(8)))
    assert main(["import", str(tmp_path / "p.nir"), "-o", str(tmp_path / "p.h5")]) == 0
    out = capsys.readouterr().out
    assert "float NIR graph (dt=0.0001 s)" in out and "quantized to the chip" in out
    chip = load_network(tmp_path / "p.h5")
    assert [p.size for p in chip.populations.values()] == [6, 3]
    assert {p.du for p in chip.populations.values()} == {4095}          # Leaky: no current memory
    assert {p.dv for p in chip.populations.values()} == {round(0.1 * 4096)}


def test_bad_input_exit_2_without_output(nir_pkg, tmp_path, capsys):
    nir = nir_pkg
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}),
                            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                                  padding=np.array([0, 0])),
                            "output": nir.Output(output_type={"output": np.array([4])})},
                     edges=[("input", "pool"), ("pool", "output")], type_check=False)
    nir.write(str(tmp_path / "pool.nir"), g)
    out = tmp_path / "x.h5"
    assert main(["import", str(tmp_path / "pool.nir"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwlearn import: error:") and "node 'pool' of type SumPool2d is not supported" in err
    assert main(["import", str(tmp_path / "missing.nir"), "-o", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "junk.nir").write_text("junk")
    assert main(["import", str(tmp_path / "junk.nir"), "-o", str(out)]) == 2
    assert "not a readable NIR file" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "pool.nir"), "-o", str(out), "--dt", "-1"]) == 2
    assert "--dt -1.0 must be a positive number" in capsys.readouterr().err
    assert not out.exists()


def test_help(capsys):
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    out = capsys.readouterr().out
    for opt in ("--output", "--dt", "--weight-bits", "exit status"):
        assert opt in out
