"""Compile a :class:`~hwsim.network.Network` and its core mapping into flat arrays for the kernels.

This is the only place that knows both the IR objects and the kernels' array layout:

* **sources**: inputs first (net.inputs order, flat channels), then every compartment
  (net.populations order); a compartment's source id is ``n_in_src + compartment``.
* **compartments**: populations concatenated; the mapper's cores become *blocks*, contiguous
  compartment ranges of one population on one core.
* **synapses**: every projection expanded into its synapses (conv unrolled), weights after the
  chip's clip and truncation (:func:`chip_weights`), grouped into per-source segments
  (:mod:`hwsim.kernels.synapse`).

* **learning projections** (dense with a rule) get no segments: the simulator accumulates them
  with their learning engine (:class:`LearningLink` says where their spikes come from and go);
  they are counted like any dense projection (synaptic ops, messages, bytes read).

Chip semantics fixed here (each checked against Lava in ``tests/hwsim/test_simulator_lava.py``):

* Dense / Sparse / Conv weights: clipped to the sign mode's range for ``spec.weight_bits``
  (Lava ``clip_weights(num_bits=8)``), then their ``spec.weight_bits - num_weight_bits (+1 if
  mixed)`` low bits are truncated (floor; inhibitory weights truncate their magnitude, as Lava's
  ``truncate_weights`` negates around the shift).
* The step's sum of a projection is floor-shifted by ``weight_exp``. **Conv uses the same weight
  clip/truncation and ``weight_exp`` as Dense in this IR** (Lava's ``Conv`` ignores both; with
  ``weight_exp=0`` and weights unchanged by the truncation they agree), then wraps to 24 bits
  (Lava ``signed_clamp(conv, 24)``): ``a = wrap24(floor_shift(sum, weight_exp))``.
* Effective bias ``bias_mant << bias_exp`` computed as Lava does (int16 mantissa, int32 shift).
* Sums before the shift, as Lava's dtypes make them: binary spikes sum exactly (int64); graded
  payloads from int32 channels (inputs, binary compartments) sum with int32 wrap-around in Dense,
  Sparse and DelaySparse (numpy / scipy int32 dot); DelayDense wraps each product to int32 and sums
  in int64; Conv sums exactly (Lava convolves in float64). The shifted sum is sent as int32, the
  compartment adds its inputs as int32. Known divergence: a graded conv sum beyond +-2**31 is
  undefined in Lava (float64 -> int32 cast) and wraps here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import DU_OFFSET, DV_OFFSET, VTH_SHIFT
from .kernels import synapse as K
from .kernels.conv import conv_synapses
from .kernels.neuron import KIND_CODES, LIF_RESET, READOUT, TERNARY
from .network import ConvProjection, DenseProjection, Network, SparseProjection, SpikeInput
from .spec import ChipSpec
from .weights import chip_weights as _chip_weights
from .weights import truncated_bits


def chip_weights(w: np.ndarray, sign_mode: str, num_weight_bits: int, spec: ChipSpec) -> np.ndarray:
    """Weight mantissas as the chip uses them: clip to the sign mode's range, truncate low bits
    (:func:`hwsim.weights.chip_weights` at ``spec.weight_bits``; Lava ``clip_weights(W, sign_mode,
    num_bits=8)`` then ``truncate_weights(W, sign_mode, num_weight_bits)``: MIXED with the default 8 bits
    drops the LSB, 3 -> 2, -3 -> -4)."""
    return _chip_weights(w, sign_mode, num_weight_bits, spec.weight_bits)


def effective_bias(bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    """Lava ``scale_bias``: int16 mantissa promoted to int32, shifted left (exp >= 0) or right."""
    bm = np.asarray(bias_mant).astype(np.int16).astype(np.int32)
    be = np.asarray(bias_exp).astype(np.int16).astype(np.int32)
    left = np.left_shift(bm, np.maximum(be, 0))
    right = np.right_shift(bm, np.maximum(-be, 0))
    return np.where(be >= 0, left, right).astype(np.int32)


@dataclass(frozen=True)
class Synapses:
    """The synapses of one projection: local source and target indices, chip weight, delay."""

    src: np.ndarray
    dst: np.ndarray
    w: np.ndarray
    delay: np.ndarray
    n_src: int
    n_dst: int
    max_delay: int
    has_delays: bool


def expand_synapses(net: Network, proj) -> Synapses:
    """All synapses of ``proj`` (dense: every matrix entry, zeros included; conv: unrolled)."""
    spec = net.spec
    n_src = net.node(proj.src).size
    n_dst = net.node(proj.dst).size
    if isinstance(proj, DenseProjection):
        w = chip_weights(proj.weights, proj.sign_mode, proj.num_weight_bits, spec)
        dst, src = np.divmod(np.arange(n_dst * n_src, dtype=np.int64), n_src)
        w = w.reshape(-1)
        delay = (proj.delays.reshape(-1) if proj.delays is not None else np.zeros(w.size, np.int64))
        has = proj.delays is not None
    elif isinstance(proj, SparseProjection):
        w = chip_weights(proj.weights, proj.sign_mode, proj.num_weight_bits, spec)
        src, dst = proj.src_index, proj.dst_index
        delay = proj.delays if proj.delays is not None else np.zeros(w.size, np.int64)
        has = proj.delays is not None
    elif isinstance(proj, ConvProjection):
        s_shape = net.node(proj.src).shape
        d_shape = net.node(proj.dst).shape
        wq = chip_weights(proj.weights, proj.sign_mode, proj.num_weight_bits, spec)
        src, dst, w = conv_synapses(s_shape[0], s_shape[1], s_shape[2], np.ascontiguousarray(wq),
                                    proj.stride[0], proj.stride[1], proj.padding[0], proj.padding[1],
                                    proj.dilation[0], proj.dilation[1], proj.groups, d_shape[1], d_shape[2])
        delay = np.zeros(w.size, np.int64)
        has = False
    else:  # pragma: no cover - the IR has only these three
        raise TypeError(f"unknown projection type {type(proj).__name__}")
    delay = np.asarray(delay, np.int64)
    return Synapses(np.asarray(src, np.int64), np.asarray(dst, np.int64), np.asarray(w, np.int64), delay,
                    n_src, n_dst, int(delay.max()) if (has and delay.size) else 0, has)


def synapse_bits(proj, syn: Synapses, spec: ChipSpec) -> int:
    """Bits of synaptic memory per synapse: weight (num_weight_bits) + delay field + index field.

    Model (after Loihi's dense and sparse synapse encodings, Davies et al. 2018): dense rows store
    only weights; sparse and conv synapses also store the target compartment index
    (ceil(log2(compartments_per_core)) bits); a delay field of ceil(log2(max_delay + 1)) bits is
    added when the projection has delays.
    """
    bits = int(proj.num_weight_bits)
    if syn.has_delays and syn.max_delay > 0:
        bits += int(np.ceil(np.log2(syn.max_delay + 1)))
    if not isinstance(proj, DenseProjection):
        bits += max(1, int(np.ceil(np.log2(spec.compartments_per_core))))
    return bits


def _synapse_kind(net: Network, proj, s: Synapses):
    """Segment kind of a projection (see :mod:`hwsim.kernels.synapse`), its stored weights and exponent.

    Binary projections whose weights, divided by the ``2**ntb`` that truncation leaves as a factor,
    fit int8 are stored that way (half the memory traffic of int16) with ``weight_exp + ntb``: for
    binary spikes the sum is exact, so ``floor_shift(sum(w), e) == floor_shift(sum(w >> ntb), e + ntb)``.
    Graded projections keep full weights, because Lava's int32 wrap of their sums must be reproduced.
    """
    spec = net.spec
    src_node = net.node(proj.src)
    graded_input = isinstance(src_node, SpikeInput) and src_node.graded
    is_dense = isinstance(proj, DenseProjection)
    contiguous = is_dense and not s.has_delays
    if not proj.graded:
        if s.n_src * (1 << (spec.weight_bits + 1)) >= 2 ** 31:
            raise ValueError(f"projection {proj.name!r}: {s.n_src} sources can overflow the int32 accumulator; "
                             "split the projection")
        ntb = truncated_bits(proj.sign_mode, proj.num_weight_bits, spec.weight_bits)
        w8 = s.w >> ntb
        if np.array_equal(w8 << ntb, s.w) and (w8.size == 0 or (w8.min() >= -128 and w8.max() <= 127)):
            return (K.K_CONTIG_BIN8 if contiguous else K.K_INDEX_BIN8), w8, proj.weight_exp + ntb
        return (K.K_CONTIG_BIN if contiguous else K.K_INDEX_BIN), s.w, proj.weight_exp
    if contiguous:
        kind = K.K_CONTIG_GRADED
    elif is_dense and graded_input:
        kind = K.K_WIDE_WRAPPROD
    elif isinstance(proj, ConvProjection) and graded_input:
        kind = K.K_WIDE_EXACT
    else:
        kind = K.K_INDEX_GRADED
    return kind, s.w, proj.weight_exp


@dataclass(frozen=True)
class Program:
    """Flat arrays of a compiled network (see module docstring); built by :func:`compile_network`."""

    n_comp: int
    n_in_src: int
    ring_len: int
    n_acc32: int
    n_acc64: int
    n_cores: int
    pop_names: tuple
    pop_offsets: np.ndarray          # (P+1,) compartment offsets
    input_names: tuple
    input_offsets: np.ndarray        # (I+1,) source offsets
    u_init: np.ndarray               # int32 (N,)
    v_init: np.ndarray               # int32 (N,)
    neu: tuple
    syn: tuple
    prj: tuple
    cnt: tuple
    core_compartments: np.ndarray    # (n_cores,) compartments per core
    syn_bits: np.ndarray             # (Q,) bits per synapse of each projection
    fanout: np.ndarray               # (n_sources,) synapses per source (all projections)

    def pop_slice(self, name: str) -> slice:
        i = self.pop_names.index(name)
        return slice(int(self.pop_offsets[i]), int(self.pop_offsets[i + 1]))


def _i64(x):
    return np.ascontiguousarray(np.asarray(x, dtype=np.int64))


def _graded_kinds(pops, pop_off, pop_index, spec: ChipSpec) -> tuple:
    """The ``neu`` entries of the graded kinds (docs/compartments.md): per population its first
    compartment, its partner's first compartment (-1: none), ``tgt``, the shift (``es`` / ``sh``), its
    slice of the concatenated LUTs, ``lut_shift``, ``delay``, seed and the partner's threshold
    ``vth << 6``; the LUTs; the output range ``[-2**trace_bits, 2**trace_bits - 1]``."""
    lut_parts, lut0 = [], []
    n = 0
    for p in pops:
        lut0.append(n)
        lut_parts.append(np.asarray(p.lut, np.int64))
        n += len(p.lut)

    def partner(p):
        return int(pop_off[pop_index[p.partner]]) if p.partner else -1

    def vth6(p):
        return pops[pop_index[p.partner]].vth << VTH_SHIFT if p.partner else 0

    lut = np.ascontiguousarray(np.concatenate(lut_parts) if n else np.zeros(1, np.int64))
    return (_i64(pop_off[:-1]), _i64([partner(p) for p in pops]), _i64([p.tgt for p in pops]),
            _i64([p.shift for p in pops]), _i64(lut0), _i64([len(p.lut) for p in pops]),
            _i64([p.lut_shift for p in pops]), _i64([p.delay for p in pops]), _i64([p.seed for p in pops]),
            _i64([vth6(p) for p in pops]), lut, -(1 << spec.trace_bits), (1 << spec.trace_bits) - 1)


def history_len(net: Network) -> int:
    """Rows of the ``vpre`` history (:mod:`hwsim.kernels.engine`): the largest learning-compartment delay + 1."""
    return 1 + max([p.delay for p in net.populations.values()], default=0)


def compile_network(net: Network, mapping) -> Program:
    """Compile ``net`` with its core ``mapping`` (:class:`hwsim.mapper.Mapping`) into a Program."""
    spec = net.spec
    pops = list(net.populations.values())
    inputs = list(net.inputs.values())
    pop_index = {p.name: i for i, p in enumerate(pops)}
    pop_off = np.zeros(len(pops) + 1, np.int64)
    pop_off[1:] = np.cumsum([p.size for p in pops]) if pops else []
    in_off = np.zeros(len(inputs) + 1, np.int64)
    in_off[1:] = np.cumsum([i.size for i in inputs]) if inputs else []
    n_comp = int(pop_off[-1])
    n_in = int(in_off[-1])
    src_off = {i.name: int(in_off[k]) for k, i in enumerate(inputs)}
    src_off.update({p.name: n_in + int(pop_off[k]) for k, p in enumerate(pops)})

    # ---- compartments and core blocks -------------------------------------------------------
    # list of (core, pop_name, start, stop) in pop-local indices, in population order: a compartment
    # that reads a partner (error, learning) is updated after the partner in the same step
    blocks = sorted(mapping.blocks, key=lambda b: (pop_index[b[1]], b[2]))
    blk_c0 = _i64([pop_off[pop_index[b[1]]] + b[2] for b in blocks])
    blk_c1 = _i64([pop_off[pop_index[b[1]]] + b[3] for b in blocks])
    blk_core = _i64([b[0] for b in blocks])
    blk_pop = _i64([pop_index[b[1]] for b in blocks])
    comp_core = np.zeros(n_comp, np.int64)
    for c0, c1, core in zip(blk_c0, blk_c1, blk_core):
        comp_core[c0:c1] = core
    n_cores = mapping.n_cores

    def pop_arr(f):
        return _i64([f(p) for p in pops])

    pop_kind = pop_arr(lambda p: KIND_CODES[p.kind])
    unity = 1 << spec.decay_bits      # 4096 (Lava decay_unity)
    pop_fu = pop_arr(lambda p: unity - (p.du + DU_OFFSET))
    pop_fv = pop_arr(lambda p: unity - (p.dv + DV_OFFSET))
    pop_vhi = pop_arr(lambda p: p.vth << VTH_SHIFT if KIND_CODES[p.kind] != READOUT else np.iinfo(np.int64).max)
    # TernaryLIF keeps vth_lo in an int32 Var; its << 6 is int32 arithmetic
    pop_vlo = pop_arr(lambda p: int(np.left_shift(np.int32(p.vth_lo), VTH_SHIFT)) if KIND_CODES[p.kind] == TERNARY
                      else np.iinfo(np.int64).min)
    pop_uvh = pop_arr(lambda p: 1 << (spec.uv_bits - 1))
    pop_dsh = pop_arr(lambda p: spec.decay_bits)
    pop_rint = pop_arr(lambda p: p.reset_interval if KIND_CODES[p.kind] == LIF_RESET else 1)
    pop_roff = pop_arr(lambda p: (p.reset_offset % p.reset_interval) if KIND_CODES[p.kind] == LIF_RESET else 0)
    comp_bias = (np.concatenate([effective_bias(p.bias_mant, p.bias_exp) for p in pops]).astype(np.int64)
                 if pops else np.zeros(0, np.int64))
    u_init = (np.concatenate([p.u_init for p in pops]).astype(np.int32) if pops else np.zeros(0, np.int32))
    v_init = (np.concatenate([p.v_init for p in pops]).astype(np.int32) if pops else np.zeros(0, np.int32))
    neu = (blk_c0, blk_c1, blk_core, blk_pop, pop_kind, pop_fu, pop_fv, pop_vhi, pop_vlo, pop_rint, pop_roff,
           pop_uvh, pop_dsh, np.ascontiguousarray(comp_bias)) + _graded_kinds(pops, pop_off, pop_index, spec)

    # ---- projections -------------------------------------------------------------------------
    n_sources = n_in + n_comp
    projs = list(net.projections.values())
    prj_acc, prj_wide, prj_ndst, prj_nslot, prj_dst0, prj_exp, prj_wrap24 = ([] for _ in range(7))
    seg_src, seg_kind, seg_proj, seg_base, seg_woff, seg_ioff, seg_len = ([] for _ in range(7))
    w_parts, w8_parts, idx_parts = [], [], []
    n_w = n_w8 = n_idx = 0
    n_acc32 = n_acc64 = 0
    ring_len = 2
    syn_bits = np.zeros(len(projs), np.int64)
    sc_keys, sc_bits = [], []
    fanout = np.zeros(n_sources, np.int64)
    for q, proj in enumerate(projs):
        s = expand_synapses(net, proj)
        # counters: synapses and bits per (source, target core)
        bits = synapse_bits(proj, s, spec)
        syn_bits[q] = bits
        g = src_off[proj.src] + s.src
        core = comp_core[pop_off[pop_index[proj.dst]] + s.dst]
        sc_keys.append(g * max(n_cores, 1) + core)
        sc_bits.append(np.full(s.w.size, bits, np.int64))
        fanout += np.bincount(g, minlength=n_sources)
        if getattr(proj, "learning", None) is not None:
            # accumulated by its learning engine (hwsim.simulator), not by segments: no accumulators
            for lst, v in zip((prj_acc, prj_wide, prj_ndst, prj_nslot, prj_dst0, prj_exp, prj_wrap24),
                              (0, False, s.n_dst, 1, pop_off[pop_index[proj.dst]], proj.weight_exp, False)):
                lst.append(v)
            continue
        kind, w, e = _synapse_kind(net, proj, s)
        contiguous = kind in (K.K_CONTIG_BIN, K.K_CONTIG_BIN8, K.K_CONTIG_GRADED)
        wide = kind in (K.K_WIDE_WRAPPROD, K.K_WIDE_EXACT)
        nslot = s.max_delay + 1
        ring_len = max(ring_len, nslot + 1)
        size = nslot * s.n_dst
        if wide:
            base = n_acc64
            n_acc64 += size
        else:
            base = n_acc32
            n_acc32 += size
        prj_acc.append(base)
        prj_wide.append(wide)
        prj_ndst.append(s.n_dst)
        prj_nslot.append(nslot)
        prj_dst0.append(pop_off[pop_index[proj.dst]])
        prj_exp.append(e)
        prj_wrap24.append(isinstance(proj, ConvProjection))
        # segments: one per source row; dense rows without delays are rows of W^T (contiguous targets)
        order = np.argsort(s.src, kind="stable")
        counts = np.bincount(s.src, minlength=s.n_src)
        starts = np.zeros(s.n_src + 1, np.int64)
        starts[1:] = np.cumsum(counts)
        rows = np.nonzero(counts)[0]
        if kind in (K.K_CONTIG_BIN8, K.K_INDEX_BIN8):
            w8_parts.append(w[order])
            seg_woff.append(n_w8 + starts[rows])
            n_w8 += w.size
        else:
            w_parts.append(w[order])
            seg_woff.append(n_w + starts[rows])
            n_w += w.size
        if contiguous:
            seg_ioff.append(np.zeros(rows.size, np.int64))
        else:
            idx_parts.append(base + s.delay[order] * s.n_dst + s.dst[order])
            seg_ioff.append(n_idx + starts[rows])
            n_idx += w.size
        seg_base.append(np.full(rows.size, base, np.int64))
        seg_src.append(src_off[proj.src] + rows)
        seg_kind.append(np.full(rows.size, kind, np.int64))
        seg_proj.append(np.full(rows.size, q, np.int64))
        seg_len.append(counts[rows])

    def cat(parts, dtype):
        return np.ascontiguousarray(np.concatenate(parts).astype(dtype)) if parts else np.zeros(0, dtype)

    seg_src_a = cat(seg_src, np.int64)
    order = np.argsort(seg_src_a, kind="stable")
    seg_ptr = np.zeros(n_sources + 1, np.int64)
    seg_ptr[1:] = np.cumsum(np.bincount(seg_src_a, minlength=n_sources))
    w_all = cat(w_parts, np.int64)
    w_dtype = np.int16 if (w_all.size == 0 or (w_all.min() >= -32768 and w_all.max() <= 32767)) else np.int32
    syn = (seg_ptr, cat(seg_kind, np.int64)[order], cat(seg_proj, np.int64)[order],
           cat(seg_base, np.int64)[order], cat(seg_woff, np.int64)[order], cat(seg_ioff, np.int64)[order],
           cat(seg_len, np.int64)[order], w_all.astype(w_dtype), cat(w8_parts, np.int8), cat(idx_parts, np.int32))
    syn = tuple(np.ascontiguousarray(a) for a in syn)
    prj = (_i64(prj_acc), np.asarray(prj_wide, np.bool_), _i64(prj_ndst), _i64(prj_nslot), _i64(prj_dst0),
           _i64(prj_exp), np.asarray(prj_wrap24, np.bool_))

    # ---- per (source, core) counter table -----------------------------------------------------
    if sc_keys:
        keys = np.concatenate(sc_keys)
        uniq, inv = np.unique(keys, return_inverse=True)
        nsyn = np.bincount(inv).astype(np.int64)
        bits = np.bincount(inv, weights=np.concatenate(sc_bits)).astype(np.int64)
        sc_src = uniq // max(n_cores, 1)
        sc_core = uniq % max(n_cores, 1)
    else:
        nsyn = bits = sc_src = sc_core = np.zeros(0, np.int64)
    sc_ptr = np.zeros(n_sources + 1, np.int64)
    sc_ptr[1:] = np.cumsum(np.bincount(sc_src, minlength=n_sources))
    cnt = (sc_ptr, _i64(sc_core), _i64(nsyn), _i64((bits + 7) // 8))

    core_comp = np.zeros(max(n_cores, 1), np.int64)
    np.add.at(core_comp, blk_core, blk_c1 - blk_c0)
    return Program(n_comp=n_comp, n_in_src=n_in, ring_len=ring_len, n_acc32=n_acc32, n_acc64=n_acc64,
                   n_cores=n_cores, pop_names=tuple(p.name for p in pops), pop_offsets=pop_off,
                   input_names=tuple(i.name for i in inputs), input_offsets=in_off, u_init=u_init,
                   v_init=v_init, neu=neu, syn=syn, prj=prj, cnt=cnt, core_compartments=core_comp[:n_cores],
                   syn_bits=syn_bits, fanout=fanout)


@dataclass(frozen=True)
class LearningLink:
    """Where a learning projection reads and writes in the simulator's arrays.

    src_input : name of the input feeding it, or None when ``src_slice`` is a population's
        compartments (spikes of the step); dst_slice : its target compartments; bap : the target
        spikes drive the post traces; y_inputs : input name per third factor (y1, y2, y3) or None;
    cores, core_share : the destination's cores and their compartment counts (the learning
        counters are split over them in proportion);
    mirror : the projection's :class:`~hwsim.network.Mirror` or None; mirror_cores, mirror_share :
        the mirror destination's cores and compartment counts (its synaptic ops are split over them).
    """

    name: str
    proj: DenseProjection
    src_input: str | None
    src_slice: slice
    dst_slice: slice
    bap: bool
    y_inputs: tuple
    cores: np.ndarray
    core_share: np.ndarray
    mirror: object = None
    mirror_cores: np.ndarray = None
    mirror_share: np.ndarray = None


def _dst_blocks(mapping, dst: str) -> tuple:
    blocks = [b for b in mapping.blocks if b[1] == dst]
    return np.array([b[0] for b in blocks], np.int64), np.array([b[3] - b[2] for b in blocks], np.int64)


def learning_links(net: Network, program: Program, mapping) -> tuple:
    """One :class:`LearningLink` per learning projection of ``net``, in insertion order."""
    links = []
    for proj in net.projections.values():
        if getattr(proj, "learning", None) is None:
            continue
        if proj.src in net.inputs:
            src_input, src_sl = proj.src, None
        else:
            src_input, src_sl = None, program.pop_slice(proj.src)
        cores, share = _dst_blocks(mapping, proj.dst)
        ys = tuple(proj.third_factor.get(k) for k in ("y1", "y2", "y3"))
        mirror = next((m for m in getattr(net, "mirrors", {}).values() if m.of == proj.name), None)
        m_cores, m_share = _dst_blocks(mapping, mirror.dst) if mirror is not None else (None, None)
        links.append(LearningLink(proj.name, proj, src_input, src_sl, program.pop_slice(proj.dst),
                                  bool(proj.bap), ys, cores, share, mirror, m_cores, m_share))
    return tuple(links)
