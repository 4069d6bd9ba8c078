"""Overflow policy of the compartment state (u, v) and the error raised in ``"raise"`` mode.

* ``WRAP`` (chip default, bit-exact with Lava): ``u`` wraps as Lava does it (24 bits, with Lava's
  quirk that ``2**23`` itself is kept; the int32 arithmetic of ``a << 6`` and of the sums wraps at
  32 bits first), ``v`` is clipped to ``[-(2**23 - 1), 2**23 - 1]``.
* ``SATURATE``: the same, but ``u`` is computed exactly and clipped to ``[-(2**23 - 1), 2**23 - 1]``
  and ``v`` is computed exactly before its clip (no 32-bit wrap anywhere in the compartment).
* ``RAISE``: the ``WRAP`` arithmetic, but the run stops at the first overflow event with
  :class:`StateOverflowError` naming the population, the variable, the step and the compartment.

An *overflow event* is one compartment update whose ``u`` (resp. ``v``) differs from the exact
integer value ``decay(u) + (a << 6)`` (resp. ``decay(v) + u + bias``): a wrap or a clip; or one
wrap of the synaptic input on its way to the population: a graded int32 sum (Lava's int32
``weights.dot``), a DelayDense product outside int32, a conv sum outside 24 bits, an int32 input
entry. Events are counted per (destination) population in every mode (``RunRecord.overflow``);
``RAISE`` stops at the first (:class:`SynapseOverflowError` for the synaptic ones). The synaptic
wraps happen in every mode (they are the chip's arithmetic, bit-exact with Lava).
"""
from __future__ import annotations

import enum

WRAP = 0
SATURATE = 1
RAISE = 2


class OverflowPolicy(enum.IntEnum):
    """How the compartment treats values outside 24 bits (see the module docstring)."""

    WRAP = WRAP
    SATURATE = SATURATE
    RAISE = RAISE

    @classmethod
    def parse(cls, value) -> "OverflowPolicy":
        """Accept an OverflowPolicy or one of the strings 'wrap', 'saturate', 'raise'."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise ValueError(f"overflow={value!r} is not one of 'wrap', 'saturate', 'raise'")


class StateOverflowError(ArithmeticError):
    """A compartment state overflowed while the Simulator ran with ``overflow="raise"``.

    Attributes: ``population``, ``variable`` ('u' or 'v'), ``time_step`` (Lava's 1-based step,
    counted from the last reset), ``row`` (the row of the run's records), ``compartment`` (flat
    index in the population), ``instance`` (batch index).
    """

    def __init__(self, population: str, variable: str, time_step: int, row: int, compartment: int,
                 instance: int):
        self.population = population
        self.variable = variable
        self.time_step = time_step
        self.row = row
        self.compartment = compartment
        self.instance = instance
        what = "wrapped" if variable == "u" else "was clipped"
        super().__init__(
            f"population {population!r}: {variable} {what} (overflow of the uv_bits-wide state) at time step "
            f"{time_step} (record row {row}), compartment {compartment}, batch instance {instance}; "
            f"use overflow='wrap' or 'saturate' to continue past it (the state is now undefined: call reset())")


class SynapseOverflowError(StateOverflowError):
    """The synaptic input of a projection wrapped (int32 graded sum, int32 product, 24-bit conv sum
    or int32 input entry) while the Simulator ran with ``overflow="raise"``.

    Attributes as :class:`StateOverflowError` (``variable`` is ``'input'``, ``compartment`` the
    first compartment of the destination) plus ``projection``.
    """

    def __init__(self, projection: str, population: str, time_step: int, row: int, compartment: int,
                 instance: int):
        ArithmeticError.__init__(
            self, f"projection {projection!r} -> population {population!r}: the synaptic input sent at time "
            f"step {time_step} (record row {row}), batch instance {instance}, wrapped (int32 graded sum, "
            f"product or 24-bit conv sum); use overflow='wrap' or 'saturate' to continue past it (the state "
            f"is now undefined: call reset())")
        self.projection = projection
        self.population = population
        self.variable = "input"
        self.time_step = time_step
        self.row = row
        self.compartment = compartment
        self.instance = instance
