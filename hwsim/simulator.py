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

Learning: a network with learning projections (``connect_dense(..., learning=rule)``) runs in the
same compiled time loop: after the static synapses of step t are delivered, each learning projection
of each instance (its own :class:`~hwsim.learning.LearningDenseEngine` state: weights, tags, traces,
Lava's random streams) accumulates the step's pre spikes into the input arriving at t+1 and learns,
exactly as Lava's ``LearningDense`` does (:func:`hwsim.kernels.engine.learn_phase`). Long runs are cut
into compiled calls of ``_LEARN_CHUNK`` steps so that the pre-generated random draws stay bounded.
``RunRecord.weights`` holds the learned weights; a second ``run()`` continues learning; ``reset()``
restores the initial weights.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numba
import numpy as np
from numba.core import types
from numba.typed import List as NumbaList

from .counters import FIELDS, Counters
from .kernels import engine
from .kernels.borrow import empty_copy
from .kernels.mapping import split_counts
from .inputs import batch_hint, run_events
from .learning.engine import LearningDenseEngine
from .mapper import Mapping, map_network
from .network import PROBE_VARS, Network
from .overflow import OverflowPolicy, StateOverflowError, SynapseOverflowError
from .program import Program, compile_network, history_len, learning_links

MAX_STEPS = (1 << 31) - 1        # time steps of one run (int32 step counters in the kernels)


@dataclass(frozen=True)
class SimState:
    """The chip state of ``batch`` instances (arrays updated in place by the kernels).

    u, v : int32 (B, N) -- compartment current and voltage (Lava keeps them in int32)
    ring : int32 (B, R, N) -- synaptic input arriving at step t is ``ring[:, t % R]`` (Lava's a_buff,
        one slot per step of delay)
    acc32, acc64 : (B, A) -- dendritic accumulators of the current step (zero between steps)
    y : int32 (B, N) -- graded outputs of the error / learning compartments at the last step
    vh : int32 (B, H, N) -- ``vpre`` (v before the spike reset) of step t in row ``t % H``, read by
        learning compartments with a delay (H = largest delay + 1)
    """

    u: np.ndarray
    v: np.ndarray
    ring: np.ndarray
    acc32: np.ndarray
    acc64: np.ndarray
    y: np.ndarray
    vh: np.ndarray

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
        Per ``(population, var)`` with var in 'u', 'v', 's', 'y' (graded outputs of error / learning compartments): int32 ``(T, n)`` or ``(T, B, n)``.
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
        self._meta = _link_meta(self._links, self.program, net)
        self._uv0 = np.ascontiguousarray(np.stack([self.program.u_init, self.program.v_init]).astype(np.int32))
        self._overwrite_inputs = {lk.src_input for lk in self._links if lk.proj.graded_spike_cfg == "overwrite"}
        self._core_population = tuple(b[1] for b in sorted(self.mapping.blocks))
        self.reset()

    # ---- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the initial state (u_init, v_init, empty synaptic buffers, initial weights, empty
        learning traces) and time step 0."""
        self._state = None
        self._engines = None
        self._scratch = None
        self._links_cache = None
        self._t = 0
        self._broken = False
        self._host = (0, False, False)

    def reset_dynamics(self) -> None:
        """Zero the dynamic state of every instance, keeping what was learned: ``u``, ``v`` (to their
        initial values), synaptic buffers, graded outputs ``y``, the ``vpre`` history and every learning
        projection's traces; weights, tags, random streams and the time step stay. This is what a
        host does between two samples of on-chip training (Lava: the same Vars set between runs)."""
        st = self._state
        if st is None:
            return
        p = self.program
        st.u[:] = p.u_init
        st.v[:] = p.v_init
        for a in (st.ring, st.acc32, st.acc64, st.y, st.vh):
            a[...] = 0
        for engs in self._engines:
            for e in engs:
                e.reset_traces()

    def add_tags_to_weights(self, names=None) -> dict:
        """Host operation on learning projections ``names`` (default: all): ``w = clip(w + tag_1)``,
        ``tag_1 = 0`` in every instance (OTTT_A's update at a sample's end). Returns per projection the
        number of weights that changed, summed over instances."""
        if self._engines is None:
            return {}
        known = [lk.name for lk in self._links]
        names = known if names is None else list(names)
        bad = [n for n in names if n not in known]
        if bad:
            raise ValueError(f"add_tags_to_weights: {bad} are not learning projections; have {known}")
        out = {}
        for lk, engs in zip(self._links, self._engines):
            if lk.name in names:
                out[lk.name] = sum(e.add_tag_to_weights() for e in engs)
        return out

    # ---- checkpoints ------------------------------------------------------------------------
    def checkpoint(self) -> dict:
        """The complete state (time step, u / v / synaptic buffers / y / vpre history of every
        instance, every learning engine: weights, tags, traces, random streams) as a tree of arrays,
        numbers and strings (``hwsim.io.save_run`` stores it; :meth:`restore` continues from it
        bit-identically to an uninterrupted run)."""
        st = self._state
        state = None if st is None else {k: getattr(st, k).copy() for k in SimState.__dataclass_fields__}
        engines = [] if self._engines is None else [[e.state_dict() for e in engs] for engs in self._engines]
        return {"format": "hwsim-simulator-state", "t": int(self._t), "overflow": str(self.policy.name).lower(),
                "network": self.net.name, "state": state, "engines": engines}

    def restore(self, ckpt: dict) -> None:
        """Continue from :meth:`checkpoint` (taken from a Simulator of the same network)."""
        if not isinstance(ckpt, dict) or ckpt.get("format") != "hwsim-simulator-state":
            raise ValueError("restore: not a Simulator checkpoint (Simulator.checkpoint())")
        self.reset()
        if ckpt["state"] is None:
            return
        arrs = {k: np.asarray(v) for k, v in ckpt["state"].items()}
        B = arrs["u"].shape[0]
        fresh = self._state_for(B)
        for k, a in arrs.items():
            mine = getattr(fresh, k)
            if a.shape != mine.shape or a.dtype != mine.dtype:
                self.reset()
                raise ValueError(f"restore: state {k} is {a.dtype}{a.shape}, this network needs {mine.dtype}{mine.shape}")
            mine[...] = a
        if len(ckpt["engines"]) != len(self._engines):
            self.reset()
            raise ValueError(f"restore: {len(ckpt['engines'])} learning projections in the checkpoint, "
                             f"{len(self._engines)} in this network")
        for engs, saved in zip(self._engines, ckpt["engines"]):
            for e, d in zip(engs, saved):
                e.load_state_dict(d)
        self._t = int(ckpt["t"])

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
                                   acc32=np.zeros((B, p.n_acc32), np.int32), acc64=np.zeros((B, p.n_acc64), np.int64),
                                   y=np.zeros((B, p.n_comp), np.int32),
                                   vh=np.zeros((B, history_len(self.net), p.n_comp), np.int32))
            self._engines = []
            for lk in self._links:          # the batch instances start identical: replicas of the first
                first = self._new_engine(lk.proj)
                self._engines.append([first] + [first.replica() for _ in range(B - 1)])
            self._scratch = [[_link_scratch(lk) for _ in range(B)] for lk in self._links]
            if self._links:
                self._no_hist = np.zeros((0, 1, 1, 1), self._engines[0][0].dtype)
        return self._state

    def _new_engine(self, proj) -> LearningDenseEngine:
        return LearningDenseEngine(proj.weights, proj.learning, weight_exp=proj.weight_exp,
                                   num_weight_bits=proj.num_weight_bits, sign_mode=proj.sign_mode,
                                   spec=self.net.spec, graded_spike_cfg=proj.graded_spike_cfg,
                                   rounding=proj.rounding)

    # ---- run --------------------------------------------------------------------------------
    def run(self, T: int, inputs: dict | None = None, probes=None, batch: int | None = None,
            record_weights: int = 0, sample_steps: int = 0, between_samples=(),
            learned: bool = True) -> RunRecord:
        """Run ``T`` steps from the current state.

        Parameters
        ----------
        T : int
            Steps to run, >= 1.
        inputs : dict[str, array or InputEvents], optional
            Per input name, integer (or integral float/bool) array ``(T, *shape)`` or
            ``(T, B, *shape)``; binary inputs hold 0/1, graded inputs signed payloads within
            ``spec.message_range``; or the same as sparse events (:class:`~hwsim.inputs.InputEvents`,
            identical results). Inputs not given are silent.
        probes : list of (population, var), optional
            Extra probes for this run (var in 'u', 'v', 's', 'y'), besides ``net.probes``.
        batch : int, optional
            Number of instances when no input carries a batch axis (default: unbatched).
        record_weights : int
            Learning networks only: if k > 0, record the learned weights after every k-th step
            (``RunRecord.weight_history``).
        sample_steps, between_samples : int, subset of ("add_tags", "reset")
            Learning networks only: the run is a sequence of samples of ``sample_steps`` steps (``T``
            a multiple of it) and after each sample the host operations ``between_samples`` run in the
            compiled loop, exactly as :meth:`add_tags_to_weights` then :meth:`reset_dynamics` between
            runs of one sample each would (one call for many samples).
        learned : bool
            Learning networks only: False leaves ``RunRecord.weights`` / ``tags`` empty (no copies;
            :meth:`learned_weights` reads them when needed).
        """
        if self._broken:
            raise RuntimeError("a previous run stopped on an overflow (overflow='raise'); call reset() first")
        T = _check_steps(T)
        every = _check_record_every(record_weights, self.learns)
        self._host = _check_host(T, sample_steps, between_samples, self.learns)
        probe_list = self._probe_list(probes)
        self._check_run_size(T, batch_hint(self.net, inputs or {}, batch), probe_list, every)
        B, batched, ev = run_events(self.net, self.program.input_names, self.program.input_offsets,
                                    self._overwrite_inputs, T, inputs or {}, batch)
        state = self._state_for(B)
        rec, lrn = self._execute(T, B, state, ev, probe_list, every)
        return self._collect(T, B, batched, rec, probe_list, lrn, learned)

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

    def _record_buffers(self, T, B, probe_list):
        """Probe indices and zeroed record arrays: ``(probe_u, probe_v, probe_y, spikes, u, v, y)``."""
        p = self.program
        probe_u = _probe_index(p, probe_list, "u")
        probe_v = _probe_index(p, probe_list, "v")
        probe_y = _probe_index(p, probe_list, "y")
        return (probe_u, probe_v, probe_y, np.zeros((T, B, p.n_comp), np.int8),
                np.zeros((T, B, probe_u.size), np.int32), np.zeros((T, B, probe_v.size), np.int32),
                np.zeros((T, B, probe_y.size), np.int32))

    def _execute(self, T, B, state, ev, probe_list, every=0):
        """Run ``T`` steps in compiled code (learning projections included, phase 6 of each step).

        Returns the record tuple for :meth:`_collect` and, for a learning network, ``(lctr, hist)``:
        learning counters int64 (T, n_links, 4) [trace updates, synapse updates, weight write-backs,
        mirror synaptic ops],
        summed over the batch, and the weight history per learning projection.
        """
        p = self.program
        probe_u, probe_v, probe_y, rec_spk, rec_u, rec_v, rec_y = self._record_buffers(T, B, probe_list)
        n_chunks = 1 if B == 1 else min(B, numba.get_num_threads())
        n_cores = max(p.n_cores, 1)
        ctr = np.zeros((n_chunks, T, n_cores, engine.N_COUNTERS), np.int64)
        ovf = np.zeros((B, len(p.pop_names)), np.int64)
        status = np.zeros((B, 4), np.int64)
        ev_ptr, ev_src, ev_val = ev
        runner = engine.run_serial if n_chunks == 1 else engine.run_parallel
        if not self._links:
            runner(T, self._t, int(self.policy), p.n_in_src, p.neu, p.syn, p.prj, p.cnt, state.u, state.v,
                   state.ring, state.acc32, state.acc64, state.y, state.vh, ev_ptr, ev_src, ev_val, _bt(rec_spk),
                   probe_u, _bt(rec_u), probe_v, _bt(rec_v), probe_y, _bt(rec_y), ctr, ovf, status, None, None, None,
                   _NO_LCTR)
            self._check_status(status, 0)
            return (rec_spk, rec_u, rec_v, rec_y, ctr, ovf, probe_u, probe_v, probe_y), None
        n_links = len(self._links)
        lctr = np.zeros((T, n_links, engine.N_LEARN_COUNTERS), np.int64)
        hist = {lk.name: np.zeros((T // every, B) + lk.proj.weights.shape[::-1], self._engines[k][0].dtype)
                for k, lk in enumerate(self._links)} if every else {}
        # chunks bound the pre-generated random draws; a multiple of ``every`` keeps history rows whole
        step = _LEARN_CHUNK if not every else max(every, _LEARN_CHUNK // every * every)
        for c0 in range(0, T, step):
            c1 = min(T, c0 + step)
            n = c1 - c0
            links = self._link_list(self._t + c0 + 1, self._t + c1)
            hl = _typed_list([hist[lk.name][c0 // every:c1 // every] if every else self._no_hist
                              for lk in self._links])
            K, tags, reset = self._host
            host = np.array([K, int(tags), int(reset), c0], np.int64)
            if len(links) != n_links * B or len(hl) != n_links:     # learn_phase reads them unchecked
                raise RuntimeError(f"learning links: {len(links)} for {n_links} links x {B} instances")
            lrn = (self._meta, every, B, host, self._uv0)       # beside links and hl: engine.run_instance
            ctr_c = ctr if n == T else np.zeros((n_chunks, n, n_cores, engine.N_COUNTERS), np.int64)
            lctr_c = np.zeros((n_chunks, n, n_links, engine.N_LEARN_COUNTERS), np.int64)
            runner(n, self._t + c0, int(self.policy), p.n_in_src, p.neu, p.syn, p.prj, p.cnt, state.u, state.v,
                   state.ring, state.acc32, state.acc64, state.y, state.vh, np.ascontiguousarray(ev_ptr[:, c0:c1 + 1]),
                   ev_src, ev_val, _bt(rec_spk[c0:c1]), probe_u, _bt(rec_u[c0:c1]), probe_v, _bt(rec_v[c0:c1]),
                   probe_y, _bt(rec_y[c0:c1]), ctr_c, ovf, status, lrn, links, hl, lctr_c)
            if ctr_c is not ctr:
                ctr[:, c0:c1] = ctr_c
            lctr[c0:c1] = lctr_c.sum(axis=0)
            for engs in self._engines:
                for eng in engs:
                    eng.t = self._t + c1
            self._check_status(status, c0)
        hist = {name: h.transpose(0, 1, 3, 2) for name, h in hist.items()}
        return (rec_spk, rec_u, rec_v, rec_y, ctr, ovf, probe_u, probe_v, probe_y), (lctr, hist)

    def _link_list(self, t_first: int, t_last: int):
        """The typed list of ``(scratch, kernel args)`` per learning link and instance for steps
        ``t_first .. t_last`` (see :func:`hwsim.kernels.engine.learn_phase`); rebuilt only when an
        engine's random-draw buffers were replaced (they keep their identity while they have room)."""
        args = [[eng.kernel_args(t_first, t_last) for eng in engs] for engs in self._engines]
        # kernel_args holds the engines' state arrays (stable, written in place) and their random-draw
        # buffers and offsets, which RandomStreams.ensure replaces only to grow them (and
        # load_state_dict always); the cached list holds the arrays, so their ids cannot be reused
        key = tuple((*map(id, e.rng.trace), id(e.rng.conn), id(e.rng.offs)) for engs in self._engines for e in engs)
        if self._links_cache is not None and self._links_cache[0] == key:
            return self._links_cache[1]
        out = _typed_list([(self._scratch[k][b], a) for k, row in enumerate(args) for b, a in enumerate(row)])
        self._links_cache = (key, out)
        return out

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

    def _collect(self, T, B, batched, rec, probe_list, lrn=None, learned=True) -> RunRecord:
        p = self.program
        rec_spk, rec_u, rec_v, rec_y, ctr, ovf, probe_u, probe_v, probe_y = rec

        def out(a):  # views into the run's record buffers (no copy)
            return a if batched else a[:, 0]

        spikes = {name: out(rec_spk[:, :, p.pop_slice(name)]) for name in p.pop_names}
        probes, cols = {}, {"u": 0, "v": 0, "y": 0}
        for target, var in probe_list:
            sl = p.pop_slice(target)
            n = sl.stop - sl.start
            if var == "s":
                probes[(target, var)] = spikes[target].astype(np.int32)
            else:
                src = {"u": rec_u, "v": rec_v, "y": rec_y}[var]
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
                arr = np.zeros((T, n_cores), np.int64)
                for k, lk in enumerate(self._links):
                    arr[:, lk.cores] += _split(lctr[:, k, f], lk.core_share)
                fields[name] = arr
            for k, lk in enumerate(self._links):
                if lk.mirror is not None:
                    fields["synaptic_ops"][:, lk.mirror_cores] += _split(lctr[:, k, engine.L_MIRROR_OPS],
                                                                         lk.mirror_share)
            weights, tags, history = self._learned(batched, hist) if learned else ({}, {}, {})
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


_LEARN_CHUNK = 1 << 15        # steps per compiled call of a learning network (bounds the random draws held)
_NO_LCTR = np.zeros((1, 0, 0, 0), np.int64)


def _link_meta(links, p: Program, net: Network) -> np.ndarray:
    """int64 (n_links, engine.N_META): where each learning projection reads and writes."""
    meta = np.full((len(links), engine.N_META), -1, np.int64)
    names = list(net.projections)
    for k, lk in enumerate(links):
        if lk.src_input is not None:
            meta[k, engine.M_SRC_INPUT] = 1
            meta[k, engine.M_SRC0] = p.input_offsets[p.input_names.index(lk.src_input)]
        else:
            meta[k, engine.M_SRC_INPUT] = 0
            meta[k, engine.M_SRC0] = lk.src_slice.start
        n_post, n_pre = lk.proj.weights.shape
        meta[k, engine.M_NPRE] = n_pre
        meta[k, engine.M_DST0] = lk.dst_slice.start
        meta[k, engine.M_NPOST] = n_post
        meta[k, engine.M_BAP] = int(lk.bap)
        meta[k, engine.M_GRADED] = int(lk.proj.graded_spike_cfg == "overwrite")
        meta[k, engine.M_PRJ] = names.index(lk.name)
        meta[k, engine.M_DSTPOP] = p.pop_names.index(lk.proj.dst)
        meta[k, engine.M_WLO], meta[k, engine.M_WHI] = net.spec.weight_range(lk.proj.sign_mode)
        if lk.mirror is not None:
            meta[k, engine.M_MIR_SRC] = p.pop_slice(lk.mirror.src).start
            meta[k, engine.M_MIR_DST] = p.pop_slice(lk.mirror.dst).start
            meta[k, engine.M_MIR_EXP] = lk.mirror.weight_exp
            meta[k, engine.M_MIR_DSTPOP] = p.pop_names.index(lk.mirror.dst)
        for q, y in enumerate(lk.y_inputs):
            if y is None:
                continue
            if y in p.input_names:
                meta[k, engine.M_Y1 + q] = p.input_offsets[p.input_names.index(y)]
                meta[k, engine.M_YPOP1 + q] = 0
            else:                                   # an error / learning population's outputs
                meta[k, engine.M_Y1 + q] = p.pop_slice(y).start
                meta[k, engine.M_YPOP1 + q] = 1
    return meta


def _link_scratch(lk) -> tuple:
    """Per-instance scratch of a learning link for :func:`hwsim.kernels.engine.learn_phase`."""
    n_post, n_pre = lk.proj.weights.shape
    return (np.zeros(n_post, np.int32), np.zeros(n_pre, np.bool_), np.zeros(n_post, np.bool_),
            np.zeros((3, n_post), np.int64), np.array([y is not None for y in lk.y_inputs], np.bool_),
            np.zeros(n_pre, np.int64), np.zeros(n_post, np.int64), np.zeros(n_pre, np.int64),
            np.zeros(n_pre, np.int32))


def _bt(a: np.ndarray) -> np.ndarray:
    """(T, B, n) record -> (B, T, n) view for the kernels (instance b writes a[:, b])."""
    return a.transpose(1, 0, 2)


def _probe_index(p: Program, probe_list, var: str) -> np.ndarray:
    idx = [np.arange(p.pop_slice(t).start, p.pop_slice(t).stop) for t, v in probe_list if v == var]
    return np.ascontiguousarray(np.concatenate(idx).astype(np.int64)) if idx else np.zeros(0, np.int64)


_LIST_TEMPLATES: dict = {}       # structure of a typed list's items -> an empty list of their type (_typed_list)


def _numba_key(x):
    """What numba's type of ``x`` depends on, for arrays, tuples of them and Python scalars (None for
    anything else): dtype, dimensions, layout, writability and alignment of each array."""
    if isinstance(x, np.ndarray):
        return (x.dtype.str, x.ndim, x.flags.c_contiguous, x.flags.f_contiguous, x.flags.writeable,
                x.flags.aligned)
    if isinstance(x, tuple):
        keys = tuple(_numba_key(e) for e in x)
        return None if any(k is None for k in keys) else keys
    if type(x) in (int, float, bool):
        return type(x)
    return None


def _typed_list(items: list) -> NumbaList:
    """``numba.typed.List(items)`` (items of one type), made from an empty template list of the type the
    items' structure has: numba's own typing of a tuple of ~50 arrays (a learning link) and of its list
    type take ~1 ms per list, which a fresh Simulator paid on every run (now ~40 us for the structure key of
    a link, ~6 us for the empty copy and ~8 us per item appended)."""
    key = _numba_key(items[0]) if items else None
    template = _LIST_TEMPLATES.get(key) if key is not None else None
    if template is None:
        if not items:
            return NumbaList()
        template = NumbaList(lsttype=types.ListType(numba.typeof(items[0])))
        if key is not None:
            _LIST_TEMPLATES[key] = template
    out = empty_copy(template)
    for it in items:
        out.append(it)
    return out


def _split(n: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Counts ``n`` (T,) split over cores in proportion to ``share`` (n_cores,): (T, n_cores), each
    row summing exactly to its count (largest remainder, ties to the first core:
    :func:`hwsim.kernels.mapping.split_counts`)."""
    n = np.ascontiguousarray(n, np.int64)
    out = np.zeros((n.shape[0], share.size), np.int64)
    if share.size == 1 or int(share.sum()) == 0:
        out[:, 0] = n
        return out
    split_counts(n, np.ascontiguousarray(share, np.int64), out)
    return out


HOST_OPS = ("add_tags", "reset")


def _check_host(T: int, sample_steps, between, learns: bool) -> tuple:
    """(sample_steps, add_tags, reset) for the compiled host operations; errors name the argument."""
    if isinstance(sample_steps, bool) or not isinstance(sample_steps, (int, np.integer)) or sample_steps < 0:
        raise ValueError(f"sample_steps={sample_steps!r} must be an integer >= 0 (0: one sample, no host operations)")
    between = tuple(between)
    bad = [o for o in between if o not in HOST_OPS]
    if bad:
        raise ValueError(f"between_samples={between!r}: {bad} are not among {HOST_OPS}")
    if sample_steps == 0:
        if between:
            raise ValueError(f"between_samples={between!r} needs sample_steps >= 1")
        return 0, False, False
    if not learns:
        raise ValueError("sample_steps / between_samples are for networks with learning projections")
    if T % sample_steps:
        raise ValueError(f"T={T} must be a multiple of sample_steps={sample_steps}")
    return int(sample_steps), "add_tags" in between, "reset" in between


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
