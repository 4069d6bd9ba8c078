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



# ------------------------------------------------------------------------------------------------
# batch evaluation (hwlearn run)
# ------------------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """A test-set evaluation of a chip model (``hwlearn run``).

    summary : JSON-ready dict: accuracies (chip, float, float mirror), agreement, per-layer spikes,
        rates, synaptic ops, energy and time (per sample and per layer), mapping, overflow counts
    predictions, labels : (N,) int arrays; float_predictions : (N,) or None
    spike_counts : per layer, (N, n) int32 spikes per sample and neuron (chip)
    sample_spikes : per layer, (T, n) int8 aligned chip spikes of sample 0; float_sample_spikes likewise
    counters : hwsim.counters.Counters summed over every batch
    """

    summary: dict
    predictions: np.ndarray
    labels: np.ndarray
    float_predictions: Optional[np.ndarray]
    spike_counts: list
    sample_spikes: list
    float_sample_spikes: Optional[list]
    counters: object


def _sequences(x: torch.Tensor, T: int, encoder: str, generator: torch.Generator) -> torch.Tensor:
    from models.encoders import encode

    return encode(x, T, encoder, generator=generator)


def evaluate(model: ChipModel, x, y, T: int, float_net: Optional[SpikingNet] = None, encoder: str = "direct",
             batch: int = 128, seed: int = 0, overflow: str = "wrap", energy_model=None,
             progress: bool = False) -> Evaluation:
    """Run ``x`` ([N, ...] float, the dataset's inputs) through the chip in batches of ``batch``
    (T steps each, encoded with ``encoder``; the rate / latency encoders draw from a generator seeded
    with ``seed``), and, when given, ``float_net`` on the same inputs (``model.float_input``); also
    the float mirror of the chip (:func:`models.quantize.dequantize`). Returns an
    :class:`Evaluation`."""
    from hwsim.counters import FIELDS, estimate
    from hwsim.mapper import RESOURCES, map_network
    from models.quantize import dequantize

    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = np.asarray(y).astype(np.int64)
    N = int(x.shape[0])
    if N < 1 or y.shape != (N,):
        raise ValueError(f"x has {N} samples and y shape {y.shape}; need N >= 1 labels")
    if int(batch) != batch or batch < 1:
        raise ValueError(f"batch={batch!r} must be an integer >= 1")
    mapping = map_network(model.network)
    mirror = dequantize(model, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    L = model.n_layers
    preds, fpreds, mpreds = [], [], []
    counts = [[] for _ in range(L)]
    agree = np.zeros(L)
    agree_mirror = np.zeros(L)
    frate = np.zeros(L)
    overflow_n = {p: 0 for p in model.populations}
    ctr = None
    sample, fsample = None, None
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=N, desc="chip", unit="sample", leave=False)
    for i in range(0, N, batch):
        xb = x[i:i + batch]
        x_seq = _sequences(xb, T, encoder, gen)
        cr = run_chip(model, x_seq, probes=(), overflow=overflow, mapping=mapping)
        preds.append(cr.logits.sum(axis=0).argmax(-1))
        xf = model.float_input(x_seq)
        ms, _, mlog = run_float(mirror, xf.double())
        mpreds.append(mlog.sum(axis=0).argmax(-1))
        if float_net is not None:
            dt = next(float_net.parameters()).dtype
            fs, _, flog = run_float(float_net, xf.to(dt))
            fpreds.append(flog.sum(axis=0).argmax(-1))
        for n in range(L):
            s_c = cr.spikes[n]
            counts[n].append(s_c.sum(axis=0).astype(np.int32))
            agree_mirror[n] += float((ms[n] == s_c).mean()) * xb.shape[0]
            if float_net is not None:
                agree[n] += float((fs[n] == s_c).mean()) * xb.shape[0]
                frate[n] += float(fs[n].mean()) * xb.shape[0]
        if sample is None:
            sample = [cr.spikes[n][:, 0].copy() for n in range(L)]
            if float_net is not None:
                fsample = [fs[n][:, 0].astype(np.int8) for n in range(L)]
        for p, v in cr.overflow.items():
            overflow_n[p] = overflow_n.get(p, 0) + int(v)
        c = cr.record.counters
        if ctr is None:
            ctr = c
        else:
            for f in FIELDS:
                setattr(ctr, f, getattr(ctr, f) + getattr(c, f))
            ctr.batch += c.batch
        if bar is not None:
            bar.update(xb.shape[0])
    if bar is not None:
        bar.close()
    pred = np.concatenate(preds)
    spike_counts = [np.concatenate(c) for c in counts]
    energy = estimate(ctr, energy_model)
    per_pop = ctr.per_population()
    layers = []
    for n, pop in enumerate(model.populations):
        size = int(np.prod(model.network.populations[pop].shape))
        sc = spike_counts[n]
        pc = per_pop.get(pop, {})
        layers.append({
            "population": pop, "size": size,
            "spikes_per_sample": float(sc.sum() / N), "rate": float(sc.sum() / (N * T * size)),
            "float_rate": float(frate[n] / N) if float_net is not None else None,
            "spike_agreement_float": float(agree[n] / N) if float_net is not None else None,
            "spike_agreement_mirror": float(agree_mirror[n] / N),
            "synaptic_ops_per_sample": float(pc.get("synaptic_ops", 0) / N),
            "overflow": int(overflow_n.get(pop, 0)),
            "cores": mapping.cores_of(pop)})
    # per-layer energy: each population's ops under the same per-op table
    from hwsim.counters import EnergyModel
    em = energy_model or EnergyModel()
    for lay in layers:
        pc = per_pop.get(lay["population"], {})
        inactive = pc.get("neuron_updates", 0) - pc.get("active_neuron_updates", 0)
        lay["energy_J_per_sample"] = float((em.e_synaptic_op * pc.get("synaptic_ops", 0)
                                            + em.e_neuron_active * pc.get("active_neuron_updates", 0)
                                            + em.e_neuron_inactive * inactive
                                            + em.e_message * pc.get("messages", 0)) / N)
        lay["energy_synaptic_J_per_sample"] = float(em.e_synaptic_op * pc.get("synaptic_ops", 0) / N)
        cores = lay["cores"]
        inact = ctr.neuron_updates[:, cores] - ctr.active_neuron_updates[:, cores]
        busy = (em.t_synaptic_op * ctr.synaptic_ops[:, cores] + em.t_neuron_active * ctr.active_neuron_updates[:, cores]
                + em.t_neuron_inactive * inact + em.t_synapse_update * ctr.synapse_updates[:, cores])
        lay["time_s_per_sample"] = float(busy.max(axis=1).sum() / N) if cores else 0.0   # its busiest core, no sync
    util = mapping.utilization()
    summary = {
        "samples": N, "T": int(T), "encoder": encoder,
        "chip_accuracy": float(np.mean(pred == y)),
        "float_accuracy": float(np.mean(np.concatenate(fpreds) == y)) if float_net is not None else None,
        "mirror_accuracy": float(np.mean(np.concatenate(mpreds) == y)),
        "prediction_agreement_float": float(np.mean(np.concatenate(fpreds) == pred)) if float_net is not None else None,
        "prediction_agreement_mirror": float(np.mean(np.concatenate(mpreds) == pred)),
        "layers": layers,
        "totals": {k: int(v) for k, v in ctr.total().items()},
        "per_sample": {"synaptic_ops": float(ctr.synaptic_ops.sum() / N), "spikes": float(ctr.spikes.sum() / N),
                       "energy_J": energy["energy_J"] / N, "time_s": energy["time_s"] / N,
                       "steps": int(ctr.n_steps)},
        "energy_J": energy["energy_J"], "time_s": energy["time_s"],
        "mapping": {"cores": int(mapping.n_cores), "fits": bool(mapping.fits()),
                    "max_utilization": {r: max(u[r][0] / u[r][1] for u in util.values()) for r in RESOURCES}},
        "overflow": {p: int(v) for p, v in overflow_n.items()},
    }
    return Evaluation(summary=summary, predictions=pred, labels=y,
                      float_predictions=np.concatenate(fpreds) if float_net is not None else None,
                      spike_counts=spike_counts, sample_spikes=sample, float_sample_spikes=fsample,
                      counters=ctr)
