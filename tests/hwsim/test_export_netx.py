"""netx export: the file written with h5py, loaded by lava-dl 0.6.0's own reader
(``lava.lib.dl.netx.hdf5.Network``) and run in Lava fixed_pt, gives hwsim's spikes, u and v at
every step (the oracle is lava-dl + Lava, not our code); what netx cannot express is refused by
name and leaves no file."""
import h5py
import numpy as np
import pytest

from hwsim import Network
from hwsim.export.lava import UnexportableError
from hwsim.export.netx import plan_netx, runner_for, to_netx
from hwsim.export.verify import verify_against_lava
from hwsim.learning import LearningRule

TARGET = "lava-dl netx -> Lava fixed_pt"


def dense_chain(seed=0):
    """in(12) -> h(10) dense with delays and a bias -> o(5) dense with weight_exp 1."""
    rng = np.random.default_rng(seed)
    net = Network(name="dense chain")
    net.add_input("in", 12)
    net.add_population("h", 10, du=400, dv=300, vth=20, bias_mant=rng.integers(-3, 4, 10) * 64, bias_exp=0)
    net.connect_dense("w1", "in", "h", rng.integers(-100, 200, (10, 12)), delays=rng.integers(0, 4, (10, 12)))
    net.add_population("o", 5, du=4095, dv=100, vth=15)
    net.connect_dense("w2", "h", "o", rng.integers(-60, 120, (5, 10)), weight_exp=1)
    x = (rng.random((30, 12)) < 0.3).astype(np.int8)
    return net, {"in": x}


def conv_chain(seed=1, P=40):
    """Graded (2, 6, 5) input -> conv (bias per compartment) -> conv (weight_exp 1) -> flatten -> dense,
    all lif_reset with netx's phase (layer k at offset + k)."""
    rng = np.random.default_rng(seed)
    net = Network(name="conv chain")
    net.add_input("in", (2, 6, 5), graded=True)
    net.add_population("c", (3, 4, 3), du=400, dv=300, vth=300, kind="lif_reset", reset_interval=P, reset_offset=5,
                       bias_mant=64 * rng.integers(-2, 3, 36))
    net.connect_conv("k", "in", "c", rng.integers(-100, 200, (3, 2, 3, 3)))
    net.add_population("c2", (2, 3, 2), du=100, dv=300, vth=30, kind="lif_reset", reset_interval=P, reset_offset=6)
    net.connect_conv("k2", "c", "c2", rng.integers(-100, 200, (2, 3, 2, 2)), weight_exp=1, padding=(0, 0))
    net.add_population("o", 4, du=400, dv=300, vth=8, kind="lif_reset", reset_interval=P, reset_offset=7)
    net.connect_dense("d", "c2", "o", rng.integers(-50, 200, (4, 12)))
    x = np.where(rng.random((60, 2, 6, 5)) < 0.3, rng.integers(-20, 40, (60, 2, 6, 5)), 0).astype(np.int32)
    return net, {"in": x}


@pytest.mark.parametrize("build", [dense_chain, conv_chain])
def test_netx_file_through_lava_dl_reader_is_identical(netx, tmp_path, build):
    net, x = build()
    path = tmp_path / "net.net"
    plan = to_netx(net, path)
    rep = verify_against_lava(net, x, runner=runner_for(path), target=TARGET)
    assert rep.identical, rep.summary()
    assert rep.target == TARGET and TARGET in rep.summary()
    assert sum(rep.compared.values()) == sum(3 * x["in"].shape[0] * p.size for p in net.populations.values())
    # the network is busy enough for the comparison to mean something
    assert all(0 < a < rep.compared[f"{p}.s"] for p, (a, _) in rep.spikes.items())
    if build is conv_chain:
        assert plan.loader_kwargs() == {"input_message_bits": 24, "reset_interval": 40, "reset_offset": 4}
        assert [x.kind for x in plan.layers] == ["conv", "conv", "dense"] and plan.layers[2].flatten_before


def test_a_changed_weight_in_the_file_is_caught(netx, tmp_path):
    """The comparison reads what lava-dl built from the file: edit one weight, get a mismatch."""
    net, x = dense_chain()
    path = tmp_path / "net.net"
    to_netx(net, path)
    with h5py.File(path, "r+") as f:
        w = f["layer/2/weight"]
        w[0, 0] = w[0, 0] + 4
    rep = verify_against_lava(net, x, runner=runner_for(path), target=TARGET)
    assert not rep.identical
    assert rep.first_mismatch.population == "o"


def test_file_layout_reads_as_netx_expects(tmp_path):
    """The slayer conventions netx's NetDict reads (types as S10 arrays, decays, threshold, bias / 64)."""
    net, _ = dense_chain()
    path = tmp_path / "net.net"
    to_netx(net, path)
    with h5py.File(path, "r") as f:
        assert [f[f"layer/{i}/type"][0] for i in range(3)] == [b"input", b"dense", b"dense"]
        n = f["layer/1/neuron"]
        assert (n["type"][0], int(n["iDecay"][()]), int(n["vDecay"][()]), int(n["vThMant"][()])) == \
            (b"CUBA", 401, 300, 20)
        np.testing.assert_array_equal(f["layer/1/bias"][()] * 64, net.populations["h"].bias_mant)
        assert f["layer/1/delay"].shape == (10, 12)
        assert f.attrs["format"] == "lava-dl-netx"


def _refused(net, tmp_path, match):
    path = tmp_path / "bad.net"
    with pytest.raises(UnexportableError, match=match):
        to_netx(net, path)
    assert not path.exists() and not list(tmp_path.iterdir())


def _base(**pop):
    net = Network(name="bad")
    net.add_input("in", 4)
    net.add_population("a", 3, **{"du": 10, "dv": 10, "vth": 5, **pop})
    return net


def test_refuses_what_netx_cannot_express(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.integers(1, 50, (3, 4))

    net = _base()
    net.connect_dense("p", "in", "a", w)
    net.add_population("b", 2)
    net.add_population("c", 2)
    net.connect_dense("q", "a", "b", np.ones((2, 3), int))
    net.connect_dense("r", "a", "c", np.ones((2, 3), int))
    _refused(net, tmp_path, r"'a' feeds 2 projections")

    net = _base(kind="ternary_lif")
    net.connect_dense("p", "in", "a", w)
    _refused(net, tmp_path, r"\['a'\] are ternary_lif")

    net = _base(v_init=[0, 5, 0])
    net.connect_dense("p", "in", "a", w)
    _refused(net, tmp_path, r"population 'a': v_init is nonzero \(compartment 1\)")

    net = _base(bias_mant=[64, 100, 0])
    net.connect_dense("p", "in", "a", w)
    _refused(net, tmp_path, r"population 'a': bias_mant << bias_exp = 100 \(compartment 1\) is not a multiple of 64")

    net = _base()
    net.connect_dense("p", "in", "a", w | 1, weight_exp=-1, sign_mode="excitatory")
    _refused(net, tmp_path, r"projection 'p': weight_exp=-1 and the effective weight")

    net = _base()
    net.connect_dense("p", "in", "a", np.full((3, 4), 200), weight_exp=1)
    _refused(net, tmp_path, r"projection 'p': effective weights \* 2\*\*weight_exp span \[400, 400\]")

    net = _base()
    net.connect_dense("p", "in", "a", np.zeros((3, 4), int))
    _refused(net, tmp_path, r"projection 'p': every effective weight is 0")

    net = _base()
    net.add_population("b", 2, kind="lif_reset", reset_interval=8, reset_offset=3)
    net.connect_dense("p", "in", "a", w)
    net.connect_dense("q", "a", "b", np.ones((2, 3), int))
    _refused(net, tmp_path, r"populations mix lif and lif_reset")

    net = _base(kind="lif_reset", reset_interval=8, reset_offset=3)
    net.add_population("b", 2, kind="lif_reset", reset_interval=8, reset_offset=3)
    net.connect_dense("p", "in", "a", w)
    net.connect_dense("q", "a", "b", np.ones((2, 3), int))
    _refused(net, tmp_path, r"population 'b' \(layer 1\): reset_offset=3 but netx resets layer k at")

    net = _base()
    rule = LearningRule(kind="2F", dw="x0*y1", y1_impulse=4, y1_tau=8, rng_seed=0)
    net.connect_dense("p", "in", "a", w, learning=rule)
    _refused(net, tmp_path, r"\['p'\] learn; netx has no learning layers")

    net = _base()
    net.add_input("other", 2)
    net.connect_dense("p", "in", "a", w)
    _refused(net, tmp_path, r"exactly one input")


def test_plan_names_the_layers():
    net, _ = dense_chain()
    plan = plan_netx(net)
    assert [(x.population, x.projection, x.kind) for x in plan.layers] == [("h", "w1", "dense"), ("o", "w2", "dense")]
    assert plan.loader_kwargs() == {"input_message_bits": 0}
