"""Running a quantized network (:class:`models.quantize.ChipModel`) on the chip simulator and
comparing it with the float network: the place (with :mod:`rules.crosscheck`) where float meets chip.

* :func:`run_chip` runs the chip on an input sequence and aligns its record to float time;
* :func:`compare_float_chip` compares one float network with the chip layer by layer (spikes,
  membranes in chip LSBs, predictions);
* :func:`evaluate` is the batch evaluation of ``hwlearn run``: accuracy of chip and float on the
  same inputs, spike counts, synaptic ops, energy / time estimates (``hwsim.counters``) per
  sample and per layer, mapping and overflow counts.

Timing: the chip delivers each projection one step later (Lava's synaptic buffer): input row ``k``
reaches layer ``n`` (0-based) at chip row ``k + n + 1``; the input is padded with ``n_layers``
silent rows and :func:`align_chip_record` cuts row ``k + n + 1`` of layer ``n`` back to float step ``k``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from hwsim.constants import VTH_SHIFT
from models.network import SpikingNet
from models.quantize import ChipModel

VTH_GAIN = 1 << VTH_SHIFT


@dataclass(frozen=True)
class ChipRun:
    """An aligned chip run: per layer (index), spikes ``(T, [B,] n)`` int8 and probed states
    ``{var: [per layer (T, [B,] n) int32]}`` in chip units, row k = float step k; host logits."""

    spikes: list
    probes: dict
    logits: np.ndarray
    overflow: dict
    record: object


def align_chip_record(record, populations: Sequence[str], T: Optional[int] = None,
                      probe_vars: Sequence[str] = ()):
    """Cut a chip record back to float time: layer ``n`` (0-based, in ``populations`` order along
    the chain) integrates input row ``k`` at chip row ``k + n + 1``, so its aligned row ``k`` is
    chip row ``k + n + 1``.

    Returns ``(spikes, probes)``: ``spikes[n]`` is ``(T, [B,] size)``, ``probes[var][n]`` likewise.
    ``T`` defaults to the longest span every layer has (``rows - n_layers``); a record shorter
    than ``T + n_layers`` rows raises ValueError (pad the input, see :meth:`ChipModel.chip_input`).
    """
    L = len(populations)
    rows = next(iter(record.spikes.values())).shape[0]
    T = rows - L if T is None else int(T)
    if T < 1 or rows < T + L:
        raise ValueError(f"record has {rows} rows; aligning {L} layers over T={T} steps needs {T + L} "
                         f"(pad the input with {L} silent steps)")
    spikes = [record.spikes[p][n + 1:n + 1 + T] for n, p in enumerate(populations)]
    probes = {var: [record.probes[(p, var)][n + 1:n + 1 + T] for n, p in enumerate(populations)]
              for var in probe_vars}
    return spikes, probes


def align_chip_spikes(record, n_layers_or_populations, T: Optional[int] = None):
    """Aligned spikes only. ``n_layers_or_populations``: the population names in chain order, or an
    int when the record holds exactly the chain's populations in insertion order."""
    pops = n_layers_or_populations
    if isinstance(pops, (int, np.integer)):
        names = list(record.spikes)
        if len(names) != int(pops):
            raise ValueError(f"record holds {len(names)} populations, n_layers={pops}; pass the names")
        pops = names
    return align_chip_record(record, list(pops), T)[0]


def run_chip(model: ChipModel, x, probes: Sequence[str] = ("v",), overflow="wrap", mapping=None) -> ChipRun:
    """Run the chip simulator on ``x`` ([T, ...] or [T, B, ...], float as the float net sees it
    before :meth:`ChipModel.float_input`) and return the aligned record."""
    from hwsim.simulator import Simulator  # lazily: the simulator pulls in numba kernels

    T = int(x.shape[0])
    inputs = model.chip_input(x)
    pr = [(p, var) for p in model.populations for var in probes]
    rec = Simulator(model.network, overflow=overflow, mapping=mapping).run(T + model.n_layers, inputs=inputs,
                                                                          probes=pr)
    spikes, states = align_chip_record(rec, model.populations, T, probes)
    return ChipRun(spikes=spikes, probes=states, logits=model.readout(spikes[-1]),
                   overflow=dict(rec.overflow), record=rec)


@dataclass(frozen=True)
class LayerAgreement:
    """Float vs chip on one layer after alignment: share of (step, neuron) with equal spikes,
    membrane error ``|v_float * scale - v_chip|`` in chip LSBs (max, mean) and relative to the
    threshold, over the (step, sample) pairs before the first spike flip in this or an earlier
    layer (after a flip the trajectories differ by up to a threshold); ``clean_share`` is the share
    of (step, sample) pairs that qualify."""

    index: int
    population: str
    spike_agreement: float
    v_err_max_lsb: float
    v_err_mean_lsb: float
    v_err_max_rel_threshold: float
    clean_share: float
    float_rate: float
    chip_rate: float


@torch.no_grad()
def run_float(net: SpikingNet, x_seq: torch.Tensor):
    """Unrolled float run: per layer spikes and membranes after reset, ``(T, B, n)`` float64 numpy."""
    states = net.init_states(x_seq.shape[1], x_seq.device)
    S = [[] for _ in net.layers]
    V = [[] for _ in net.layers]
    logits = []
    for x_t in x_seq:
        o, states, spikes, _ = net.step(x_t, states)
        logits.append(o)
        for n, (s, st) in enumerate(zip(spikes, states)):
            S[n].append(s.reshape(s.shape[0], -1))
            V[n].append(st.v.reshape(st.v.shape[0], -1))
    f = lambda L: torch.stack(L).double().cpu().numpy()
    return [f(s) for s in S], [f(v) for v in V], f(logits)


def compare_float_chip(net: SpikingNet, chip: ChipModel, x_seq: torch.Tensor):
    """Run the float mirror and the chip on the same input ``x_seq`` [T, B, ...] (spikes, or
    analog values when the chip input is graded) and compare per layer after alignment.

    Returns ``(layers: list[LayerAgreement], prediction_agreement: float, chip_run)``.
    """
    xf = chip.float_input(x_seq).to(next(net.parameters()).dtype)
    fs, fv, flog = run_float(net, xf)
    cr = run_chip(chip, x_seq, probes=("v",))
    out = []
    clean = None          # (T, B): no spike flip in any layer <= n at any step <= t
    for n, pop in enumerate(chip.populations):
        s_f, s_c = fs[n], cr.spikes[n].astype(np.float64)
        same = s_f == s_c
        ok = np.cumprod(np.all(same, axis=-1), axis=0).astype(bool)
        clean = ok if clean is None else (clean & ok)
        err = np.abs(fv[n] * chip.scales[n] - cr.probes["v"][n].astype(np.float64))
        e_ok = err[clean] if clean.any() else np.zeros(1)
        thr = chip.network.populations[pop].vth * VTH_GAIN + 1
        out.append(LayerAgreement(n, pop, float(same.mean()), float(e_ok.max()), float(e_ok.mean()),
                                  float(e_ok.max() / thr), float(clean.mean()), float(s_f.mean()),
                                  float(s_c.mean())))
    pred_f = flog.sum(axis=0).argmax(-1)
    pred_c = cr.logits.sum(axis=0).argmax(-1)
    return out, float(np.mean(pred_f == pred_c)), cr

