"""Export a chip network (:mod:`hwsim.network`) to Lava 0.10.0 processes and run it in fixed point.

This is the only module of hwlearn that imports ``lava``, always inside functions.

Mapping (IR -> Lava, ``Loihi2SimCfg(select_tag="fixed_pt")``)
-----------------------------------------------------------------
=================================  ===============================================================
IR                                 Lava
=================================  ===============================================================
SpikeInput (binary or graded)      ``io.source.RingBuffer`` (int32 payloads; row k sent at step k+1)
Population kind ``lif``            ``LIF`` (``PyLifModelBitAcc``)
Population kind ``lif_reset``      ``LIFReset`` (reset_interval, reset_offset)
Population kind ``ternary_lif``    ``TernaryLIF`` (vth_hi = vth, vth_lo)
``readout`` + its ``error``        one ``HwReadoutError`` (hwsim/export/lava_kinds.py), named after
                                   the readout; a readout without error: ``HwReadout``
``lif``/``lif_reset`` + its        one ``HwLearningLIF`` named after the LIF (``reset_interval``
``learning`` compartment           for a ``lif_reset`` partner)
DenseProjection                    ``Dense``; ``DelayDense`` when it has delays
DenseProjection with ``learning``  ``LearningDense`` with a ``Loihi2FLearningRule`` /
                                   ``Loihi3FLearningRule`` / ``LoihiLearningRule`` built from the
                                   rule's strings and parameters; ``bap``: dst ``s_out`` ->
                                   ``s_in_bap``; ``third_factor``: input RingBuffer -> ``s_in_y*``,
                                   error / learning population: its process's ``s_out_y2``
SparseProjection                   ``Sparse`` (scipy csr); ``DelaySparse`` when it has delays
ConvProjection, weight_exp >= 0    ``Conv`` with effective weights ``<< weight_exp``, flipped and
                                   transposed to (C_out, KX, KY, C_in/groups)
ConvProjection, weight_exp < 0     ``Sparse`` built from the conv (torch cross-correlation)
spikes of every LIF-family pop.    a recorder process (or ``io.sink.RingBuffer``, ``reader="lava"``)
probed u / v, y                    a Var recorder (or ``monitor.Monitor``, ``reader="lava"``) on ``u``,
                                   ``v``; ``y`` of an error / learning population: ``y2`` of its process
=================================  ===============================================================

Weights. Dense and Sparse get ``weights, weight_exp, num_weight_bits, sign_mode`` exactly as the
IR holds them: Lava applies the same clip (8 bits) and truncation as the chip. (For a
``ChipSpec.weight_bits`` other than 8, the effective weights are exported with a
``num_weight_bits`` that makes Lava's truncation a no-op.) Lava's ``Conv`` ignores
``weight_exp`` and ``num_weight_bits`` and never clips, so conv weights are exported already
clipped and truncated (computed with Lava's own ``clip_weights``/``truncate_weights``); a
positive ``weight_exp`` is folded into them (``sum(w << e) == sum(w) << e``); a negative one
cannot be, so such a conv becomes a Lava ``Sparse`` with the IR's weight parameters.

Layouts. IR populations and inputs of shape (C, H, W) are Lava processes of shape (W, H, C)
(Lava's Conv works in WHC); every other shape is flat ``(n,)`` in the IR's C-major order. Dense
and Sparse connect through virtual ports ``s_out.transpose([2, 1, 0]).flatten()`` and
``a_out.reshape((C, H, W)).transpose([2, 1, 0])``; per-compartment parameters, inputs and
recordings are permuted accordingly. Results are returned in the IR's C-major order.

Several projections into one population are several connections to its ``a_in``: Lava sums
them (int32), as the chip does.

Compartment kinds (docs/compartments.md). A projection into a readout or LIF part connects to the
fused process's ``a_in``, into an error population to ``a_label``, into a learning population to
``a_third_factor_in``. Projections out of an error population leave from ``HwReadoutError.s_out``,
out of a learning population from ``HwLearningLIF.s_out_graded`` (graded: ``num_message_bits =
spec.message_bits``), out of the LIF part from ``s_out`` (spikes). Parameters come from the IR:
``du, dv, u_init, v_init`` (readout / LIF), ``tgt, es = shift, seed`` (error), ``lut, lut_shift,
sh = shift, delay, seed`` (learning), ``y_bits = spec.trace_bits``. Their models are not found by
Lava's model search; :meth:`LavaGraph.run` passes them with ``lava_kinds.run_cfg``.

What cannot be exported (raises :class:`UnexportableError`, never a silently different graph)
---------------------------------------------------------------------------------------------
* A conv whose output could differ between the chip (``wrap24(floor_shift(sum, weight_exp))``
  with an exact sum) and Lava: a Lava ``Conv`` computes the sum in float64 and casts it to int32
  before the 24-bit wrap, so ``|sum << weight_exp|`` must stay below 2**31; a conv exported as
  ``Sparse`` (weight_exp < 0) does not wrap to 24 bits and scipy sums graded products in int32,
  so ``|sum|`` must stay below 2**31 and ``|floor_shift(sum)|`` below 2**23. The bounds use
  the largest |payload| actually present in the inputs (1 for binary and ternary sources).
* Delays above 63 (Lava ``DelayDense``/``DelaySparse`` limit).
* ``ternary_lif`` with ``vth_lo > vth`` (Lava's ``TernaryLIF`` rejects it).
* Effective weights outside Lava's 8-bit clip range (only possible with ``weight_bits > 8``).
* Learning with a spec whose weight, trace, tag or accumulator widths are not Loihi's (Lava's
  learning engine hard-codes them).
* Compartment kinds Lava's fused processes cannot express: a readout / error / learning population
  that is not 1-D, a readout with two error populations or a LIF with two learning compartments,
  a partner of another kind, a non-graded or learning projection out of an error / learning
  population, a bap from a readout / error / learning population.

Learning projections: the weights after every step are recorded (a Var recorder on
``LearningDense.weights``, read in post-management, i.e. after that step's learning), and the tags
too when the rule has ``dd`` / ``dt``; ``run()`` returns them as ``weights`` / ``tags``.

Reading results. ``Var.get()`` and Lava's sinks/Monitors move one float64 per element through a
channel (about 16 us each, 8 s for 512 neurons x 1000 steps). The default ``reader="fast"``
records into memory-mapped files instead: a small recorder process per population receives the
spikes in ``run_spk`` (exactly what an ``io.sink.RingBuffer`` stores) and a Var recorder reads
``u``/``v`` through a RefPort in post-management (exactly what a ``Monitor`` does).
``reader="lava"`` uses Lava's own ``sink.RingBuffer`` and ``Monitor``; tests check both agree.
"""
from __future__ import annotations

import functools
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .._optional import require_lava
from ..kernels.arith import floor_shift
from ..weights import chip_weights
from ..network import (CIRCUIT_KINDS, GRADED_KINDS, NEURON_KINDS, ConvProjection, DenseProjection, Network,
                       Population, SparseProjection)
from .lava_kinds import lava_kinds as _kind_classes
from .lava_mirror import BACK_EXP_RANGE
from .lava_mirror import lava_mirror as _mirror_classes
from .lava_mirror import run_cfg as _mirror_run_cfg

__all__ = ["UnexportableError", "LavaGraph", "to_lava", "run_lava", "lava_shape", "conv_to_sparse",
           "lava_rule", "LAVA_MAX_DELAY"]

LAVA_MAX_DELAY = 63          # lava/proc/dense/models.py: DelayDense raises above 63
LAVA_CONV_WRAP_BITS = 24     # lava/proc/conv/models.py: signed_clamp(conv, bits=24)
LAVA_WEIGHT_CLIP_BITS = 8    # lava/utils/weightutils.py: clip_weights(num_bits=8)
_INT32_LIMIT = 1 << 31
READERS = ("fast", "lava")


class UnexportableError(ValueError):
    """The network uses something Lava 0.10.0 cannot reproduce bit-exactly; the message says what."""


# ---------------------------------------------------------------------------------------------
# layout helpers (pure numpy)
# ---------------------------------------------------------------------------------------------
def lava_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Lava process shape of an IR node: (C, H, W) -> (W, H, C); anything else -> (n,)."""
    shape = tuple(int(s) for s in shape)
    return tuple(reversed(shape)) if len(shape) == 3 else (int(np.prod(shape)),)


def _to_lava(a, shape) -> np.ndarray:
    """A per-compartment array in IR (C-major) order -> Lava layout."""
    a = np.asarray(a).reshape(shape)
    return a.transpose(2, 1, 0) if len(shape) == 3 else a.reshape(-1)


def _rows_from_lava(a: np.ndarray, shape) -> np.ndarray:
    """(T, *lava_shape) -> (T, n) in IR order."""
    a = np.asarray(a)
    if len(shape) == 3:
        a = a.transpose(0, 3, 2, 1)
    return a.reshape(a.shape[0], -1)


def _inputs_to_lava(x: np.ndarray, shape) -> np.ndarray:
    """(T, *shape) -> (*lava_shape, T) int32 for a RingBuffer."""
    T = x.shape[0]
    x = x.reshape((T,) + tuple(shape))
    if len(shape) == 3:
        return np.ascontiguousarray(x.transpose(3, 2, 1, 0)).astype(np.int32)
    return np.ascontiguousarray(x.reshape(T, -1).T).astype(np.int32)


def conv_to_sparse(proj: ConvProjection, src_shape, dst_shape, weights: Optional[np.ndarray] = None):
    """Synapses of a conv with torch cross-correlation semantics, in IR (C-major) indices.

    Parameters
    ----------
    proj : ConvProjection
        Geometry (stride, padding, dilation, groups) and, unless ``weights`` is given, weights
        (C_out, C_in/groups, KH, KW).
    src_shape, dst_shape : tuple (C, H, W)
    weights : ndarray, optional
        Weights to use instead of ``proj.weights`` (e.g. after clip/truncation).

    Returns
    -------
    dst, src, w : ndarray
        int64 arrays, one entry per (output, input) pair the kernel covers (zeros included).
    """
    w = np.asarray(proj.weights if weights is None else weights, dtype=np.int64)
    c_out, cin_g, kh, kw = w.shape
    C, H, W = src_shape
    _, Ho, Wo = dst_shape
    sh, sw = proj.stride
    ph, pw = proj.padding
    dh, dw = proj.dilation
    cout_g = c_out // proj.groups
    dsts, srcs, wgts = [], [], []
    ho, wo = np.meshgrid(np.arange(Ho), np.arange(Wo), indexing="ij")
    ho, wo = ho.reshape(-1), wo.reshape(-1)
    for co in range(c_out):
        g = co // cout_g
        for cl in range(cin_g):
            ci = g * cin_g + cl
            for i in range(kh):
                hi = ho * sh - ph + i * dh
                for j in range(kw):
                    wi = wo * sw - pw + j * dw
                    ok = (hi >= 0) & (hi < H) & (wi >= 0) & (wi < W)
                    n = int(ok.sum())
                    if n == 0:
                        continue
                    dsts.append(co * Ho * Wo + ho[ok] * Wo + wo[ok])
                    srcs.append(ci * H * W + hi[ok] * W + wi[ok])
                    wgts.append(np.full(n, w[co, cl, i, j], np.int64))
    if not dsts:
        z = np.zeros(0, np.int64)
        return z, z.copy(), z.copy()
    return (np.concatenate(dsts).astype(np.int64), np.concatenate(srcs).astype(np.int64),
            np.concatenate(wgts))


# ---------------------------------------------------------------------------------------------
# Lava-side classes (built lazily: importing this module must not import lava)
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _recorder_classes():
    """Recorder Processes and their ProcessModels, which write into memory-mapped files.

    ``SpikeRecorder`` stores ``a_in.recv()`` of step t in row t-1 (what ``io.sink.RingBuffer``
    stores); ``VarRecorder`` reads a Var through a RefPort in post-management of step t (what
    ``Monitor`` stores).
    """
    require_lava("Lava export")
    from lava.magma.core.decorator import implements, requires
    from lava.magma.core.model.py.model import PyLoihiProcessModel
    from lava.magma.core.model.py.ports import PyInPort, PyRefPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, RefPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    class SpikeRecorder(AbstractProcess):
        """Stores its input of every step in row ``(t - 1) % buffer`` of an int8 memmap file."""

        def __init__(self, *, shape, buffer, path, name=None):
            super().__init__(shape=shape, buffer=buffer, path=path, dtype="int8", name=name)
            self.a_in = InPort(shape=shape)

    class VarRecorder(AbstractProcess):
        """Stores the value of a Var after every step in an int32 memmap file."""

        def __init__(self, *, var, buffer, path, name=None):
            super().__init__(shape=var.shape, buffer=buffer, path=path, dtype="int32", name=name)
            self.ref = RefPort(shape=var.shape)
            self.ref.connect_var(var)

    class _MemmapMixin:
        def _rows(self):
            if self._mm is None:
                p = self.proc_params
                self._mm = np.memmap(p["path"], dtype=p["dtype"], mode="r+",
                                     shape=(p["buffer"],) + tuple(p["shape"]))
            return self._mm

    @implements(proc=SpikeRecorder, protocol=LoihiProtocol)
    @requires(CPU)
    class PySpikeRecorderModel(_MemmapMixin, PyLoihiProcessModel):
        a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)

        def __init__(self, proc_params):
            super().__init__(proc_params)
            self._mm = None

        def run_spk(self):
            data = self.a_in.recv()
            rows = self._rows()
            rows[(self.time_step - 1) % rows.shape[0]] = data

    @implements(proc=VarRecorder, protocol=LoihiProtocol)
    @requires(CPU)
    class PyVarRecorderModel(_MemmapMixin, PyLoihiProcessModel):
        ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)

        def __init__(self, proc_params):
            super().__init__(proc_params)
            self._mm = None

        def post_guard(self):
            return True

        def run_post_mgmt(self):
            rows = self._rows()
            rows[(self.time_step - 1) % rows.shape[0]] = self.ref.read()

    return SpikeRecorder, PySpikeRecorderModel, VarRecorder, PyVarRecorderModel


def _sign_mode(name: str):
    from lava.utils.weightutils import SignMode
    return {"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY,
            "inhibitory": SignMode.INHIBITORY}[name]


def effective_weights(weights, sign_mode: str, num_weight_bits: int, weight_bits: int = 8) -> np.ndarray:
    """Weight mantissas as the chip uses them (int64): clipped, then low bits truncated.

    With ``weight_bits == 8`` this calls Lava's own ``clip_weights(num_bits=8)`` and
    ``truncate_weights`` (the oracle's arithmetic); otherwise the IR's rule for other widths,
    :func:`hwsim.weights.chip_weights`.
    """
    w = np.asarray(weights, dtype=np.int64)
    if weight_bits == LAVA_WEIGHT_CLIP_BITS:
        from lava.utils.weightutils import clip_weights, truncate_weights
        sm = _sign_mode(sign_mode)
        w = clip_weights(w.copy(), sm, num_bits=LAVA_WEIGHT_CLIP_BITS)
        return np.asarray(truncate_weights(w, sm, int(num_weight_bits)), dtype=np.int64)
    return chip_weights(w, sign_mode, num_weight_bits, weight_bits)


# ---------------------------------------------------------------------------------------------
# the graph
# ---------------------------------------------------------------------------------------------
@dataclass
class LavaGraph:
    """Lava processes built from a network by :func:`to_lava`, ready to run once.

    Attributes
    ----------
    network : Network
    T : int
        Steps the sources hold and the recorders store.
    processes : dict[str, AbstractProcess]
        Per IR input, population and projection name, its Lava process.
    exported_as : dict[str, str]
        Per projection, the Lava process used and why (e.g. ``"Sparse (conv, weight_exp=-2)"``).
    probes : list[tuple[str, str]]
        (population, 'u' | 'v') recorded each step.
    learning_vars : list[tuple[str, str]]
        (projection, 'weights' | 'tag_1' | 'tag_2') of learning projections recorded each step.
    components : list[list[str]]
        Connected components (node names); each is compiled and run on its own, since Lava runs
        only the component of the process ``run`` is called on.
    reader : str
        ``"fast"`` (memmap recorders) or ``"lava"`` (sink.RingBuffer and Monitor).
    """

    network: Network
    T: int
    processes: dict
    exported_as: dict
    probes: list
    components: list
    reader: str
    learning_vars: list = field(default_factory=list)
    _spike_readers: dict = field(default_factory=dict, repr=False)
    _var_readers: dict = field(default_factory=dict, repr=False)
    _exceptions: dict = field(default_factory=dict, repr=False)
    _tmpdir: Any = field(default=None, repr=False)
    _used: bool = field(default=False, repr=False)
    _kind_processes: list = field(default_factory=list, repr=False)

    def _lava_var(self, key) -> str:
        """Name of the Lava Var recorded for ``(node, var)`` ('y' of an error / learning population:
        ``y2`` of its fused process; anything else: the same name)."""
        pop = self.network.populations.get(key[0])
        return _LAVA_VAR.get((pop.kind, key[1]), key[1]) if pop is not None else key[1]

    @property
    def n_processes(self) -> int:
        """Number of Lava processes (sources, neurons, synapses and recorders)."""
        unique = {id(p) for p in self.processes.values()}      # a fused process holds two populations
        return len(unique) + len(self._spike_readers) + len(self._var_readers)

    def summary(self) -> str:
        """One line per exported object."""
        lines = [f"Lava graph of network {self.network.name!r}: {self.n_processes} processes, "
                 f"T={self.T}, {len(self.components)} component(s), reader={self.reader!r}"]
        for name, node in self.network.inputs.items():
            if name in self.processes:
                lines.append(f"  input {name!r} {node.shape} -> RingBuffer{lava_shape(node.shape)}"
                             + (" (graded)" if node.graded else ""))
            else:
                lines.append(f"  input {name!r}: feeds nothing, not exported")
        for name, pop in self.network.populations.items():
            proc = self.processes[name]
            fused = [o for o, q in self.processes.items() if q is proc and o != name]
            lines.append(f"  population {name!r} {pop.shape} -> {type(proc).__name__}{lava_shape(pop.shape)}"
                         + (f" (fused with {fused[0]!r})" if fused else ""))
        pops = self.network.populations
        for name, how in self.exported_as.items():
            p = self.network.projections[name]
            ports = []                  # the ports of a fused process a projection uses
            if p.src in pops and pops[p.src].kind in _OUT_PORT:
                ports.append(f"from {type(self.processes[p.src]).__name__}.{_OUT_PORT[pops[p.src].kind]}")
            if pops[p.dst].kind in _IN_PORT:
                ports.append(f"into {type(self.processes[p.dst]).__name__}.{_IN_PORT[pops[p.dst].kind]}")
            for key, y in getattr(p, "third_factor", {}).items():
                if y in pops:
                    ports.append(f"s_in_{key} <- {type(self.processes[y]).__name__}.s_out_y2 of {y!r}")
            lines.append(f"  projection {name!r} {p.src} -> {p.dst}: {how}" + (f" ({'; '.join(ports)})" if ports else ""))
        for m in getattr(self.network, "mirrors", {}).values():
            src, dst = pops[m.src], pops[m.dst]
            lines.append(f"  mirror {m.name!r} of {m.of!r}: {type(self.processes[m.src]).__name__}."
                         f"{_OUT_PORT.get(src.kind, 's_out')} of {m.src!r} -> {m.of}.s_in_back; {m.of}.a_out_back "
                         f"-> {type(self.processes[m.dst]).__name__}.{_IN_PORT.get(dst.kind, 'a_in')} of {m.dst!r}")
        return "\n".join(lines)

    def _run_cfg(self, host_ops: bool = False):
        # the compartment-kind and mirror models are not findable by Lava's model search
        # (lava_mirror.run_cfg merges lava_kinds' exception map, the mirror's and ours); with host
        # operations, plain LearningDense runs Lava's model with the rule kept on Var.set
        extra = dict(self._exceptions)
        if host_ops:
            from .lava_mirror import host_exception_map
            extra.update(host_exception_map(self.processes.values()))
        return _mirror_run_cfg(self._kind_processes, extra=extra)

    def _component_processes(self, comp) -> list:
        """The network's Lava processes of one component (its nodes and the projections into them), once
        each (a fused process holds two populations)."""
        names = set(comp) | {p.name for p in self.network.projections.values() if p.dst in comp}
        out = {}
        for name, proc in self.processes.items():
            if name in names:
                out.setdefault(id(proc), proc)
        return list(out.values())

    def _host_ops(self, comp, ops) -> dict:
        """Apply host operations ``ops`` (in order) to the paused component ``comp``; then read every
        learning projection's weights and tags with ``Var.get`` ({projection: {var: int64 array}})."""
        from .lava_protocol import add_tags_to_weights_lava, reset_dynamics_lava
        learning = [p.name for p in self.network.learning_projections() if p.dst in comp]
        for op in ops:
            if op == "add_tags":
                for name in learning:
                    add_tags_to_weights_lava(self.processes[name])
            elif op == "reset":
                reset_dynamics_lava(self._component_processes(comp))
            else:  # pragma: no cover - lava_protocol.check_segments validates the names
                raise ValueError(f"host operation {op!r} is not one of ('add_tags', 'reset')")
        state = {}
        for key in self.learning_vars:
            if key[0] in learning:
                var = getattr(self.processes[key[0]], key[1])
                state.setdefault(key[0], {})[key[1]] = np.rint(np.asarray(var.get(), np.float64)).astype(np.int64)
        return state

    def run(self, warmup: bool = True, segments=None) -> dict:
        """Run every component for ``T`` steps (or through the host protocol ``segments``) and return
        what was recorded.

        Parameters
        ----------
        warmup : bool
            Run one step first (compile, start the processes), then time the remaining ``T - 1``
            steps alone (lava-semantics.md section 5); otherwise time all ``T`` steps including
            startup.
        segments : list of (steps, ops), optional
            The host protocol (:mod:`hwsim.export.lava_protocol`): per segment, a blocking
            ``run(RunSteps(steps))``, then the host operations ``ops`` in order while the runtime is
            paused: ``'add_tags'`` (:func:`~hwsim.export.lava_protocol.add_tags_to_weights_lava` on every
            learning projection), ``'reset'`` (:func:`~hwsim.export.lava_protocol.reset_dynamics_lava`
            on every process). The steps must sum to ``T``; the inputs' RingBuffers and the recorders run
            on (Lava's time step continues). Default: one segment of ``T`` steps without operations.

        Returns
        -------
        dict
            ``spikes``: {LIF-family population: int8 (T, n)}; ``probes``: {(population, var): int32 (T, n)},
            rows in time-step order (row i = step i + 1), columns in IR C-major order;
            for networks with learning projections, ``weights``: {projection: int32 (T, n_dst,
            n_src)}, after each step's learning, and ``tags``: {projection: {"tag_1"|"tag_2": int32
            (T, n_dst, n_src)}} (rules with dt / dd), and with ``segments``, ``after_ops``: per segment
            with operations, {projection: {"weights" | "tag_1" | "tag_2": int64}} read after them
            (None for a segment without);
            ``timing``: {``run_s`` (timed steps, summed over components), ``timed_steps``,
            ``startup_s`` (compile + first step), ``read_s``, ``host_s`` (host operations and the reads
            after them), ``n_processes``}.
        """
        if self._used:
            raise RuntimeError("a LavaGraph runs once (Lava processes cannot be restarted); call to_lava again")
        T = self.T
        segs = [(T, ())] if segments is None else [(int(n), tuple(ops)) for n, ops in segments]
        if not segs or min(n for n, _ in segs) < 1 or sum(n for n, _ in segs) != T:
            raise ValueError(f"segments: steps {[n for n, _ in segs]} must be >= 1 each and sum to T={T}")
        self._used = True
        from lava.magma.core.run_conditions import RunSteps

        spikes, probes, weights, tags = {}, {}, {}, {}
        after_ops = [None] * len(segs)
        run_s = startup_s = read_s = host_s = 0.0
        cfg = self._run_cfg(host_ops=any(ops for _, ops in segs))
        try:
            for comp in self.components:
                anchor = self.processes[next(n for n in comp if n in self.network.populations)]
                try:
                    for k, (n, ops) in enumerate(segs):
                        t0 = time.perf_counter()
                        with warnings.catch_warnings():
                            # Lava's model search imports sibling modules by file path and warns when that fails
                            warnings.filterwarnings("ignore", message="Cannot import module")
                            first = 1 if (warmup and k == 0 and n > 1) else n
                            anchor.run(condition=RunSteps(num_steps=first), run_cfg=cfg)
                            t1 = time.perf_counter()
                            if first < n:
                                anchor.run(condition=RunSteps(num_steps=n - first), run_cfg=cfg)
                        t2 = time.perf_counter()
                        if first < n:
                            startup_s += t1 - t0
                            run_s += t2 - t1
                        else:
                            run_s += t2 - t0
                        if ops:
                            state = self._host_ops(comp, ops)
                            after_ops[k] = {**(after_ops[k] or {}), **state}
                            host_s += time.perf_counter() - t2
                    t2 = time.perf_counter()
                    for pop in comp:
                        if pop in self._spike_readers:
                            spikes[pop] = self._read_spikes(pop)
                    for key in self.probes:
                        if key[0] in comp:
                            probes[key] = self._read_var(key)
                    for key in self.learning_vars:
                        if self.network.projections[key[0]].dst in comp:
                            data = self._read_var(key)
                            if key[1] == "weights":
                                weights[key[0]] = data
                            else:
                                tags.setdefault(key[0], {})[key[1]] = data
                    read_s += time.perf_counter() - t2
                finally:
                    anchor.stop()          # no-op if the runtime never started
        finally:
            self.close()
        timed_steps = T - 1 if (warmup and segs[0][0] > 1) else T
        out = {"spikes": spikes, "probes": probes}
        if self.learning_vars:
            out.update(weights=weights, tags=tags)
        if segments is not None:
            out["after_ops"] = after_ops
        return {**out, "timing": {"run_s": run_s, "timed_steps": timed_steps, "startup_s": startup_s,
                           "read_s": read_s, "host_s": host_s, "n_processes": self.n_processes}}

    def _read_spikes(self, pop: str) -> np.ndarray:
        shape = self.network.populations[pop].shape
        kind, obj = self._spike_readers[pop]
        if kind == "fast":
            data = np.array(np.memmap(obj, dtype=np.int8, mode="r", shape=(self.T,) + lava_shape(shape)))
        else:
            data = np.moveaxis(np.asarray(obj.data.get()), -1, 0)
        return np.ascontiguousarray(_rows_from_lava(data, shape)).astype(np.int8)

    def _read_var(self, key) -> np.ndarray:
        name, var = key
        if name in self.network.projections:          # a learning projection's (n_dst, n_src) Var
            shape = None
            lshape = self.network.projections[name].weights.shape
        else:
            shape = self.network.populations[name].shape
            lshape = lava_shape(shape)
        kind, obj = self._var_readers[key]
        if kind == "fast":
            data = np.array(np.memmap(obj, dtype=np.int32, mode="r", shape=(self.T,) + lshape))
        else:
            data = obj.get_data()[self.processes[name].name][self._lava_var(key)]
        if shape is None:
            return np.ascontiguousarray(data).astype(np.int32)
        return np.ascontiguousarray(_rows_from_lava(data, shape)).astype(np.int32)

    def close(self):
        """Remove the recorder files (after a run, or to discard an unused graph)."""
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------
def _check_inputs(net: Network, inputs: dict, T: Optional[int]) -> tuple[dict, int]:
    inputs = dict(inputs or {})
    unknown = sorted(set(inputs) - set(net.inputs))
    if unknown:
        raise ValueError(f"inputs has unknown name(s) {unknown}; the network's inputs are {sorted(net.inputs)}")
    arrays = {}
    for name, arr in inputs.items():
        a = np.asarray(arr)
        if a.dtype == np.bool_:
            a = a.astype(np.int8)
        node = net.inputs[name]
        if a.dtype.kind not in "iuf" or a.ndim != len(node.shape) + 1 or a.shape[1:] != node.shape:
            raise ValueError(f"inputs[{name!r}] has shape {a.shape} and dtype {a.dtype}; expected an integer "
                             f"array (T, *shape) = (T, {', '.join(map(str, node.shape))}) (no batch axis: "
                             "Lava runs one instance)")
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                raise ValueError(f"inputs[{name!r}] holds non-integer values")
        if T is None:
            T = a.shape[0]
        if a.shape[0] < T:
            raise ValueError(f"inputs[{name!r}] has {a.shape[0]} rows, fewer than T={T}")
        a = a[:T]
        lo, hi = net.spec.message_range if node.graded else (0, 1)
        if a.size and (a.min() < lo or a.max() > hi):
            what = "graded input: spec.message_range" if node.graded else "binary input"
            raise ValueError(f"inputs[{name!r}] holds values in [{a.min()}, {a.max()}], outside [{lo}, {hi}] ({what})")
        arrays[name] = a.astype(np.int64)
    if T is None:
        raise ValueError("T is needed when no input array is given")
    if int(T) != T or T < 1:
        raise ValueError(f"T={T!r} must be a positive integer")
    return arrays, int(T)


def _components(net: Network) -> list[list[str]]:
    """Connected components over populations and the inputs that feed a projection."""
    parent = {n: n for n in net.populations}
    for p in net.projections.values():
        parent.setdefault(p.src, p.src)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    links = [(p.src, p.dst) for p in net.projections.values()]
    for p in net.learning_projections():          # third-factor inputs run with the projection
        for y in p.third_factor.values():
            parent.setdefault(y, y)
            links.append((y, p.dst))
    links += [(p.partner, p.name) for p in net.populations.values() if p.partner]   # one fused process
    links += [(m.src, m.dst) for m in getattr(net, "mirrors", {}).values()]          # src -> mirror -> dst
    for src, dst in links:
        a, b = find(src), find(dst)
        if a != b:
            parent[a] = b
    groups: dict[str, list[str]] = {}
    for n in list(net.inputs) + list(net.populations):
        if n in parent:
            groups.setdefault(find(n), []).append(n)
    return [g for g in groups.values() if any(n in net.populations for n in g)]


def _max_payload(net: Network, proj, arrays: dict) -> int:
    src = net.node(proj.src)
    if not proj.graded:
        return 1
    if isinstance(src, Population):
        return 1                                   # ternary: -1 / 0 / +1
    a = arrays.get(proj.src)
    return int(np.abs(a).max()) if (a is not None and a.size) else 0


def _dense_sparse_weights(name: str, weights, sign_mode: str, num_weight_bits: int, weight_exp: int, spec):
    """(weights, kwargs) for a Lava Dense/Sparse reproducing the IR's weight arithmetic."""
    kw = dict(weight_exp=int(weight_exp), sign_mode=_sign_mode(sign_mode))
    if spec.weight_bits == LAVA_WEIGHT_CLIP_BITS:
        return np.asarray(weights, np.int64), dict(kw, num_weight_bits=int(num_weight_bits))
    w = effective_weights(weights, sign_mode, num_weight_bits, spec.weight_bits)
    m = 1 << LAVA_WEIGHT_CLIP_BITS
    lo, hi = {"mixed": (-m, m - 1), "excitatory": (0, m - 1), "inhibitory": (-(m - 1), 0)}[sign_mode]
    if w.size and (w.min() < lo or w.max() > hi):
        raise UnexportableError(
            f"projection {name!r}: effective weights in [{w.min()}, {w.max()}] (spec.weight_bits="
            f"{spec.weight_bits}) exceed Lava's 8-bit clip range [{lo}, {hi}] for sign_mode={sign_mode!r}")
    # Lava truncates 8 - num_weight_bits (+1 if mixed) bits: choose num_weight_bits so that this is 0
    return w, dict(kw, num_weight_bits=LAVA_WEIGHT_CLIP_BITS + (sign_mode == "mixed"))


def _proj_weights(proj, spec):
    return _dense_sparse_weights(proj.name, proj.weights, proj.sign_mode, proj.num_weight_bits,
                                 proj.weight_exp, spec)


_LAVA_RULE_CLASS = {"2F": "Loihi2FLearningRule", "3F": "Loihi3FLearningRule", "plain": "LoihiLearningRule"}
_LEARNING_WIDTHS = ("weight_bits", "trace_bits", "trace_frac_bits", "tag_bits", "accumulator_bits")


def _check_learning_spec(net: Network) -> None:
    """Lava's learning engine hard-codes Loihi's widths: learning needs them in ``net.spec``."""
    from ..spec import LOIHI
    if not net.learning_projections():
        return
    for f in _LEARNING_WIDTHS:
        if getattr(net.spec, f) != getattr(LOIHI, f):
            raise UnexportableError(f"spec.{f}={getattr(net.spec, f)}: Lava's LearningDense uses {f}="
                                    f"{getattr(LOIHI, f)} only; learning projections "
                                    f"{[p.name for p in net.learning_projections()]} need the Loihi value")
    from ..learning.engine import lava_rounding_problem
    for p in net.learning_projections():
        problem = lava_rounding_problem(p.name, p.rounding)
        if problem:
            raise UnexportableError(problem)


def lava_rule(rule):
    """The Lava rule object equivalent to a :class:`hwsim.learning.LearningRule` (same strings,
    impulses, taus, t_epoch, rng_seed): ``Loihi2FLearningRule`` ('2F'), ``Loihi3FLearningRule``
    ('3F') or ``LoihiLearningRule`` ('plain')."""
    require_lava("Lava export")
    from lava.magma.core.learning import learning_rule as lr
    return getattr(lr, _LAVA_RULE_CLASS[rule.kind])(**rule.lava_kwargs())


# ---------------------------------------------------------------------------------------------
# compartment kinds (docs/compartments.md): fused processes of hwsim/export/lava_kinds.py
# ---------------------------------------------------------------------------------------------
_LEARNING_PARTNERS = ("lif", "lif_reset")      # HwLearningLIF: Lava's LIF, or LIFReset's reset


@dataclass(frozen=True)
class _KindPlan:
    """Which populations share a fused Lava process.

    ``host[name]``: for a readout / error / learning population and for the LIF partner of a learning
    compartment, the population whose process holds it (the readout, or the LIF); ``error_of[readout]``
    and ``learning_of[lif]`` the fused partner.
    """

    host: dict
    error_of: dict
    learning_of: dict


def _kind_plan(net: Network) -> _KindPlan:
    """Check what the fused processes can express and say who is fused with whom.

    Raises :class:`UnexportableError` for a multi-dimensional kind population (the processes are 1-D),
    a readout with more than one error population or a LIF with more than one learning compartment
    (one fused process each), a partner of the wrong kind, a non-graded projection out of an error or
    learning population, a learning projection reading one as its pre spikes, and a bap from a
    readout / error / learning population.
    """
    pops = net.populations
    error_of: dict = {}
    learning_of: dict = {}
    for name, p in pops.items():
        if p.kind not in CIRCUIT_KINDS:
            continue
        if len(p.shape) != 1:
            raise UnexportableError(
                f"population {name!r}: kind {p.kind!r} with shape {p.shape}: the Lava processes of the "
                "compartment kinds (hwsim/export/lava_kinds.py) are 1-D only; use a shape (n,)")
        if p.kind == "readout":
            continue
        partner = pops.get(p.partner)
        allowed = ("readout",) if p.kind == "error" else _LEARNING_PARTNERS
        what = "HwReadoutError fuses an error population with a readout" if p.kind == "error" else \
            "HwLearningLIF fuses a learning compartment with a Lava LIF or LIFReset"
        if partner is None or partner.kind not in allowed:
            found = "no population" if partner is None else f"a {partner.kind!r} population"
            raise UnexportableError(f"population {name!r} ({p.kind}): partner={p.partner!r} is {found}; "
                                    f"{what} (partner kind one of {allowed})")
        table = error_of if p.kind == "error" else learning_of
        if p.partner in table:
            raise UnexportableError(
                f"population {p.partner!r} has two {p.kind} populations, {table[p.partner]!r} and {name!r}: "
                f"{what}, one {p.kind} population per partner")
        table[p.partner] = name
    host = {}
    for partner, name in list(error_of.items()) + list(learning_of.items()):
        host[partner] = host[name] = partner
    for name, p in pops.items():
        if p.kind == "readout":
            host[name] = name
    for proj in net.projections.values():
        src = pops.get(proj.src)
        if src is not None and src.kind in CIRCUIT_KINDS:
            if not proj.graded:
                raise UnexportableError(
                    f"projection {proj.name!r}: src={proj.src!r} is an {src.kind} population, whose outputs are "
                    "graded values y; a non-graded projection (graded=False) would send them as binary spikes")
            if getattr(proj, "learning", None) is not None:
                raise UnexportableError(
                    f"projection {proj.name!r}: learning with src={proj.src!r} ({src.kind}): Lava's LearningDense "
                    "takes binary pre spikes or graded_spike_cfg='overwrite' from a graded input only")
        dst = pops[proj.dst]
        if getattr(proj, "bap", False) and dst.kind in CIRCUIT_KINDS:
            raise UnexportableError(
                f"projection {proj.name!r}: bap=True from dst={proj.dst!r}, a {dst.kind} population, which sends "
                "no spikes (the bap needs a spiking LIF destination)")
    return _KindPlan(host=host, error_of=error_of, learning_of=learning_of)


def _kind_processes(net: Network, plan: _KindPlan) -> dict:
    """The fused Lava processes, one per host population (readout or LIF partner), named after it."""
    K = _kind_classes()
    y_bits = net.spec.trace_bits
    out = {}
    for host in dict.fromkeys(plan.host.values()):
        p = net.populations[host]
        shape = lava_shape(p.shape)
        if p.kind == "readout":
            common = dict(shape=shape, du=p.du, dv=p.dv, u=_to_lava(p.u_init, p.shape),
                          v=_to_lava(p.v_init, p.shape), name=host)
            e = plan.error_of.get(host)
            if e is None:
                out[host] = K.HwReadout(**common)
            else:
                ep = net.populations[e]
                out[host] = K.HwReadoutError(tgt=ep.tgt, es=ep.shift, seed=ep.seed, y_bits=y_bits, **common)
        else:
            lp = net.populations[plan.learning_of[host]]
            reset = dict(reset_interval=p.reset_interval, reset_offset=p.reset_offset) if p.kind == "lif_reset" else {}
            out[host] = K.HwLearningLIF(
                shape=shape, du=p.du, dv=p.dv, vth=p.vth, u=_to_lava(p.u_init, p.shape),
                v=_to_lava(p.v_init, p.shape), bias_mant=_to_lava(p.bias_mant, p.shape),
                bias_exp=_to_lava(p.bias_exp, p.shape), lut=lp.lut, lut_shift=lp.lut_shift, sh=lp.shift,
                delay=lp.delay, seed=lp.seed, y_bits=y_bits, name=host, **reset)
    return out


# Lava port of a population: what it sends to a projection, what a projection into it feeds
_OUT_PORT = {"error": "s_out", "learning": "s_out_graded"}          # graded y; LIF family: s_out
_IN_PORT = {"error": "a_label", "learning": "a_third_factor_in"}    # readout, LIF family: a_in
#: (population kind, probe var) -> the Lava Var recorded
_LAVA_VAR = {(kind, "y"): "y2" for kind in GRADED_KINDS}


def _probe_vars(kind: str) -> tuple:
    """The probe vars a population of ``kind`` has in Lava."""
    return ("y",) if kind in GRADED_KINDS else ("u", "v")


def _check_mirrors(net: Network) -> dict:
    """``{learning projection: its Mirror}``; UnexportableError for a mirror HwMirrorLearningDense cannot
    express (a shift outside its ``back_exp`` range)."""
    out = {}
    lo, hi = BACK_EXP_RANGE
    for m in getattr(net, "mirrors", {}).values():
        if not lo <= int(m.weight_exp) <= hi:
            raise UnexportableError(f"mirror {m.name!r} (of {m.of!r}): weight_exp={m.weight_exp} is outside "
                                    f"HwMirrorLearningDense's back_exp range [{lo}, {hi}]")
        out[m.of] = m
    return out


def _learning_dense(proj: DenseProjection, spec, processes: dict, flat_out, net: Network, mirror=None):
    """A LearningDense for ``proj`` (an ``HwMirrorLearningDense`` with ``back_exp = mirror.weight_exp``
    when it has a mirror; its ports ``s_in_back`` / ``a_out_back`` are connected by the caller):
    pre spikes from ``src``, bap from the dst's ``s_out``, y ports
    from the third-factor inputs' RingBuffers or, for an error / learning population, from its fused
    process's ``s_out_y2`` (sent and received in the same step) (binary pre spikes:
    ``num_message_bits=0``; graded ones with ``graded_spike_cfg='overwrite'``:
    ``num_message_bits=spec.message_bits`` and ``GradedSpikeCfg.OVERWRITE``)."""
    from lava.magma.core.learning.constants import GradedSpikeCfg
    from lava.proc.dense.process import LearningDense
    w, kw = _proj_weights(proj, spec)
    graded = proj.graded_spike_cfg == "overwrite"
    if mirror is not None:
        cls = functools.partial(_mirror_classes().HwMirrorLearningDense, back_exp=int(mirror.weight_exp))
    else:
        cls = LearningDense
    c = cls(weights=w, learning_rule=lava_rule(proj.learning),
                      num_message_bits=spec.message_bits if graded else 0,
                      graded_spike_cfg=GradedSpikeCfg.OVERWRITE if graded else GradedSpikeCfg.USE_REGULAR_IMPULSE,
                      name=proj.name, **kw)
    flat_out(proj.src).connect(c.s_in)
    if proj.bap:
        flat_out(proj.dst).connect(c.s_in_bap)
    for key, inp in proj.third_factor.items():
        port = processes[inp].s_out_y2 if inp in net.populations else flat_out(inp)
        port.connect(getattr(c, f"s_in_{key}"))
    return c


def _learning_vars(net: Network) -> list:
    """(projection, var) recorded every step: weights, and the tags a rule's dd / dt change."""
    out = []
    for p in net.learning_projections():
        out.append((p.name, "weights"))
        if p.learning.dt is not None:
            out.append((p.name, "tag_1"))
        if p.learning.dd is not None:
            out.append((p.name, "tag_2"))
    return out


def to_lava(net: Network, inputs: Optional[dict] = None, probes=None, *, T: Optional[int] = None,
            reader: str = "fast") -> LavaGraph:
    """Build Lava processes reproducing ``net`` bit-exactly on the given inputs.

    Parameters
    ----------
    net : Network
        The chip IR.
    inputs : dict[str, ndarray], optional
        Per input name, an integer array (T, *shape): binary inputs 0/1, graded inputs within
        ``spec.message_range``. Inputs not given are silent. Row k is sent at Lava step k + 1.
    probes : list of (population, var), optional
        Variables to record every step: 'u' / 'v' of LIF-family and readout populations, 'y' of error
        and learning populations (Var ``y2`` of their fused process); 's' is always recorded, for
        every spiking (LIF-family) population. Default: those of ``net.probes`` that Lava has
        (``net.probes`` may hold v of an error population, which is 0 in hwsim and absent in Lava).
    T : int, optional
        Steps; default the length of the input arrays (longer arrays are cut to T).
    reader : {"fast", "lava"}
        How results are recorded (module docstring).

    Returns
    -------
    LavaGraph

    Raises
    ------
    UnexportableError
        A part of the network has no bit-exact Lava equivalent (see the module docstring).
    ImportError
        Lava is not installed.
    """
    require_lava("Lava export")
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF, LIFReset, TernaryLIF
    from lava.proc.monitor.process import Monitor
    from lava.proc.sparse.process import DelaySparse, Sparse
    from scipy.sparse import csr_matrix

    if reader not in READERS:
        raise ValueError(f"reader={reader!r} is not one of {READERS}")
    arrays, T = _check_inputs(net, inputs, T)
    if probes is None:
        probes = [(p.target, p.var) for p in net.probes
                  if p.target in net.populations and p.var in _probe_vars(net.populations[p.target].kind)]
    probe_list = []
    for pr in probes:
        target, var = (pr.target, pr.var) if hasattr(pr, "target") else tuple(pr)
        if target not in net.populations:
            raise ValueError(f"probe target={target!r} is not a population; have {sorted(net.populations)}")
        kind = net.populations[target].kind
        if var == "s" and kind in NEURON_KINDS:
            continue                       # spikes are always recorded
        if var not in _probe_vars(kind):
            raise ValueError(f"probe ({target!r}, {var!r}): a {kind!r} population records "
                             f"{_probe_vars(kind) + (('s',) if kind in NEURON_KINDS else ())} in Lava")
        if (target, var) not in probe_list:
            probe_list.append((target, var))
    spec = net.spec

    # ---- checks that need no Lava objects -------------------------------------------------
    mirror_of = _check_mirrors(net)
    # Lava's fixed-point models hard-code Loihi's state, decay and message widths; only the weight
    # width is handled by re-encoding the weights. Any other width change would export a silently
    # different network.
    from ..spec import LOIHI
    for field_name in ("uv_bits", "decay_bits", "message_bits"):
        if getattr(spec, field_name) != getattr(LOIHI, field_name):
            raise UnexportableError(
                f"spec.{field_name}={getattr(spec, field_name)}: Lava's fixed-point models use "
                f"{field_name}={getattr(LOIHI, field_name)} only; export needs the Loihi value")
    for pop in net.populations.values():
        if pop.kind == "ternary_lif" and pop.vth_lo > pop.vth:
            raise UnexportableError(f"population {pop.name!r}: ternary_lif with vth_lo={pop.vth_lo} > "
                                    f"vth={pop.vth}; Lava's TernaryLIF rejects vth_lo > vth_hi")
    for proj in net.projections.values():
        d = getattr(proj, "delays", None)
        if d is not None and d.size and int(d.max()) > LAVA_MAX_DELAY:
            raise UnexportableError(f"projection {proj.name!r}: delay {int(d.max())} exceeds Lava's "
                                    f"DelayDense/DelaySparse limit {LAVA_MAX_DELAY}")
    _check_learning_spec(net)
    plan = _kind_plan(net)

    processes: dict[str, Any] = {}
    exported_as: dict[str, str] = {}
    fed = {p.src for p in net.projections.values()}
    fed |= {y for p in net.learning_projections() for y in p.third_factor.values()}
    for name, node in net.inputs.items():
        if name not in fed:
            continue
        x = arrays.get(name)
        if x is None:
            x = np.zeros((T,) + node.shape, np.int64)
        processes[name] = RingBuffer(data=_inputs_to_lava(x, node.shape))
    kind_procs = _kind_processes(net, plan)
    for name, p in net.populations.items():
        if name in plan.host:                      # fused: the process of its host population
            processes[name] = kind_procs[plan.host[name]]
            continue
        common = dict(shape=lava_shape(p.shape), du=p.du, dv=p.dv, u=_to_lava(p.u_init, p.shape),
                      v=_to_lava(p.v_init, p.shape), bias_mant=_to_lava(p.bias_mant, p.shape),
                      bias_exp=_to_lava(p.bias_exp, p.shape), name=name)
        if p.kind == "lif":
            processes[name] = LIF(vth=p.vth, **common)
        elif p.kind == "lif_reset":
            processes[name] = LIFReset(vth=p.vth, reset_interval=p.reset_interval,
                                       reset_offset=p.reset_offset, **common)
        elif p.kind == "ternary_lif":
            processes[name] = TernaryLIF(vth_hi=p.vth, vth_lo=p.vth_lo, **common)
        else:  # pragma: no cover - the IR validates kinds
            raise UnexportableError(f"population {name!r}: kind {p.kind!r} has no Lava process")

    def flat_out(node_name):
        node = net.node(node_name)
        kind = getattr(node, "kind", None)
        port = getattr(processes[node_name], _OUT_PORT.get(kind, "s_out"))
        return port.transpose([2, 1, 0]).flatten() if len(node.shape) == 3 else port

    def connect_in(a_out, dst_name):
        node = net.populations[dst_name]
        port = a_out.reshape(node.shape).transpose([2, 1, 0]) if len(node.shape) == 3 else a_out
        port.connect(getattr(processes[dst_name], _IN_PORT.get(node.kind, "a_in")))

    for proj in net.projections.values():
        msg_bits = spec.message_bits if proj.graded else 0
        src_shape = net.node(proj.src).shape
        dst_shape = net.node(proj.dst).shape
        if isinstance(proj, DenseProjection) and proj.learning is not None:
            m = mirror_of.get(proj.name)
            c = _learning_dense(proj, spec, processes, flat_out, net, mirror=m)
            exported_as[proj.name] = (f"LearningDense ({_LAVA_RULE_CLASS[proj.learning.kind]})" if m is None else
                                      f"HwMirrorLearningDense ({_LAVA_RULE_CLASS[proj.learning.kind]}; mirror "
                                      f"{m.name!r}: {m.src} -> {m.dst}, back_exp={m.weight_exp})")
            connect_in(c.a_out, proj.dst)
        elif isinstance(proj, DenseProjection):
            w, kw = _proj_weights(proj, spec)
            if proj.delays is None:
                c = Dense(weights=w, num_message_bits=msg_bits, name=proj.name, **kw)
                exported_as[proj.name] = "Dense"
            else:
                md = int(proj.delays.max()) if proj.delays.size else 0
                c = DelayDense(weights=w, delays=proj.delays, max_delay=md, num_message_bits=msg_bits,
                               name=proj.name, **kw)
                exported_as[proj.name] = f"DelayDense (max_delay={md})"
            flat_out(proj.src).connect(c.s_in)
            connect_in(c.a_out, proj.dst)
        elif isinstance(proj, SparseProjection):
            w, kw = _proj_weights(proj, spec)
            shape = (proj.n_dst, proj.n_src)
            wm = csr_matrix((w, (proj.dst_index, proj.src_index)), shape=shape)
            if proj.delays is None:
                c = Sparse(weights=wm, num_message_bits=msg_bits, name=proj.name, **kw)
                exported_as[proj.name] = "Sparse"
            else:
                dm = csr_matrix((proj.delays, (proj.dst_index, proj.src_index)), shape=shape)
                md = int(proj.delays.max()) if proj.delays.size else 0
                c = DelaySparse(weights=wm, delays=dm, max_delay=md, num_message_bits=msg_bits,
                                name=proj.name, **kw)
                exported_as[proj.name] = f"DelaySparse (max_delay={md})"
            flat_out(proj.src).connect(c.s_in)
            connect_in(c.a_out, proj.dst)
        elif isinstance(proj, ConvProjection):
            w_eff = effective_weights(proj.weights, proj.sign_mode, proj.num_weight_bits, spec.weight_bits)
            payload = _max_payload(net, proj, arrays)
            per_out = np.abs(w_eff).reshape(w_eff.shape[0], -1).sum(axis=1) if w_eff.size else np.zeros(1)
            bound = int(per_out.max()) * payload
            e = int(proj.weight_exp)
            if e >= 0:
                if bound << e >= _INT32_LIMIT:
                    raise UnexportableError(
                        f"projection {proj.name!r}: conv sums can reach {bound} << {e} >= 2**31 (largest "
                        f"|payload| {payload}); Lava's Conv casts its float64 sum to int32 before the 24-bit "
                        "wrap, so it cannot reproduce the chip's exact sum")
                wl = np.ascontiguousarray((w_eff << e)[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))
                c = Conv(weight=wl, input_shape=lava_shape(src_shape), stride=tuple(proj.stride[::-1]),
                         padding=tuple(proj.padding[::-1]), dilation=tuple(proj.dilation[::-1]),
                         groups=proj.groups, num_message_bits=msg_bits, name=proj.name)
                exported_as[proj.name] = ("Conv (effective weights, flipped, (C_out, KX, KY, C_in/g))"
                                          + (f", weights << {e}" if e else ""))
                processes[proj.src].s_out.connect(c.s_in)
                c.a_out.connect(processes[proj.dst].a_in)
            else:
                limit = 1 << (LAVA_CONV_WRAP_BITS - 1)
                if bound >= _INT32_LIMIT or floor_shift(bound, e) > limit - 1 or \
                        floor_shift(-bound, e) < -limit:
                    raise UnexportableError(
                        f"projection {proj.name!r}: conv with weight_exp={e} is exported as a Lava Sparse, "
                        f"which does not wrap its output to 24 bits, and its sums can reach {bound} (largest "
                        f"|payload| {payload}): beyond 2**23 after the shift (or 2**31 before it), where the "
                        "chip's 24-bit conv wrap would differ")
                dst, src, ws = conv_to_sparse(proj, src_shape, dst_shape)
                w, kw = _dense_sparse_weights(proj.name, ws, proj.sign_mode, proj.num_weight_bits, e, spec)
                wm = csr_matrix((w, (dst, src)), shape=(int(np.prod(dst_shape)), int(np.prod(src_shape))))
                c = Sparse(weights=wm, num_message_bits=msg_bits, name=proj.name, **kw)
                exported_as[proj.name] = f"Sparse (from conv: weight_exp={e} < 0 is ignored by Lava's Conv)"
                flat_out(proj.src).connect(c.s_in)
                connect_in(c.a_out, proj.dst)
        else:  # pragma: no cover
            raise UnexportableError(f"projection {proj.name!r}: type {type(proj).__name__} has no Lava process")
        processes[proj.name] = c
    for m in mirror_of.values():             # the mirror: src's graded y in, the back sum out to dst
        c = processes[m.of]
        flat_out(m.src).connect(c.s_in_back)
        connect_in(c.a_out_back, m.dst)

    graph = LavaGraph(network=net, T=T, processes=processes, exported_as=exported_as, probes=probe_list,
                      components=_components(net), reader=reader, learning_vars=_learning_vars(net))
    graph._kind_processes = list(kind_procs.values()) + [processes[m.of] for m in mirror_of.values()]
    spiking = [name for name, p in net.populations.items() if p.kind in NEURON_KINDS]
    if reader == "fast":
        SpikeRecorder, SpikeModel, VarRecorder, VarModel = _recorder_classes()
        graph._tmpdir = tempfile.TemporaryDirectory(prefix="hwlearn-lava-")
        for name in spiking:
            p = net.populations[name]
            path = os.path.join(graph._tmpdir.name, f"s{len(graph._spike_readers)}.i8")
            np.memmap(path, dtype=np.int8, mode="w+", shape=(T,) + lava_shape(p.shape)).flush()
            rec = SpikeRecorder(shape=lava_shape(p.shape), buffer=T, path=path, name=f"{name}.spikes")
            processes[name].s_out.connect(rec.a_in)
            graph._spike_readers[name] = ("fast", path)
            graph._exceptions[rec] = SpikeModel     # Lava's compiler looks up the instance...
            graph._exceptions[SpikeRecorder] = SpikeModel   # ...its run config the class
        for key in probe_list + graph.learning_vars:
            var = getattr(processes[key[0]], graph._lava_var(key))
            path = os.path.join(graph._tmpdir.name, f"v{len(graph._var_readers)}.i32")
            np.memmap(path, dtype=np.int32, mode="w+", shape=(T,) + tuple(var.shape)).flush()
            rec = VarRecorder(var=var, buffer=T, path=path, name=f"{key[0]}.{key[1]}")
            graph._var_readers[key] = ("fast", path)
            graph._exceptions[rec] = VarModel
            graph._exceptions[VarRecorder] = VarModel
    else:
        for name in spiking:
            sink = Sink(shape=lava_shape(net.populations[name].shape), buffer=T)
            processes[name].s_out.connect(sink.a_in)
            graph._spike_readers[name] = ("lava", sink)
        for key in probe_list + graph.learning_vars:
            m = Monitor()
            m.probe(getattr(processes[key[0]], graph._lava_var(key)), T)
            graph._var_readers[key] = ("lava", m)
    return graph


def run_lava(net: Network, inputs: Optional[dict], T: Optional[int] = None, probes=None, *,
             reader: str = "fast", warmup: bool = True, segments=None) -> dict:
    """Export ``net`` with :func:`to_lava` and run it in Lava fixed point (``Loihi2SimCfg``).

    Parameters
    ----------
    net, inputs, probes, reader
        As for :func:`to_lava`.
    T : int, optional
        Steps; default the input length.
    warmup : bool
        Time only the steps after the first (compile and process start excluded).
    segments : list of :class:`~hwsim.export.lava_protocol.Segment`, optional
        A host protocol instead of ``inputs`` / ``T`` (both must then be None): the segments' inputs
        run one after the other, each followed by its host operations (:meth:`LavaGraph.run`); the
        result then also holds ``after_ops``.

    Returns
    -------
    dict
        ``spikes`` {LIF-family population: int8 (T, n)}, ``probes`` {(population, var): int32 (T, n)}, row i =
        Lava time step i + 1, columns in the IR's C-major order; ``timing`` (see
        :meth:`LavaGraph.run`); ``exported_as`` {projection: Lava process}.
    """
    plan = None
    if segments is not None:
        from .lava_protocol import check_segments, concat_inputs
        if inputs or T is not None:
            raise ValueError("run_lava: give either inputs / T or segments, not both")
        segments = check_segments(net, segments)
        inputs, T = concat_inputs(net, segments), sum(sg.steps for sg in segments)
        plan = [(sg.steps, sg.ops) for sg in segments]
    graph = to_lava(net, inputs, probes, T=T, reader=reader)
    try:
        out = graph.run(warmup=warmup, segments=plan)
    finally:
        graph.close()
    out["exported_as"] = dict(graph.exported_as)
    return out
