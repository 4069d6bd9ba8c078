"""models.quantize: float cuba net <-> chip IR.

Oracles: closed forms of the chip arithmetic (hwsim.network docstring, hwsim.program.chip_weights)
for the round trip (float-vs-chip runs: tests/rules/test_chiprun.py).
"""

import math

import numpy as np
import pytest
import torch

from hwsim import LOIHI, Network
from hwsim.program import chip_weights, effective_bias
from models.network import build_convnet, build_mlp
from models.neuron import LIFConfig
from models.quantize import QuantizationError, dequantize, quantize
from tests.quantnets import CUBA
from tests.quantnets import expected_float as _expected_float
from tests.quantnets import mlp as _mlp

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


# ---- scale policy, soft reset, dead layers, report shares ---------------------------------------------
def test_pow2_policy_scales_are_powers_of_two_and_weights_closed_form():
    net = _mlp(hidden=(12, 7), n_in=9)
    cm = quantize(net, scale_policy="pow2")
    assert cm.report.scale_policy == "pow2"
    for i, (s, prj, pop) in enumerate(zip(cm.scales, cm.projections, cm.populations)):
        assert math.frexp(s)[0] == 0.5                               # a power of two
        assert cm.network.populations[pop].vth << 6 == s             # threshold = s * v_th (v_th = 1)
        W = net.layers[i].op.weight.detach().double().numpy()
        We = _expected_float(cm.network, prj, s)
        step = cm.report.layers[i].weight_step
        assert math.frexp(step)[0] == 0.5                            # the grid step too
        assert np.abs(We - W).max() <= step / 2 * (1 + 1e-12)        # nothing clipped
        assert cm.report.layers[i].clipped_share == 0.0
    fnet = dequantize(cm, dtype=torch.float64)
    for i, prj in enumerate(cm.projections):
        np.testing.assert_array_equal(fnet.layers[i].op.weight.detach().numpy(),
                                      _expected_float(cm.network, prj, cm.scales[i]))
    with pytest.raises(QuantizationError, match="power of two"):
        quantize(net, scale_policy="pow2", scale=1000.0)
    with pytest.raises(ValueError, match="policy='log'"):
        quantize(net, scale_policy="log")


def test_soft_reset_maps_to_the_hard_reset_only_when_asked():
    soft = build_mlp(6, (5,), 3, LIFConfig(form="discrete", reset="soft", leak=0.5))
    hard = build_mlp(6, (5,), 3, LIFConfig(form="discrete", reset="hard", leak=0.5))
    hard.load_state_dict(soft.state_dict())
    a, b = quantize(soft, soft_reset="hard"), quantize(hard)
    from hwsim.io import diff_networks
    assert diff_networks(a.network, b.network) == []
    assert any("soft" in n for n in a.report.layers[0].notes)
    with pytest.raises(QuantizationError, match="soft_reset='hard'"):
        quantize(soft)
    with pytest.raises(QuantizationError, match="soft_reset='x'"):
        quantize(soft, soft_reset="x")


def test_layer_quantizing_to_zero_is_an_error():
    net = _mlp(hidden=(4,), n_in=5)
    with torch.no_grad():
        net.layers[0].op.weight.mul_(1e-6)
    with pytest.raises(QuantizationError, match="layer 0: every weight quantizes to 0"):
        quantize(net, scale=65.0)                                 # vth = 1: a coarse grid
    with torch.no_grad():
        net.layers[0].op.weight.zero_()
    with pytest.raises(QuantizationError, match="layer 0: every weight quantizes to 0"):
        quantize(net)


def test_report_shares_against_a_direct_count():
    net = _mlp(hidden=(40,), n_in=30)
    with torch.no_grad():
        net.layers[0].op.weight[0, :5] = 1e-9                     # far below half a step: zeroed
    cm = quantize(net, weight_bits=4)
    r = cm.report.layers[0]
    W = net.layers[0].op.weight.detach().double().numpy()
    k = np.round(W / r.weight_step)
    assert r.zeroed_share == np.count_nonzero((W != 0) & (k == 0)) / W.size
    assert r.zeroed_share >= 5 / W.size and r.clipped_share == 0.0
    assert r.weight_range == (float(W.min()), float(W.max()))
    assert r.overflow_risk == (max(r.u_bound, r.v_bound) > r.state_range)
