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

from dataclasses import dataclass, field
from typing import Iterable, Optional

import numpy as np

from .._optional import require_lava

__all__ = ["dynamic_vars", "reset_dynamics_lava", "add_tags_to_weights_lava", "HOST_OPS", "Segment",
           "check_segments", "concat_inputs", "SampleProtocol"]

#: host operations between two segments, as hwsim's Simulator names them:
#: 'add_tags' = ``Simulator.add_tags_to_weights()`` / :func:`add_tags_to_weights_lava` on every
#: learning projection, 'reset' = ``Simulator.reset_dynamics()`` / :func:`reset_dynamics_lava`
HOST_OPS = ("add_tags", "reset")

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


# ---------------------------------------------------------------------------------------------
# segments: the host protocol as data (run by hwsim.export.verify and LavaGraph.run)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """``steps`` steps of input, then the host operations ``ops`` (in order, a subset of
    :data:`HOST_OPS`).

    ``inputs``: per network input name, an integer array ``(steps, *shape)`` (binary 0/1, graded
    payloads within ``spec.message_range``); inputs not given are silent. ``steps`` defaults to the
    arrays' length.
    """

    inputs: dict = field(default_factory=dict)
    ops: tuple = ()
    steps: Optional[int] = None


def check_segments(net, segments) -> list:
    """Validated copies of ``segments`` (every ``steps`` set, inputs cut to it, ops a tuple), before any
    run: ValueError naming the segment, the parameter, the value and what is allowed."""
    from .lava import _check_inputs
    segments = list(segments) if segments is not None else []
    if not segments:
        raise ValueError("segments: need at least one Segment")
    learns = bool(net.learning_projections())
    out = []
    for k, sg in enumerate(segments):
        if not isinstance(sg, Segment):
            raise ValueError(f"segments[{k}]={sg!r} is not a Segment(inputs, ops, steps)")
        ops = (sg.ops,) if isinstance(sg.ops, str) else tuple(sg.ops)
        bad = [op for op in ops if op not in HOST_OPS]
        if bad or len(set(ops)) != len(ops):
            raise ValueError(f"segments[{k}].ops={ops!r}: each must be one of {HOST_OPS}, at most once")
        if "add_tags" in ops and not learns:
            raise ValueError(f"segments[{k}].ops={ops!r}: 'add_tags' needs learning projections; network "
                             f"{net.name!r} has none")
        steps = sg.steps
        if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps < 1):
            raise ValueError(f"segments[{k}].steps={steps!r} must be an integer >= 1")
        try:
            arrays, steps = _check_inputs(net, sg.inputs, None if steps is None else int(steps))
        except ValueError as exc:
            raise ValueError(f"segments[{k}]: {exc}") from None
        out.append(Segment(inputs=arrays, ops=ops, steps=int(steps)))
    return out


def concat_inputs(net, segments) -> dict:
    """The checked segments' inputs one after the other: {input: (sum of steps, *shape) int64} (silent
    where a segment does not give an input; inputs no segment gives are left out)."""
    names = [n for n in net.inputs if any(n in sg.inputs for sg in segments)]
    out = {}
    for n in names:
        shape = net.inputs[n].shape
        out[n] = np.concatenate([np.asarray(sg.inputs[n], np.int64) if n in sg.inputs else
                                 np.zeros((sg.steps,) + shape, np.int64) for sg in segments])
    return out


_PROTOCOL_INTS = ("sample_steps", "input_steps", "payload_shift", "payload_bits")
_PROTOCOL_STRS = ("host_ops", "payload_input", "label_input")


@dataclass(frozen=True)
class SampleProtocol:
    """The per-sample host protocol of on-chip training (``hwsim.circuits.ottt.OTTTNetwork.protocol()``,
    stored with a network file by ``hwsim.io.save_network(..., protocol=...)``).

    Per sample ``k`` of payloads ``X[k]`` and label ``y[k]``: ``sample_steps`` steps; for the first
    ``input_steps`` of them the graded input ``payload_input`` carries ``X[k][t % Tx] << payload_shift``
    (payloads in ``[0, 2**payload_bits - 1]``; ``Tx`` frames, 1 for a static image) and the binary input
    ``label_input`` (if not ``""``) the one-hot label; the remaining steps are silent (the pipeline
    drains); then the host operations ``host_ops`` (comma-separated :data:`HOST_OPS`, in order).
    """

    sample_steps: int
    input_steps: int
    host_ops: str
    payload_input: str
    payload_shift: int
    payload_bits: int
    label_input: str = ""

    def __post_init__(self):
        for k in _PROTOCOL_INTS:
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"protocol {k}={v!r} must be an integer")
        for k in _PROTOCOL_STRS:
            if not isinstance(getattr(self, k), str):
                raise ValueError(f"protocol {k}={getattr(self, k)!r} must be a string")
        if self.sample_steps < 1:
            raise ValueError(f"protocol sample_steps={self.sample_steps} must be >= 1")
        if not 1 <= self.input_steps <= self.sample_steps:
            raise ValueError(f"protocol input_steps={self.input_steps} is outside [1, sample_steps="
                             f"{self.sample_steps}]")
        if not 0 <= self.payload_shift <= 16 or not 1 <= self.payload_bits <= 24:
            raise ValueError(f"protocol payload_shift={self.payload_shift} / payload_bits={self.payload_bits}: "
                             "allowed [0, 16] / [1, 24]")
        bad = [op for op in self.ops if op not in HOST_OPS]
        if bad or len(set(self.ops)) != len(self.ops):
            raise ValueError(f"protocol host_ops={self.host_ops!r}: a comma-separated list of {HOST_OPS}, each "
                             "at most once")

    @property
    def ops(self) -> tuple:
        return tuple(op.strip() for op in self.host_ops.split(",") if op.strip())

    def as_dict(self) -> dict:
        return {k: (int(v) if k in _PROTOCOL_INTS else v) for k, v in vars(self).items()}

    def check(self, net) -> None:
        """ValueError unless ``net`` has the inputs this protocol drives (and 'add_tags' something to add)."""
        node = net.inputs.get(self.payload_input)
        if node is None or not node.graded:
            raise ValueError(f"protocol payload_input={self.payload_input!r} is not a graded input of network "
                             f"{net.name!r} (inputs {sorted(net.inputs)})")
        lo, hi = net.spec.message_range
        top = ((1 << self.payload_bits) - 1) << self.payload_shift
        if top > hi:
            raise ValueError(f"protocol payload_bits={self.payload_bits}, payload_shift={self.payload_shift}: "
                             f"messages up to {top} exceed spec.message_range [{lo}, {hi}]")
        if self.label_input and (self.label_input not in net.inputs or net.inputs[self.label_input].graded):
            raise ValueError(f"protocol label_input={self.label_input!r} is not a binary input of network "
                             f"{net.name!r} (inputs {sorted(net.inputs)})")
        if "add_tags" in self.ops and not net.learning_projections():
            raise ValueError(f"protocol host_ops={self.host_ops!r}: network {net.name!r} has no learning projection")

    def n_classes(self, net) -> int:
        return int(np.prod(net.inputs[self.label_input].shape)) if self.label_input else 0

    def segments(self, net, X, y=None) -> list:
        """One :class:`Segment` per sample: ``X`` payloads ``(K, n)`` or ``(K, Tx, n)`` integers in
        ``[0, 2**payload_bits - 1]``, ``y`` ``(K,)`` labels in ``[0, C - 1]`` (needed iff ``label_input``)."""
        self.check(net)
        node = net.inputs[self.payload_input]
        n = int(np.prod(node.shape))
        X = np.asarray(X)
        if X.ndim == 2:
            X = X[:, None, :]
        if X.ndim != 3 or X.shape[2] != n or X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"samples: payloads of shape {X.shape}; expected (K, {n}) or (K, Tx, {n}) with K >= 1 "
                             f"(input {self.payload_input!r} has {n} compartments)")
        if X.dtype.kind not in "iuf" or (X.dtype.kind == "f" and not np.all(X == np.round(X))):
            raise ValueError(f"samples: payloads must be integers (dtype {X.dtype})")
        top = (1 << self.payload_bits) - 1
        if X.min() < 0 or X.max() > top:
            raise ValueError(f"samples: payloads in [{X.min()}, {X.max()}], outside [0, {top}] "
                             f"(payload_bits={self.payload_bits})")
        X = X.astype(np.int64)
        C = self.n_classes(net)
        if self.label_input:
            if y is None:
                raise ValueError(f"samples: labels are needed (the protocol drives input {self.label_input!r})")
            y = np.asarray(y).reshape(-1)
            if y.shape[0] != X.shape[0] or y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= C:
                raise ValueError(f"samples: labels {y.shape} dtype {y.dtype} in [{y.min() if y.size else '-'}, "
                                 f"{y.max() if y.size else '-'}]; expected {X.shape[0]} integers in [0, {C - 1}]")
        elif y is not None:
            raise ValueError("samples: labels given, but the protocol has no label_input")
        S, Tin = self.sample_steps, self.input_steps
        idx = np.arange(Tin) % X.shape[1]
        out = []
        for k in range(X.shape[0]):
            frames = np.zeros((S, n), np.int64)
            frames[:Tin] = X[k][idx] << self.payload_shift
            inputs = {self.payload_input: frames.reshape((S,) + node.shape)}
            if self.label_input:
                lab = np.zeros((S, C), np.int64)
                lab[:Tin, int(y[k])] = 1
                inputs[self.label_input] = lab.reshape((S,) + net.inputs[self.label_input].shape)
            out.append(Segment(inputs=inputs, ops=self.ops, steps=S))
        return out
