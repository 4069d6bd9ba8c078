"""Surrogate derivatives vs autograd of their closed-form primitives, finite differences, the
registered backward of the spike function, and the window definition."""
import math

import pytest
import torch

from models.surrogate import SURROGATES, Surrogate, surrogate_grad


def primitive(kind, a, x):
    """A smooth step whose derivative is the surrogate (derived by hand from the module docstring)."""
    if kind == "sigmoid":
        return torch.sigmoid(a * x)
    if kind == "atan":
        return torch.atan(math.pi / 2 * a * x) / math.pi + 0.5
    if kind == "rectangle":
        return torch.clamp(x / a + 0.5, 0.0, 1.0)
    # triangle: integral of max(0, 1 - |x|/a)/a = (x+a)^2/(2a^2) on [-a, 0], 1 - (a-x)^2/(2a^2) on [0, a]
    left = (x + a) ** 2 / (2 * a * a)
    right = 1 - (a - x) ** 2 / (2 * a * a)
    return torch.where(x < -a, torch.zeros_like(x), torch.where(x < 0, left, torch.where(x < a, right, torch.ones_like(x))))


def grid(kind, a):
    x = torch.linspace(-3.0, 3.0, 601, dtype=torch.float64)
    if kind in ("rectangle", "triangle"):  # keep away from the kinks, where the derivative jumps
        kinks = torch.tensor([-a / 2, a / 2] if kind == "rectangle" else [-a, 0.0, a], dtype=torch.float64)
        x = x[(x[:, None] - kinks[None]).abs().min(1).values > 1e-3]
    return x


@pytest.mark.parametrize("kind", SURROGATES)
@pytest.mark.parametrize("a", [0.5, 1.0, 4.0])
def test_grad_matches_autograd_of_primitive(kind, a):
    x = grid(kind, a).requires_grad_(True)
    (g,) = torch.autograd.grad(primitive(kind, a, x).sum(), x)
    torch.testing.assert_close(surrogate_grad(kind, a, x.detach()), g, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", SURROGATES)
def test_grad_matches_finite_differences(kind):
    a = 2.0
    x = grid(kind, a)
    h = 1e-6
    fd = (primitive(kind, a, x + h) - primitive(kind, a, x - h)) / (2 * h)
    torch.testing.assert_close(Surrogate(kind, a).grad(x), fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", SURROGATES)
def test_spike_forward_is_heaviside_and_backward_is_surrogate(kind):
    sg = Surrogate.named(kind)
    x = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 0.3], dtype=torch.float64, requires_grad=True)
    s = sg.spike(x)
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]  # H(0) = 1: fire when u >= v_th
    g_out = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0], dtype=torch.float64)
    s.backward(g_out)
    torch.testing.assert_close(x.grad, g_out * sg.grad(x.detach()))


def test_named_defaults_and_peaks():
    assert Surrogate.named("sigmoid") == Surrogate("sigmoid", 4.0)
    zero = torch.zeros(1, dtype=torch.float64)
    # peaks from the module docstring: sigmoid alpha/4 (=1 for alpha=4, OTTT), atan alpha/2, rectangle 1/a
    assert float(Surrogate("sigmoid", 4.0).grad(zero)) == pytest.approx(1.0)
    assert float(Surrogate("atan", 2.0).grad(zero)) == pytest.approx(1.0)
    assert float(Surrogate("rectangle", 0.5).grad(zero)) == pytest.approx(2.0)
    assert float(Surrogate("triangle", 0.5).grad(zero)) == pytest.approx(2.0)


@pytest.mark.parametrize("kind,param", [("sigmoid", 4.0), ("sigmoid", 1.0), ("atan", 2.0), ("triangle", 1.5)])
def test_window_is_where_grad_falls_to_one_percent_of_peak(kind, param):
    sg = Surrogate(kind, param)
    peak = float(sg.grad(torch.zeros(1, dtype=torch.float64)))
    w = torch.tensor([sg.window, -sg.window], dtype=torch.float64)
    torch.testing.assert_close(sg.grad(w), torch.full((2,), 0.01 * peak, dtype=torch.float64))


def test_rectangle_window_is_its_support():
    sg = Surrogate("rectangle", 1.0)
    assert sg.window == 0.5
    x = torch.tensor([0.4999, 0.5001], dtype=torch.float64)
    assert sg.grad(x).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("args,match", [(("relu", 1.0), "kind='relu'"), (("sigmoid", 0.0), "param=0.0"),
                                        (("sigmoid", float("nan")), "param=nan")])
def test_errors_name_the_bad_parameter(args, match):
    with pytest.raises(ValueError, match=match):
        Surrogate(*args)
    with pytest.raises(ValueError, match="not one of"):
        Surrogate.named("relu")
    with pytest.raises(ValueError, match="not one of"):
        surrogate_grad("relu", 1.0, torch.zeros(1))
