"""Export a chip network to lava-dl's netx HDF5 layout, and run such a file with lava-dl's reader.

Writing needs only h5py (:func:`to_netx`); running (:func:`run_netx`) loads the file with lava-dl
0.6.0's own ``lava.lib.dl.netx.hdf5.Network`` and runs it in Lava 0.10.0 fixed point, so the
verifier (:func:`hwsim.export.verify.verify_against_lava` with ``runner=run_netx``) compares hwsim
with what a netx user gets. lava is imported only inside functions.

Layout written (``/layer/<i>/``, lava-dl ``slayer`` conventions, ../shared/reference/lava-semantics.md 4)
------------------------------------------------------------------------------------------------
=====================  ============================================================================
netx layer             from the IR
=====================  ============================================================================
``0: input``           ``shape`` of the network's one input (no ``neuron`` group: netx's input
                       block with a neuron is a LIF driven only by its bias, not a pass-through)
``dense``              a dense or sparse projection (sparse as a dense matrix with zeros) into the
                       next population of the chain: ``weight`` (n_out, n_in) = the chip's
                       effective weights ``chip_weights(w) * 2**weight_exp`` (exact integers);
                       ``delay`` (n_out, n_in) when the projection has delays
``conv``               a conv projection: torch-layout ``weight`` (C_out, C_in/groups, KH, KW) =
                       ``chip_weights(w) * 2**weight_exp``; ``stride``, ``padding``, ``dilation``
                       as (H, W) pairs, ``groups``; ``shape`` (C, H, W)
``flatten``            between a conv population and a following dense projection
``neuron``             ``type`` CUBA, ``iDecay = du + 1``, ``vDecay = dv``, ``vThMant = vth``,
                       ``refDelay`` 1, ``gradedSpike`` 0; layer ``bias`` = ``(bias_mant <<
                       bias_exp) / 64`` (netx uses ``bias_exp = 6``), in Lava's (W, H, C) order
                       for conv layers
=====================  ============================================================================

Why that is exact: netx's ``optimize_weight_bits`` re-encodes each dense matrix losslessly
(``W << sb`` with ``weight_exp = -sb``), so a dense layer adds exactly the integer sum of the
file's weights, as the chip adds ``floor_shift(sum(chip_weights(w)), weight_exp)`` when every
product is an integer; Lava's Conv uses the file's weights as they are. Root attributes
``netx_reset_interval``, ``netx_reset_offset`` and ``netx_input_message_bits`` say which
``hdf5.Network(...)`` arguments reproduce the network (reset phase and graded input are
constructor arguments in netx, not part of its file); ``hwlearn_*`` attributes name the IR
nodes of each layer. netx ignores both.

What netx cannot express (:class:`UnexportableError` naming the part, never a different file)
----------------------------------------------------------------------------------------------
* anything but a chain: one input -> population 0 -> population 1 -> ..., one projection into
  each population, every population on the chain;
* ``ternary_lif`` populations, a mix of ``lif`` and ``lif_reset``, or ``lif_reset`` phases other
  than netx's (layer k resets at ``reset_offset + 1 + k``, one interval for all layers);
* nonzero ``u_init`` / ``v_init``; biases that are not multiples of 64 or do not fit Lava's
  int16 ``bias_mant`` after the division;
* weights whose product with ``2**weight_exp`` is not an integer (the chip floors the *sum*),
  or outside netx's range (dense: [-256, 254] mixed, [0, 255] excitatory, [-255, 0]
  inhibitory, not all zero; conv: |sum| < 2**31 in Lava's float64 -> int32 cast, checked for
  binary spikes when writing and for the actual payloads of a graded input when running);
* delays above 62 (netx clamps them), delays on conv projections;
* learning projections; ChipSpec state or decay widths other than Loihi's.
Probes are not part of a netx file.
"""
from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import h5py
import numpy as np

from .._optional import require_lava
from ..network import ConvProjection, Network, SparseProjection
from ..program import chip_weights, effective_bias
from .lava import UnexportableError, _inputs_to_lava, _rows_from_lava

__all__ = ["NETX_FORMAT", "NetxLayer", "NetxPlan", "plan_netx", "to_netx", "run_netx", "runner_for", "require_netx"]

NETX_FORMAT = "lava-dl-netx"     # the format name in our file header (netx itself ignores it)
NETX_MAX_DELAY = 62              # lava/lib/dl/netx/hdf5.py: delays above 62 are clamped
NETX_BIAS_EXP = 6                # netx get_neuron_params: bias_exp=6 for CUBA neurons
LAVA_BIAS_MANT_RANGE = (-(1 << 15), (1 << 15) - 1)   # lava/proc/lif/models.py: bias_mant is int16
# optimize_weight_bits (netx/utils.py): a mixed matrix is clipped to max 254; Lava's Dense clips
# inhibitory matrices to [-255, 0] (lava/utils/weightutils.py clip_weights)
NETX_DENSE_RANGE = {"mixed": (-256, 254), "excitatory": (0, 255), "inhibitory": (-255, 0)}
_INT32_LIMIT = 1 << 31


def require_netx(feature: str = "netx verification"):
    """Import lava-dl's netx, or raise ImportError naming the feature and the install step."""
    require_lava(feature)
    try:
        import lava.lib.dl.netx as netx
    except Exception as exc:
        raise ImportError(f"{feature} needs lava-dl 0.6.0 (lava.lib.dl.netx): `make venv` installs it "
                          "(pip install --no-deps lava-dl==0.6.0 plus torchvision and "
                          f"opencv-python-headless<4.11; see docs/export.md) (import failed: {exc})") from exc
    return netx


@dataclass(frozen=True)
class NetxLayer:
    """One netx layer: the IR population it holds and the projection feeding it.

    kind : 'dense' or 'conv'; flatten_before : a 'flatten' layer precedes it in the file
    """

    population: str
    projection: str
    kind: str
    flatten_before: bool


@dataclass(frozen=True)
class NetxPlan:
    """How an IR chain maps onto netx layers and which ``hdf5.Network`` arguments it needs.

    input : name of the IR input; input_shape : its shape
    layers : tuple of :class:`NetxLayer`, in chain order
    reset_interval, reset_offset : ``hdf5.Network(reset_interval=..., reset_offset=...)``
        (None: plain LIF)
    input_message_bits : ``hdf5.Network(input_message_bits=...)`` (0: binary input)
    """

    input: str
    input_shape: tuple
    layers: tuple
    reset_interval: Optional[int]
    reset_offset: int
    input_message_bits: int

    def loader_kwargs(self) -> dict:
        """Keyword arguments of ``lava.lib.dl.netx.hdf5.Network`` that reproduce the network."""
        kw = {"input_message_bits": self.input_message_bits}
        if self.reset_interval is not None:
            kw.update(reset_interval=self.reset_interval, reset_offset=self.reset_offset)
        return kw


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------
def _chain(net: Network) -> tuple[str, list]:
    """(input name, [(population, projection)]) of a chain, or UnexportableError naming the part."""
    from ..spec import LOIHI
    for f in ("uv_bits", "decay_bits"):
        if getattr(net.spec, f) != getattr(LOIHI, f):
            raise UnexportableError(f"spec.{f}={getattr(net.spec, f)}: Lava's fixed-point LIF uses "
                                    f"{f}={getattr(LOIHI, f)} only")
    if net.learning_projections():
        raise UnexportableError(f"projection(s) {[p.name for p in net.learning_projections()]} learn; "
                                "netx has no learning layers (use --to lava)")
    if not net.populations:
        raise UnexportableError(f"network {net.name!r} has no populations")
    used = [name for name in net.inputs if net.projections_from(name)]
    unused = [name for name in net.inputs if name not in used]
    if len(used) != 1 or unused:
        raise UnexportableError(f"netx networks have exactly one input feeding the first layer; network "
                                f"{net.name!r} has input(s) {list(net.inputs)} (feeding projections: {used})")
    chain, src, seen = [], used[0], set()
    while True:
        out = net.projections_from(src)
        if not out:
            break
        if len(out) != 1:
            raise UnexportableError(f"{src!r} feeds {len(out)} projections {[p.name for p in out]}; netx "
                                    "layers form a chain (each layer feeds only the next)")
        p = out[0]
        into = net.projections_into(p.dst)
        if len(into) != 1:
            raise UnexportableError(f"population {p.dst!r} has {len(into)} incoming projections "
                                    f"{[q.name for q in into]}; a netx layer has exactly one")
        if p.dst in seen:
            raise UnexportableError(f"projection {p.name!r} closes a loop at {p.dst!r}; netx layers form a "
                                    "chain without recurrence")
        seen.add(p.dst)
        chain.append((p.dst, p))
        src = p.dst
    off = [name for name in net.populations if name not in seen]
    if off:
        raise UnexportableError(f"population(s) {off} are not on the chain from input {used[0]!r}; netx "
                                "holds one chain of layers")
    return used[0], chain


def _reset_args(net: Network, chain) -> tuple[Optional[int], int]:
    pops = [net.populations[name] for name, _ in chain]
    kinds = {p.kind for p in pops}
    if "ternary_lif" in kinds:
        bad = [p.name for p in pops if p.kind == "ternary_lif"]
        raise UnexportableError(f"population(s) {bad} are ternary_lif; netx's CUBA neurons spike 0/1 only")
    if kinds == {"lif"}:
        return None, 0
    if kinds != {"lif_reset"}:
        raise UnexportableError(f"populations mix lif and lif_reset ({[(p.name, p.kind) for p in pops]}); "
                                "netx resets every layer or none")
    P = pops[0].reset_interval
    if any(p.reset_interval != P for p in pops):
        raise UnexportableError(f"lif_reset intervals differ {[(p.name, p.reset_interval) for p in pops]}; "
                                "netx uses one reset_interval for all layers")
    base = pops[0].reset_offset
    for k, p in enumerate(pops):
        if p.reset_offset % P != (base + k) % P:
            raise UnexportableError(
                f"population {p.name!r} (layer {k}): reset_offset={p.reset_offset} but netx resets layer k "
                f"at reset_offset + 1 + k, i.e. {(base + k) % P} (mod {P}) after layer 0's {base}")
    return P, (base - 1) % P


def _neuron_values(net: Network, pop_name: str) -> np.ndarray:
    """netx layer bias (int64, C-major) = (bias_mant << bias_exp) / 64, after the checks."""
    pop = net.populations[pop_name]
    where = f"population {pop_name!r}"
    for k in ("u_init", "v_init"):
        a = getattr(pop, k)
        if np.any(a != 0):
            raise UnexportableError(f"{where}: {k} is nonzero (compartment {int(np.flatnonzero(a)[0])}); netx "
                                    "starts every neuron at u = v = 0")
    eff = effective_bias(pop.bias_mant, pop.bias_exp).astype(np.int64)
    unit = 1 << NETX_BIAS_EXP
    bad = np.flatnonzero(eff % unit)
    if bad.size:
        j = int(bad[0])
        raise UnexportableError(f"{where}: bias_mant << bias_exp = {int(eff[j])} (compartment {j}) is not a "
                                f"multiple of {unit}; netx fixes bias_exp = {NETX_BIAS_EXP}")
    b = eff // unit
    lo, hi = LAVA_BIAS_MANT_RANGE
    if b.size and (b.min() < lo or b.max() > hi):
        j = int(np.argmax((b < lo) | (b > hi)))
        raise UnexportableError(f"{where}: bias / 64 = {int(b[j])} (compartment {j}) is outside Lava's int16 "
                                f"bias_mant range [{lo}, {hi}]")
    return b


def _scaled_weights(net: Network, proj) -> np.ndarray:
    """chip_weights(w) * 2**weight_exp as exact integers (int64), or UnexportableError."""
    w = chip_weights(proj.weights, proj.sign_mode, proj.num_weight_bits, net.spec)
    e = int(proj.weight_exp)
    if e >= 0:
        return w << e
    bad = np.flatnonzero(w % (1 << -e))
    if bad.size:
        raise UnexportableError(
            f"projection {proj.name!r}: weight_exp={e} and the effective weight {int(w.reshape(-1)[bad[0]])} "
            f"(entry {int(bad[0])}) is not a multiple of {1 << -e}; the chip floors the shifted sum, netx adds "
            "integer weights (use weight_exp >= 0)")
    return w >> -e


def _dense_matrix(net: Network, proj):
    """(weights (n_dst, n_src), delays or None) of a dense or sparse projection, netx-ready."""
    w = _scaled_weights(net, proj)
    dl = proj.delays
    if isinstance(proj, SparseProjection):
        full = np.zeros((proj.n_dst, proj.n_src), np.int64)
        full[proj.dst_index, proj.src_index] = w
        if dl is not None:
            d = np.zeros((proj.n_dst, proj.n_src), np.int64)
            d[proj.dst_index, proj.src_index] = dl
            dl = d
        w = full
    where = f"projection {proj.name!r}"
    if not np.any(w):
        raise UnexportableError(f"{where}: every effective weight is 0; lava-dl's optimize_weight_bits divides by "
                                "the largest weight and cannot load it")
    # the sign mode netx's optimize_weight_bits (and then Lava's Dense) infers from the matrix
    mode = "inhibitory" if w.max() < 0 else ("excitatory" if w.min() >= 0 else "mixed")
    lo, hi = NETX_DENSE_RANGE[mode]
    if w.min() < lo or w.max() > hi:
        raise UnexportableError(f"{where}: effective weights * 2**weight_exp span [{int(w.min())}, {int(w.max())}], "
                                f"outside netx's {mode} range [{lo}, {hi}] (lava-dl clips them)")
    if dl is not None and dl.size and int(dl.max()) > NETX_MAX_DELAY:
        raise UnexportableError(f"{where}: delay {int(dl.max())} exceeds netx's limit {NETX_MAX_DELAY} "
                                "(lava-dl clamps larger delays)")
    return w, dl


def _conv_weights(net: Network, proj: ConvProjection, payload: int) -> np.ndarray:
    w = _scaled_weights(net, proj)
    bound = int(np.abs(w).reshape(w.shape[0], -1).sum(axis=1).max()) * payload if w.size else 0
    if bound >= _INT32_LIMIT:
        raise UnexportableError(f"projection {proj.name!r}: the conv sum can reach {bound} >= 2**31; Lava's Conv "
                                "casts its float64 sum to int32")
    return w


def plan_netx(net: Network) -> NetxPlan:
    """Check that netx can express ``net`` and return the layer plan (no file is written).

    Raises
    ------
    UnexportableError
        Naming the population, projection or setting netx cannot express (module docstring).
    """
    inp, chain = _chain(net)
    interval, offset = _reset_args(net, chain)
    layers, prev_shape = [], net.inputs[inp].shape
    for k, (pop_name, proj) in enumerate(chain):
        kind = "conv" if isinstance(proj, ConvProjection) else "dense"
        if kind == "conv" and k > 0 and layers[-1].kind != "conv":
            raise UnexportableError(f"projection {proj.name!r}: a conv after the dense layer "
                                    f"{layers[-1].population!r}; netx dense layers are flat (n,)")
        layers.append(NetxLayer(pop_name, proj.name, kind,
                                flatten_before=kind == "dense" and len(prev_shape) == 3 and k > 0))
        prev_shape = net.populations[pop_name].shape
    graded = net.inputs[inp].graded
    return NetxPlan(inp, net.inputs[inp].shape, tuple(layers), interval, offset,
                    int(net.spec.message_bits) if graded else 0)


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------
def _str1(g: h5py.Group, key: str, value: str) -> None:
    """A length-1 byte-string array, as slayer writes ``type``."""
    g.create_dataset(key, data=np.array([value.encode("ascii")], dtype="S10"))


def _write_layers(f: h5py.File, net: Network, plan: NetxPlan) -> None:
    g = f.create_group("layer")
    i = 0

    def new(kind: str) -> h5py.Group:
        nonlocal i
        e = g.create_group(f"{i}")
        _str1(e, "type", kind)
        i += 1
        return e

    e = new("input")
    e.create_dataset("shape", data=np.asarray(plan.input_shape, np.int64))
    for layer in plan.layers:
        proj = net.projections[layer.projection]
        pop = net.populations[layer.population]
        bias = _neuron_values(net, pop.name)
        if layer.flatten_before:
            src_shape = net.populations[proj.src].shape
            e = new("flatten")
            e.create_dataset("shape", data=np.asarray([int(np.prod(src_shape)), 1, 1], np.int64))
        if layer.kind == "dense":
            w, dl = _dense_matrix(net, proj)
            e = new("dense")
            e.create_dataset("shape", data=np.asarray([pop.size], np.int64))
            e.create_dataset("inFeatures", data=np.int64(w.shape[1]))
            e.create_dataset("outFeatures", data=np.int64(w.shape[0]))
            e.create_dataset("weight", data=w.astype(np.float32))
            if dl is not None:
                e.create_dataset("delay", data=dl.astype(np.int64))
            if np.any(bias):
                e.create_dataset("bias", data=bias.astype(np.float32))
        else:
            w = _conv_weights(net, proj, 1)
            e = new("conv")
            e.create_dataset("shape", data=np.asarray(pop.shape, np.int64))
            e.create_dataset("inChannels", data=np.int64(net.node(proj.src).shape[0]))
            e.create_dataset("outChannels", data=np.int64(w.shape[0]))
            e.create_dataset("kernelSize", data=np.asarray(w.shape[2:], np.int64))
            for k in ("stride", "padding", "dilation"):
                e.create_dataset(k, data=np.asarray(getattr(proj, k), np.int64))
            e.create_dataset("groups", data=np.int64(proj.groups))
            e.create_dataset("weight", data=w.astype(np.float32))
            if np.any(bias):      # neuron-wise, in Lava's (W, H, C) layout
                e.create_dataset("bias", data=bias.reshape(pop.shape).transpose(2, 1, 0).astype(np.float32))
        if np.abs(w).max() >= (1 << 24):
            raise UnexportableError(f"projection {proj.name!r}: weight {int(np.abs(w).max())} is not exact in the "
                                    "float32 netx weight dataset")
        n = e.create_group("neuron")
        _str1(n, "type", "CUBA")
        n.create_dataset("iDecay", data=np.int64(pop.du + 1))
        n.create_dataset("vDecay", data=np.int64(pop.dv))
        n.create_dataset("vThMant", data=np.int64(pop.vth))
        n.create_dataset("refDelay", data=np.int64(1))
        n.create_dataset("gradedSpike", data=np.int64(0))
    f.attrs["hwlearn_network"] = net.name
    f.attrs["hwlearn_input"] = plan.input
    f.attrs["hwlearn_populations"] = np.array([x.population for x in plan.layers], dtype=h5py.string_dtype())
    f.attrs["hwlearn_projections"] = np.array([x.projection for x in plan.layers], dtype=h5py.string_dtype())
    f.attrs["netx_reset_interval"] = np.int64(plan.reset_interval or 0)
    f.attrs["netx_reset_offset"] = np.int64(plan.reset_offset)
    f.attrs["netx_input_message_bits"] = np.int64(plan.input_message_bits)


def to_netx(net: Network, path) -> NetxPlan:
    """Write ``net`` as a lava-dl netx HDF5 file (atomically: a failed export leaves no file).

    Parameters
    ----------
    net : Network
        A chain of LIF populations (module docstring lists what netx cannot express).
    path : str or os.PathLike
        Destination (lava-dl's convention is ``.net``).

    Returns
    -------
    NetxPlan
        The layers and the ``hdf5.Network`` keyword arguments (:meth:`NetxPlan.loader_kwargs`).

    Raises
    ------
    UnexportableError
        Before anything is written.
    """
    from ..io import _atomic_write

    plan = plan_netx(net)
    # every value check runs before the file is created (the writer below repeats them cheaply)
    for layer in plan.layers:
        _neuron_values(net, layer.population)
        proj = net.projections[layer.projection]
        if layer.kind == "dense":
            _dense_matrix(net, proj)
        else:
            _conv_weights(net, proj, 1)      # graded input payloads are checked by run_netx
    _atomic_write(path, lambda f: _write_layers(f, net, plan), NETX_FORMAT)
    return plan


# ---------------------------------------------------------------------------------------------
# running with lava-dl's reader
# ---------------------------------------------------------------------------------------------
def run_netx(net: Network, inputs: Optional[dict], T: Optional[int] = None, probes=None, *,
             path=None, reader: str = "lava", warmup: bool = True) -> dict:
    """Load a netx file with lava-dl's ``netx.hdf5.Network`` and run it in Lava fixed point.

    Parameters
    ----------
    net : Network
        The IR the file was written from (names the layers and shapes the inputs).
    inputs : dict[str, ndarray]
        ``{input name: (T, *shape)}`` integers, one instance.
    T : int, optional
        Steps (default: the input length).
    probes : list of (population, 'u' | 'v'), optional
        Recorded with Lava Monitors on the netx blocks' neurons.
    path : str or os.PathLike, optional
        The netx file; by default ``net`` is written to a temporary one with :func:`to_netx`.
    reader : str
        Ignored (Lava's own sinks and Monitors are used); present so this function can be passed
        as the ``runner`` of :func:`hwsim.export.verify.verify_against_lava`.
    warmup : bool
        Time only the steps after the first.

    Returns
    -------
    dict
        As :func:`hwsim.export.lava.run_lava`: ``spikes`` {population: int8 (T, n)}, ``probes``
        {(population, var): int32 (T, n)} in IR C-major order, row i = Lava time step i + 1;
        ``timing``; ``exported_as`` {projection: netx layer}.
    """
    import tempfile

    from .lava import _check_inputs

    require_netx("netx verification")
    plan = plan_netx(net)
    arrays, T = _check_inputs(net, inputs, T)
    if set(arrays) != {plan.input}:
        raise ValueError(f"netx runs need exactly the input {plan.input!r}; got {sorted(arrays)}")
    first = net.projections[plan.layers[0].projection]
    if isinstance(first, ConvProjection) and plan.input_message_bits:
        x0 = arrays[plan.input]
        _conv_weights(net, first, int(np.abs(x0).max()) if x0.size else 0)
    with tempfile.TemporaryDirectory(prefix="hwlearn-netx-") as tmp:
        if path is None:
            path = Path(tmp) / f"{net.name or 'network'}.net"
            to_netx(net, path)
        return _run_file(net, plan, Path(path), arrays[plan.input], T, list(probes or []), warmup)


def _run_file(net, plan, path, x, T, probes, warmup) -> dict:
    from lava.lib.dl.netx import hdf5
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io
    from lava.proc.monitor.process import Monitor

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Cannot import module")
        netx_net = hdf5.Network(net_config=str(path), **plan.loader_kwargs())
    if len(netx_net.layers) != len(plan.layers):
        raise RuntimeError(f"{path}: lava-dl built {len(netx_net.layers)} blocks, expected {len(plan.layers)}")
    first_conv = plan.layers[0].kind == "conv"
    in_shape = plan.input_shape if first_conv else (int(np.prod(plan.input_shape)),)
    src = io.source.RingBuffer(data=_inputs_to_lava(x, in_shape))
    src.s_out.connect(netx_net.inp)
    sinks, monitors = {}, {}
    for layer, blk in zip(plan.layers, netx_net.layers):
        sink = io.sink.RingBuffer(shape=blk.out.shape, buffer=T)
        blk.out.connect(sink.a_in)
        sinks[layer.population] = sink
    blocks = {layer.population: blk for layer, blk in zip(plan.layers, netx_net.layers)}
    for pop, var in probes:
        if pop not in blocks or var not in ("u", "v"):
            raise ValueError(f"probe {(pop, var)!r}: netx runs record u / v of the layers {list(blocks)}")
        m = Monitor()
        m.probe(getattr(blocks[pop].neuron, var), T)
        monitors[(pop, var)] = (m, blocks[pop].neuron)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    startup_s = run_s = 0.0
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Cannot import module")
            first = 1 if (warmup and T > 1) else T
            t1 = time.perf_counter()
            netx_net.run(condition=RunSteps(num_steps=first), run_cfg=cfg)
            t2 = time.perf_counter()
            if first < T:
                netx_net.run(condition=RunSteps(num_steps=T - first), run_cfg=cfg)
            t3 = time.perf_counter()
        startup_s, run_s = (t2 - t1, t3 - t2) if first < T else (0.0, t3 - t1)
        spikes, rec = {}, {}
        for layer in plan.layers:
            shape = net.populations[layer.population].shape
            lshape = shape if layer.kind == "conv" else (int(np.prod(shape)),)
            data = np.moveaxis(np.asarray(sinks[layer.population].data.get()), -1, 0)
            spikes[layer.population] = np.ascontiguousarray(_rows_from_lava(data, lshape)).astype(np.int8)
        for key, (m, neuron) in monitors.items():
            kind = next(x.kind for x in plan.layers if x.population == key[0])
            shape = net.populations[key[0]].shape
            lshape = shape if kind == "conv" else (int(np.prod(shape)),)
            data = np.asarray(m.get_data()[neuron.name][key[1]])
            rec[key] = np.ascontiguousarray(_rows_from_lava(data, lshape)).astype(np.int32)
    finally:
        netx_net.stop()
        netx_net.net_config.f.close()
    total = time.perf_counter() - t0
    return {"spikes": spikes, "probes": rec,
            "timing": {"run_s": run_s, "timed_steps": T - 1 if (warmup and T > 1) else T,
                       "startup_s": startup_s, "total_s": total},
            "exported_as": {x.projection: f"netx {x.kind} layer -> {x.population}" for x in plan.layers}}


def runner_for(path) -> "functools.partial":
    """A ``runner`` for :func:`hwsim.export.verify.verify_against_lava` that runs the netx file ``path``."""
    return functools.partial(run_netx, path=path)
