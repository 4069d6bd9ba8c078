"""Rate-based BP: eligibility against its closed form, rate_M vs rate_S, straight-through rates."""
import pytest
import torch

from models.neuron import LIFConfig, lif_step
from models.surrogate import Surrogate
from rules.memory import SavedTensorMeter
from rules.rate import RateBP, RateConfig, eligibility_closed_form

from .helpers import NullOpt, grads, tiny_batch, tiny_net


def _membranes(net, x_seq):
    """Per-layer membranes u[t] by a plain re-simulation (lif_step only)."""
    T, B = x_seq.shape[:2]
    us = [[] for _ in net.layers]
    states = net.init_states(B)
    with torch.no_grad():
        for t in range(T):
            h = x_seq[t]
            for l, layer in enumerate(net.layers):
                h, states[l], u = lif_step(layer.op(h), states[l], layer.cfg)
                us[l].append(u)
    return [torch.stack(u) for u in us]


@pytest.mark.parametrize("mode", ["m", "s"])
def test_eligibility_equals_closed_form(mode):
    lam = 0.2
    net = tiny_net(leak=lam, dtype=torch.float64)
    x, _ = tiny_batch(T=7, dtype=torch.float64)
    es, rs, _, _ = RateBP(RateConfig(step_mode=mode)).spike_pass(net, x)
    for e, u in zip(es, _membranes(net, x)):
        sig = torch.sigmoid(4.0 * (u - 1.0))
        sp = 4.0 * sig * (1.0 - sig)
        T = sp.shape[0]
        manual = sum(sp[t] * (1 - lam ** (t + 1)) / (1 - lam) for t in range(T)) / T
        torch.testing.assert_close(e, manual, atol=1e-12, rtol=1e-10)
        torch.testing.assert_close(eligibility_closed_form(sp, lam), manual, atol=1e-12, rtol=1e-10)
    assert all(0 <= float(r.min()) and float(r.max()) <= 1 for r in rs)
    assert any(float(r.max()) > 0 for r in rs)


def test_rate_m_and_rate_s_same_gradient_for_direct_input():
    x1, y = tiny_batch(T=5, dtype=torch.float64)
    x = x1[:1].expand_as(x1).contiguous()     # direct encoding: the same frame at every step
    out = []
    for mode in ("m", "s"):
        net = tiny_net(leak=0.2, dtype=torch.float64)
        RateBP(RateConfig(step_mode=mode)).train_batch(net, x, y, NullOpt(net.parameters()), SavedTensorMeter())
        out.append(grads([net]))
    for a, b in zip(*out):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-9)


def test_rate_gradient_is_one_over_T_scaled_and_uses_eligibility():
    net = tiny_net(leak=0.2, hidden=(6,), dtype=torch.float64)
    x, y = tiny_batch(T=4, dtype=torch.float64)
    rule = RateBP()
    es, rs, x_bar, _ = rule.spike_pass(net, x)
    loss = rule.loss(net, x, y)
    loss.backward()
    got = net.layers[0].op.weight.grad.clone()
    # hand-written backward: o = Wr r + br; d o/d c0 = diag(e0); dW0 = delta0^T x_bar, scaled 1/T
    o = rs[0] @ net.readout.fc.weight.detach().T + net.readout.fc.bias.detach()
    p = torch.softmax(o, -1)
    p[torch.arange(len(y)), y] -= 1.0
    g_o = p / len(y) / x.shape[0]
    delta0 = (g_o @ net.readout.fc.weight.detach()) * es[0]
    torch.testing.assert_close(got, delta0.T @ x_bar, atol=1e-12, rtol=1e-9)


def test_rate_rejects_cuba_and_bad_mode():
    with pytest.raises(ValueError, match="step_mode"):
        RateConfig(step_mode="x")
    from models.network import build_mlp
    net = build_mlp(4, (3,), 2, LIFConfig(form="cuba", du=0.1, dv=0.1, surrogate=Surrogate()))
    with pytest.raises(ValueError, match="form"):
        RateBP().setup(net)


@pytest.mark.parametrize("reset, detach", [("soft", True), ("soft", False), ("hard", True), ("hard", False)])
def test_eligibility_matches_autograd_for_every_reset_mode(reset, detach):
    """eps_t = du[t]/dc for a constant input current c, by autograd through lif_step (an
    independent oracle for the eps recursions of each reset mode)."""
    from models.network import build_mlp
    T, lam = 6, 0.5
    cfg = LIFConfig(leak=lam, reset=reset, detach_reset=detach, surrogate=Surrogate("sigmoid", 4.0))
    g = torch.Generator().manual_seed(0)
    c = (0.3 + 1.2 * torch.rand(4, 7, generator=g, dtype=torch.float64)).requires_grad_(True)
    from models.neuron import init_state
    st = init_state(cfg, c.shape, dtype=torch.float64)
    want = torch.zeros_like(c)
    for _ in range(T):
        s, st, u = lif_step(c, st, cfg)
        (eps,) = torch.autograd.grad(u.sum(), c, retain_graph=True)
        want += eps * cfg.surrogate.grad(u.detach() - 1.0)
    want /= T
    # the rule's spike pass on a one-layer net whose op is the identity
    net = build_mlp(7, (7,), 2, cfg).double()
    with torch.no_grad():
        net.layers[0].op.weight.copy_(torch.eye(7, dtype=torch.float64))
        net.layers[0].op.bias.zero_()
    es, _, _, _ = RateBP().spike_pass(net, c.detach().unsqueeze(0).expand(T, 4, 7))
    torch.testing.assert_close(es[0], want, atol=1e-12, rtol=1e-9)
