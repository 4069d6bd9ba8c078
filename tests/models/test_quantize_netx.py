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
from models.quantize import QuantizationError, quantize
from models.scales import INPUT_SCALES, bias_exponent_floor, weight_exponents
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
        b = net.layers[i].bias.detach().double().numpy()
        # rounded to the nearest multiple of 2**bias_exp chip units (64 or 128 here)
        assert np.max(np.abs(eff / cm.scales[i] - b)) <= 0.5 * 2.0 ** P.bias_exp.max() / cm.scales[i] + 1e-12


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
