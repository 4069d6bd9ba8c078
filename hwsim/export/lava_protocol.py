"""The host protocol between samples (hwsim ``Simulator.reset_dynamics`` / ``add_tags_to_weights``)
on Lava processes, through ``Var.get`` / ``Var.set`` while the runtime is paused between two
``run(condition=RunSteps(n))`` calls (Lava 0.10.0, ``Loihi2SimCfg`` fixed_pt).

Lava is imported only inside the functions.

``reset_dynamics_lava(processes)``
    Sets, on every process given, each Var that carries dynamic state from one step to the next
    back to its initial value (``Var.init``; 0 for all of them except ``u`` / ``v``):

    ============================================  ===============================================
    process (Lava class, or ours)                 Vars
    ============================================  ===============================================
    LIF family (``AbstractLIF``: LIF, LIFReset,   ``u``, ``v`` (+ ``refractory_period_end`` of
    TernaryLIF, LearningLIF, ...)                 LIFRefractory)
    ``LearningNeuronProcess`` (LearningLIF,       ``y1``, ``y2``, ``y3``
    our ``HwLearningLIF``)
    our ``HwLearningLIF`` with ``delay > 0``      ``vpre`` (the pre-reset voltage history)
    our ``HwReadout`` / ``HwReadoutError``        ``u``, ``v`` / + ``y2``
    ``Dense``, ``Sparse``, ``DelayDense``,        ``a_buff`` (the activation sent next step;
    ``DelaySparse``, ``LearningDense``, ...       ``(n, max_delay + 1)`` with delays)
    ``Conv``                                      ``a_buf``
    ``LearningConnectionProcess``                 ``x0``, ``tx``, ``x1``, ``x2``, ``y0``, ``ty``,
    (LearningDense, LearningSparse)               ``y1``, ``y2``, ``y3``
    our ``HwMirrorLearningDense``                 + ``a_buff_back`` (the back sum sent next step)
    ============================================  ===============================================

    Kept, as hwsim keeps them: weights, ``tag_1``, ``tag_2``, every parameter Var, the time step
    and the random streams. Lava state that is NOT a Var, and why it needs no reset (read from
    lava-nc 0.10.0's models):

    - ``LearningConnectionModelBitApproximate._x_random``, ``_y_random`` (``TraceRandom``) and
      ``_conn_var_random`` (``ConnVarRandom``): the learning engine's random streams; hwsim keeps
      its streams too (``reset_dynamics`` docstring), so both continue from the same point.
    - ``PyLoihiProcessModel.time_step``: kept by both; RingBuffer sources keep reading column
      ``(t - 1) % buffer`` and ``LIFReset`` keeps its phase.
    - ``AbstractPyDenseModelBitAcc.weights_set``: the one-time truncation of the weights at step 1
      (done; hwsim's weights are already truncated).
    - LIF models' ``effective_bias``, ``effective_vth``, ``isbiasscaled``, ``isthrscaled``,
      ``s_out_buff``: derived from parameters, or recomputed every step before use.
    - our ``HwLearningLIF`` model's ``_vpre``: written every step before it is read.
    - messages in flight: none; every port's message of step t is received within step t.

    A process of any other class (not one of the above, not a Lava ``io`` source / sink, Monitor
    or hwsim's recorder) is refused with a ValueError naming it: its state is unknown to us.

``add_tags_to_weights_lava(learning_dense)``
    ``weights = clip(weights + tag_1)`` to the sign mode's range (Lava's own ``clip_weights`` with
    its learning width ``W_WEIGHTS_U`` = 8 bits: mixed ``[-256, 255]``, excitatory ``[0, 255]``,
    inhibitory ``[-255, 0]``, which is ``ChipSpec.weight_range`` for Loihi), then ``tag_1 = 0``.

Both need the processes' runtime started and paused: after a blocking ``run`` (the default), or
after ``wait()`` / ``pause()`` of a non-blocking one. Lava's ``Var.set`` during a run only logs a
warning and does nothing, so these functions refuse a running runtime (RuntimeError). A process
that was never run (no runtime) holds its initial values: ``reset_dynamics_lava`` skips it, as
hwsim's ``reset_dynamics`` does nothing before the first run.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .._optional import require_lava

__all__ = ["dynamic_vars", "reset_dynamics_lava", "add_tags_to_weights_lava"]

_NEURON_VARS = ("u", "v", "refractory_period_end")
_TRACE_VARS = ("x0", "tx", "x1", "x2", "y0", "ty", "y1", "y2", "y3")
_STATELESS_MODULES = ("lava.proc.io.", "lava.proc.monitor.")


def _stateless_classes() -> tuple:
    from .lava import _recorder_classes
    spike_rec, _, var_rec, _ = _recorder_classes()
    return spike_rec, var_rec


def dynamic_vars(proc) -> list[str]:
    """Names of the Vars of Lava process ``proc`` that :func:`reset_dynamics_lava` resets (module
    docstring); [] for a stateless I/O process. ValueError for a process of an unknown class."""
    require_lava("the Lava host protocol")
    from lava.magma.core.process.connection import LearningConnectionProcess
    from lava.magma.core.process.neuron import LearningNeuronProcess
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import AbstractLIF
    from lava.proc.sparse.process import Sparse

    from .lava_kinds import lava_kinds
    from .lava_mirror import lava_mirror
    K, M = lava_kinds(), lava_mirror()
    names: list[str] = []
    known = False
    if isinstance(proc, (AbstractLIF, K.HwReadout)):
        names += list(_NEURON_VARS)
        known = True
    if isinstance(proc, LearningNeuronProcess):
        names += ["y1", "y2", "y3"]
        known = True
    if isinstance(proc, K.HwReadoutError):
        names.append("y2")
    if isinstance(proc, K.HwLearningLIF):
        names.append("vpre")
    if isinstance(proc, (Dense, Sparse)):
        names.append("a_buff")
        known = True
    if isinstance(proc, Conv):
        names.append("a_buf")
        known = True
    if isinstance(proc, LearningConnectionProcess):
        names += list(_TRACE_VARS)
        known = True
    if isinstance(proc, M.HwMirrorLearningDense):
        names.append("a_buff_back")
    if not known:
        mod = type(proc).__module__ + "."
        if mod.startswith(_STATELESS_MODULES) or isinstance(proc, _stateless_classes()):
            return []
        raise ValueError(f"processes: {proc.name!r} ({type(proc).__module__}.{type(proc).__name__}) is not a "
                         "process whose dynamic state reset_dynamics_lava knows (LIF family, HwReadout(Error), "
                         "HwLearningLIF, Dense / Sparse / Conv and their learning and delay variants, "
                         "HwMirrorLearningDense, io sources / sinks, Monitors, recorders)")
    out = []
    for n in names:                        # in order, once, only the Vars this instance has
        if n not in out and isinstance(getattr(proc, n, None), _var_class()):
            out.append(n)
    return out


def _var_class():
    from lava.magma.core.process.variable import Var
    return Var


def _paused_runtime(proc, what: str):
    """The runtime of ``proc`` if it can take Var.set now; None if it never ran; else RuntimeError."""
    rt = getattr(proc, "runtime", None)
    if rt is None:
        return None
    if getattr(rt, "_is_running", False):
        raise RuntimeError(f"{what}: process {proc.name!r} is running; Lava ignores Var.set during a run. Call it "
                           "after a blocking run(), or after wait() / pause() of a non-blocking one")
    if not getattr(rt, "_is_started", False):
        raise RuntimeError(f"{what}: the runtime of process {proc.name!r} is not started (stopped, or compiled but "
                           "never run); its state cannot be set")
    return rt


def _initial(var) -> np.ndarray:
    return np.broadcast_to(np.asarray(var.init, dtype=np.float64), var.shape).copy()


def reset_dynamics_lava(processes: Iterable) -> dict:
    """Reset the dynamic state of Lava ``processes`` between samples (module docstring).

    Parameters
    ----------
    processes : iterable of lava AbstractProcess
        Every process of the network (sources, sinks and monitors may be included; they are
        stateless here). All must be paused (or never run).

    Returns
    -------
    dict
        ``{process name: [names of the Vars set]}`` for the processes that were reset.
    """
    require_lava("the Lava host protocol")
    procs = list(processes)
    plan = [(p, dynamic_vars(p)) for p in procs]          # every check before any Var is set
    live = [(p, names) for p, names in plan if names and _paused_runtime(p, "reset_dynamics_lava") is not None]
    out = {}
    for p, names in live:
        for n in names:
            var = getattr(p, n)
            var.set(_initial(var))
        out[p.name] = names
    return out


def add_tags_to_weights_lava(learning_dense) -> int:
    """``weights = clip(weights + tag_1)``, ``tag_1 = 0`` on a paused Lava ``LearningDense`` (or our
    ``HwMirrorLearningDense``); returns the number of weights that changed.

    The clip is Lava's ``clip_weights(w, sign_mode, num_bits=8)`` with the process's ``sign_mode``
    (Lava's default MIXED when none was given), the range the learning engine saturates to.
    """
    require_lava("the Lava host protocol")
    from lava.magma.core.learning.constants import W_WEIGHTS_U
    from lava.magma.core.process.connection import LearningConnectionProcess
    from lava.utils.weightutils import SignMode, clip_weights
    if not isinstance(learning_dense, LearningConnectionProcess) or not hasattr(learning_dense, "weights"):
        raise ValueError(f"learning_dense={learning_dense!r} must be a Lava LearningDense (a learning connection "
                         "process with weights and tag_1)")
    if _paused_runtime(learning_dense, "add_tags_to_weights_lava") is None:
        raise RuntimeError(f"add_tags_to_weights_lava: process {learning_dense.name!r} has no runtime (never run); "
                           "set its weights / tag_1 initial values instead")
    sign_mode = learning_dense.proc_params.get("sign_mode", SignMode.MIXED) or SignMode.MIXED
    w = np.rint(learning_dense.weights.get()).astype(np.int64)
    tag = np.rint(learning_dense.tag_1.get()).astype(np.int64)
    new = np.asarray(clip_weights(w + tag, sign_mode, num_bits=W_WEIGHTS_U), np.int64)
    learning_dense.weights.set(new.astype(np.float64))
    learning_dense.tag_1.set(np.zeros(tag.shape, np.float64))
    return int(np.count_nonzero(new != w))
