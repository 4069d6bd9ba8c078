"""NIR export and import of chip networks.

Oracles: ``hwsim.io.diff_networks`` against the original network (the round trip restores every
integer and dtype from what nir's own reader returns), and snnTorch's ``import_from_nir`` (a real
peer reading our float nodes) against hwsim's chip run where the chip arithmetic is exact in float.
"""
import numpy as np
import pytest
import torch

from hwsim import Network
from hwsim.export.lava import UnexportableError
from hwsim.export.nir import NirError, NirUnsupportedError, read_float_graph, read_nir, write_nir
from hwsim.io import diff_networks
from hwsim.learning import LearningRule
from hwsim.simulator import Simulator


def random_network(seed, vary_spec=False):
    """tests/hwsim/randnet.py (not a test module), loaded by path as test_simulator_lava does."""
    import importlib.util
    import pathlib
    spec = importlib.util.spec_from_file_location("hwsim_tests_randnet", pathlib.Path(__file__).with_name("randnet.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.random_network(seed, vary_spec=vary_spec)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("vary_spec", [False, True])
def test_round_trip_restores_every_integer(nir_pkg, tmp_path, seed, vary_spec):
    net, _, _ = random_network(seed, vary_spec=vary_spec)
    net.add_probe(next(iter(net.populations)), "v")
    path = tmp_path / "net.nir"
    write_nir(net, path)
    back = read_nir(path)
    assert diff_networks(net, back) == []
    # the file is a NIR graph other tools read: nir's own reader, every population a CubaLIF
    g = nir_pkg.read(str(path), type_check=False)
    assert sum(isinstance(n, nir_pkg.CubaLIF) for n in g.nodes.values()) == len(net.populations)


def test_diff_would_see_a_lost_integer(nir_pkg, tmp_path):
    """The round-trip oracle is not vacuous: a changed mantissa in the metadata is a difference."""
    import h5py

    net, _, _ = random_network(0)
    path = tmp_path / "net.nir"
    write_nir(net, path)
    pop = next(iter(net.populations))
    with h5py.File(path, "r+") as f:
        ds = f[f"node/nodes/{pop}/metadata/hwlearn_bias_mant"]
        ds[0] = ds[0] + 1
    assert diff_networks(net, read_nir(path)) == [f"populations[{pop!r}].bias_mant differs"]


def exact_net():
    """du = 4095 (no current memory), dv = 0 (no leak), weight_exp >= 0: the chip's arithmetic is
    exact in float, so a float consumer of the NIR graph must reproduce the chip's spikes."""
    rng = np.random.default_rng(3)
    net = Network(name="exact")
    net.add_input("in", 8)
    net.add_population("h", 12, du=4095, dv=0, vth=40)
    net.connect_dense("w1", "in", "h", rng.integers(-60, 90, (12, 8)))
    net.add_population("o", 4, du=4095, dv=0, vth=25)
    net.connect_dense("w2", "h", "o", rng.integers(-30, 60, (4, 12)), weight_exp=1)
    return net


def test_snntorch_reads_our_float_nodes_as_the_chip_computes(snntorch, tmp_path):
    from snntorch import utils as snn_utils
    from snntorch.import_nir import import_from_nir

    net = exact_net()
    path = tmp_path / "net.nir"
    write_nir(net, path)
    import nir

    peer = import_from_nir(nir.read(str(path)))
    T = 40
    x = (np.random.default_rng(0).random((T, 8)) < 0.4).astype(np.int8)
    rec = Simulator(net).run(T + 2, inputs={"in": np.concatenate([x, np.zeros((2, 8), np.int8)])})
    snn_utils.reset(peer)
    outs = []
    with torch.no_grad():
        state = None
        for t in range(T):
            out = peer(torch.as_tensor(x[t:t + 1], dtype=torch.float32), state)
            out, state = out if isinstance(out, tuple) else (out, None)
            outs.append(out.numpy()[0])
    peer_o = np.stack(outs)
    chip_o = rec.spikes["o"][2:2 + T]          # the chip adds one step per projection
    assert chip_o.sum() > 10
    np.testing.assert_array_equal(peer_o, chip_o)


def test_refused_and_unsupported(nir_pkg, tmp_path):
    net = Network()
    net.add_input("in", 3)
    net.add_population("a", 2)
    net.connect_dense("p", "in", "a", np.ones((2, 3), int),
                      learning=LearningRule(kind="2F", dw="x0*y1", y1_impulse=4, y1_tau=8, rng_seed=0))
    with pytest.raises(UnexportableError, match=r"\['p'\] learn; NIR has no plasticity"):
        write_nir(net, tmp_path / "x.nir")
    assert not (tmp_path / "x.nir").exists()

    nir = nir_pkg
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                            "fc": nir.Linear(weight=np.ones((2, 3))),
                            "thr": nir.Threshold(threshold=np.ones(2)),
                            "output": nir.Output(output_type={"output": np.array([2])})},
                     edges=[("input", "fc"), ("fc", "thr"), ("thr", "output")])
    nir.write(str(tmp_path / "thr.nir"), g)
    with pytest.raises(NirUnsupportedError, match=r"node 'thr' of type Threshold is not supported"):
        read_float_graph(tmp_path / "thr.nir")
    with pytest.raises(NirError, match=r"float NIR graph without hwlearn integers"):
        read_nir(tmp_path / "thr.nir")


def test_edited_float_weights_are_detected(nir_pkg, tmp_path):
    import h5py

    net = exact_net()
    path = tmp_path / "net.nir"
    write_nir(net, path)
    with h5py.File(path, "r+") as f:
        f["node/nodes/w1/weight"][0, 0] += 1.0
    with pytest.raises(NirError, match=r"node 'w1': the float weights differ from the hwlearn integers"):
        read_nir(path)
