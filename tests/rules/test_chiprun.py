"""rules.chiprun: a quantized network run on the chip simulator against the float network.

Oracle: the chip simulator (hwsim.simulator, itself checked against Lava) for float-vs-chip
agreement, closed forms of the chip arithmetic for the exact cases.
"""
import math

import numpy as np
import pytest
import torch

from models.encoders import encode
from models.network import build_convnet, build_mlp
from models.neuron import LIFConfig
from models.quantize import INPUT_SCALE, dequantize, quantize
from rules.chiprun import align_chip_record, align_chip_spikes, compare_float_chip, run_chip, run_float
from tests.quantnets import CUBA
from tests.quantnets import expected_float as _expected_float
from tests.quantnets import mlp as _mlp
from tests.quantnets import rate_input as _rate_input


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
    run = run_chip(cm, x)
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
