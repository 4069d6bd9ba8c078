"""On-chip OTTT as a Network: the builder, the host protocol, and the runner on the Simulator.

:func:`ottt_network` turns the integer parameters of an :class:`~hwsim.circuits.ottt_circuit.OTTTCircuit`
and its weights into chip IR (docs/onchip.md, "The circuit as a network"):

* ``input`` (graded; message ``2 x`` for an input value ``x`` in ``[0, 2**in_bits - 1]``, so that
  Lava's ``GradedSpikeCfg.OVERWRITE`` sets ``x1 = x``: the first layer's pre trace is in input units
  ``2**(in_bits - 1)`` per 1.0, the hidden layers' in trace units) and one binary
  ``label`` input (one-hot, present for the sample's first ``T`` steps);
* per hidden layer ``l``: LIF ``hidden{l}`` and its learning compartment ``learning{l}`` (the
  surrogate LUT read at ``vpre(t - delay)``), the learning projection ``w{l}`` (3F, third factor
  ``y2 = learning{l}``; rule ``m*2^e*u0*x1*y2`` as ``dw`` for OTTT_O or ``dt`` for OTTT_A; for the
  first layer with ``input_trace='step'`` the product is ``x0*x1*y2``: only the step's non-zero
  inputs, so an event stream's trace is the step's input; 'hold', the default for static frames,
  keeps the last non-zero value of each input through the pipeline's drain);
* per head ``h`` on layer ``l``: ``readout{h}`` (v = the step's head input), ``error{h}``
  (``y = clip(SR(v - (tgt << 6) label, es + 6))``: the readout's v is its input << 6), the learning projection ``head{h}`` (third factor
  ``error{h}``), the label projection ``label{h}`` (identity, delay ``l`` so that the label meets
  the readout of the sample's first step), and the feedback ``feedback{h}``: a mirror of ``head{h}``
  or a fixed random graded Dense into ``learning{l}``;
* global feedback (one head on the last layer): ``feedback_w{l+1}``, a mirror of ``w{l+1}`` from
  ``learning{l+1}`` into ``learning{l}``.

Timing is Lava's: every projection adds one step. A hidden spike at step t meets its head's error
at t + 1 (the head learns then, with the hidden trace of t + 1); the error reaches the learning
compartment at t + 2, which reads ``vpre`` of step t through ``delay = 2`` (global feedback: 2 more
steps per layer below), and the layer's projection learns at t + 2 with its pre trace of that step
(the trace is up to 2 steps newer than the spikes that caused the error; docs/onchip.md measures
what this costs against the layer-synchronous form).

Host protocol per sample (:class:`OTTTNetwork`): run ``sample_steps`` steps (``T`` with the input
and the label, then the pipeline's drain), OTTT_A adds every tag to its weights, then the dynamic
state is reset (:meth:`hwsim.simulator.Simulator.reset_dynamics`). Inference runs a static copy of
the forward network (same weights) in batch.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..constants import VTH_SHIFT
from ..counters import FIELDS, Counters
from ..inputs import InputEvents
from ..kernels.events import sample_event_ptr, sample_events
from .ottt_circuit import OTTTCircuit, check_labels, check_order, check_payload
from ..learning.rule import LearningRule
from ..mapper import Mapping
from ..network import Network
from ..simulator import Simulator
from ..spec import SpecError
from ..weights import truncate_weights

__all__ = ["ottt_network", "inference_network", "sample_steps", "OTTTNetwork"]


def _tau(x_dec: int) -> float:
    """Lava's trace time constant for a per-step leak ``x_dec / 4096`` (decay ``exp(-1/tau)``)."""
    if x_dec <= 0:
        return 0.0
    if x_dec >= 4096:
        raise SpecError(f"x_dec={x_dec}: a trace leak of 1 (no decay) has no finite Lava time constant")
    return float(-1.0 / np.log(x_dec / 4096.0))


def learning_delays(c: OTTTCircuit) -> tuple:
    """``delay`` of each layer's learning compartment: the steps from a hidden spike to its error."""
    L = c.n_layers
    return tuple(2 if c.local else 2 + 2 * (L - 1 - l) for l in range(L))


def sample_steps(c: OTTTCircuit) -> int:
    """Steps per sample on the chip: ``T`` with input, then until the last layer's last update."""
    L = c.n_layers
    return c.T + (L + 2 if c.local else 3 * L)


PAYLOAD_SHIFT = 1    # message = 2 x: Lava's OVERWRITE sets x1 = round(message / 2) = x exactly


def feedback_shift(c: OTTTCircuit, n_terms: int) -> int:
    """Right shift (as a negative weight exponent) that keeps a feedback sum of ``n_terms`` products of
    a ``weight_bits`` weight and a ``trace_bits`` value inside Lava's int32 messages; the learning
    compartment's ``sh`` is lowered by the same amount. 0 at Loihi's widths (8 + 7 + 4 bits)."""
    sp = c.spec
    need = sp.weight_bits + sp.trace_bits + int(np.ceil(np.log2(max(n_terms, 1)))) + 1
    return max(0, need - 31)


def _rule(c: OTTTCircuit, k: int, graded: bool) -> LearningRule:
    dep = "x0" if graded and c.input_trace == "step" else "u0"
    s = f"{c.m[k]}*2^{c.e[k]}*{dep}*x1*y2"
    kw = {"dw": s} if c.online else {"dt": s}
    if graded:
        return LearningRule(x1_impulse=0, x1_tau=65535, rng_seed=c.seed * 131 + k + 1, kind="3F", **kw)
    return LearningRule(x1_impulse=c.x_imp, x1_tau=_tau(c.x_dec), rng_seed=c.seed * 131 + k + 1, kind="3F", **kw)


def ottt_network(c: OTTTCircuit, weights: Sequence, heads: Sequence, feedback: Optional[Sequence] = None,
                 name: str = "ottt") -> Network:
    """The OTTT learning circuit as chip IR (see the module doc). ``weights[l]`` (n_l, n_{l-1}),
    ``heads[h]`` (C, n_layer) mantissas; ``feedback[h]`` (C, n_layer) fixed weights for
    ``feedback='random'`` (None for 'mirror')."""
    sp = c.spec
    L, C = c.n_layers, c.n_classes
    if len(weights) != L or len(heads) != c.n_heads:
        raise SpecError(f"ottt_network: {len(weights)} weight matrices and {len(heads)} heads for a circuit of "
                        f"{L} layers and {c.n_heads} heads")
    if (c.feedback == "random") != (feedback is not None):
        raise SpecError(f"ottt_network: feedback={c.feedback!r} needs feedback matrices exactly when 'random'")
    w0 = c.wexp[0] - PAYLOAD_SHIFT           # the forward sum of the doubled messages, compensated
    if w0 < sp.weight_exp_range[0]:
        raise SpecError(f"ottt_network: layer 1's weight exponent {c.wexp[0]} minus the payload shift "
                        f"{PAYLOAD_SHIFT} is below the chip's {sp.weight_exp_range[0]}")
    net = Network(sp, name)
    net.add_input("input", (c.layer_sizes[0],), graded=True)
    net.add_input("label", (C,))
    delays = learning_delays(c)
    nb = sp.weight_bits                      # every weight at the spec's full width (Lava: 8 bits)
    # the feedback into layer l comes from the head's error (C terms) or, global, the layer above
    fb_terms = [C if (c.local or l == L - 1) else c.layer_sizes[l + 2] for l in range(L)]
    k_fb = [feedback_shift(c, n) for n in fb_terms]
    for l in range(L):
        net.add_population(f"hidden{l + 1}", (c.layer_sizes[l + 1],), du=c.du[l], dv=c.dv[l], vth=c.vth[l])
        net.add_learning_compartment(f"learning{l + 1}", f"hidden{l + 1}", lut=c.lut, lut_shift=c.lut_shift,
                                     sh=c.sh[l] - k_fb[l], delay=delays[l], seed=c.seed * 7919 + l + 1)
    for l in range(L):
        src = "input" if l == 0 else f"hidden{l}"
        net.connect_dense(f"w{l + 1}", src, f"hidden{l + 1}", np.asarray(weights[l]),
                          weight_exp=w0 if l == 0 else c.wexp[l], sign_mode="mixed", num_weight_bits=nb, learning=_rule(c, l, l == 0), rounding=c.rounding,
                          third_factor={"y2": f"learning{l + 1}"},
                          graded_spike_cfg="overwrite" if l == 0 else "regular")
    eye = np.eye(C, dtype=np.int64)
    for h, lh in enumerate(c.head_layers):
        ro, er = f"readout{h + 1}", f"error{h + 1}"
        net.add_readout(ro, (C,))
        # the readout's v is its input << 6 (VTH_SHIFT): the circuit's target and shift are in input units
        net.add_error(er, ro, tgt=c.tgt[h] << VTH_SHIFT, es=c.es[h] + VTH_SHIFT, seed=c.seed * 7919 + 1000 + h)
        net.connect_dense(f"head{h + 1}", f"hidden{lh + 1}", ro, np.asarray(heads[h]), weight_exp=c.head_wexp[h],
                          sign_mode="mixed", num_weight_bits=nb, learning=_rule(c, L + h, False), rounding=c.rounding, third_factor={"y2": er})
        net.connect_dense(f"label{h + 1}", "label", er, eye, sign_mode="excitatory", num_weight_bits=nb,
                          delays=np.full((C, C), lh + 1, np.int64))
        if c.feedback == "mirror":
            net.add_mirror(f"feedback{h + 1}", f"head{h + 1}", er, f"learning{lh + 1}", weight_exp=-k_fb[lh])
        else:
            net.connect_dense(f"feedback{h + 1}", er, f"learning{lh + 1}", np.asarray(feedback[h]).T,
                              sign_mode="mixed", num_weight_bits=nb, graded=True, weight_exp=-k_fb[lh])
    if not c.local:
        for l in range(L - 1):
            net.add_mirror(f"feedback_w{l + 2}", f"w{l + 2}", f"learning{l + 2}", f"learning{l + 1}",
                           weight_exp=-k_fb[l])
    return net


def inference_network(c: OTTTCircuit, weights: Sequence, head: np.ndarray, head_layer: int,
                      name: str = "ottt_inference") -> Network:
    """The forward path with static weights (``weights`` as the learning projections hold them),
    ending in ``readout`` on hidden layer ``head_layer`` (0-based): for batched evaluation."""
    sp = c.spec
    net = Network(sp, name)
    net.add_input("input", (c.layer_sizes[0],), graded=True)
    w0 = c.wexp[0] - PAYLOAD_SHIFT
    for l in range(head_layer + 1):
        net.add_population(f"hidden{l + 1}", (c.layer_sizes[l + 1],), du=c.du[l], dv=c.dv[l], vth=c.vth[l])
        src = "input" if l == 0 else f"hidden{l}"
        net.connect_dense(f"w{l + 1}", src, f"hidden{l + 1}", np.asarray(weights[l]),
                          weight_exp=w0 if l == 0 else c.wexp[l], sign_mode="mixed", num_weight_bits=sp.weight_bits,
                          graded=l == 0)
    net.add_readout("readout", (c.n_classes,))
    net.connect_dense("head", f"hidden{head_layer + 1}", "readout", np.asarray(head),
                      weight_exp=c.head_wexp[-1], sign_mode="mixed", num_weight_bits=sp.weight_bits)
    net.add_probe("readout", "v")
    return net


def _fold(cnt: Counters, S: int, K: int) -> Counters:
    """Counters of S samples of K steps -> per step of the sample, summed over the samples."""
    return Counters(**{f: getattr(cnt, f).reshape(S, K, -1).sum(axis=0) for f in FIELDS},
                    core_population=cnt.core_population, batch=cnt.batch)


def _share(n: int, share: np.ndarray) -> np.ndarray:
    """``n`` split over cores in proportion to ``share`` (largest remainder, as the simulator splits)."""
    from ..simulator import _split
    return _split(np.array([n], np.int64), share)[0]


def _add(a: Counters, b: Counters) -> Counters:
    return Counters(**{f: getattr(a, f) + getattr(b, f) for f in FIELDS}, core_population=a.core_population,
                    batch=a.batch)


class OTTTNetwork:
    """On-chip OTTT run by the Simulator: the learning network, the host protocol, inference
    (``train``, ``readout``, ``predict``, ``weights``, ``heads``, ``feedback``, ``counters``,
    ``samples_seen``, ``mapping``, ``network``).
    """

    def __init__(self, circuit: OTTTCircuit, weights: Sequence, heads: Sequence,
                 feedback: Optional[Sequence] = None):
        self.circuit = circuit
        self.net = ottt_network(circuit, weights, heads, feedback)
        self.sim = Simulator(self.net, overflow=circuit.overflow)
        self.steps = sample_steps(circuit)
        self.samples_seen = 0
        self.counters: Optional[Counters] = None
        self._event_buf: Optional[np.ndarray] = None      # _events' buffer (2, capacity), reused across calls
        self.overflow = np.zeros(circuit.n_layers, np.int64)     # u / v overflow events per hidden layer
        # the destination cores of each learning projection and their compartment counts (host writes
        # are split over them as the compiled learning counters are)
        self._cores, self._share = {}, {}
        for lk in self.sim._links:
            self._cores[lk.name], self._share[lk.name] = lk.cores, lk.core_share
        self._fb = None if feedback is None else [np.asarray(f).copy() for f in feedback]

    # ---- weights in IR layout (n_post, n_pre) ------------------------------------------------
    def _learned(self) -> dict:
        w = self.sim.learned_weights()
        if w is None:
            # before the first run: the weights the learning engines start from (Lava truncates them on
            # its first step: mixed 8-bit mantissas lose their LSB), not the IR's
            return {k: truncate_weights(p.weights, p.sign_mode, p.num_weight_bits, self.net.spec.weight_bits)
                    for k, p in self.net.projections.items() if p.learning is not None}
        return {k: v[0].astype(np.int64) for k, v in w.items()}

    @property
    def weights(self) -> list:
        w = self._learned()
        return [w[f"w{l + 1}"] for l in range(self.circuit.n_layers)]

    @property
    def heads(self) -> list:
        w = self._learned()
        return [w[f"head{h + 1}"] for h in range(self.circuit.n_heads)]

    @property
    def feedback(self) -> list:
        return self.heads if self._fb is None else [f.copy() for f in self._fb]

    def network(self) -> Network:
        return self.net

    def current_network(self) -> Network:
        """The learning network with the weights learned so far (``network()`` holds the initial ones):
        what ``hwsim.io.save_network`` should store after training."""
        return ottt_network(self.circuit, self.weights, self.heads, self._fb, name=self.net.name)

    def protocol(self) -> dict:
        """The host protocol per sample (``hwsim.export.lava_protocol.SampleProtocol`` fields), for
        ``hwsim.io.save_network(net, path, protocol=...)`` and the Lava verification of a saved file."""
        c = self.circuit
        return {"sample_steps": int(self.steps), "input_steps": int(c.T),
                "host_ops": "reset" if c.online else "add_tags,reset", "payload_input": "input",
                "payload_shift": PAYLOAD_SHIFT, "payload_bits": int(c.in_bits), "label_input": "label"}

    def mapping(self) -> Mapping:
        return self.sim.mapping

    # ---- checkpoints ----------------------------------------------------------------------------
    def checkpoint(self) -> dict:
        """The learning state between samples (the Simulator's checkpoint: weights, tags, traces,
        random streams, time step), the sample position, counters and overflow counts."""
        cnt = None if self.counters is None else {f: getattr(self.counters, f).copy() for f in FIELDS}
        return {"sim": self.sim.checkpoint(), "samples_seen": int(self.samples_seen), "counters": cnt,
                "overflow": self.overflow.copy()}

    def restore(self, ckpt: dict) -> None:
        """Continue from :meth:`checkpoint` of an OTTTNetwork of the same circuit."""
        self.sim.restore(ckpt["sim"])
        self.samples_seen = int(ckpt["samples_seen"])
        cnt = ckpt["counters"]
        self.counters = None if cnt is None else Counters(
            **{f: np.asarray(cnt[f]) for f in FIELDS}, core_population=tuple(b[1] for b in sorted(self.sim.mapping.blocks)))
        self.overflow = np.asarray(ckpt["overflow"], np.int64).copy()

    # ---- inputs -------------------------------------------------------------------------------
    def _payload(self, X) -> tuple:
        """``(X, nnz)``: :func:`~.ottt_circuit.check_payload`."""
        return check_payload(X, self.circuit, "OTTTNetwork")

    def _events(self, X: np.ndarray, nnz: np.ndarray, idx: np.ndarray, batched: bool = False) -> InputEvents:
        """The input events of the samples ``X[idx]`` (``X, nnz``: the payloads and their nonzero counts
        per frame from ``_payload``): step
        t < T of a sample carries frame ``t % Tx`` as ``payload << PAYLOAD_SHIFT``, the drain steps are
        silent. ``batched``: one instance per sample (``ptr`` (S, steps + 1)); else the samples one after
        the other (S * steps steps). Built from the payloads directly (no dense frames to write, check
        and scan again: 3 ms of a 200-sample training call). The events live in buffers this network
        keeps, overwritten by the next call (the Simulator keeps no input; fresh arrays each call cost
        their page faults)."""
        idx = np.ascontiguousarray(idx, np.int64)
        ptr = sample_event_ptr(nnz, idx, self.circuit.T, self.steps)
        n = int(ptr[-1, -1])
        if self._event_buf is None or self._event_buf.shape[1] < n:
            self._event_buf = np.empty((2, max(n, 1) * 5 // 4), np.int32)
        ch, val = self._event_buf[0, :n], self._event_buf[1, :n]
        sample_events(X, idx, self.circuit.T, PAYLOAD_SHIFT, ptr, ch, val)
        if not batched:
            ptr = np.append(ptr[:, :-1].reshape(-1), ptr[-1, -1])
        return InputEvents(ptr, ch, val)

    # ---- running ------------------------------------------------------------------------------
    def record(self, X, y, order=None, learn: bool = True):
        """Like :meth:`train` for ``learn=True`` (one sample at a time), recording per sample and step
        the hidden layers' spikes and membrane ``v`` (after the reset) and the heads' readout ``v``:
        a namespace with ``spikes[l]``, ``v[l]`` (S, T_s, n_l) and ``readout[h]`` (S, T_s, C)."""
        from types import SimpleNamespace
        if not learn:
            raise SpecError("OTTTNetwork.record records training samples (learn=True); use readout() for inference")
        order = np.arange(len(X)) if order is None else np.asarray(order, np.int64)
        c = self.circuit
        L, H = c.n_layers, c.n_heads
        probes = [(f"hidden{l + 1}", "v") for l in range(L)] + [(f"readout{h + 1}", "v") for h in range(H)]
        out = SimpleNamespace(spikes=[[] for _ in range(L)], v=[[] for _ in range(L)], readout=[[] for _ in range(H)])
        for n in order:
            rec = self.train(X, y, [int(n)], probes=probes)
            for l in range(L):
                out.spikes[l].append(rec.spikes[f"hidden{l + 1}"].astype(np.int64))
                out.v[l].append(rec.probes[(f"hidden{l + 1}", "v")].astype(np.int64))
            for h in range(H):
                out.readout[h].append(rec.probes[(f"readout{h + 1}", "v")].astype(np.int64))
        for k in ("spikes", "v", "readout"):
            setattr(out, k, [np.stack(a) for a in getattr(out, k)])
        return out

    SAMPLES_PER_CALL = 256      # samples per compiled call (bounds the run's records and input events)

    def train(self, X, y, order=None, probes=None, per_sample: bool = False):
        """Learn from samples ``X[order]`` one after the other; returns the counters of this call, per
        step of the sample, summed over the samples (with ``probes``, one sample: its RunRecord).

        The host protocol runs in the Simulator's compiled loop (``run(sample_steps=...,
        between_samples=...)``, many samples per call); ``per_sample=True`` (or ``probes``) makes one
        ``run`` per sample with the host operations in between from Python: the same results (tested),
        the form Lava's export runs."""
        c = self.circuit
        X, nnz = self._payload(X)
        y = check_labels(y, X.shape[0], c, "OTTTNetwork")
        order = check_order(order, X.shape[0])
        ops = ("reset",) if c.online else ("add_tags", "reset")
        K = self.steps
        total = None                       # per step of the sample, summed over the samples
        chunk = 1 if (probes is not None or per_sample) else self.SAMPLES_PER_CALL
        rec = None
        for s0 in range(0, len(order), chunk):
            idx = order[s0:s0 + chunk]
            S = len(idx)
            events = self._events(X, nnz, idx)
            lab = np.zeros((S, K, c.n_classes), np.int8)
            lab[np.arange(S), :c.T, y[idx]] = 1
            if chunk == 1:
                rec = self.sim.run(K, inputs={"input": events, "label": lab[0]}, probes=probes)
                if "add_tags" in ops:     # the same writes the compiled host operation counts
                    for k, n_w in self.sim.add_tags_to_weights().items():
                        rec.counters.weight_writebacks[-1, self._cores[k]] += _share(n_w, self._share[k])
                self.sim.reset_dynamics()
            else:
                rec = self.sim.run(S * K, inputs={"input": events, "label": lab.reshape(S * K, -1)},
                                   sample_steps=K, between_samples=ops, learned=False)
            cnt = _fold(rec.counters, S, K)
            total = cnt if total is None else _add(total, cnt)
            for l in range(c.n_layers):
                self.overflow[l] += rec.overflow[f"hidden{l + 1}"]
        self.samples_seen += len(order)
        if total is not None:
            self.counters = total if self.counters is None else _add(self.counters, total)
        return rec if probes is not None else total

    def readout(self, X, batch: int = 256) -> np.ndarray:
        """Sum over the sample's steps of the last head's readout ``v`` (no learning): (N, C) int64."""
        c = self.circuit
        X, nnz = self._payload(X)
        net = inference_network(c, self.weights, self.heads[-1], c.head_layers[-1])
        sim = Simulator(net, overflow=c.overflow)
        out = np.zeros((X.shape[0], c.n_classes), np.int64)
        for b0 in range(0, X.shape[0], batch):
            idx = np.arange(b0, min(b0 + batch, X.shape[0]))
            sim.reset()
            rec = sim.run(self.steps, inputs={"input": self._events(X, nnz, idx, batched=True)})
            out[idx] = rec.probes[("readout", "v")].astype(np.int64).sum(axis=0)
        return out

    def predict(self, X) -> np.ndarray:
        return np.argmax(self.readout(X), axis=1)
