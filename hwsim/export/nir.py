"""Chip networks to and from NIR (the Neuromorphic Intermediate Representation, ``nir`` 1.0.8).

NIR is a float, continuous-time graph; it has no integers. A chip network is written as float
nodes that other SNN libraries (snnTorch, Norse, Rockpool, Sinabs, ...) read, plus our exact
integers as node metadata that :func:`read_nir` reads back, so ``read_nir(write_nir(net))`` is
the identical network (:func:`hwsim.io.diff_networks` empty). ``nir`` is imported only inside
functions.

What a float consumer sees (``dt = DT = 1e-4`` s, snnTorch's convention; Euler steps of ``dt``)
-----------------------------------------------------------------------------------------------
Float units: one unit = 64 chip units of ``u`` / ``v`` (the chip adds ``a << 6``); 4096 below is
``2**spec.decay_bits`` (Loihi's 12-bit decays).

==================================  =============================================================
chip                                NIR node
==================================  =============================================================
SpikeInput (C, H, W) or (n,)        ``Input`` (graded inputs: the payload values)
dense / sparse projection           ``Linear``, ``weight = chip_weights(w) * 2**weight_exp``
                                    (n_dst, n_src); a ``Flatten`` before it when the source is
                                    (C, H, W)
conv projection                     ``Conv2d`` (torch layout and cross-correlation), the same
                                    weights, zero bias
LIF population (lif, lif_reset,     ``CubaLIF`` per compartment: ``tau_syn = dt * 4096 /
ternary_lif)                        (du + 1)``, ``tau_mem = dt * 4096 / dv`` (``inf`` for no
                                    decay), ``w_in = tau_syn / dt``, ``r = tau_mem / dt``,
                                    ``v_threshold = vth``, ``v_reset = 0``, ``v_leak = r * (bias_mant
                                    << bias_exp) / 64``
population without outgoing edges   an ``Output`` node ``<population>:out``
==================================  =============================================================

With these values one Euler step of NIR's CubaLIF is ``I = (1 - (du+1)/4096) I + W s`` and
``v = (1 - dv/4096) v + I + bias / 64``, spike ``v > vth``, reset to 0: the chip's arithmetic
without its integer truncations and wraps. A float consumer does not see: the truncation toward
zero of the decays and the floor of ``weight_exp < 0`` sums, the 24-bit wraps, the one-step
synaptic delay of every projection, per-synapse delays, ``lif_reset``'s periodic reset,
``ternary_lif``'s negative spikes (``vth_lo``), ``u_init`` / ``v_init`` and probes; our
:func:`read_nir` restores all of them from the metadata.

Metadata (read back exactly)
----------------------------
* graph: ``hwlearn`` = JSON ``{"format": "hwlearn-nir", "version": 1, "name", "spec": {ChipSpec
  fields}, "inputs", "populations", "projections" (names in insertion order), "nodes" (name ->
  node key), "probes"}``
* Input: ``hwlearn`` = JSON ``{"name", "shape", "graded"}``
* CubaLIF: ``hwlearn`` = JSON ``{"name", "shape", "kind", "du", "dv", "vth", "reset_interval",
  "reset_offset", "vth_lo"}``; int64 arrays ``hwlearn_bias_mant``, ``hwlearn_bias_exp``,
  ``hwlearn_u_init``, ``hwlearn_v_init``
* Linear / Conv2d: ``hwlearn`` = JSON ``{"name", "kind" (dense | sparse | conv), "src", "dst",
  "weight_exp", "num_weight_bits", "sign_mode", "graded", [n_dst, n_src] [stride, padding,
  dilation, groups]}``; int64 arrays ``hwlearn_weights`` (the stored mantissas, before the chip's
  clip and truncation), ``hwlearn_delays``, ``hwlearn_dst_index``, ``hwlearn_src_index``

Not exported (:class:`~hwsim.export.lava.UnexportableError`): learning projections (NIR has no
plasticity); names containing ``/`` (HDF5 paths); a dense projection into a population that is not
flat (NIR's Linear output is flat).

Reading a graph written by another library (:func:`read_float_graph`): a chain ``Input ->
(Flatten) -> Linear | Affine | Conv2d -> LIF | CubaLIF -> ... -> Output``, discretised with a
given ``dt``; any other node raises :class:`NirUnsupportedError` naming the node and its type.
"""
from __future__ import annotations

import dataclasses
import io as _io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..network import ConvProjection, Network, SparseProjection
from ..program import chip_weights, effective_bias
from ..spec import ChipSpec
from .lava import UnexportableError

__all__ = ["DT", "NIR_FORMAT", "NirError", "NirUnsupportedError", "build_graph", "write_nir", "read_nir",
           "network_from_graph", "is_hwlearn_graph", "FloatLayer", "FloatGraph", "read_float_graph", "require_nir"]

DT = 1e-4                       # s per chip step in the float graph (snnTorch's NIR convention)
NIR_FORMAT = "hwlearn-nir"      # graph metadata format of our integers
NIR_FORMAT_VERSION = 1
_UNIT = 64                      # chip u / v units per float unit (a << 6)
_POP_INTS = ("du", "dv", "vth", "reset_interval", "reset_offset", "vth_lo")
_POP_ARRAYS = ("bias_mant", "bias_exp", "u_init", "v_init")


class NirError(ValueError):
    """A NIR file that cannot be read as a chip network; the message names the file and the node."""


class NirUnsupportedError(NirError):
    """A NIR node type (or combination) hwlearn does not import; the message names node and type."""


def require_nir(feature: str = "NIR export and import"):
    """Import and return ``nir``, or raise ImportError naming the feature and the install."""
    try:
        import nir
    except Exception as exc:
        raise ImportError(f"{feature} needs the nir package: pip install 'hwlearn[nir]' (nir==1.0.8) "
                          f"(import failed: {exc})") from exc
    return nir


# ---------------------------------------------------------------------------------------------
# float equivalents of the chip's integers
# ---------------------------------------------------------------------------------------------
def _float_weights(net: Network, proj) -> np.ndarray:
    """chip_weights(w) * 2**weight_exp as float64 (exact: integers times a power of two)."""
    w = chip_weights(proj.weights, proj.sign_mode, proj.num_weight_bits, net.spec).astype(np.float64)
    w = np.ldexp(w, int(proj.weight_exp))
    if isinstance(proj, SparseProjection):
        full = np.zeros((proj.n_dst, proj.n_src))
        full[proj.dst_index, proj.src_index] = w
        return full
    return w


def _taus(du: int, dv: int, unity: int):
    """(tau_syn, tau_mem) in s: dt / (decay fraction), inf for no decay."""
    with np.errstate(divide="ignore"):
        return DT * unity / np.float64(du + 1), DT * unity / np.float64(dv)


def _cuba_params(net: Network, pop) -> dict:
    unity = 1 << net.spec.decay_bits
    tau_syn, tau_mem = _taus(pop.du, pop.dv, unity)
    shape = pop.shape
    ones = np.ones(shape)
    r = tau_mem / DT
    bias = effective_bias(pop.bias_mant, pop.bias_exp).astype(np.float64).reshape(shape) / _UNIT
    with np.errstate(invalid="ignore"):
        v_leak = np.where(bias != 0, bias * r, 0.0)
    return dict(tau_syn=ones * tau_syn, tau_mem=ones * tau_mem, r=ones * r, w_in=ones * (tau_syn / DT),
                v_leak=v_leak, v_threshold=ones * float(pop.vth), v_reset=np.zeros(shape))


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------
def _meta(info: dict, **arrays) -> dict:
    out = {"hwlearn": json.dumps(info, sort_keys=True)}
    for k, a in arrays.items():
        if a is not None:
            out[f"hwlearn_{k}"] = np.asarray(a, dtype=np.int64)
    return out


def build_graph(net: Network):
    """The ``nir.NIRGraph`` of ``net`` (float nodes + integer metadata); see the module docstring."""
    nir = require_nir()
    if net.learning_projections():
        raise UnexportableError(f"projection(s) {[p.name for p in net.learning_projections()]} learn; NIR has "
                                "no plasticity (use --to lava)")
    names = list(net.inputs) + list(net.populations) + list(net.projections)
    bad = [n for n in names if "/" in n]
    if bad:
        raise UnexportableError(f"name(s) {bad} contain '/', which NIR's HDF5 node paths cannot hold")
    nodes, edges, keys = {}, [], {}
    for name, node in net.inputs.items():
        nodes[name] = nir.Input(input_type={"input": np.array(node.shape)},
                                metadata=_meta({"name": name, "shape": list(node.shape), "graded": node.graded}))
        keys[name] = name
    for name, pop in net.populations.items():
        info = {"name": name, "shape": list(pop.shape), "kind": pop.kind,
                **{k: int(getattr(pop, k)) for k in _POP_INTS}}
        nodes[name] = nir.CubaLIF(**_cuba_params(net, pop),
                                  metadata=_meta(info, **{k: getattr(pop, k) for k in _POP_ARRAYS}))
        keys[name] = name
    for name, p in net.projections.items():
        src_shape = net.node(p.src).shape
        info = {"name": name, "src": p.src, "dst": p.dst, "weight_exp": int(p.weight_exp),
                "num_weight_bits": int(p.num_weight_bits), "sign_mode": p.sign_mode, "graded": bool(p.graded)}
        if isinstance(p, ConvProjection):
            info.update(kind="conv", stride=list(p.stride), padding=list(p.padding), dilation=list(p.dilation),
                        groups=int(p.groups))
            nodes[name] = nir.Conv2d(input_shape=tuple(src_shape[1:]), weight=_float_weights(net, p),
                                     stride=tuple(p.stride), padding=tuple(p.padding), dilation=tuple(p.dilation),
                                     groups=int(p.groups), bias=np.zeros(p.weights.shape[0]),
                                     metadata=_meta(info, weights=p.weights))
            edges.append((p.src, name))
        else:
            if len(net.populations[p.dst].shape) != 1:
                raise UnexportableError(f"projection {name!r}: dense into population {p.dst!r} of shape "
                                        f"{net.populations[p.dst].shape}; NIR's Linear output is flat")
            sparse = isinstance(p, SparseProjection)
            info.update(kind="sparse" if sparse else "dense")
            if sparse:
                info.update(n_dst=int(p.n_dst), n_src=int(p.n_src))
            arrays = dict(weights=p.weights, delays=p.delays)
            if sparse:
                arrays.update(dst_index=p.dst_index, src_index=p.src_index)
            nodes[name] = nir.Linear(weight=_float_weights(net, p), metadata=_meta(info, **arrays))
            if len(src_shape) > 1:
                fl = f"{name}:flatten"
                nodes[fl] = nir.Flatten(input_type={"input": np.array(src_shape)}, start_dim=0, end_dim=-1)
                edges += [(p.src, fl), (fl, name)]
            else:
                edges.append((p.src, name))
        edges.append((name, p.dst))
        keys[name] = name
    for name, pop in net.populations.items():
        if not net.projections_from(name):
            out = f"{name}:out"
            nodes[out] = nir.Output(output_type={"output": np.array(pop.shape)})
            edges.append((name, out))
    clash = [k for k in nodes if k.endswith((":out", ":flatten")) and k in keys]
    if clash:
        raise UnexportableError(f"name(s) {clash} clash with the generated Output / Flatten node keys")
    info = {"format": NIR_FORMAT, "version": NIR_FORMAT_VERSION, "name": net.name,
            "spec": {f.name: int(getattr(net.spec, f.name)) for f in dataclasses.fields(ChipSpec)},
            "inputs": list(net.inputs), "populations": list(net.populations),
            "projections": list(net.projections), "probes": [[p.target, p.var] for p in net.probes],
            "dt": DT}
    # nir 1.0.8 infers a Conv2d's output type from the kernel height alone (nir/ir/utils.py
    # calculate_conv_output gets weight.shape[2] for both dimensions), so a graph with a non-square
    # kernel fails its own type check: build (and read) such graphs without it
    square = all(p.weights.shape[2] == p.weights.shape[3] for p in net.projections.values()
                 if isinstance(p, ConvProjection))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"hwlearn": json.dumps(info, sort_keys=True)},
                        type_check=square)


def write_nir(net: Network, path) -> str:
    """Write ``net`` as a NIR file with nir's own writer, atomically (a failed export leaves no file).

    Returns a one-line summary (node counts). Raises UnexportableError before writing anything.
    """
    import h5py

    nir = require_nir()
    from ..io import _atomic_write

    graph = build_graph(net)
    buf = _io.BytesIO()
    nir.write(buf, graph)                   # nir's serialisation, copied into our atomic file

    def writer(f):
        with h5py.File(buf, "r") as src:
            for k in src.keys():
                src.copy(src[k], f, name=k)
    _atomic_write(path, writer, "nir")
    kinds = {}
    for n in graph.nodes.values():
        kinds[type(n).__name__] = kinds.get(type(n).__name__, 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) + f"; integers as metadata, dt={DT} s"


# ---------------------------------------------------------------------------------------------
# reading our own graphs
# ---------------------------------------------------------------------------------------------
def _read(path):
    nir = require_nir()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return nir.read(str(path), type_check=False)      # see build_graph: nir's conv type inference
    except Exception as exc:
        raise NirError(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})") from None


def _info(meta: dict, where: str) -> dict:
    raw = meta.get("hwlearn") if isinstance(meta, dict) else None
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        out = json.loads(str(raw))
    except ValueError as exc:
        raise NirError(f"{where}: corrupt hwlearn metadata ({exc})") from None
    if not isinstance(out, dict):
        raise NirError(f"{where}: corrupt hwlearn metadata (not a JSON object)")
    return out


def is_hwlearn_graph(graph) -> bool:
    """True if ``graph`` (a ``nir.NIRGraph``) carries hwlearn's integer metadata."""
    return _info(getattr(graph, "metadata", {}), "graph").get("format") == NIR_FORMAT


def _arr(meta: dict, key: str, where: str) -> Optional[np.ndarray]:
    a = meta.get(f"hwlearn_{key}")
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise NirError(f"{where}: metadata hwlearn_{key} should be an integer array, got {a.dtype}")
    return a.astype(np.int64)


def read_nir(path) -> Network:
    """Rebuild the chip network from a NIR file written by :func:`write_nir` (every integer exact).

    Raises
    ------
    NirError
        Not a NIR file, no hwlearn metadata (a float graph from another library: import it with
        :func:`read_float_graph` and ``models.nir_import``), corrupt metadata, or float weights
        that no longer match the integers (an edited graph).
    SpecError
        A stored value outside the chip's range (through the Network builder).
    """
    graph = _read(path)
    return network_from_graph(graph, str(path))


def network_from_graph(graph, where: str = "graph") -> Network:
    """The chip network of an hwlearn ``nir.NIRGraph`` (see :func:`read_nir`)."""
    info = _info(graph.metadata, where)
    if info.get("format") != NIR_FORMAT:
        raise NirError(f"{where}: a float NIR graph without hwlearn integers (written by another library); "
                       "import it as a float network (hwlearn import quantizes it)")
    if int(info.get("version", 0)) > NIR_FORMAT_VERSION:
        raise NirError(f"{where}: hwlearn NIR metadata version {info['version']} is newer than this reader "
                       f"({NIR_FORMAT_VERSION}); upgrade hwlearn")
    try:
        spec = ChipSpec(**info["spec"])
        net = Network(spec, name=info["name"])
        nodes = graph.nodes

        def node(name):
            if name not in nodes:
                raise NirError(f"{where}: node {name!r} named in the hwlearn metadata is missing")
            return nodes[name], nodes[name].metadata, _info(nodes[name].metadata, f"{where}: node {name!r}")

        for name in info["inputs"]:
            _, _, ni = node(name)
            net.add_input(name, tuple(ni["shape"]), graded=bool(ni["graded"]))
        for name in info["populations"]:
            _, meta, ni = node(name)
            w = f"{where}: node {name!r}"
            net.add_population(name, tuple(ni["shape"]), kind=ni["kind"], **{k: int(ni[k]) for k in _POP_INTS},
                               **{k: _arr(meta, k, w) for k in _POP_ARRAYS})
        for name in info["projections"]:
            nd, meta, ni = node(name)
            w = f"{where}: node {name!r}"
            common = dict(weight_exp=int(ni["weight_exp"]), num_weight_bits=int(ni["num_weight_bits"]),
                          sign_mode=ni["sign_mode"], graded=bool(ni["graded"]))
            weights = _arr(meta, "weights", w)
            if weights is None:
                raise NirError(f"{w}: metadata hwlearn_weights is missing")
            if ni["kind"] == "conv":
                p = net.connect_conv(name, ni["src"], ni["dst"], weights, stride=tuple(ni["stride"]),
                                     padding=tuple(ni["padding"]), dilation=tuple(ni["dilation"]),
                                     groups=int(ni["groups"]), **common)
            elif ni["kind"] == "sparse":
                p = net.connect_sparse(name, ni["src"], ni["dst"], _arr(meta, "dst_index", w),
                                       _arr(meta, "src_index", w), weights, delays=_arr(meta, "delays", w), **common)
            elif ni["kind"] == "dense":
                p = net.connect_dense(name, ni["src"], ni["dst"], weights, delays=_arr(meta, "delays", w), **common)
            else:
                raise NirError(f"{w}: unknown projection kind {ni['kind']!r}")
            if not np.array_equal(np.asarray(nd.weight, np.float64), _float_weights(net, p)):
                raise NirError(f"{w}: the float weights differ from the hwlearn integers in its metadata (the graph "
                               "was edited after export); re-export it, or strip the metadata to import it as floats")
        for target, var in info["probes"]:
            net.add_probe(target, var)
    except (KeyError, TypeError) as exc:
        raise NirError(f"{where}: incomplete hwlearn metadata ({type(exc).__name__}: {exc})") from None
    return net


# ---------------------------------------------------------------------------------------------
# reading float graphs written by other libraries
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FloatLayer:
    """One spiking layer of a float NIR chain, discretised with ``dt`` (Euler)::

        i[t] = alpha * i[t-1] + g_syn * (W x[t] + b)
        v[t] = beta * v[t-1] + g_mem * i[t] + c
        s[t] = v[t] > v_th;   v[t] = v_reset where s[t]

    kind : 'dense' or 'conv'; synapse, neuron : the NIR node keys
    weight : float64 (n_out, n_in) or (C_out, C_in/groups, KH, KW); bias : (n_out,) / (C_out,) or None
    stride, padding, dilation, groups : conv geometry; flatten_before : a Flatten precedes the synapse
    alpha, beta, g_syn, g_mem, c, v_th, v_reset : float64 arrays of the neuron shape
    shape : neuron shape
    """

    kind: str
    synapse: str
    neuron: str
    weight: np.ndarray
    bias: Optional[np.ndarray]
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    flatten_before: bool
    alpha: np.ndarray
    beta: np.ndarray
    g_syn: np.ndarray
    g_mem: np.ndarray
    c: np.ndarray
    v_th: np.ndarray
    v_reset: np.ndarray
    shape: tuple


@dataclass(frozen=True)
class FloatGraph:
    """A float NIR chain: input node, its shape, the spiking layers, the dt used to discretise."""

    input: str
    input_shape: tuple
    layers: tuple
    dt: float


_SUPPORTED = "Input, Output, Flatten, Linear, Affine, Conv2d, LIF, CubaLIF"


def read_float_graph(path_or_graph, dt: float = DT) -> FloatGraph:
    """Read a float NIR chain (e.g. snnTorch's or Norse's export) into :class:`FloatGraph`.

    Parameters
    ----------
    path_or_graph : str, os.PathLike or nir.NIRGraph
    dt : float
        Seconds per step used to discretise the time constants (snnTorch writes with 1e-4).

    Raises
    ------
    NirUnsupportedError
        A node of a type hwlearn does not import (named, with its type), a branch or a loop.
    NirError
        Not a NIR file, a malformed chain, a bad ``dt``.
    """
    nir = require_nir()
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise NirError(f"dt={dt!r} must be a positive number of seconds")
    where = str(path_or_graph) if not isinstance(path_or_graph, nir.NIRGraph) else "graph"
    graph = path_or_graph if isinstance(path_or_graph, nir.NIRGraph) else _read(path_or_graph)
    nodes, edges = graph.nodes, list(graph.edges)
    for key, n in nodes.items():
        if not isinstance(n, (nir.Input, nir.Output, nir.Flatten, nir.Linear, nir.Affine, nir.Conv2d, nir.LIF,
                              nir.CubaLIF)):
            raise NirUnsupportedError(f"{where}: node {key!r} of type {type(n).__name__} is not supported "
                                      f"(hwlearn imports {_SUPPORTED} in a chain)")
    succ = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    inputs = [k for k, n in nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise NirUnsupportedError(f"{where}: {len(inputs)} Input nodes {inputs}; hwlearn imports one input")
    inp = inputs[0]
    in_shape = tuple(int(s) for s in np.asarray(nodes[inp].input_type["input"]).reshape(-1))
    layers, key, flatten, seen, syn, shape = [], inp, False, {inp}, None, in_shape
    while True:
        nxt = succ.get(key, [])
        if len(nxt) != 1:
            if not nxt:
                raise NirError(f"{where}: node {key!r} has no outgoing edge and is not an Output")
            raise NirUnsupportedError(f"{where}: node {key!r} ({type(nodes[key]).__name__}) feeds {len(nxt)} nodes "
                                      f"{nxt}; hwlearn imports a chain")
        key = nxt[0]
        if key in seen:
            raise NirUnsupportedError(f"{where}: the edge into {key!r} closes a loop; hwlearn imports feed-forward "
                                      "chains")
        seen.add(key)
        n = nodes[key]
        if isinstance(n, nir.Output):
            break
        if isinstance(n, nir.Flatten):
            flatten = True
            continue
        if isinstance(n, (nir.Linear, nir.Affine, nir.Conv2d)):
            if syn is not None:
                raise NirUnsupportedError(f"{where}: node {key!r} ({type(n).__name__}) follows the synapse "
                                          f"{syn[0]!r} without a neuron in between")
            syn = (key, n, flatten)
            flatten = False
            continue
        if syn is None:
            raise NirUnsupportedError(f"{where}: neuron node {key!r} ({type(n).__name__}) has no Linear, Affine or "
                                      "Conv2d before it")
        layers.append(_float_layer(where, syn, key, n, dt, nir, shape))
        shape = layers[-1].shape
        syn = None
    if syn is not None:
        raise NirUnsupportedError(f"{where}: synapse node {syn[0]!r} feeds the Output directly; hwlearn needs a "
                                  "spiking neuron after every synapse")
    if not layers:
        raise NirError(f"{where}: no spiking layer between input and output")
    unvisited = sorted(set(nodes) - seen)
    if unvisited:
        raise NirUnsupportedError(f"{where}: node(s) {unvisited} are not on the chain from {inp!r} to the output")
    return FloatGraph(inp, in_shape, tuple(layers), float(dt))


def _float_layer(where, syn, key, n, dt, nir, in_shape) -> FloatLayer:
    """The layer ``synapse -> neuron``; parameters broadcast to the neuron shape, which the synapse
    and the input shape determine (snnTorch writes scalar neuron parameters)."""
    from ..network import conv_output_shape

    skey, s, flatten = syn
    w = np.asarray(s.weight, np.float64)
    bias = np.asarray(s.bias, np.float64) if isinstance(s, (nir.Affine, nir.Conv2d)) else None
    if bias is not None and not np.any(bias):
        bias = None
    f = lambda a: np.asarray(a, np.float64)
    if isinstance(n, nir.LIF):
        tau = f(n.tau)
        alpha = np.zeros_like(tau)
        g_syn = np.ones_like(tau)
        beta, g_mem, c = 1 - dt / tau, dt * f(n.r) / tau, dt * f(n.v_leak) / tau
    else:
        ts, tm = f(n.tau_syn), f(n.tau_mem)
        alpha, g_syn = 1 - dt / ts, dt * f(n.w_in) / ts
        beta, g_mem = 1 - dt / tm, dt * f(n.r) / tm
        with np.errstate(invalid="ignore"):
            c = np.where(f(n.v_leak) != 0, dt * f(n.v_leak) / tm, 0.0)
    v_th = f(n.v_threshold)
    v_reset = f(n.v_reset) if n.v_reset is not None else np.zeros_like(v_th)
    if isinstance(s, nir.Conv2d):
        if isinstance(s.padding, str):
            raise NirUnsupportedError(f"{where}: node {skey!r} (Conv2d) has padding={s.padding!r}; use integers")
        pair = lambda v: tuple(int(x) for x in np.broadcast_to(np.asarray(v).reshape(-1), (2,)))
        kind, geo = "conv", dict(stride=pair(s.stride), padding=pair(s.padding), dilation=pair(s.dilation),
                                 groups=int(np.asarray(s.groups).reshape(-1)[0]))
        if len(in_shape) != 3 or flatten:
            raise NirUnsupportedError(f"{where}: node {skey!r} (Conv2d) needs a (C, H, W) input, has {in_shape}")
        shape = conv_output_shape(in_shape, w.shape[0], w.shape[2:], geo["stride"], geo["padding"], geo["dilation"])
    else:
        kind, geo = "dense", dict(stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1)
        if w.ndim != 2 or w.shape[1] != int(np.prod(in_shape)):
            raise NirUnsupportedError(f"{where}: node {skey!r} ({type(s).__name__}) has weight shape {w.shape}, its "
                                      f"input has {int(np.prod(in_shape))} values")
        shape = (int(w.shape[0]),)
    try:
        alpha, beta, g_syn, g_mem, c, v_th, v_reset = (np.broadcast_to(a, shape).astype(np.float64) for a in
                                                       (alpha, beta, g_syn, g_mem, c, v_th, v_reset))
    except ValueError:
        raise NirUnsupportedError(f"{where}: node {key!r} ({type(n).__name__}) parameters of shape {v_th.shape} do "
                                  f"not fit the {shape} outputs of {skey!r}") from None
    for name, a in (("alpha", alpha), ("beta", beta), ("g_syn", g_syn), ("g_mem", g_mem), ("c", c)):
        if not np.all(np.isfinite(a)):
            raise NirUnsupportedError(f"{where}: node {key!r} ({type(n).__name__}): {name} is not finite with "
                                      f"dt={dt} (check the time constants and dt)")
    return FloatLayer(kind, skey, key, w, bias, flatten_before=flatten, alpha=alpha, beta=beta, g_syn=g_syn,
                      g_mem=g_mem, c=c, v_th=v_th, v_reset=v_reset, shape=tuple(shape), **geo)
