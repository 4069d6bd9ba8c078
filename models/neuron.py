"""One LIF family, two forms, as pure per-step functions.

``discrete`` (the papers' LIF; OTTT, rate-BP, STBP)::

    u[t] = leak * v[t-1] + x[t]
    s[t] = H(u[t] - v_th)
    v[t] = u[t] - v_th * s[t]          (reset="soft")   or   u[t] * (1 - s[t])   (reset="hard")

with the reset term detached from the graph when ``detach_reset`` (OTTT, rate-BP defaults).

``cuba`` (the chip's current-based LIF, as Lava's float LIF computes it; du, dv are the 12-bit
decays divided by 4096)::

    i[t] = i[t-1] * (1 - du) + x[t]
    v[t] = v[t-1] * (1 - dv) + i[t] + bias
    s[t] = H(v[t] - v_th);   v[t] = 0 where s[t]   (i is not reset)

``lif_step`` returns the spikes, the new state and the membrane before reset (``u`` in the
discrete form, ``v`` in the cuba form): the value the surrogate sees.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import torch

from .surrogate import Surrogate

FORMS = ("discrete", "cuba")
RESETS = ("soft", "hard")


@dataclass(frozen=True)
class LIFConfig:
    """LIF parameters. Units: dimensionless membrane (threshold ``v_th``), decays per step.

    form : 'discrete' | 'cuba'
    leak : discrete form, lambda in [0, 1] (OTTT 0.5 = 1 - 1/tau with tau=2; rate-BP 0.2)
    v_th : threshold, > 0
    reset : discrete form, 'soft' (subtract v_th) | 'hard' (to 0)
    detach_reset : stop the gradient through the reset term
    du, dv : cuba form, fractions in [0, 1] (chip: du_int/4096, dv_int/4096)
    surrogate : surrogate gradient of the spike function
    """

    form: str = "discrete"
    leak: float = 0.5
    v_th: float = 1.0
    reset: str = "soft"
    detach_reset: bool = True
    du: float = 0.0
    dv: float = 0.0
    surrogate: Surrogate = field(default_factory=Surrogate)

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"LIF form={self.form!r} is not one of {FORMS}")
        if self.reset not in RESETS:
            raise ValueError(f"LIF reset={self.reset!r} is not one of {RESETS}")
        for name in ("leak", "du", "dv"):
            val = getattr(self, name)
            if not (math.isfinite(val) and 0.0 <= val <= 1.0):
                raise ValueError(f"LIF {name}={val!r} is outside the allowed range [0, 1]")
        if not (math.isfinite(self.v_th) and self.v_th > 0):
            raise ValueError(f"LIF v_th={self.v_th!r} must be a finite number > 0")


class LIFState(NamedTuple):
    """Membrane after reset ``v``; synaptic current ``i`` (cuba form only, else None)."""

    v: torch.Tensor
    i: Optional[torch.Tensor] = None

    def detach(self) -> "LIFState":
        return LIFState(self.v.detach(), None if self.i is None else self.i.detach())


def init_state(cfg: LIFConfig, shape, device=None, dtype=torch.float32) -> LIFState:
    z = torch.zeros(shape, device=device, dtype=dtype)
    return LIFState(z, torch.zeros_like(z) if cfg.form == "cuba" else None)


def lif_step(x: torch.Tensor, state: LIFState, cfg: LIFConfig, bias: Optional[torch.Tensor] = None):
    """One step. Returns ``(s, new_state, m)`` with ``m`` the membrane before reset."""
    if cfg.form == "discrete":
        u = cfg.leak * state.v + x
        if bias is not None:
            u = u + bias
        s = cfg.surrogate.spike(u - cfg.v_th)
        sr = s.detach() if cfg.detach_reset else s
        v = u - cfg.v_th * sr if cfg.reset == "soft" else u * (1.0 - sr)
        return s, LIFState(v), u
    i = state.i * (1.0 - cfg.du) + x
    m = state.v * (1.0 - cfg.dv) + i
    if bias is not None:
        m = m + bias
    s = cfg.surrogate.spike(m - cfg.v_th)
    sr = s.detach() if cfg.detach_reset else s
    return s, LIFState(m * (1.0 - sr), i), m
