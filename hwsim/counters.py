"""Activity counters of a run (per step, per core) and an energy / time estimate.

Counters are filled by the simulator's kernels; each field is an int64 array ``(T, n_cores)``
summed over the batch instances of the run (``batch`` says how many):

=========================  ===========================================================================
``synaptic_ops``           one per (spike or input event, target synapse), on the target's core
``spikes``                 spikes emitted by the core's compartments (-1 and +1 of ternary both count)
``messages``               spike messages received by the core: one per (spike, target core)
``neuron_updates``         compartment updates (every compartment, every step)
``active_neuron_updates``  of these, updates with nonzero input, u or v (Loihi's "active" update)
``synaptic_bytes_read``    bytes of synaptic memory read: per message, ceil(bits / 8) of the fan-out row
``trace_updates``          learning: trace values decayed (learning projections' engines)
``synapse_updates``        learning: synapses evaluated by dw, dd, dt (weight/tag updates)
``weight_writebacks``      learning: weights written back (the dw updates)
=========================  ===========================================================================

The learning fields count on the cores of each learning projection's destination population,
split in proportion to its compartments there (the engine counts per projection).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

FIELDS = ("synaptic_ops", "spikes", "messages", "neuron_updates", "active_neuron_updates",
          "synaptic_bytes_read", "trace_updates", "synapse_updates", "weight_writebacks")


@dataclass
class Counters:
    """Per-step, per-core activity counters; every field is int64 ``(T, n_cores)``.

    ``core_population[c]`` names the population on core ``c``; ``batch`` is the number of
    instances summed into the counts.
    """

    synaptic_ops: np.ndarray
    spikes: np.ndarray
    messages: np.ndarray
    neuron_updates: np.ndarray
    active_neuron_updates: np.ndarray
    synaptic_bytes_read: np.ndarray
    trace_updates: np.ndarray
    synapse_updates: np.ndarray
    weight_writebacks: np.ndarray
    core_population: tuple = ()
    batch: int = 1

    @classmethod
    def zeros(cls, T: int, n_cores: int, core_population=(), batch: int = 1) -> "Counters":
        return cls(**{f: np.zeros((T, n_cores), np.int64) for f in FIELDS},
                   core_population=tuple(core_population), batch=batch)

    @property
    def n_steps(self) -> int:
        return self.synaptic_ops.shape[0]

    @property
    def n_cores(self) -> int:
        return self.synaptic_ops.shape[1]

    def total(self) -> dict[str, int]:
        """Each field summed over steps and cores."""
        return {f: int(getattr(self, f).sum()) for f in FIELDS}

    def per_core(self) -> dict[str, np.ndarray]:
        """Each field summed over steps: ``(n_cores,)`` arrays."""
        return {f: getattr(self, f).sum(axis=0) for f in FIELDS}

    def per_population(self) -> dict[str, dict[str, int]]:
        """Each field summed over steps and over the cores of each population."""
        out: dict[str, dict[str, int]] = {}
        pc = self.per_core()
        for c, pop in enumerate(self.core_population):
            d = out.setdefault(pop, {f: 0 for f in FIELDS})
            for f in FIELDS:
                d[f] += int(pc[f][c])
        return out

    def concatenate(self, other: "Counters") -> "Counters":
        """Counters of two consecutive runs of the same network, steps appended."""
        if other.n_cores != self.n_cores:
            raise ValueError(f"cannot join counters of {self.n_cores} and {other.n_cores} cores")
        return dataclasses.replace(self, **{f: np.concatenate([getattr(self, f), getattr(other, f)]) for f in FIELDS})

    def as_dict(self) -> dict:
        """Plain dict (arrays, names, batch) for storage; :meth:`from_dict` inverts it."""
        d = {f: getattr(self, f) for f in FIELDS}
        d["core_population"] = list(self.core_population)
        d["batch"] = self.batch
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Counters":
        return cls(**{f: np.asarray(d[f], np.int64) for f in FIELDS},
                   core_population=tuple(str(p) for p in d.get("core_population", ())),
                   batch=int(d.get("batch", 1)))


@dataclass(frozen=True)
class EnergyModel:
    """Energy (J) and time (s) per operation; defaults are Loihi's published figures.

    Source: M. Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning",
    IEEE Micro 38(1):82-99, 2018, Table 1 (14 nm chip measured at nominal 0.75 V):

    * energy per synaptic spike op (min) 23.6 pJ, time per synaptic spike op (max) 3.5 ns;
    * energy per synaptic update (pairwise STDP) 120 pJ, time 6.1 ns;
    * energy per neuron update, active / inactive: 81 pJ / 52 pJ; time 8.4 ns / 5.3 ns;
    * within-tile spike energy 1.7 pJ (per message; tile hops, 3-4 pJ each, are not modelled);
    * mesh-wide barrier synchronisation 113-465 ns per step (1-32 tiles): 465 ns used here.

    The values are quoted from the paper as we recall it; 23.6 pJ, 3.5 ns, 120 pJ and 1.7 pJ are
    the commonly cited ones, the neuron-update pair (81/52 pJ, 8.4/5.3 ns) and the barrier time are
    the least certain: check them against the paper before publishing numbers. Override any field,
    e.g. ``EnergyModel(e_synaptic_op=10e-12)``. Trace updates have no published per-op figure and
    default to 0.
    """

    e_synaptic_op: float = 23.6e-12
    e_synapse_update: float = 120e-12
    e_neuron_active: float = 81e-12
    e_neuron_inactive: float = 52e-12
    e_message: float = 1.7e-12
    e_trace_update: float = 0.0
    t_synaptic_op: float = 3.5e-9
    t_synapse_update: float = 6.1e-9
    t_neuron_active: float = 8.4e-9
    t_neuron_inactive: float = 5.3e-9
    t_step_sync: float = 465e-9


def estimate(counters: Counters, model: EnergyModel | None = None) -> dict:
    """Energy (joules) and time (seconds) of the counted run under ``model`` (defaults: Loihi).

    Energy sums every operation times its energy. Time: cores work in parallel, so a step lasts as
    long as its busiest core (its synaptic ops, neuron and synapse updates times their per-op times)
    plus one barrier synchronisation; the run's time is the sum over steps. Counters of a batch
    are sums over instances, so the time is that of running the instances one after the other
    (approximately: the busiest core of the sum).

    Returns
    -------
    dict
        ``energy_J``, ``time_s`` and the energy parts ``energy_synaptic_J``, ``energy_neuron_J``,
        ``energy_message_J``, ``energy_learning_J``; ``time_per_step_s`` (array over steps).
    """
    m = EnergyModel() if model is None else model
    c = counters
    inactive = c.neuron_updates - c.active_neuron_updates
    e_syn = m.e_synaptic_op * float(c.synaptic_ops.sum())
    e_neu = m.e_neuron_active * float(c.active_neuron_updates.sum()) + m.e_neuron_inactive * float(inactive.sum())
    e_msg = m.e_message * float(c.messages.sum())
    e_lrn = m.e_synapse_update * float(c.synapse_updates.sum()) + m.e_trace_update * float(c.trace_updates.sum())
    core_time = (m.t_synaptic_op * c.synaptic_ops + m.t_neuron_active * c.active_neuron_updates
                 + m.t_neuron_inactive * inactive + m.t_synapse_update * c.synapse_updates)
    per_step = (core_time.max(axis=1) if c.n_cores else np.zeros(c.n_steps)) + m.t_step_sync * max(c.batch, 1)
    return {"energy_J": e_syn + e_neu + e_msg + e_lrn, "time_s": float(per_step.sum()),
            "energy_synaptic_J": e_syn, "energy_neuron_J": e_neu, "energy_message_J": e_msg,
            "energy_learning_J": e_lrn, "time_per_step_s": per_step}
