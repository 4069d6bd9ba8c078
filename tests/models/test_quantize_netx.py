"""models.quantize with ``target='netx'`` (models.scales' targets).

Oracles: netx's limits as lava-dl 0.6.0 states them (netx adds the file's integer weights; CUBA
neurons take ``bias_exp = 6``), the closed form of the bias rounding, and lava-dl's own netx
reader running the quantized network in Lava fixed_pt (every step compared with hwsim).
"""
import numpy as np
import pytest
import torch

from hwsim.program import chip_weights, effective_bias
from models.network import build_convnet
from models.neuron import LIFConfig
from models.quantize import QuantizationError, quantize
from models.scales import INPUT_SCALES, bias_exponent_floor, layer_headroom, weight_exponents
from tests.quantnets import CUBA
from tests.quantnets import mlp as _mlp


def test_target_exponents():
    assert weight_exponents("chip", -8, 7) == list(range(-8, 8))
    assert weight_exponents("chip", -8, 7, conv=True) == [0]
    assert weight_exponents("chip", -8, 7, conv=True, conv_weight_exp=True) == list(range(-8, 8))
    assert weight_exponents("netx", -8, 7) == [0] == weight_exponents("netx", -8, 7, conv=True, conv_weight_exp=True)
    assert bias_exponent_floor("chip", 0, 7) == 0 and bias_exponent_floor("chip", -3, 7) == 0
    assert bias_exponent_floor("netx", 0, 7) == 6
    with pytest.raises(ValueError, match=r"bias_exp_max=5 is below 6"):
        bias_exponent_floor("netx", 0, 5)
    for f in (lambda: weight_exponents("lava-dl", -8, 7), lambda: bias_exponent_floor("lava-dl", 0, 7)):
        with pytest.raises(ValueError, match=r"target='lava-dl' is not one of \('chip', 'netx'\)"):
            f()
    assert layer_headroom("chip", 64, 16.5) == 64 and layer_headroom("netx", 64, 16.5) == 16.5
    assert layer_headroom("netx", 64, 100.0) == 64 and layer_headroom("netx", 64, float("inf")) == 64
    assert layer_headroom("netx", 64, 0.25) == 1.0
    with pytest.raises(QuantizationError, match="target='nx'"):
        quantize(_mlp(), target="nx")


@pytest.mark.parametrize("policy", ["exact", "pow2"])
def test_netx_target_keeps_netx_limits(policy):
    net = _mlp(bias=0.05)
    cm = quantize(net, input_graded=True, scale_policy=policy, target="netx")
    chip = quantize(net, input_graded=True, scale_policy=policy)
    assert cm.input_scale == INPUT_SCALES["netx"] == 16 and chip.input_scale == 256
    assert cm.report.target == "netx" and chip.report.target == "chip"
    assert any(p.weight_exp != 0 for p in chip.network.projections.values())      # the limit binds
    assert any(np.any(effective_bias(p.bias_mant, p.bias_exp) % 64) for p in chip.network.populations.values())
    for i, name in enumerate(cm.projections):
        p = cm.network.projections[name]
        assert p.weight_exp == 0
        w = chip_weights(p.weights, p.sign_mode, p.num_weight_bits, cm.network.spec)
        assert -256 <= w.min() and w.max() <= 254 and np.any(w)
        P = cm.network.populations[cm.populations[i]]
        eff = effective_bias(P.bias_mant, P.bias_exp)
        assert np.all(P.bias_exp >= 6) and np.all(eff % 64 == 0) and np.any(eff)
        r = cm.report.layers[i]
        assert r.state_range >= min(64.0, max(r.u_bound, r.v_bound)) * (1 - 1e-12)      # the headroom kept
        b = net.layers[i].bias.detach().double().numpy()
        # rounded to the nearest multiple of 2**bias_exp chip units (64 or 128 here)
        assert np.max(np.abs(eff / cm.scales[i] - b)) <= 0.5 * 2.0 ** P.bias_exp.max() / cm.scales[i] + 1e-12


def test_netx_headroom_down_to_the_worst_case_keeps_the_weight_range():
    """A discrete (du = 1) layer has a finite worst case below the default headroom of 64: the netx
    target scales its state to that worst case, so no input in [0, 1] can overflow while the
    weights use most of their range."""
    net = _mlp(cfg=LIFConfig(form="discrete", leak=0.5, reset="hard"), gain=0.5, bias=0.02)
    cm = quantize(net, input_graded=True, target="netx")
    r = cm.report.layers[0]
    worst = max(r.u_bound, r.v_bound)
    assert 1.0 < worst < 64.0 and not r.overflow_risk
    assert r.state_range == pytest.approx(worst, rel=1e-3) and r.state_range >= worst
    assert r.mantissa_max / r.mantissa_limit > 0.5
    # closed form: exponent 0, mixed 8-bit mantissas k << 1 with k in [-128, 127], payload x * 16; the
    # scale is the full-range one or the state cap 2**23 - 1 over the worst case, then snapped to the
    # threshold (vth << 6) + 1 = v_th * scale (v_th = 1)
    W = net.layers[0].op.weight.detach().double().numpy()
    unit = 64 * 2 * 16
    s_t = min(unit / max(W.max() / 127, -W.min() / 128), ((1 << 23) - 1) / worst)
    vth = int(np.floor((s_t - 1) / 64))
    assert cm.scales[0] == 64 * vth + 1
    chip = quantize(net, input_graded=True)                   # the chip target keeps the headroom of 64
    assert chip.report.layers[0].state_range >= 64.0 > r.state_range


def test_netx_target_convnet_is_identical_in_lava_dl_netx(netx):
    from hwsim.export.netx import run_netx
    from hwsim.export.verify import verify_against_lava

    torch.manual_seed(0)
    net = build_convnet((1, 8, 8), channels=(3, "pool"), dense=(12,), neuron=CUBA)
    with torch.no_grad():
        for layer in net.layers:
            layer.op.weight.normal_(0.0, 0.4)
            layer.bias.uniform_(-0.05, 0.05)
    cm = quantize(net, input_graded=True, target="netx")
    assert [p.kind for p in cm.report.layers] == ["conv", "dense"] and cm.pools == (1, 2)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    inputs = cm.chip_input(x)
    rep = verify_against_lava(cm.network, inputs, runner=run_netx, target="lava-dl netx")
    assert rep.identical, rep.summary()
    assert all(rep.spikes[p][0] > 0 for p in cm.populations)       # both layers fire: the check has teeth
