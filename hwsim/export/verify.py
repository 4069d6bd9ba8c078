"""Run a network in hwsim and in Lava on the same input and compare every step.

>>> report = verify_against_lava(net, {"in": x}, T=100)
>>> report.identical, report.first_mismatch
>>> print(report.summary())

Compared per population, for every step (row ``i`` = Lava time step ``i + 1``) and compartment
(IR C-major index): for LIF-family populations spikes ``s`` (int8, -1/0/+1), current ``u`` and
voltage ``v`` (int32); for readouts ``u`` and ``v`` (they send nothing); for error and learning
populations (docs/compartments.md) their graded output ``y`` (hwsim's probe "y", Lava's Var ``y2``
of the fused process). The first mismatch is the earliest step; within a step, populations in
network order and, inside a population, ``u`` before ``v`` before ``s`` (the order the compartment
computes them, so the reported one is closest to the cause).

Learning projections: their weights after every step (after that step's learning) are compared
too, and the tags a rule's ``dt`` / ``dd`` change; a weight mismatch names the projection in
``Mismatch.population``, the variable ``weights`` / ``tag_1`` / ``tag_2`` and the flat index
into (n_dst, n_src). Within a step they come after the populations (learning follows the
compartment update).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from ..network import GRADED_KINDS, NEURON_KINDS, Network
from .lava import run_lava

__all__ = ["Mismatch", "VerifyReport", "verify_against_lava"]

VARIABLES = ("s", "u", "v", "y")
_CAUSAL_ORDER = {"u": 0, "v": 1, "s": 2, "y": 3}


def _compared_vars(kind: str, variables) -> list:
    """The variables compared for a population of ``kind`` (in causal order)."""
    have = ("y",) if kind in GRADED_KINDS else (("u", "v", "s") if kind in NEURON_KINDS else ("u", "v"))
    return sorted((v for v in variables if v in have), key=_CAUSAL_ORDER.get)


@dataclass(frozen=True)
class Mismatch:
    """One differing value.

    Attributes
    ----------
    step : int
        Lava time step (1-based; row ``step - 1`` of the recorded arrays).
    population, variable : str
        Where (variable 's', 'u', 'v' or 'y'; for a learning projection, its name and 'weights',
        'tag_1' or 'tag_2').
    index : int
        Compartment, flat IR (C-major) index (synapse: flat index into (n_dst, n_src)).
    position : tuple[int, ...]
        The same index in the population's shape (synapse: (dst, src)).
    hwsim, lava : int
        The two values.
    """

    step: int
    population: str
    variable: str
    index: int
    position: tuple
    hwsim: int
    lava: int


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_against_lava`.

    Attributes
    ----------
    identical : bool
        Every compared value agrees.
    network : str
    T : int
    variables : tuple[str, ...]
    first_mismatch : Mismatch or None
    mismatches : dict[str, int]
        Per ``"population.var"``, the number of differing values.
    compared : dict[str, int]
        Per ``"population.var"``, the number of values compared.
    spikes : dict[str, tuple[int, int]]
        Per spiking (LIF-family) population, total nonzero spikes in (hwsim, Lava).
    messages : dict[str, tuple[int, int]]
        Per error / learning population whose ``y`` is compared, total nonzero ``y`` (the graded
        messages it sends) in (hwsim, Lava).
    exported_as : dict[str, str]
        Per projection, the Lava process it became.
    timing : dict[str, float]
        ``hwsim_s`` (the run), ``lava_run_s`` (timed Lava steps), ``lava_total_s`` (export,
        compile, run, read).
    target : str
        What hwsim was compared with ("Lava fixed_pt", or "lava-dl netx -> Lava fixed_pt").
    """

    identical: bool
    network: str
    T: int
    variables: tuple
    first_mismatch: Optional[Mismatch]
    mismatches: dict = field(default_factory=dict)
    compared: dict = field(default_factory=dict)
    spikes: dict = field(default_factory=dict)
    exported_as: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    target: str = "Lava fixed_pt"
    messages: dict = field(default_factory=dict)

    def summary(self) -> str:
        """Human-readable result, one line per compared population/variable."""
        n_values = sum(self.compared.values())
        head = (f"network {self.network!r}: hwsim vs {self.target}, {self.T} steps, variables "
                f"{','.join(self.variables)}: ")
        if self.identical:
            lines = [head + f"IDENTICAL ({n_values} values compared)"]
        else:
            m = self.first_mismatch
            lines = [head + f"MISMATCH ({sum(self.mismatches.values())} of {n_values} values differ)",
                     f"  first mismatch: time step {m.step} (row {m.step - 1}), population {m.population!r}, "
                     f"{m.variable}[{m.index}] (position {m.position}): hwsim={m.hwsim} lava={m.lava}"]
        for key, n in self.compared.items():
            bad = self.mismatches.get(key, 0)
            lines.append(f"  {key:<24} {'ok' if bad == 0 else f'{bad} differ':>12}  of {n}")
        for pop, (a, b) in self.spikes.items():
            lines.append(f"  spikes {pop!r}: hwsim {a}, lava {b}")
        for pop, (a, b) in self.messages.items():
            lines.append(f"  y messages {pop!r}: hwsim {a}, lava {b}")
        if self.timing:
            lines.append("  time: " + ", ".join(f"{k}={v:.3f}s" for k, v in self.timing.items()))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        d = asdict(self)
        d["variables"] = list(self.variables)
        d["spikes"] = {k: list(v) for k, v in self.spikes.items()}
        d["messages"] = {k: list(v) for k, v in self.messages.items()}
        if self.first_mismatch is not None:
            d["first_mismatch"]["position"] = list(self.first_mismatch.position)
        return d


def _run_hwsim(net: Network, inputs: dict, T: int, probes: list, overflow: str) -> dict:
    """hwsim side: {'spikes': {pop: (T, n)}, 'probes': {(pop, var): (T, n)}, 'weights': {proj:
    (T, n_dst, n_src)}, 'tags': {proj: {tag: (T, n_dst, n_src)}}} (tags only at the last step)."""
    from ..simulator import Simulator

    sim = Simulator(net, overflow=overflow)
    rec = sim.run(T, inputs=inputs, probes=probes, record_weights=1 if sim.learns else 0)
    return {"spikes": rec.spikes, "probes": rec.probes, "weights": rec.weight_history, "tags": rec.tags}


def _learning_pairs(net: Network, ours: dict, theirs: dict):
    """(key, hwsim array, Lava array, row offset, shape) for weights (every step) and tags (last step)."""
    out = []
    for name, w in theirs.get("weights", {}).items():
        shape = net.projections[name].weights.shape
        out.append((f"{name}.weights", name, "weights", ours["weights"][name], w, 0, shape))
        for tag, a in theirs.get("tags", {}).get(name, {}).items():
            out.append((f"{name}.{tag}", name, tag, ours["tags"][name][tag][None], a[-1:], a.shape[0] - 1, shape))
    return out


def verify_against_lava(net: Network, inputs: Optional[dict], T: Optional[int] = None,
                        variables=VARIABLES, *, overflow: str = "wrap", reader: str = "fast",
                        runner=None, target: str = "Lava fixed_pt") -> VerifyReport:
    """Run ``net`` in hwsim and in Lava (fixed_pt) on the same input and compare every step.

    Parameters
    ----------
    net : Network
    inputs : dict[str, ndarray]
        Per input name, (T, *shape) integers (binary 0/1, or graded payloads); one instance.
    T : int, optional
        Steps; default the input length.
    variables : iterable of {'s', 'u', 'v', 'y'}
        What to compare: per population, those of them it has (LIF family: s, u, v; readout: u,
        v; error, learning: y).
    overflow : str
        hwsim overflow policy; only "wrap" is Lava's behaviour.
    reader : {"fast", "lava"}
        How Lava results are recorded (:func:`hwsim.export.lava.to_lava`).
    runner : callable, optional
        ``runner(net, inputs, T, probes=..., reader=...)`` -> a dict like
        :func:`hwsim.export.lava.run_lava`'s; default ``run_lava``. :func:`hwsim.export.netx.runner_for`
        runs a netx file through lava-dl's reader instead.
    target : str
        Name of what is compared, for the report.

    Returns
    -------
    VerifyReport
        Learning projections add ``"<projection>.weights"`` (every step) and, for rules with dt /
        dd, ``"<projection>.tag_1"`` / ``".tag_2"`` (last step) to ``compared`` / ``mismatches``.
    """
    variables = tuple(variables)
    bad = [v for v in variables if v not in VARIABLES]
    if bad or not variables:
        raise ValueError(f"variables={variables!r}: each must be one of {VARIABLES}")
    inputs = dict(inputs or {})
    if T is None:
        if not inputs:
            raise ValueError("T is needed when no input array is given")
        T = int(np.asarray(next(iter(inputs.values()))).shape[0])
    inputs = {k: np.asarray(v)[:T] for k, v in inputs.items()}
    probes = [(name, v) for name, pop in net.populations.items() for v in _compared_vars(pop.kind, variables)
              if v != "s"]

    t0 = time.perf_counter()
    ours = _run_hwsim(net, inputs, T, probes, overflow)
    t1 = time.perf_counter()
    theirs = (runner or run_lava)(net, inputs, T, probes=probes, reader=reader)
    t2 = time.perf_counter()

    candidates = []
    mismatches, compared, spikes, messages = {}, {}, {}, {}
    for pop_name, pop in net.populations.items():
        if pop.kind in NEURON_KINDS:
            a_s = np.asarray(ours["spikes"][pop_name])
            b_s = np.asarray(theirs["spikes"][pop_name])
            spikes[pop_name] = (int(np.count_nonzero(a_s)), int(np.count_nonzero(b_s)))
        elif pop.kind in GRADED_KINDS and "y" in variables:
            messages[pop_name] = tuple(int(np.count_nonzero(r[(pop_name, "y")])) for r in (ours["probes"],
                                                                                            theirs["probes"]))
        for var in _compared_vars(pop.kind, variables):
            if var == "s":
                a, b = a_s, b_s
            else:
                a = np.asarray(ours["probes"][(pop_name, var)])
                b = np.asarray(theirs["probes"][(pop_name, var)])
            key = f"{pop_name}.{var}"
            if a.shape != b.shape:
                raise RuntimeError(f"{key}: hwsim recorded shape {a.shape}, Lava {b.shape}")
            diff = a.astype(np.int64) != b.astype(np.int64)
            compared[key] = int(a.size)
            mismatches[key] = int(diff.sum())
            if mismatches[key]:
                row, idx = (int(x) for x in np.argwhere(diff)[0])
                candidates.append((row, len(candidates), Mismatch(
                    step=row + 1, population=pop_name, variable=var, index=idx,
                    position=tuple(int(i) for i in np.unravel_index(idx, pop.shape)),
                    hwsim=int(a[row, idx]), lava=int(b[row, idx]))))
    for key, name, var, a, b, row0, shape in _learning_pairs(net, ours, theirs):
        a = np.asarray(a).reshape(a.shape[0], -1).astype(np.int64)
        b = np.asarray(b).reshape(b.shape[0], -1).astype(np.int64)
        if a.shape != b.shape:
            raise RuntimeError(f"{key}: hwsim recorded shape {a.shape}, Lava {b.shape}")
        diff = a != b
        compared[key] = int(a.size)
        mismatches[key] = int(diff.sum())
        if mismatches[key]:
            row, idx = (int(x) for x in np.argwhere(diff)[0])
            candidates.append((row + row0, len(candidates), Mismatch(
                step=row + row0 + 1, population=name, variable=var, index=idx,
                position=tuple(int(i) for i in np.unravel_index(idx, shape)),
                hwsim=int(a[row, idx]), lava=int(b[row, idx]))))
    first = min(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None
    timing = {"hwsim_s": t1 - t0, "lava_run_s": float(theirs["timing"]["run_s"]), "lava_total_s": t2 - t1}
    return VerifyReport(identical=first is None, network=net.name, T=T, variables=variables,
                        first_mismatch=first, mismatches=mismatches, compared=compared, spikes=spikes, messages=messages,
                        exported_as=dict(theirs.get("exported_as", {})), timing=timing, target=target)
