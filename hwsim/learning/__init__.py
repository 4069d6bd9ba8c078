"""On-chip learning: Loihi learning rules and a learning engine bit-exact with Lava's LearningDense.

* :mod:`~hwsim.learning.rule`: :class:`LearningRule` (sum-of-products strings parsed as Lava does),
  :func:`stdp_loihi`, :func:`reward_modulated_stdp`.
* :mod:`~hwsim.learning.program`: a rule compiled for a :class:`~hwsim.spec.ChipSpec` into kernel tables.
* :mod:`~hwsim.learning.kernels`: numba kernels (``learn_step`` for a simulator's own loop,
  ``engine_step``, ``engine_run``).
* :mod:`~hwsim.learning.engine`: :class:`LearningDenseEngine`, the stateful per-step API.
* :mod:`~hwsim.learning.reference`: a slow numpy transcription of Lava's model, the test oracle
  when Lava is absent.
* :mod:`~hwsim.learning.bench`: ``python -m hwsim.learning.bench``, microseconds per step.
"""
from .engine import (ROUNDINGS, LearningCounters, LearningDenseEngine, check_rounding, lava_rounding_problem,
                     truncate_weights)
from .program import LearningProgram, compile_program
from .rule import (Factor, LearningRule, Product, RuleError, RuleWarning, float_to_literal,
                   parse_rule, reward_modulated_stdp, stdp_loihi)

__all__ = [
    "LearningRule", "Product", "Factor", "RuleError", "RuleWarning", "parse_rule", "float_to_literal",
    "stdp_loihi", "reward_modulated_stdp", "LearningProgram", "compile_program",
    "LearningDenseEngine", "LearningCounters", "truncate_weights", "ROUNDINGS", "check_rounding",
    "lava_rounding_problem",
]
