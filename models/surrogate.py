"""Surrogate gradients for the spike non-linearity.

Forward: Heaviside ``s = H(x)`` with ``H(0) = 1`` (x = u - V_th; "fire when u >= V_th", as in the
papers' code). Backward: ``ds/dx = g(x)`` with one of

* ``sigmoid``  (alpha): ``alpha * sig(alpha x) * (1 - sig(alpha x))``; peak alpha/4 (OTTT, rate-BP: alpha=4)
* ``atan``     (alpha): ``alpha / 2 / (1 + (pi/2 * alpha * x)**2)``; peak alpha/2 (SpikingJelly ATan)
* ``rectangle`` (width a): ``1/a`` on ``|x| < a/2``, else 0 (STBP)
* ``triangle``  (width a): ``max(0, 1 - |x|/a) / a``

``Surrogate.grad(x)`` is the pure derivative (used by rate-based eligibility and the chip's lookup
table); ``Surrogate.spike(x)`` is the autograd op.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SURROGATES = ("sigmoid", "atan", "rectangle", "triangle")
_DEFAULT_PARAM = {"sigmoid": 4.0, "atan": 2.0, "rectangle": 1.0, "triangle": 1.0}


def surrogate_grad(kind: str, param: float, x: torch.Tensor) -> torch.Tensor:
    """The surrogate derivative ``g(x)`` of kind ``kind`` with parameter ``param``."""
    if kind == "sigmoid":
        sg = torch.sigmoid(param * x)
        return param * sg * (1.0 - sg)
    if kind == "atan":
        return (param / 2.0) / (1.0 + (math.pi / 2.0 * param * x) ** 2)
    if kind == "rectangle":
        return (x.abs() < param / 2.0).to(x.dtype) / param
    if kind == "triangle":
        return torch.clamp(1.0 - x.abs() / param, min=0.0) / param
    raise ValueError(f"surrogate kind={kind!r} is not one of {SURROGATES}")


class _SpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kind, param):
        ctx.save_for_backward(x)
        ctx.kind, ctx.param = kind, param
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * surrogate_grad(ctx.kind, ctx.param, x), None, None


@dataclass(frozen=True)
class Surrogate:
    """A surrogate-gradient spike function; ``param`` is alpha (sigmoid, atan) or width (rectangle, triangle)."""

    kind: str = "sigmoid"
    param: float = 4.0

    def __post_init__(self):
        if self.kind not in SURROGATES:
            raise ValueError(f"surrogate kind={self.kind!r} is not one of {SURROGATES}")
        if not (self.param > 0 and math.isfinite(self.param)):
            raise ValueError(f"surrogate param={self.param!r} must be a finite number > 0")

    @classmethod
    def named(cls, kind: str, param: float | None = None) -> "Surrogate":
        if kind not in SURROGATES:
            raise ValueError(f"surrogate kind={kind!r} is not one of {SURROGATES}")
        return cls(kind, _DEFAULT_PARAM[kind] if param is None else float(param))

    def spike(self, x: torch.Tensor) -> torch.Tensor:
        return _SpikeFn.apply(x, self.kind, self.param)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return surrogate_grad(self.kind, self.param, x)

    @property
    def window(self) -> float:
        """Half-width of |x| where g(x) >= 1% of its peak: the 'inside the surrogate window' test."""
        if self.kind == "rectangle":
            return self.param / 2.0
        if self.kind == "triangle":
            return 0.99 * self.param
        if self.kind == "sigmoid":
            # sig'(z) / sig'(0) = 0.01  ->  4 w / (1 + w)^2 = 0.01 with w = e^z  ->  w^2 - 398 w + 1 = 0
            z = math.log(199.0 + math.sqrt(199.0 ** 2 - 1.0))
            return z / self.param
        # atan: 1 / (1 + (pi/2 a x)^2) = 0.01
        return math.sqrt(99.0) / (math.pi / 2.0 * self.param)
