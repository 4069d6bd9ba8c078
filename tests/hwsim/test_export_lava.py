"""hwsim.export: the Lava graph reproduces hwsim bit for bit; unexportable networks raise.

Tests needing Lava request the ``lava`` fixture (tests/conftest.py). Each Lava run is small
(tens of steps, a few processes: ~1 s).
"""
import subprocess
import sys

import numpy as np
import pytest

from hwsim import ChipSpec, Network
from hwsim.export import lava as xl
from hwsim.export.lava import UnexportableError, conv_to_sparse, lava_shape, run_lava, to_lava
from hwsim.export.verify import VerifyReport, verify_against_lava


# ---------------------------------------------------------------------------------------------
# pure numpy parts (no Lava)
# ---------------------------------------------------------------------------------------------
def test_importing_export_does_not_import_lava():
    code = "import sys, hwsim.export, hwsim.export.lava, hwsim.export.verify; print('lava' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_layouts_round_trip():
    assert lava_shape((2, 3, 4)) == (4, 3, 2) and lava_shape((6,)) == (6,) and lava_shape((2, 3)) == (6,)
    a = np.arange(24)
    lav = xl._to_lava(a, (2, 3, 4))
    assert lav.shape == (4, 3, 2) and lav[3, 1, 0] == 0 * 12 + 1 * 4 + 3      # (x=w, y=h, c)
    rows = xl._rows_from_lava(np.stack([lav, lav + 100]), (2, 3, 4))
    np.testing.assert_array_equal(rows, np.stack([a, a + 100]))
    x = np.arange(5 * 24).reshape(5, 2, 3, 4)
    data = xl._inputs_to_lava(x, (2, 3, 4))
    assert data.shape == (4, 3, 2, 5) and data[1, 2, 1, 3] == x[3, 1, 2, 1]


def _naive_correlation(x, w, stride, padding, dilation, groups):
    """torch.nn.functional.conv2d semantics written out, for one (C, H, W) input."""
    C, H, W = x.shape
    c_out, cin_g, kh, kw = w.shape
    xp = np.zeros((C, H + 2 * padding[0], W + 2 * padding[1]), np.int64)
    xp[:, padding[0]:padding[0] + H, padding[1]:padding[1] + W] = x
    Ho = (H + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    Wo = (W + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((c_out, Ho, Wo), np.int64)
    for co in range(c_out):
        g = co // (c_out // groups)
        for ho in range(Ho):
            for wo in range(Wo):
                for cl in range(cin_g):
                    for i in range(kh):
                        for j in range(kw):
                            out[co, ho, wo] += w[co, cl, i, j] * xp[g * cin_g + cl, ho * stride[0] + i * dilation[0],
                                                                    wo * stride[1] + j * dilation[1]]
    return out


@pytest.mark.parametrize("geom", [dict(stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1),
                                  dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
                                  dict(stride=(1, 3), padding=(2, 0), dilation=(2, 1), groups=4)])
def test_conv_to_sparse_is_torch_cross_correlation(geom):
    rng = np.random.default_rng(0)
    net = Network()
    net.add_input("x", (4, 7, 8))
    w = rng.integers(-100, 100, (8, 4 // geom["groups"], 3, 2))
    from hwsim.network import conv_output_shape
    out_shape = conv_output_shape((4, 7, 8), 8, (3, 2), geom["stride"], geom["padding"], geom["dilation"])
    net.add_population("p", out_shape)
    proj = net.connect_conv("k", "x", "p", w, **geom)
    dst, src, ws = conv_to_sparse(proj, (4, 7, 8), out_shape)
    x = rng.integers(-3, 4, (4, 7, 8))
    got = np.zeros(int(np.prod(out_shape)), np.int64)
    np.add.at(got, dst, ws * x.reshape(-1)[src])
    np.testing.assert_array_equal(got.reshape(out_shape), _naive_correlation(x, w, **geom))
    assert np.unique(dst * x.size + src).size == dst.size                     # no duplicate synapses


# ---------------------------------------------------------------------------------------------
# Lava: bit-exact on every IR feature
# ---------------------------------------------------------------------------------------------
def feature_network() -> Network:
    """Every IR feature the exporter maps: conv (stride/pad/dilation/groups, weight_exp 0, > 0, < 0,
    binary and graded), ternary and reset neurons, graded input, dense and sparse with and without
    delays, several projections into one population, biases and initial states."""
    rng = np.random.default_rng(11)
    net = Network(name="features")
    net.add_input("img", (2, 7, 6))
    net.add_input("g", 5, graded=True)
    net.add_population("c", (4, 4, 3), du=500, dv=200, vth=30, bias_mant=rng.integers(-20, 20, 48),
                       bias_exp=rng.integers(0, 3, 48), u_init=rng.integers(-3000, 3000, 48))
    net.connect_conv("k", "img", "c", rng.integers(-128, 128, (4, 1, 3, 2)), stride=2, padding=1,
                     dilation=(1, 2), groups=2)
    net.add_population("t", (2, 5, 4), kind="ternary_lif", du=300, dv=600, vth=20, vth_lo=-20)
    net.connect_conv("kt", "img", "t", rng.integers(0, 256, (2, 2, 3, 3)), sign_mode="excitatory",
                     weight_exp=1)                                 # Conv with weights << 1
    net.add_population("r", (6, 1, 1), kind="lif_reset", reset_interval=7, reset_offset=3, du=100, dv=50, vth=15)
    net.connect_conv("kr", "t", "r", rng.integers(-100, 100, (6, 2, 5, 4)), weight_exp=-2,
                     num_weight_bits=6)                            # graded conv -> Lava Sparse
    net.connect_dense("dr", "c", "r", rng.integers(-256, 256, (6, 48)), delays=rng.integers(0, 5, (6, 48)))
    net.connect_sparse("sg", "g", "r", [0, 1, 5, 5], [4, 0, 2, 3], [120, -90, 77, 5], delays=[0, 3, 1, 0],
                       weight_exp=-1)
    net.connect_dense("gc", "g", "c", rng.integers(-50, 50, (48, 5)), weight_exp=-3, num_weight_bits=7)
    net.connect_sparse("rc", "r", "c", [0, 10, 47], [5, 5, 1], [-200, 180, 64], sign_mode="mixed")
    net.add_population("o", (3,), du=4095, dv=4096, vth=3)
    net.connect_dense("ro", "r", "o", rng.integers(-256, 0, (3, 6)), sign_mode="inhibitory")
    net.connect_dense("to", "t", "o", rng.integers(-128, 128, (3, 40)), delays=np.zeros((3, 40), int))
    net.connect_dense("io", "img", "o", rng.integers(-20, 60, (3, 84)), weight_exp=-1)   # (C, H, W) input -> dense
    return net


def feature_inputs(T, seed=0):
    rng = np.random.default_rng(seed)
    g = np.where(rng.random((T, 5)) < 0.4, rng.integers(-2000, 2000, (T, 5)), 0)
    return {"img": (rng.random((T, 2, 7, 6)) < 0.4).astype(np.int8), "g": g}


def test_every_feature_identical(lava):
    net = feature_network()
    graph = to_lava(net, feature_inputs(30), T=30)
    try:
        assert graph.exported_as["k"].startswith("Conv") and graph.exported_as["kt"].endswith("weights << 1")
        assert graph.exported_as["kr"].startswith("Sparse (from conv")
        assert graph.exported_as["dr"].startswith("DelayDense") and graph.exported_as["sg"].startswith("DelaySparse")
        assert graph.exported_as["to"] == "DelayDense (max_delay=0)" and graph.exported_as["io"] == "Dense"
        assert "projection 'kr' t -> r" in graph.summary()
    finally:
        graph.close()
    report = verify_against_lava(net, feature_inputs(30), 30)
    assert isinstance(report, VerifyReport)
    assert report.identical, report.summary()
    assert all(a > 0 and a == b for a, b in report.spikes.values()), report.spikes   # every population spikes
    assert "IDENTICAL" in report.summary()


def test_other_weight_bits_components_and_lava_readers(lava):
    """spec.weight_bits = 6 (effective weights exported), two unconnected components plus an isolated
    bias-driven population; Lava's own sink/Monitor readers give the same as the memmap recorders."""
    rng = np.random.default_rng(2)
    net = Network(ChipSpec(weight_bits=6), name="wb6")
    net.add_input("a", 8)
    net.add_input("b", (1, 4, 4))
    net.add_input("unused", 3)
    net.add_population("pa", 5, du=10, dv=700, vth=4)
    net.connect_dense("wa", "a", "pa", rng.integers(-64, 64, (5, 8)), num_weight_bits=4)
    net.connect_sparse("wi", "a", "pa", [0, 4], [1, 7], [-63, -10], sign_mode="inhibitory", num_weight_bits=5)
    net.add_population("pb", (2, 3, 3), du=2000, dv=900, vth=3)
    net.connect_conv("kb", "b", "pb", rng.integers(0, 64, (2, 1, 2, 2)), sign_mode="excitatory", num_weight_bits=3)
    net.add_population("solo", 2, bias_mant=[30, 200], bias_exp=[6, 2], vth=100, dv=100)
    net.add_probe("pb", "v")
    x = {"a": (rng.random((20, 8)) < 0.5).astype(np.int8), "b": (rng.random((20, 1, 4, 4)) < 0.5).astype(np.int8)}
    report = verify_against_lava(net, x, 20)
    assert report.identical, report.summary()
    assert report.spikes["solo"][0] > 0
    fast = run_lava(net, x, 20, probes=[("pb", "u"), ("pa", "v")])
    slow = run_lava(net, x, 20, probes=[("pb", "u"), ("pa", "v")], reader="lava")
    for pop in net.populations:
        np.testing.assert_array_equal(fast["spikes"][pop], slow["spikes"][pop])
        assert fast["spikes"][pop].dtype == np.int8 and fast["spikes"][pop].shape == (20, net.populations[pop].size)
    for key in (("pb", "u"), ("pa", "v")):
        np.testing.assert_array_equal(fast["probes"][key], slow["probes"][key])
        assert fast["probes"][key].dtype == np.int32


def test_single_step_and_no_inputs(lava):
    net = Network(name="bias only")
    net.add_population("p", (2, 2, 2), bias_mant=np.arange(8) * 40, bias_exp=6, vth=300, dv=1000)
    out = run_lava(net, None, 1, probes=[("p", "v")])
    assert out["timing"]["timed_steps"] == 1
    report = verify_against_lava(net, None, 5)
    assert report.identical, report.summary()


def test_mismatch_is_located(lava, monkeypatch):
    """A deliberately wrong hwsim value is reported at its step, population, variable and index."""
    import hwsim.export.verify as ver

    real = ver._run_hwsim

    def broken(net, inputs, T, probes, overflow):
        out = real(net, inputs, T, probes, overflow)
        out["probes"][("h", "v")][6, 3] += 1
        return out

    monkeypatch.setattr(ver, "_run_hwsim", broken)
    rng = np.random.default_rng(0)
    net = Network(name="m")
    net.add_input("in", 6)
    net.add_population("h", (2, 2), du=100, dv=100, vth=1000)
    net.connect_dense("w", "in", "h", rng.integers(0, 100, (4, 6)))
    report = verify_against_lava(net, {"in": (rng.random((10, 6)) < 0.5).astype(np.int8)}, 10, variables=("s", "v"))
    assert not report.identical
    m = report.first_mismatch
    assert (m.step, m.population, m.variable, m.index, m.position) == (7, "h", "v", 3, (1, 1))
    assert m.hwsim == m.lava + 1
    assert report.mismatches == {"h.v": 1, "h.s": 0}
    text = report.summary()
    assert "MISMATCH" in text and "time step 7" in text and "v[3]" in text
    assert report.to_dict()["first_mismatch"]["position"] == [1, 1]


def test_unexportable_networks_raise(lava):
    net = Network(name="tern")
    net.add_population("t", 3, kind="ternary_lif", vth=5, vth_lo=9)
    with pytest.raises(UnexportableError, match="vth_lo=9 > vth=5"):
        to_lava(net, None, T=3)

    net = Network(ChipSpec(max_delay=100), name="delay")
    net.add_input("x", 2)
    net.add_population("p", 2)
    net.connect_dense("d", "x", "p", np.ones((2, 2), int), delays=[[0, 64], [1, 2]])
    with pytest.raises(UnexportableError, match="delay 64 exceeds Lava's DelayDense/DelaySparse limit 63"):
        to_lava(net, None, T=3)

    net = Network(name="bigconv")
    net.add_input("x", (1, 3, 3), graded=True)
    net.add_population("p", (1, 1, 1))
    net.connect_conv("k", "x", "p", np.full((1, 1, 3, 3), 254), weight_exp=-1)
    small = {"x": np.full((2, 1, 3, 3), 100)}
    to_lava(net, small, T=2).close()                  # sums stay far from 2**23: exportable
    big = {"x": np.full((2, 1, 3, 3), 2 ** 22)}
    with pytest.raises(UnexportableError, match="conv with weight_exp=-1 is exported as a Lava Sparse"):
        to_lava(net, big, T=2)

    with pytest.raises(ValueError, match="outside"):
        to_lava(net, {"x": np.full((2, 1, 3, 3), 2 ** 30)}, T=2)
    with pytest.raises(ValueError, match="unknown name"):
        to_lava(net, {"y": np.zeros((2, 3))}, T=2)


def test_effective_weights_match_lava_truncation(lava):
    """Lava's clip_weights + truncate_weights equal the generic rule at 8 bits (used for other widths)."""
    from hwsim.program import chip_weights
    rng = np.random.default_rng(0)
    spec = ChipSpec()
    for sm, (lo, hi) in (("mixed", (-256, 256)), ("excitatory", (0, 256)), ("inhibitory", (-255, 1))):
        w = rng.integers(lo, hi, 300)
        for nwb in (1, 3, 7, 8):
            got = xl.effective_weights(w, sm, nwb, 8)
            np.testing.assert_array_equal(got, chip_weights(w, sm, nwb, spec))
            # the generic rule (weight_bits other than 8) at 8 bits gives the same
            m = 1 << 8
            rng_lo, rng_hi = {"mixed": (-m, m - 1), "excitatory": (0, m - 1), "inhibitory": (-(m - 1), 0)}[sm]
            ntb = 8 - nwb + (sm == "mixed")
            c = np.clip(w, rng_lo, rng_hi)
            ref = -(((-c) >> ntb) << ntb) if sm == "inhibitory" else (c >> ntb) << ntb
            np.testing.assert_array_equal(got, ref)


def test_non_loihi_state_width_is_unexportable():
    """Lava's models hard-code 24-bit u/v: a uv_bits=16 network must not export silently."""
    import numpy as np
    import pytest
    from hwsim import Network
    from hwsim.export.lava import UnexportableError, to_lava
    from hwsim.spec import LOIHI

    net = Network(LOIHI.replace(uv_bits=16))
    net.add_input("in", 3)
    net.add_population("p", 2)
    net.connect_dense("w", "in", "p", np.ones((2, 3), int))
    with pytest.raises(UnexportableError, match="uv_bits=16"):
        to_lava(net, {"in": np.zeros((5, 3), int)}, T=5)
