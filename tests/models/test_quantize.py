"""models.quantize: float cuba net <-> chip IR.

Oracles: closed forms of the chip arithmetic (hwsim.network docstring, hwsim.program.chip_weights)
for the round trip, and the chip simulator (hwsim.simulator) for float-vs-chip agreement.
"""
import math

import numpy as np
import pytest
import torch

from hwsim import LOIHI, Network
from hwsim.program import chip_weights, effective_bias
from models.encoders import encode
from models.network import build_convnet, build_mlp
from models.neuron import LIFConfig
from models.quantize import (INPUT_SCALE, QuantizationError, align_chip_record, align_chip_spikes,
                             compare_float_chip, dequantize, quantize, run_float)

CUBA = LIFConfig(form="cuba", du=0.25, dv=0.125)


def _mlp(hidden=(32, 10), n_in=64, cfg=CUBA, seed=0, gain=1.0, bias=0.0):
    torch.manual_seed(seed)
    net = build_mlp(n_in, hidden, 10, cfg)
    with torch.no_grad():
        for layer in net.layers:
            fan_in = layer.op.weight.shape[1]
            layer.op.weight.normal_(0.0, gain * 2.0 / math.sqrt(fan_in))
            if layer.bias is not None:
                layer.bias.uniform_(-bias, bias)
    return net


def _rate_input(shape, T=16, seed=0, p=0.3):
    g = torch.Generator().manual_seed(seed)
    return encode(torch.full(shape, p), T, "rate", generator=g)


def _expected_float(chip, prj, scale, q=1):
    p = chip.projections[prj]
    w = chip_weights(p.weights, p.sign_mode, p.num_weight_bits, chip.spec).astype(np.float64)
    return w * (64.0 * 2.0 ** p.weight_exp * q) / scale


# ---- round trip -----------------------------------------------------------------------------------
@pytest.mark.parametrize("weight_bits", [None, 6, 3])
def test_round_trip_weights_are_chip_integers_over_scale(weight_bits):
    net = _mlp(bias=0.05)
    cm = quantize(net, weight_bits=weight_bits)
    fnet = dequantize(cm, dtype=torch.float64)
    for i, layer in enumerate(fnet.layers):
        pop, prj, s = cm.populations[i], cm.projections[i], cm.scales[i]
        P = cm.network.populations[pop]
        assert s == (64 * P.vth + 1) / net.config.neuron.v_th
        np.testing.assert_array_equal(layer.op.weight.detach().numpy(), _expected_float(cm.network, prj, s))
        np.testing.assert_array_equal(layer.bias.detach().numpy(), effective_bias(P.bias_mant, P.bias_exp) / s)
        # the chip's truncation is a no-op on the quantized mantissas
        p = cm.network.projections[prj]
        np.testing.assert_array_equal(chip_weights(p.weights, p.sign_mode, p.num_weight_bits, LOIHI), p.weights)
        assert p.num_weight_bits == (weight_bits or 8)
    f32 = dequantize(cm)                       # float32: the correctly rounded float64 value
    for a, b in zip(f32.layers, fnet.layers):
        assert torch.equal(a.op.weight, b.op.weight.float())
    assert fnet.config.neuron.form == "cuba"
    assert fnet.config.neuron.du == (cm.network.populations["layer0"].du + 1) / 4096
    assert fnet.config.neuron.dv == cm.network.populations["layer0"].dv / 4096
    # readout stays float and unchanged
    assert torch.equal(fnet.readout.fc.weight.float(), net.readout.fc.weight)


def test_decays_threshold_and_bias_closed_form():
    cfg = LIFConfig(form="cuba", du=0.3, dv=0.05, v_th=2.0)
    net = _mlp(hidden=(8,), n_in=6, cfg=cfg, bias=0.1)
    cm = quantize(net)
    P = cm.network.populations["layer0"]
    assert P.du == round(0.3 * 4096) - 1 and P.dv == round(0.05 * 4096)
    assert cm.report.du_error == pytest.approx(abs((P.du + 1) / 4096 - 0.3))
    s = cm.scales[0]
    assert 2.0 * s == P.vth * 64 + 1                              # threshold: first spiking chip value
    b = net.layers[0].bias.detach().double().numpy()
    assert np.max(np.abs(effective_bias(P.bias_mant, P.bias_exp) / s - b)) <= 0.5 / s * 2 ** P.bias_exp.max()
    assert cm.report.layers[0].max_abs_bias_error <= 0.5 * 2 ** P.bias_exp.max() / s


def test_report_errors_bounded_by_half_a_step():
    net = _mlp()
    cm = quantize(net, weight_bits=5)
    for r, layer in zip(cm.report.layers, net.layers):
        wmax = layer.op.weight.abs().max().item()
        assert 0 < r.max_rel_weight_error <= 0.5 * r.weight_step / wmax * (1 + 1e-9)
        assert r.mantissa_max <= r.mantissa_limit
        assert r.mantissa_max >= r.mantissa_limit // 2            # uses the mantissa range
    assert "layer0" in str(cm.report)


def test_requantize_dequantized_is_identical():
    cm = quantize(_mlp(), weight_bits=7)
    cm2 = quantize(dequantize(cm, dtype=torch.float64), weight_bits=7, scale=cm.scales)
    assert cm2.scales == cm.scales
    for prj in cm.projections:
        a, b = cm.network.projections[prj], cm2.network.projections[prj]
        assert a.weight_exp == b.weight_exp
        np.testing.assert_array_equal(chip_weights(a.weights, a.sign_mode, 7, LOIHI),
                                      chip_weights(b.weights, b.sign_mode, 7, LOIHI))


def test_dequantize_raw_network_closed_form():
    chip = Network()
    chip.add_input("x", (3,))
    chip.add_population("h", (2,), du=1023, dv=512, vth=100, bias_mant=[5, -3], bias_exp=[1, 0])
    chip.add_population("o", (2,), du=1023, dv=512, vth=50)
    W1 = np.array([[3, -7, 100], [-256, 255, 0]])       # mixed, 8 bits: LSB dropped by the chip
    chip.connect_dense("a", "x", "h", W1, weight_exp=2)
    chip.connect_dense("b", "h", "o", np.array([[10, 20], [30, 40]]), weight_exp=-1)
    net = dequantize(chip, v_th=1.5, n_classes=3, dtype=torch.float64)
    s1, s2 = (64 * 100 + 1) / 1.5, (64 * 50 + 1) / 1.5
    eff1 = np.array([[2, -8, 100], [-256, 254, 0]])
    np.testing.assert_array_equal(net.layers[0].op.weight.detach().numpy(), eff1 * 64.0 * 4 / s1)
    np.testing.assert_array_equal(net.layers[1].op.weight.detach().numpy(), np.array([[10, 20], [30, 40]]) * 32.0 / s2)
    np.testing.assert_array_equal(net.layers[0].bias.detach().numpy(), np.array([10.0, -3.0]) / s1)
    assert net.config.neuron.du == 0.25 and net.config.neuron.dv == 0.125 and net.config.neuron.v_th == 1.5
    with pytest.raises(QuantizationError, match="scales"):
        dequantize(chip, scales=[1.0, 2.0], n_classes=3)
    with pytest.raises(QuantizationError, match="n_classes"):
        dequantize(chip)


# ---- validation -------------------------------------------------------------------------------------
def test_discrete_soft_reset_rejected_with_explanation():
    net = build_mlp(4, (3,), 2, LIFConfig(form="discrete", reset="soft"))
    with pytest.raises(QuantizationError, match="cuba"):
        quantize(net)


def test_nan_and_out_of_range_name_the_parameter():
    net = _mlp(hidden=(4,), n_in=5)
    with torch.no_grad():
        net.layers[0].op.weight[1, 2] = float("nan")
    with pytest.raises(QuantizationError, match="layer 0: weight contains NaN"):
        quantize(net)
    net = _mlp(hidden=(4,), n_in=5)
    with torch.no_grad():
        net.layers[0].op.weight.mul_(1e7)
    with pytest.raises(QuantizationError, match="layer 0: weights out of range"):
        quantize(net)
    net = _mlp(hidden=(4,), n_in=5)
    with pytest.raises(QuantizationError, match="scale"):
        quantize(net, scale=1e12)
    with pytest.raises(QuantizationError, match="layer 0: weights out of range at scale"):
        quantize(net, scale=1e6, spec=LOIHI.replace(weight_exp_max=0))
    with pytest.raises(QuantizationError, match="weight_bits"):
        quantize(net, weight_bits=9)
    with pytest.raises(QuantizationError, match="bias"):
        with torch.no_grad():
            net.layers[0].bias.fill_(1e5)
        quantize(net)


def test_pool_into_padded_conv_on_odd_map_not_implemented():
    net = build_convnet((1, 7, 7), (2, "pool", 2), (), 3, CUBA)
    with pytest.raises(NotImplementedError, match="layer 1"):
        quantize(net)


def test_binary_input_rejects_analog_values():
    cm = quantize(_mlp(hidden=(4,), n_in=5))
    with pytest.raises(ValueError, match="input_graded=True"):
        cm.encode(torch.full((2, 5), 0.5))


# ---- float vs chip (oracle: the chip simulator) --------------------------------------------------------
def test_exact_decays_chip_equals_float_exactly():
    """du = 1 (u = a << 6), dv = 0 and weight_exp >= 0: no truncation anywhere, the chip arithmetic
    is linear and the float mirror reproduces it exactly (integrate-and-fire, with a bias)."""
    net = _mlp(hidden=(16, 8), n_in=12, cfg=LIFConfig(form="cuba", du=1.0, dv=0.0), gain=1.0, bias=0.05)
    cm = quantize(net, headroom=32)
    assert all(r.weight_exp >= 0 for r in cm.report.layers)
    fnet = dequantize(cm, dtype=torch.float64)
    x = _rate_input((3, 12), T=10, p=0.2)
    layers, pred, run = compare_float_chip(fnet, cm, x.double())
    assert run.overflow == {"layer0": 0, "layer1": 0}
    assert cm.network.populations["layer1"].kind == "lif_reset"
    for la in layers:
        assert la.spike_agreement == 1.0 and la.clean_share == 1.0
        assert la.v_err_max_lsb < 1e-6
        assert 0.05 < la.chip_rate < 0.9


def test_mlp_float_and_chip_agree():
    torch.manual_seed(0)
    net = _mlp(hidden=(32, 10), bias=0.02)
    cm = quantize(net)                                   # default spec: 24-bit u/v, 8-bit weights
    fnet = dequantize(cm, dtype=torch.float64)
    x = _rate_input((8, 64), T=16)
    layers, pred, run = compare_float_chip(fnet, cm, x.double())
    for la in layers:
        assert la.spike_agreement >= 0.99
        assert 0.02 < la.chip_rate < 0.9
        assert la.v_err_max_rel_threshold < 1e-3          # a few LSBs of decay truncation
        assert la.v_err_mean_lsb < 16
    assert pred >= 0.99 and not any(run.overflow.values())
    # ChipModel readout on aligned spikes equals the float readout on the same spikes
    s_last = run.spikes[-1].astype(np.float64)
    o = fnet.readout(torch.from_numpy(s_last)).detach().numpy()
    np.testing.assert_allclose(run.logits, o, rtol=1e-12, atol=1e-12)


def test_alignment_rows():
    cm = quantize(_mlp(hidden=(6, 5), n_in=4))
    x = _rate_input((4,), T=5, p=0.5)
    run = cm.run(x)
    rec = run.record
    assert rec.spikes["layer0"].shape[0] == 5 + 2
    sp = align_chip_spikes(rec, ["layer0", "layer1"], T=5)
    np.testing.assert_array_equal(sp[0], rec.spikes["layer0"][1:6])
    np.testing.assert_array_equal(sp[1], rec.spikes["layer1"][2:7])
    np.testing.assert_array_equal(align_chip_spikes(rec, 2)[1], sp[1])
    with pytest.raises(ValueError, match="pad the input"):
        align_chip_record(rec, ["layer0", "layer1"], T=6)


def test_graded_direct_input_agrees():
    net = _mlp(hidden=(24,), n_in=10, gain=0.5)
    cm = quantize(net, input_graded=True)
    assert cm.network.inputs["in"].graded and cm.input_scale == INPUT_SCALE
    fnet = dequantize(cm, dtype=torch.float64)
    x = encode(torch.rand(4, 10, generator=torch.Generator().manual_seed(3)), 12, "direct")
    xf = cm.float_input(x.double())
    assert torch.equal(xf, torch.round(x.double() * 256) / 256)
    layers, pred, run = compare_float_chip(fnet, cm, x.double())
    assert layers[0].spike_agreement >= 0.99 and layers[0].chip_rate > 0.02


def test_discrete_hard_reset_is_cuba_with_full_current_decay():
    cfg = LIFConfig(form="discrete", reset="hard", leak=0.75)
    torch.manual_seed(1)
    net = build_mlp(12, (16,), 3, cfg)
    with torch.no_grad():
        net.layers[0].op.weight.normal_(0, 0.5)
        net.layers[0].op.bias.uniform_(-0.05, 0.05)
    cm = quantize(net)
    P = cm.network.populations["layer0"]
    assert P.du == 4095 and P.dv == 1024
    fnet = dequantize(cm, dtype=torch.float64)
    x = _rate_input((4, 12), T=12, p=0.4)
    s_src, _, _ = run_float(net.double(), x.double())
    s_deq, _, _ = run_float(fnet, x.double())
    assert np.mean(s_src[0] == s_deq[0]) >= 0.99            # same neuron up to weight quantization
    layers, _, _ = compare_float_chip(fnet, cm, x.double())
    assert layers[0].spike_agreement >= 0.99


def test_convnet_with_pooling_folds_exactly_and_agrees():
    torch.manual_seed(2)
    net = build_convnet((1, 8, 8), (4, "pool", 4, "pool"), (10,), 3, CUBA)
    with torch.no_grad():
        for layer in net.layers:
            w = layer.op.weight
            w.normal_(0.0, 3.0 / math.sqrt(w[0].numel()))
    cm = quantize(net)
    assert cm.pools == (1, 2, 2)
    p1 = cm.network.projections["proj1"]
    assert p1.weights.shape[2:] == (6, 6) and p1.stride == (2, 2) and p1.padding == (2, 2)
    assert all(r.weight_exp == 0 for r in cm.report.layers if r.kind == "conv")
    # equal weights over each 2x2 block
    m = p1.weights
    assert np.all(m[:, :, 0::2, 0::2] == m[:, :, 1::2, 1::2])
    fnet = dequantize(cm, dtype=torch.float64)
    np.testing.assert_array_equal(  # unfolded block = composite entry * k**2
        fnet.layers[1].op.weight.detach().numpy(), _expected_float(cm.network, "proj1", cm.scales[1])[:, :, ::2, ::2] * 4)
    x = _rate_input((3, 1, 8, 8), T=10, p=0.4)
    layers, pred, run = compare_float_chip(fnet, cm, x.double())
    for la in layers:
        assert la.spike_agreement >= 0.99, la
        assert la.v_err_max_rel_threshold < 1e-3
