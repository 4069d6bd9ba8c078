"""Inputs of a :meth:`~hwsim.simulator.Simulator.run`: dense arrays or sparse events, validated before any
step runs and turned into the per-(instance, step) event lists the kernels read
(:mod:`hwsim.kernels.events`).

A dense input is an integer array ``(T, *shape)`` or ``(T, B, *shape)`` whose nonzero entries are the
events. A sparse input is an :class:`InputEvents`: the events themselves, in CSR form per step, which
is how event sensors deliver data and costs nothing for the silent channels::

    ev = InputEvents.from_arrays(steps=[0, 0, 3], channels=[5, 2, 5], T=10)      # binary spikes
    sim.run(10, inputs={"in": ev})

Both forms mean the same thing: an event of channel ``c`` with payload ``p`` at step row ``t`` is the
dense entry ``x[t, c] = p`` (``x[t, b, c]`` for instance ``b``), and a run gives identical results
from either (tested).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels.events import (ERR_CHANNEL, ERR_NAN, ERR_NONINT, ERR_OK, ERR_ORDER, ERR_ZERO, check_and_count,
                             check_events, copy_events, count_parallel, fill_events, fill_parallel)
from .network import Network

__all__ = ["InputEvents", "run_events", "batch_hint"]

_PARALLEL_EVENTS_MIN_BATCH = 8   # below this, converting dense inputs in one thread is faster


@dataclass(frozen=True, eq=False)
class InputEvents:
    """Sparse events of one input for a run of ``T`` steps.

    Attributes
    ----------
    ptr : int64 array (T + 1,) or (B, T + 1)
        The events of step row ``t`` (of instance ``b``) are entries ``ptr[t] .. ptr[t + 1] - 1``
        (``ptr[b, t] ..``) of ``channels`` and ``payloads``; each row of ``ptr`` non-decreasing, within
        ``[0, len(channels)]``. Without the batch axis the events are shared by all instances.
    channels : int array (n,)
        Flat channel index of each event (C order over the input's shape), strictly increasing
        within a step (sorted, no channel twice), in ``[0, input size)``.
    payloads : int array (n,) or None
        Payload of each event: 1 for a binary input (or None, the default: every event is a spike);
        for a graded input a non-zero integer in ``spec.message_range`` (0 would be "no event").

    Use :meth:`from_arrays` to build one from unsorted ``(step, channel[, payload])`` lists.
    """

    ptr: np.ndarray
    channels: np.ndarray
    payloads: np.ndarray | None = None

    def __post_init__(self):
        ptr = np.asarray(self.ptr)
        if ptr.dtype.kind not in "iu" or ptr.ndim not in (1, 2) or ptr.shape[-1] < 2:
            raise ValueError(f"InputEvents ptr has shape {ptr.shape} and dtype {ptr.dtype}; expected integers "
                             "(T + 1,) or (B, T + 1) with T >= 1")
        ch = np.asarray(self.channels)
        if ch.ndim != 1 or (ch.dtype.kind not in "iu" and ch.size):
            raise ValueError(f"InputEvents channels has shape {ch.shape} and dtype {ch.dtype}; expected integers (n,)")
        pay = None if self.payloads is None else np.asarray(self.payloads)
        if pay is not None:
            if pay.dtype == np.bool_:
                pay = pay.view(np.uint8)
            if pay.shape != ch.shape or (pay.dtype.kind not in "iuf" and pay.size):
                raise ValueError(f"InputEvents payloads has shape {pay.shape} and dtype {pay.dtype}; expected "
                                 f"numbers of the channels' shape {ch.shape}")
        p2 = ptr.reshape(-1, ptr.shape[-1])
        if p2.size and (np.any(p2[:, 1:] < p2[:, :-1]) or p2.min() < 0 or p2.max() > ch.size):
            raise ValueError(f"InputEvents ptr must be non-decreasing along each row and within [0, {ch.size}] "
                             f"(the number of events); got values in [{p2.min()}, {p2.max()}]")
        object.__setattr__(self, "ptr", ptr.astype(np.int64, copy=False))
        object.__setattr__(self, "channels", ch if ch.dtype.kind in "iu" else ch.astype(np.int64))
        object.__setattr__(self, "payloads", pay)

    @property
    def T(self) -> int:
        return self.ptr.shape[-1] - 1

    @property
    def batch(self) -> int | None:
        """Number of instances, or None when the events carry no batch axis."""
        return self.ptr.shape[0] if self.ptr.ndim == 2 else None

    @classmethod
    def from_arrays(cls, steps, channels, payloads=None, *, T: int, instances=None, batch: int | None = None):
        """Events from unsorted lists: event ``k`` at step row ``steps[k]`` in ``[0, T)`` on flat channel
        ``channels[k]`` with payload ``payloads[k]`` (None: binary spikes), of instance
        ``instances[k]`` in ``[0, batch)`` when ``instances`` is given (then ``batch`` is required).
        Sorted by (instance, step, channel); a channel twice in one step is refused by the run."""
        st = np.asarray(steps, np.int64).reshape(-1)
        ch = np.asarray(channels, np.int64).reshape(-1)
        if st.shape != ch.shape:
            raise ValueError(f"steps has {st.size} entries, channels {ch.size}")
        T = int(T)
        if T < 1:
            raise ValueError(f"T={T} must be >= 1")
        if st.size and (st.min() < 0 or st.max() >= T):
            raise ValueError(f"steps must be in [0, {T - 1}] (T={T}); got values in [{st.min()}, {st.max()}]")
        if instances is None:
            if batch is not None:
                raise ValueError("batch is given without instances (the instance of each event)")
            inst, B = np.zeros_like(st), 1
        else:
            if batch is None or int(batch) < 1:
                raise ValueError(f"batch={batch!r}: with instances, batch must be a positive integer")
            B = int(batch)
            inst = np.asarray(instances, np.int64).reshape(-1)
            if inst.shape != st.shape:
                raise ValueError(f"instances has {inst.size} entries, steps {st.size}")
            if inst.size and (inst.min() < 0 or inst.max() >= B):
                raise ValueError(f"instances must be in [0, {B - 1}] (batch={B}); got values in "
                                 f"[{inst.min()}, {inst.max()}]")
        order = np.lexsort((ch, st, inst))
        counts = np.bincount(inst * T + st, minlength=B * T)
        ptr = np.zeros(B * T + 1, np.int64)
        np.cumsum(counts, out=ptr[1:])
        rows = np.empty((B, T + 1), np.int64)
        rows[:, :T] = ptr[:-1].reshape(B, T)
        rows[:, T] = ptr[1:].reshape(B, T)[:, -1]
        pay = None if payloads is None else np.asarray(payloads).reshape(-1)[order]
        return cls(rows if instances is not None else rows[0], ch[order], pay)

    def to_dense(self, size: int) -> np.ndarray:
        """The dense input of the same events: int32 ``(T, size)`` or ``(T, B, size)``."""
        B = self.batch or 1
        p = self.ptr.reshape(B, -1)
        out = np.zeros((self.T, B, size), np.int32)
        for b in range(B):
            for t in range(self.T):
                sl = slice(p[b, t], p[b, t + 1])
                out[t, b, self.channels[sl]] = 1 if self.payloads is None else self.payloads[sl]
        return out if self.batch is not None else out[:, 0]


def batch_hint(net: Network, inputs: dict, batch) -> int:
    """The batch size a run will have, read cheaply before the inputs are validated (size check only)."""
    if batch is not None:
        try:
            return max(1, int(batch))
        except (TypeError, ValueError, OverflowError):
            return 1
    for name, a in inputs.items():
        node = net.inputs.get(name)
        if isinstance(a, InputEvents):
            if a.batch is not None:
                return max(1, a.batch)
            continue
        shape = getattr(a, "shape", None)
        if node is not None and shape is not None and len(shape) == len(node.shape) + 2:
            return max(1, int(shape[1]))
    return 1


def _dense_view(name, node, a, T):
    """(view (T, B, n), batch size or None) of a dense input, or a ValueError naming what is wrong."""
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    elif a.dtype == np.float16:
        a = a.astype(np.float32)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype.kind not in "iuf":
        raise ValueError(f"inputs[{name!r}] has dtype {a.dtype}; expected an integer (or bool, or "
                         "integral float) array, or InputEvents")
    if a.shape == (T,) + node.shape:
        return a.reshape(T, 1, node.size), None
    if a.ndim == len(node.shape) + 2 and a.shape[0] == T and a.shape[2:] == node.shape:
        return a.reshape(T, a.shape[1], node.size), a.shape[1]
    raise ValueError(f"inputs[{name!r}] has shape {a.shape}; expected (T, *shape) = {(T,) + node.shape} "
                     f"or (T, B, *shape) = {(T, 'B') + node.shape}, or InputEvents")


def _raise_bad(name, node, code, t, b, i, val, lo, hi, batched, kind, sparse):
    where = f"inputs[{name!r}] at row {t}" + (f", instance {b}" if batched else "")
    where += f", event {i} (channel {int(val)})" if sparse and code in (ERR_CHANNEL, ERR_ORDER) else (
        f", event {i}" if sparse else f", channel {np.unravel_index(i, node.shape)}")
    if code == ERR_CHANNEL:
        raise ValueError(f"{where}: channel outside [0, {node.size - 1}] (input {name!r} has {node.size} channels)")
    if code == ERR_ORDER:
        raise ValueError(f"{where}: channels of a step must be strictly increasing (sorted, no channel twice); "
                         "InputEvents.from_arrays sorts them")
    if code == ERR_ZERO:
        raise ValueError(f"{where} has payload 0; an event's payload must be non-zero in [{lo}, {hi}] ({kind})")
    if code == ERR_NAN:
        raise ValueError(f"{where} is NaN; entries must be integers in [{lo}, {hi}] ({kind})")
    if code == ERR_NONINT:
        raise ValueError(f"{where} is {val}, not an integer; allowed range [{lo}, {hi}] ({kind})")
    shown = int(val) if float(val).is_integer() else val
    raise ValueError(f"{where} is {shown}, outside the allowed range [{lo}, {hi}] ({kind})")


def run_events(net: Network, input_names, input_offsets, overwrite_inputs, T: int, inputs: dict, batch):
    """Validate the inputs of a run of ``T`` steps and build its event lists.

    ``input_names`` / ``input_offsets``: the program's inputs and their first source index;
    ``overwrite_inputs``: names of graded inputs of learning projections with ``GradedSpikeCfg.OVERWRITE``
    (their payloads must fit a trace). Returns ``(B, batched, (ev_ptr, ev_src, ev_val))``: ev_ptr int64
    (B, T + 1), ev_src / ev_val int32, ordered by (instance, step, input, channel)."""
    spec = net.spec
    unknown = set(inputs) - set(net.inputs)
    if unknown:
        raise ValueError(f"inputs has unknown name(s) {sorted(unknown)}; the network's inputs are "
                         f"{sorted(net.inputs)}")
    views, B, batched = {}, None, False
    for name, arr in inputs.items():
        node = net.inputs[name]
        if isinstance(arr, InputEvents):
            if arr.T != T:
                raise ValueError(f"inputs[{name!r}] holds events of {arr.T} steps for a run of T={T}")
            views[name], b = arr, arr.batch
        else:
            views[name], b = _dense_view(name, node, arr, T)
        if b is not None:
            if B is not None and B != b:
                raise ValueError(f"inputs[{name!r}] has batch size {b}, another input has {B}")
            B, batched = b, True
    if batch is not None:
        bb = int(batch)
        if bb < 1 or bb != batch:
            raise ValueError(f"batch={batch!r} must be a positive integer")
        if B is not None and B != bb:
            raise ValueError(f"batch={bb} but the inputs have batch size {B}")
        B, batched = bb, True
    B = 1 if B is None else B
    counts = np.zeros((B, T), np.int64)
    for name, x in views.items():
        node = net.inputs[name]
        lo, hi = spec.message_range if node.graded else (0, 1)
        if name in overwrite_inputs:          # x1 = round(payload / 2) must fit a trace
            lo, hi = 0, (1 << (spec.trace_bits + 1)) - 1
        sparse = isinstance(x, InputEvents)
        if sparse:
            ptr = np.broadcast_to(x.ptr.reshape(-1, T + 1), (B, T + 1))
            val = x.payloads if x.payloads is not None else np.zeros(0, np.int32)
            code, t, b, i, val_bad = check_events(ptr, x.channels, val, node.size, lo, hi, counts)
            views[name] = (ptr, x.channels, val)
        else:
            if x.shape[1] != B:
                x = np.broadcast_to(x, (T, B, node.size))
                views[name] = x
            code = ERR_OK
            if B >= _PARALLEL_EVENTS_MIN_BATCH:
                bad = np.zeros(B, np.int64)
                count_parallel(x, lo, hi, counts, bad)
                if bad.any():
                    code, t, b, i, val_bad = check_and_count(x, lo, hi, np.zeros_like(counts))
            else:
                code, t, b, i, val_bad = check_and_count(x, lo, hi, counts)
        if code != ERR_OK:
            kind = ("graded input of a learning projection (GradedSpikeCfg.OVERWRITE)" if name in overwrite_inputs
                    else "graded input: message_range" if node.graded else "binary input")
            _raise_bad(name, node, code, t, b, i, val_bad, lo, hi, batched, kind, sparse)
    off = np.zeros(B * T + 1, np.int64)
    np.cumsum(counts.reshape(-1), out=off[1:])
    ev_ptr = np.empty((B, T + 1), np.int64)
    ev_ptr[:, :T] = off[:-1].reshape(B, T)
    ev_ptr[:, T] = off[1:].reshape(B, T)[:, -1]
    n_ev = int(off[-1])
    ev_src = np.empty(n_ev, np.int32)
    ev_val = np.empty(n_ev, np.int32)
    cursor = ev_ptr[:, :T].copy()
    fill = fill_parallel if B >= _PARALLEL_EVENTS_MIN_BATCH else fill_events
    for k, name in enumerate(input_names):
        if name not in views:
            continue
        x = views[name]
        if isinstance(x, tuple):
            copy_events(*x, int(input_offsets[k]), cursor, ev_src, ev_val)
        else:
            fill(x, int(input_offsets[k]), cursor, ev_src, ev_val)
    return B, batched, (ev_ptr, ev_src, ev_val)
