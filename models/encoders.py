"""Encoders from static inputs in [0, 1] to spike/current sequences ``[T, batch, ...]``.

* ``direct``:  the analog value at every step (a current; the first layer sees x at each t)
* ``rate``:    Bernoulli spikes with probability x per step (seeded torch.Generator)
* ``latency``: one spike at step ``round((1 - x) * (T - 1))`` for x > ``threshold``, none otherwise
"""
from __future__ import annotations

import torch

ENCODERS = ("direct", "rate", "latency")


def encode(x: torch.Tensor, T: int, kind: str = "direct", generator: torch.Generator | None = None,
           threshold: float = 0.0) -> torch.Tensor:
    """Encode ``x`` [batch, ...] (values in [0, 1]) into ``[T, batch, ...]``."""
    if int(T) != T or T < 1:
        raise ValueError(f"T={T!r} must be an integer >= 1")
    if kind not in ENCODERS:
        raise ValueError(f"encoder kind={kind!r} is not one of {ENCODERS}")
    if not torch.isfinite(x).all():
        raise ValueError("encoder input x contains NaN or inf")
    if kind == "direct":
        return x.unsqueeze(0).expand((T,) + tuple(x.shape))
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"{kind} encoding needs x in [0, 1], got range [{float(x.min())}, {float(x.max())}]")
    if kind == "rate":
        p = x.unsqueeze(0).expand((T,) + tuple(x.shape))
        u = torch.rand(p.shape, generator=generator, device="cpu").to(x.device)
        return (u < p).to(x.dtype)
    t_fire = torch.round((1.0 - x) * (T - 1)).long()
    steps = torch.arange(T, device=x.device).view((T,) + (1,) * x.dim())
    return ((steps == t_fire.unsqueeze(0)) & (x > threshold).unsqueeze(0)).to(x.dtype)
