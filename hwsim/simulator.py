"""The stateful chip simulator: owns the state arrays and runs the numba time loop.

>>> sim = Simulator(net, overflow="wrap")          # "wrap" (chip, Lava-exact) | "saturate" | "raise"
>>> rec = sim.run(T, inputs={"in": arr})            # arr (T, *shape) or (T, B, *shape)
>>> rec.spikes["hidden"], rec.probes[("hidden", "v")], rec.counters, rec.overflow["hidden"]

Timing and indexing follow Lava's fixed-point run exactly (``Loihi2SimCfg(select_tag="fixed_pt")``):
row ``i`` of every recorded array is the state after Lava ``time_step`` ``i + 1`` of the run, and
input row ``k`` is what a ``RingBuffer`` sends at step ``k + 1``, so it reaches the first layer's
``u`` at row ``k + 1`` (one step of synaptic buffering per projection, plus its delay). A second
``run()`` continues from the current state and time step, like Lava's ``run()``; ``reset()`` goes
back to the initial state and time step 0.

Batches: ``B`` independent instances of the network run in the same kernels (in parallel threads),
each exactly as if run alone. An input given without the batch axis is shared by all instances.

Learning: a network with learning projections (``connect_dense(..., learning=rule)``) runs step by
step: the numba kernels update the compartments and deliver the static synapses of step t, then
each learning projection of each instance (a :class:`~hwsim.learning.LearningDenseEngine`, its own
copy of the weights per instance) accumulates the step's pre spikes into the input arriving at
t+1 and learns, exactly as Lava's ``LearningDense`` does. ``RunRecord.weights`` holds the learned
weights; a second ``run()`` continues learning; ``reset()`` restores the initial weights.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numba
import numpy as np

from .counters import FIELDS, Counters
from .kernels import engine
from .kernels.events import (ERR_NAN, ERR_NONINT, ERR_OK, check_and_count, count_parallel, fill_events,
                             fill_parallel)
from .learning.engine import LearningDenseEngine
from .mapper import Mapping, map_network
from .network import PROBE_VARS, Network
from .overflow import OverflowPolicy, StateOverflowError, SynapseOverflowError
from .program import Program, compile_network, learning_links

_PARALLEL_EVENTS_MIN_BATCH = 8   # below this, converting inputs in one thread is faster
MAX_STEPS = (1 << 31) - 1        # time steps of one run (int32 step counters in the kernels)


@dataclass(frozen=True)
class SimState:
    """The chip state of ``batch`` instances (arrays updated in place by the kernels).

    u, v : int32 (B, N) -- compartment current and voltage (Lava keeps them in int32)
    ring : int32 (B, R, N) -- synaptic input arriving at step t is ``ring[:, t % R]`` (Lava's a_buff,
        one slot per step of delay)
    acc32, acc64 : (B, A) -- dendritic accumulators of the current step (zero between steps)
    """

    u: np.ndarray
    v: np.ndarray
    ring: np.ndarray
    acc32: np.ndarray
    acc64: np.ndarray

    @property
    def batch(self) -> int:
        return self.u.shape[0]


@dataclass(frozen=True)
class RunRecord:
    """What one :meth:`Simulator.run` recorded.

    Attributes
    ----------
    spikes : dict[str, np.ndarray]
        Per population, int8 ``(T, n)`` or ``(T, B, n)``; ternary populations give -1/0/+1.
        Arrays are views into one record buffer of the run (no copies).
    probes : dict[tuple[str, str], np.ndarray]
        Per ``(population, var)`` with var in 'u', 'v', 's': int32 ``(T, n)`` or ``(T, B, n)``.
    counters : Counters
        Per step and core, summed over the batch.
    overflow : dict[str, int]
        Per population: overflow events (u wraps plus v clips) during this run, all instances.
    t_start : int
        Lava time step before the run (row ``i`` is time step ``t_start + i + 1``).
    batch : int or None
        Number of instances, or None for an unbatched run.
    weights : dict[str, np.ndarray]
        Per learning projection, its weight mantissas after the run (copies), ``(n_dst, n_src)`` or
        ``(B, n_dst, n_src)``; ``weight_bits`` + sign (int16 for Loihi widths).
    tags : dict[str, dict[str, np.ndarray]]
        Per learning projection, ``{"tag_1": ..., "tag_2": ...}`` after the run, shaped as ``weights``.
    weight_history : dict[str, np.ndarray]
        With ``run(record_weights=k)``: per learning projection, the weights after steps k, 2k, ...
        of the run, ``(T // k, n_dst, n_src)`` or ``(T // k, B, n_dst, n_src)``.
    """

    spikes: dict
    probes: dict
    counters: Counters
    overflow: dict
    t_start: int
    batch: int | None
    weights: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    weight_history: dict = field(default_factory=dict)


class Simulator:
    """Fixed-point, event-driven simulation of a :class:`~hwsim.network.Network`.

    Parameters
    ----------
    net : Network
        The chip IR; compiled once here (later changes to ``net`` are not seen).
    overflow : {"wrap", "saturate", "raise"} or OverflowPolicy
        Treatment of the 24-bit compartment state (:mod:`hwsim.overflow`); "wrap" is Lava's.
    mapping : Mapping, optional
        Core assignment used to attribute counters to cores; default ``map_network(net)``, which
        raises :class:`~hwsim.spec.MappingError` if the network does not fit the chip (pass
        ``map_network(net, strict=False)`` to simulate it anyway).
    """

    def __init__(self, net: Network, overflow="wrap", mapping: Mapping | None = None):
        self.net = net
        self.policy = OverflowPolicy.parse(overflow)
        self.mapping = map_network(net) if mapping is None else mapping
        self.program: Program = compile_network(net, self.mapping)
        self._links = learning_links(net, self.program, self.mapping)
        self._core_population = tuple(b[1] for b in sorted(self.mapping.blocks))
        self.reset()

    # ---- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the initial state (u_init, v_init, empty synaptic buffers, initial weights, empty
        learning traces) and time step 0."""
        self._state = None
        self._engines = None
        self._t = 0
        self._broken = False

    @property
    def learns(self) -> bool:
        """Whether the network has learning projections (and runs on the per-step path)."""
        return bool(self._links)

    def learned_weights(self) -> dict | None:
        """Copies of the current weights of every learning projection, ``(B, n_dst, n_src)`` (B = 1
        for an unbatched run); None before the first run."""
        if self._engines is None:
            return None
        return {lk.name: np.stack([e.weights for e in engs]) for lk, engs in zip(self._links, self._engines)}

    @property
    def time_step(self) -> int:
        """Lava time step reached so far (steps run since the last reset)."""
        return self._t

    def state(self) -> dict:
        """Copies of the current ``u`` and ``v`` per population as ``(B, n)`` int32 arrays (B = 1 for an
        unbatched run): ``{pop: {"u": ..., "v": ...}}``; None before the first run."""
        if self._state is None:
            return None
        u, v = self._state.u, self._state.v
        out = {}
        for name in self.program.pop_names:
            sl = self.program.pop_slice(name)
            out[name] = {"u": u[:, sl].copy(), "v": v[:, sl].copy()}
        return out

    def _state_for(self, B: int) -> "SimState":
        p = self.program
        if self._state is not None and self._state.batch != B:
            raise ValueError(f"this Simulator holds {self._state.batch} instance(s) from its last run; "
                             f"batch={B} needs reset() first")
        if self._state is None:
            self._state = SimState(u=np.tile(p.u_init, (B, 1)), v=np.tile(p.v_init, (B, 1)),
                                   ring=np.zeros((B, p.ring_len, p.n_comp), np.int32),
                                   acc32=np.zeros((B, p.n_acc32), np.int32), acc64=np.zeros((B, p.n_acc64), np.int64))
            self._engines = [[self._new_engine(lk.proj) for _ in range(B)] for lk in self._links]
        return self._state

    def _new_engine(self, proj) -> LearningDenseEngine:
        return LearningDenseEngine(proj.weights, proj.learning, weight_exp=proj.weight_exp,
                                   num_weight_bits=proj.num_weight_bits, sign_mode=proj.sign_mode,
                                   spec=self.net.spec)

    # ---- run --------------------------------------------------------------------------------
    def run(self, T: int, inputs: dict | None = None, probes=None, batch: int | None = None,
            record_weights: int = 0) -> RunRecord:
        """Run ``T`` steps from the current state.

        Parameters
        ----------
        T : int
            Steps to run, >= 1.
        inputs : dict[str, array], optional
            Per input name, integer (or integral float/bool) array ``(T, *shape)`` or
            ``(T, B, *shape)``; binary inputs hold 0/1, graded inputs signed payloads within
            ``spec.message_range``. Inputs not given are silent.
        probes : list of (population, var), optional
            Extra probes for this run (var in 'u', 'v', 's'), besides ``net.probes``.
        batch : int, optional
            Number of instances when no input carries a batch axis (default: unbatched).
        record_weights : int
            Learning networks only: if k > 0, record the learned weights after every k-th step
            (``RunRecord.weight_history``).
        """
        if self._broken:
            raise RuntimeError("a previous run stopped on an overflow (overflow='raise'); call reset() first")
        T = _check_steps(T)
        every = _check_record_every(record_weights, self.learns)
        probe_list = self._probe_list(probes)
        self._check_run_size(T, _batch_hint(self.net, inputs or {}, batch), probe_list, every)
        B, batched, ev, views = self._input_events(T, inputs or {}, batch)
        state = self._state_for(B)
        if self._links:
            rec, lrn = self._execute_learning(T, B, state, ev, views, probe_list, every)
        else:
            rec, lrn = self._execute(T, B, state, ev, probe_list), None
        return self._collect(T, B, batched, rec, probe_list, lrn)

    def run_bytes(self, T: int, B: int = 1, probe_list=None, every: int = 0) -> int:
        """Bytes a run of ``T`` steps and ``B`` instances allocates (records, counters, input events
        bookkeeping, weight history), not counting the input events themselves."""
        p = self.program
        probe_list = self._probe_list(None) if probe_list is None else probe_list
        n_u = sum(self.net.populations[t].size for t, v in probe_list if v == "u")
        n_v = sum(self.net.populations[t].size for t, v in probe_list if v == "v")
        n_chunks = 1 if B == 1 else min(B, numba.get_num_threads())
        per_step = (B * (p.n_comp + 4 * n_u + 4 * n_v + 8 + 8 + 8)     # spikes int8, u/v int32, event counts/pointers
                    + 8 * (n_chunks + 1) * max(p.n_cores, 1) * engine.N_COUNTERS   # counters and their sum
                    + (24 * max(p.n_cores, 1) if self._links else 0))
        total = T * per_step
        if every:
            total += (T // every) * B * sum(lk.proj.weights.size * 8 for lk in self._links)
        return int(total)

    def _check_run_size(self, T: int, B: int, probe_list, every: int) -> None:
        """Refuse, before allocating, a run whose records would not fit the memory limit."""
        need, limit = self.run_bytes(T, B, probe_list, every), max_run_bytes()
        if need > limit:
            raise ValueError(f"T={T} (batch {B}) needs {need:,} bytes of run records, more than the limit of "
                             f"{limit:,} bytes (half the machine's memory; set HWLEARN_MAX_RUN_BYTES to change "
                             "it); run fewer steps per run() call, probe fewer populations or use a smaller batch")

    def _probe_list(self, probes):
        out = []
        for pr in list(self.net.probes) + list(probes or []):
            target, var = (pr.target, pr.var) if hasattr(pr, "target") else tuple(pr)
            if target not in self.net.populations:
                raise ValueError(f"probe target={target!r} is not a population; have {sorted(self.net.populations)}")
            if var not in PROBE_VARS:
                raise ValueError(f"probe var={var!r} is not one of {PROBE_VARS}")
            if (target, var) not in out:
                out.append((target, var))
        return out

    def _input_events(self, T: int, inputs: dict, batch):
        net, spec = self.net, self.net.spec
        unknown = set(inputs) - set(net.inputs)
        if unknown:
            raise ValueError(f"inputs has unknown name(s) {sorted(unknown)}; the network's inputs are "
                             f"{sorted(net.inputs)}")
        views, B, batched = {}, None, False
        for name, arr in inputs.items():
            node = net.inputs[name]
            a = np.asarray(arr)
            if a.dtype == np.bool_:
                a = a.view(np.uint8)
            elif a.dtype == np.float16:
                a = a.astype(np.float32)
            if not a.dtype.isnative:
                a = a.astype(a.dtype.newbyteorder("="))
            if a.dtype.kind not in "iuf":
                raise ValueError(f"inputs[{name!r}] has dtype {a.dtype}; expected an integer (or bool, or "
                                 "integral float) array")
            if a.shape == (T,) + node.shape:
                x = a.reshape(T, 1, node.size)
            elif a.ndim == len(node.shape) + 2 and a.shape[0] == T and a.shape[2:] == node.shape:
                x = a.reshape(T, a.shape[1], node.size)
                if B is not None and B != a.shape[1]:
                    raise ValueError(f"inputs[{name!r}] has batch size {a.shape[1]}, another input has {B}")
                B, batched = a.shape[1], True
            else:
                raise ValueError(f"inputs[{name!r}] has shape {a.shape}; expected (T, *shape) = {(T,) + node.shape} "
                                 f"or (T, B, *shape) = {(T, 'B') + node.shape}")
            views[name] = x
        if batch is not None:
            b = int(batch)
            if b < 1 or b != batch:
                raise ValueError(f"batch={batch!r} must be a positive integer")
            if B is not None and B != b:
                raise ValueError(f"batch={b} but the inputs have batch size {B}")
            B, batched = b, True
        B = 1 if B is None else B
        counts = np.zeros((B, T), np.int64)
        for name, x in views.items():
            node = net.inputs[name]
            if x.shape[1] != B:
                x = np.broadcast_to(x, (T, B, node.size))
                views[name] = x
            lo, hi = spec.message_range if node.graded else (0, 1)
            code = ERR_OK
            if B >= _PARALLEL_EVENTS_MIN_BATCH:
                bad = np.zeros(B, np.int64)
                count_parallel(x, lo, hi, counts, bad)
                if bad.any():
                    code, t, b, i, val = check_and_count(x, lo, hi, np.zeros_like(counts))
            else:
                code, t, b, i, val = check_and_count(x, lo, hi, counts)
            if code != ERR_OK:
                where = (f"inputs[{name!r}] at row {t}" + (f", instance {b}" if batched else "")
                         + f", channel {np.unravel_index(i, node.shape)}")
                kind = "graded input: message_range" if node.graded else "binary input"
                if code == ERR_NAN:
                    raise ValueError(f"{where} is NaN; entries must be integers in [{lo}, {hi}] ({kind})")
                if code == ERR_NONINT:
                    raise ValueError(f"{where} is {val}, not an integer; allowed range [{lo}, {hi}] ({kind})")
                shown = int(val) if float(val).is_integer() else val
                raise ValueError(f"{where} is {shown}, outside the allowed range [{lo}, {hi}] ({kind})")
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
        for k, name in enumerate(self.program.input_names):
            if name in views:
                fill(views[name], int(self.program.input_offsets[k]), cursor, ev_src, ev_val)
        return B, batched, (ev_ptr, ev_src, ev_val), views

    def _record_buffers(self, T, B, probe_list):
        """Probe indices and zeroed record arrays: ``(probe_u, probe_v, spikes, u, v)``."""
        p = self.program
        probe_u = _probe_index(p, probe_list, "u")
        probe_v = _probe_index(p, probe_list, "v")
        return (probe_u, probe_v, np.zeros((T, B, p.n_comp), np.int8), np.zeros((T, B, probe_u.size), np.int32),
                np.zeros((T, B, probe_v.size), np.int32))

    def _execute(self, T, B, state, ev, probe_list):
        p = self.program
        probe_u, probe_v, rec_spk, rec_u, rec_v = self._record_buffers(T, B, probe_list)
        n_chunks = 1 if B == 1 else min(B, numba.get_num_threads())
        ctr = np.zeros((n_chunks, T, max(p.n_cores, 1), engine.N_COUNTERS), np.int64)
        ovf = np.zeros((B, len(p.pop_names)), np.int64)
        status = np.zeros((B, 4), np.int64)
        ev_ptr, ev_src, ev_val = ev
        runner = engine.run_serial if n_chunks == 1 else engine.run_parallel
        runner(T, self._t, int(self.policy), p.n_in_src, p.neu, p.syn, p.prj, p.cnt, state.u, state.v, state.ring,
               state.acc32, state.acc64, ev_ptr, ev_src, ev_val, _bt(rec_spk), probe_u, _bt(rec_u), probe_v,
               _bt(rec_v), ctr, ovf, status)
        self._check_status(status, 0)
        return rec_spk, rec_u, rec_v, ctr, ovf, probe_u, probe_v

    def _check_status(self, status: np.ndarray, row0: int) -> None:
        """Raise StateOverflowError for the earliest overflow the kernels reported (rows from ``row0``)."""
        if not np.any(status[:, 0] != 0):
            return
        p = self.program
        self._broken = True
        b = int(np.argmin(np.where(status[:, 0] != 0, status[:, 1], np.iinfo(np.int64).max)))
        row, comp, var = (int(x) for x in status[b, 1:])
        row += row0
        k = int(np.searchsorted(p.pop_offsets, comp, side="right") - 1)
        if var >= 2:
            raise SynapseOverflowError(list(self.net.projections)[var - 2], p.pop_names[k], self._t + row + 1,
                                       row, 0, b)
        raise StateOverflowError(p.pop_names[k], "uv"[var], self._t + row + 1, row,
                                 comp - int(p.pop_offsets[k]), b)

    def _execute_learning(self, T, B, state, ev, views, probe_list, every):
        """Step by step: the numba step of the static network for all instances (``run_serial`` with
        T = 1, same arithmetic as the fast path), then every learning projection of every instance.

        Returns the records of :meth:`_execute` and ``(lctr, hist)``: learning counters int64
        (T, n_cores, 3) [trace updates, synapse updates, weight write-backs] and the weight history.
        """
        p = self.program
        probe_u, probe_v, rec_spk, rec_u, rec_v = self._record_buffers(T, B, probe_list)
        ctr = np.zeros((1, T, max(p.n_cores, 1), engine.N_COUNTERS), np.int64)
        lctr = np.zeros((T, max(p.n_cores, 1), 3), np.int64)
        ovf = np.zeros((B, len(p.pop_names)), np.int64)
        status = np.zeros((B, 4), np.int64)
        ev_ptr, ev_src, ev_val = ev
        hist = {lk.name: np.zeros((T // every, B) + lk.proj.weights.shape, self._engines[k][0].dtype)
                for k, lk in enumerate(self._links)} if every else {}
        for ti in range(T):
            t = self._t + ti + 1
            engine.run_serial(1, t - 1, int(self.policy), p.n_in_src, p.neu, p.syn, p.prj, p.cnt, state.u,
                              state.v, state.ring, state.acc32, state.acc64,
                              np.ascontiguousarray(ev_ptr[:, ti:ti + 2]), ev_src, ev_val, rec_spk[ti][:, None],
                              probe_u, rec_u[ti][:, None], probe_v, rec_v[ti][:, None], ctr[:, ti:ti + 1], ovf,
                              status)
            self._check_status(status, ti)
            self._learn(t, ti, state, rec_spk[ti], views, lctr[ti])
            if every and (ti + 1) % every == 0:
                for lk, engs in zip(self._links, self._engines):
                    for b, eng in enumerate(engs):
                        hist[lk.name][(ti + 1) // every - 1, b] = eng.weights
        return (rec_spk, rec_u, rec_v, ctr, ovf, probe_u, probe_v), (lctr, hist)

    def _learn(self, t: int, ti: int, state, spk: np.ndarray, views: dict, lctr: np.ndarray) -> None:
        """Step t of every learning projection and instance: accumulate the pre spikes of t with the
        current weights into the input ring slot of t+1 (int32, as Lava sums its channels), then
        learn (:meth:`LearningDenseEngine.step`); add the learning counters of step t to ``lctr``."""
        R = state.ring.shape[1]
        for lk, engs in zip(self._links, self._engines):
            for b, eng in enumerate(engs):
                if lk.src_input is None:
                    pre = spk[b, lk.src_slice]
                else:
                    x = views.get(lk.src_input)
                    pre = x[ti, b] if x is not None else np.zeros(lk.proj.weights.shape[1], np.int8)
                bap = spk[b, lk.dst_slice] if lk.bap else None
                ys = [views[y][ti, b] if (y is not None and y in views) else None for y in lk.y_inputs]
                before = eng.counters
                eng.step(t, pre, bap, *ys)
                ring = state.ring[b, (t + 1) % R, lk.dst_slice]
                ring += eng.a_pending                      # int32 wrap, as Lava's int32 channel sum
                after = eng.counters
                d = (after.trace_updates - before.trace_updates,
                     after.total_synapse_updates - before.total_synapse_updates,
                     after.weight_writebacks - before.weight_writebacks)
                for f, n in enumerate(d):
                    if n:
                        lctr[lk.cores, f] += _split(n, lk.core_share)

    def _collect(self, T, B, batched, rec, probe_list, lrn=None) -> RunRecord:
        p = self.program
        rec_spk, rec_u, rec_v, ctr, ovf, probe_u, probe_v = rec

        def out(a):  # views into the run's record buffers (no copy)
            return a if batched else a[:, 0]

        spikes = {name: out(rec_spk[:, :, p.pop_slice(name)]) for name in p.pop_names}
        probes, cols = {}, {"u": 0, "v": 0}
        for target, var in probe_list:
            sl = p.pop_slice(target)
            n = sl.stop - sl.start
            if var == "s":
                probes[(target, var)] = spikes[target].astype(np.int32)
            else:
                src = rec_u if var == "u" else rec_v
                probes[(target, var)] = out(src[:, :, cols[var]:cols[var] + n])
                cols[var] += n
        c = ctr.sum(axis=0)
        n_cores = p.n_cores
        fields = {f: np.zeros((T, n_cores), np.int64) for f in FIELDS}
        fields["synaptic_ops"] = c[:, :n_cores, engine.C_SYN_OPS]
        fields["spikes"] = c[:, :n_cores, engine.C_SPIKES]
        fields["messages"] = c[:, :n_cores, engine.C_MESSAGES]
        fields["active_neuron_updates"] = c[:, :n_cores, engine.C_ACTIVE]
        fields["synaptic_bytes_read"] = c[:, :n_cores, engine.C_SYN_BYTES]
        fields["neuron_updates"] = np.broadcast_to(p.core_compartments * B, (T, n_cores)).copy()
        weights, tags, history = {}, {}, {}
        if lrn is not None:
            lctr, hist = lrn
            for f, name in enumerate(("trace_updates", "synapse_updates", "weight_writebacks")):
                fields[name] = lctr[:, :n_cores, f]
            weights, tags, history = self._learned(batched, hist)
        counters = Counters(**{f: np.ascontiguousarray(a) for f, a in fields.items()},
                            core_population=self._core_population, batch=B)
        overflow = {name: int(ovf[:, k].sum()) for k, name in enumerate(p.pop_names)}
        t_start = self._t
        self._t += T
        return RunRecord(spikes=spikes, probes=probes, counters=counters, overflow=overflow, t_start=t_start,
                         batch=B if batched else None, weights=weights, tags=tags, weight_history=history)

    def _learned(self, batched: bool, hist: dict):
        """(weights, tags, weight_history) of the learning projections for a RunRecord (copies)."""
        def out(arrs):
            a = np.stack(arrs)
            return a if batched else a[0]

        weights, tags, history = {}, {}, {}
        for lk, engs in zip(self._links, self._engines):
            weights[lk.name] = out([e.weights for e in engs])
            tags[lk.name] = {"tag_1": out([e.tag_1 for e in engs]), "tag_2": out([e.tag_2 for e in engs])}
            if lk.name in hist:
                h = hist[lk.name]
                history[lk.name] = h if batched else h[:, 0]
        return weights, tags, history


def _bt(a: np.ndarray) -> np.ndarray:
    """(T, B, n) record -> (B, T, n) view for the kernels (instance b writes a[:, b])."""
    return a.transpose(1, 0, 2)


def _probe_index(p: Program, probe_list, var: str) -> np.ndarray:
    idx = [np.arange(p.pop_slice(t).start, p.pop_slice(t).stop) for t, v in probe_list if v == var]
    return np.ascontiguousarray(np.concatenate(idx).astype(np.int64)) if idx else np.zeros(0, np.int64)


def _split(n: int, share: np.ndarray) -> np.ndarray:
    """``n`` split over cores in proportion to ``share`` (largest remainder: exact integer sum)."""
    total = int(share.sum())
    if share.size == 1 or total == 0:
        out = np.zeros(share.size, np.int64)
        out[0] = n
        return out
    q = n * share
    out = q // total
    rest = n - int(out.sum())
    if rest:
        out[np.argsort(-(q % total), kind="stable")[:rest]] += 1
    return out


def _check_record_every(k, learns: bool) -> int:
    if isinstance(k, (bool, np.bool_)):
        k = int(k)
    try:
        ik = int(k)
    except (TypeError, ValueError):
        raise ValueError(f"record_weights={k!r} is not an integer; allowed range [0, inf)") from None
    if ik != k or ik < 0:
        raise ValueError(f"record_weights={k!r} is outside the allowed range [0, inf) (0: no record)")
    if ik and not learns:
        raise ValueError(f"record_weights={ik}: the network has no learning projection")
    return ik


def max_run_bytes() -> int:
    """Memory one ``run()`` may allocate for its records: ``HWLEARN_MAX_RUN_BYTES`` if set, else half
    of the machine's physical memory."""
    env = os.environ.get("HWLEARN_MAX_RUN_BYTES")
    if env:
        try:
            return max(1, int(float(env)))
        except ValueError:
            raise ValueError(f"HWLEARN_MAX_RUN_BYTES={env!r} is not a number of bytes") from None
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def _batch_hint(net: Network, inputs: dict, batch) -> int:
    """The batch size a run will have, read cheaply before the inputs are validated (size check only)."""
    if batch is not None:
        try:
            return max(1, int(batch))
        except (TypeError, ValueError, OverflowError):
            return 1
    for name, a in inputs.items():
        node = net.inputs.get(name)
        shape = getattr(a, "shape", None)
        if node is not None and shape is not None and len(shape) == len(node.shape) + 2:
            return max(1, int(shape[1]))
    return 1


def _check_steps(T) -> int:
    try:
        iT = int(T)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"T={T!r} is not an integer; allowed range [1, {MAX_STEPS}]") from None
    if iT != T or isinstance(T, bool):
        raise ValueError(f"T={T!r} is not an integer; allowed range [1, {MAX_STEPS}]")
    if not 1 <= iT <= MAX_STEPS:
        raise ValueError(f"T={iT} is outside the allowed range [1, {MAX_STEPS}]")
    return iT
