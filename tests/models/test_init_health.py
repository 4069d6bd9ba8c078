"""init_chen_li and health_report on scikit-learn digits (direct encoding): a dead network is
reported dead; after initialization every layer fires at a healthy rate, for MLP and ConvNet."""
import math

import pytest
import torch

from models.data import load_digits_split
from models.encoders import encode
from models.health import LayerHealth, format_health, health_report
from models.init import InitReport, effective_threshold, init_chen_li, membrane_gain
from models.network import build_convnet, build_mlp
from models.neuron import LIFConfig
from models.surrogate import Surrogate

T = 8


@pytest.fixture(scope="module")
def digits():
    """scikit-learn digits, seeded split: a calibration batch from train, an evaluation batch from test."""
    flat, img = load_digits_split(seed=0), load_digits_split(seed=0, image=True)
    return {
        "mlp": (encode(torch.from_numpy(flat.x_train[:96]), T), encode(torch.from_numpy(flat.x_test[:96]), T),
                torch.from_numpy(flat.y_test[:96])),
        "conv": (encode(torch.from_numpy(img.x_train[:96]), T), encode(torch.from_numpy(img.x_test[:96]), T),
                 torch.from_numpy(img.y_test[:96])),
    }


def make(kind, neuron=None):
    if kind == "mlp":
        return build_mlp(64, (64, 64, 32), 10, neuron)
    return build_convnet((1, 8, 8), (8, "pool", 16), (32,), 10, neuron)


def test_membrane_gain_closed_forms():
    # discrete: u_T = (1 - lam^T) / (1 - lam); IF (lam = 1): T
    assert membrane_gain(LIFConfig(leak=0.5), 8) == pytest.approx((1 - 0.5 ** 8) / 0.5)
    assert membrane_gain(LIFConfig(leak=1.0), 8) == 8
    # cuba without memory (du = dv = 1): v = x; with du = 1, dv = 0.5: v_T = 2 (1 - 0.5^T)
    assert membrane_gain(LIFConfig(form="cuba", du=1.0, dv=1.0), 5) == 1.0
    assert membrane_gain(LIFConfig(form="cuba", du=1.0, dv=0.5), 5) == pytest.approx(2 * (1 - 0.5 ** 5))
    assert effective_threshold(LIFConfig(leak=1.0, v_th=2.0), 4) == 0.5
    with pytest.raises(ValueError, match="T=0"):
        membrane_gain(LIFConfig(), 0)


def test_dead_network_is_reported_dead(digits):
    # rectangle surrogate (STBP, Chen & Li): window |u - v_th| < 0.5, so a membrane resting near 0 is outside
    net = build_mlp(64, (64, 64), 10, LIFConfig(surrogate=Surrogate("rectangle", 1.0)))
    with torch.no_grad():
        for layer in net.layers:
            layer.op.weight.mul_(1e-3)
            layer.op.bias.zero_()
    _, x, y = digits["mlp"]
    rep = health_report(net, x, y)
    assert len(rep) == 2 and all(isinstance(h, LayerHealth) for h in rep)
    for h in rep:
        assert h.rate == 0.0 and h.status == "dead" and h.dead_fraction == 1.0
        assert h.window_share < 0.01
        assert h.grad_norm < 1e-3
    assert "dead" in format_health(rep)


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_after_init_every_layer_fires(digits, kind):
    x_cal, x, y = digits[kind]
    net = make(kind)
    report = init_chen_li(net, x_cal, generator=torch.Generator().manual_seed(1))
    assert isinstance(report, InitReport) and report.calibrated and report.seed == 1
    assert [r.rate for r in report.layers] == pytest.approx([0.15] * len(net.layers), abs=0.01)
    health = health_report(net, x, y)  # held-out batch
    for h in health:
        assert 0.01 < h.rate < 0.6, format_health(health)
        assert h.window_share > 0.2, format_health(health)
        assert h.dead_fraction < 0.9 and h.status == "ok"
        assert math.isfinite(h.grad_norm) and h.grad_norm > 1e-3
    assert len(str(report).splitlines()) == len(net.layers) + 2


@pytest.mark.parametrize("neuron", [LIFConfig(leak=0.2), LIFConfig(leak=1.0, reset="hard"),
                                    LIFConfig(form="cuba", du=0.2, dv=0.3)])
def test_init_other_neurons(digits, neuron):
    x_cal, x, _ = digits["mlp"]
    net = make("mlp", neuron)
    init_chen_li(net, x_cal, generator=2)
    assert all(0.01 < h.rate < 0.6 for h in health_report(net, x))
    if neuron.form == "cuba":
        assert all(float(layer.bias.detach().abs().max()) == 0.0 for layer in net.layers)


def test_init_without_data_uses_the_analytic_rule(digits):
    _, x, _ = digits["mlp"]
    net = make("mlp")
    report = init_chen_li(net, generator=3, T=T)
    assert not report.calibrated and all(r.scale == 1.0 and r.rate is None for r in report.layers)
    theta = effective_threshold(net.config.neuron, T)
    r0 = report.layers[0]
    assert r0.std == pytest.approx(math.sqrt(2) * theta / math.sqrt(64 / 3))
    assert float(net.layers[0].op.weight.detach().std()) == pytest.approx(r0.std, rel=0.1)
    assert all(0.01 < h.rate < 0.6 for h in health_report(net, x))


def test_init_is_seeded_and_in_place():
    a, b, c = make("mlp"), make("mlp"), make("mlp")
    init_chen_li(a, generator=5)
    init_chen_li(b, generator=torch.Generator().manual_seed(5))
    init_chen_li(c, generator=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["layers.0.op.weight"], sc["layers.0.op.weight"])
    assert float(sa["layers.0.op.bias"].abs().max()) == 0.0 and float(sa["readout.fc.bias"].abs().max()) == 0.0


def test_init_errors():
    net = make("mlp")
    with pytest.raises(ValueError, match="target_rate=1.5"):
        init_chen_li(net, target_rate=1.5)
    with pytest.raises(ValueError, match=r"x_sample_seq has shape \(4, 2, 63\)"):
        init_chen_li(net, torch.zeros(4, 2, 63))
    with pytest.raises(TypeError, match="generator='x'"):
        init_chen_li(net, generator="x")


def test_health_leaves_grads_alone_and_checks_args(digits):
    _, x, y = digits["mlp"]
    net = make("mlp")
    init_chen_li(net, generator=0, T=T)
    rep = health_report(net, x)
    assert all(h.grad_norm is None for h in rep)
    assert "grad" in format_health(rep).splitlines()[0]
    rep = health_report(net, x, y, loss_fn=lambda o, t: torch.nn.functional.cross_entropy(o.sum(0), t))
    assert all(h.grad_norm > 0 for h in rep)
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(ValueError, match="loss_fn was given without labels"):
        health_report(net, x, loss_fn=lambda o, t: o.sum())
    with pytest.raises(ValueError, match="expected"):
        health_report(net, x[0])
