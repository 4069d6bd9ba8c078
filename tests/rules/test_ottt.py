"""OTTT against an independent oracle: grad_W = sum_t delta[t] (outer) a_hat[t].

The oracle re-simulates the LIF net by hand (no rule code), gets delta[t] = dL[t]/dI[t] by autograd
through the spatial path at step t only, and a_hat by its recursion a[t] = lambda a[t-1] + s[t].
"""
import torch
import torch.nn.functional as F

from rules.memory import SavedTensorMeter
from rules.ottt import OTTT, OTTTConfig, instantaneous_loss, ottt_weight_grad

from .helpers import NullOpt, grads, tiny_batch, tiny_net


def _spike(u):
    # Heaviside forward with the sigmoid(alpha=4) surrogate, written independently of models/
    sg = torch.sigmoid(4.0 * (u - 1.0))
    hard = (u >= 1.0).to(u.dtype)
    return hard.detach() + (4.0 * sg * (1 - sg)).detach() * (u - u.detach())  # value H, grad sigma'


def oracle_grads(net, x_seq, y, lam, mse_weight):
    T, B = x_seq.shape[:2]
    Ws = [(l.op.weight.detach(), l.op.bias.detach()) for l in net.layers]
    Wr, br = net.readout.fc.weight.detach(), net.readout.fc.bias.detach()
    L = len(Ws)
    v = [torch.zeros(B, W.shape[0], dtype=x_seq.dtype) for W, _ in Ws]
    a = [torch.zeros(B, W.shape[0], dtype=x_seq.dtype) for W, _ in Ws]
    gW = [torch.zeros_like(W) for W, _ in Ws]
    gb = [torch.zeros_like(b) for _, b in Ws]
    gWr, gbr = torch.zeros_like(Wr), torch.zeros_like(br)
    three_factor_ok = True
    for t in range(T):
        currents, spikes, us = [], [], []
        h = x_seq[t]
        for l, (W, b) in enumerate(Ws):
            I = (h @ W.T + b).detach().requires_grad_(True) if l == 0 else h @ W.T + b
            if l > 0:
                I.retain_grad()
            u = lam * v[l] + I
            s = _spike(u)
            s.retain_grad()
            currents.append(I); spikes.append(s); us.append(u.detach())
            h = s
        o = h @ Wr.T + br
        o.retain_grad()
        loss = ((1 - mse_weight) * F.cross_entropy(o, y)
                + mse_weight * F.mse_loss(o, F.one_hot(y, o.shape[-1]).to(o.dtype))) / T
        loss.backward()
        # traces a[t] (values) and membrane update (detached), by their recursions
        for l in range(L):
            s_val = spikes[l].detach()
            a[l] = lam * a[l] + s_val
            v[l] = us[l] - s_val
        for l in range(L):
            pre = x_seq[t] if l == 0 else a[l - 1]
            delta = currents[l].grad
            gW[l] += delta.T @ pre
            gb[l] += delta.sum(0)
            # the three-factor form gives the same outer product
            sig = torch.sigmoid(4.0 * (us[l] - 1.0))
            tf = ottt_weight_grad(pre, 4.0 * sig * (1 - sig), spikes[l].grad)
            three_factor_ok &= torch.allclose(tf, delta.T @ pre, atol=1e-12, rtol=1e-9)
        gWr += o.grad.T @ a[L - 1]
        gbr += o.grad.sum(0)
    out = []
    for l in range(L):
        out += [gW[l], gb[l]]
    return out + [gWr, gbr], three_factor_ok


def test_ottt_weight_gradient_equals_sum_delta_outer_trace():
    net = tiny_net(dtype=torch.float64)
    x, y = tiny_batch(T=6, dtype=torch.float64)
    rule = OTTT(OTTTConfig(online=False, mse_weight=0.05))
    rule.setup(net)
    rule.train_batch(net, x, y, NullOpt(net.parameters()), SavedTensorMeter())
    got = grads([net])
    want, tf_ok = oracle_grads(net, x, y, lam=0.5, mse_weight=0.05)
    assert tf_ok
    # the layers spike (otherwise the test is vacuous)
    assert all(g.abs().sum() > 0 for g in want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-10, rtol=1e-8)


def _sgd_delta(online, lr, net0, x, y):
    net = tiny_net(dtype=torch.float64)
    net.load_state_dict(net0.state_dict())
    rule = OTTT(OTTTConfig(online=online))
    rule.setup(net)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.0)
    rule.train_batch(net, x, y, opt, SavedTensorMeter())
    return torch.cat([(p - q).detach().flatten() for p, q in zip(net.parameters(), net0.parameters())])


def test_ottt_a_and_o_agree_as_lr_goes_to_zero():
    net0 = tiny_net(dtype=torch.float64)
    x, y = tiny_batch(T=6, dtype=torch.float64)
    diffs = []
    for lr in (1e-3, 1e-4, 1e-5):
        da, do = _sgd_delta(False, lr, net0, x, y), _sgd_delta(True, lr, net0, x, y)
        assert da.norm() > 0
        diffs.append(float((da - do).detach().norm()))
    assert diffs[0] > 0
    # quadratic shrinkage: 10x smaller lr -> ~100x smaller difference
    for big, small in zip(diffs, diffs[1:]):
        assert 30 < big / small < 300, diffs


def test_instantaneous_loss_matches_official_form():
    o = torch.randn(4, 3)
    y = torch.tensor([0, 2, 1, 1])
    want = (0.9 * F.cross_entropy(o, y) + 0.1 * ((o - F.one_hot(y, 3).float()) ** 2).mean()) / 5
    torch.testing.assert_close(instantaneous_loss(o, y, 5, 0.1), want)
