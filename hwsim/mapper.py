"""Map a network's compartments onto cores under the chip's per-core limits.

Model (Loihi 1 cores, Davies et al., IEEE Micro 2018; limits from :class:`~hwsim.spec.ChipSpec`):

* a core holds consecutive compartments of **one** population (at most ``compartments_per_core``);
* **fan-in axons**: distinct sources (input channels or compartments) with at least one synapse
  onto the core, at most ``fan_in_axons_per_core``;
* **synaptic memory**: the core stores the synapses of its compartments' incoming projections,
  ``bits = num_weight_bits + delay bits (+ target index bits for sparse/conv)`` each
  (:func:`hwsim.program.synapse_bits`), at most ``synaptic_memory_bytes_per_core``;
* **fan-out axons**: one per (compartment on the core, distinct target core), at most
  ``fan_out_axons_per_core``; inputs come from off-chip and use none;
* at most ``cores_per_chip`` cores.

Each population is packed greedily in order, a core as full as its limits allow; when a core
then needs too many fan-out axons, that population is re-packed with fewer compartments per
core. A network that cannot fit raises :class:`~hwsim.spec.MappingError` naming the population,
the resource, what it needs and the limit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels.mapping import RES_FAN_IN, RES_MEMORY, pack_population
from .network import Network
from .program import expand_synapses, synapse_bits
from .spec import ChipSpec, MappingError

RESOURCES = ("compartments", "fan_in_axons", "fan_out_axons", "synaptic_memory_bytes")
_LIMIT_FIELD = {"compartments": "compartments_per_core", "fan_in_axons": "fan_in_axons_per_core",
                "fan_out_axons": "fan_out_axons_per_core",
                "synaptic_memory_bytes": "synaptic_memory_bytes_per_core"}


@dataclass(frozen=True)
class Mapping:
    """Compartments on cores. ``blocks[i] = (core, population, start, stop)`` (population-local
    flat compartment range); ``usage[resource]`` is an int64 array over cores."""

    spec: ChipSpec
    blocks: tuple
    usage: dict
    n_cores: int

    def cores_of(self, population: str) -> list[int]:
        """Cores holding compartments of ``population``, in order."""
        return [b[0] for b in self.blocks if b[1] == population]

    def utilization(self) -> dict[int, dict[str, tuple[int, int]]]:
        """Per core: ``{resource: (used, max)}`` for every resource in :data:`RESOURCES`."""
        return {c: {r: (int(self.usage[r][c]), int(getattr(self.spec, _LIMIT_FIELD[r]))) for r in RESOURCES}
                for c in range(self.n_cores)}

    def fits(self) -> bool:
        """Whether every core is within its limits and the cores within ``cores_per_chip``."""
        over = any(np.any(self.usage[r] > getattr(self.spec, _LIMIT_FIELD[r])) for r in RESOURCES)
        return not over and self.n_cores <= self.spec.cores_per_chip

    def report(self) -> str:
        """A table of the cores: population, compartment range and each resource as used/max (%)."""
        head = f"{'core':>5} {'population':<16} {'range':<13}" + "".join(f" {r:>24}" for r in RESOURCES)
        lines = [f"mapping: {self.n_cores} cores of {self.spec.cores_per_chip} per chip", head]
        util = self.utilization()
        for core, pop, a, b in self.blocks:
            cells = []
            for r in RESOURCES:
                used, mx = util[core][r]
                cells.append(f" {f'{used}/{mx} ({100 * used / mx:.0f}%)':>24}")
            lines.append(f"{core:>5} {pop:<16} {f'[{a}, {b})':<13}" + "".join(cells))
        return "\n".join(lines)


def _incoming(net: Network, spec: ChipSpec, src_offset: dict, n_axons: int):
    """Per population: CSR by compartment of incoming axons, bits per compartment, and all synapses."""
    per_pop = {name: ([], [], []) for name in net.populations}
    synapses = []
    for proj in net.projections.values():
        s = expand_synapses(net, proj)
        bits = synapse_bits(proj, s, spec)
        per_pop[proj.dst][0].append(s.dst)
        per_pop[proj.dst][1].append(src_offset[proj.src] + s.src)
        per_pop[proj.dst][2].append(np.full(s.dst.size, bits, np.int64))
        synapses.append((proj, s))
    out = {}
    for name, pop in net.populations.items():
        dst, axon, bits = per_pop[name]
        dst = np.concatenate(dst) if dst else np.zeros(0, np.int64)
        axon = np.concatenate(axon) if axon else np.zeros(0, np.int64)
        bits = np.concatenate(bits) if bits else np.zeros(0, np.int64)
        order = np.argsort(dst, kind="stable")
        ptr = np.zeros(pop.size + 1, np.int64)
        ptr[1:] = np.cumsum(np.bincount(dst, minlength=pop.size))
        comp_bits = np.bincount(dst, weights=bits, minlength=pop.size).astype(np.int64)
        out[name] = (ptr, np.ascontiguousarray(axon[order]), comp_bits)
    return out, synapses


def map_network(net: Network, spec: ChipSpec | None = None, strict: bool = True) -> Mapping:
    """Assign every compartment of ``net`` to a core under ``spec``'s limits (``net.spec`` by default).

    With ``strict=False`` nothing is raised: a compartment that alone exceeds a limit gets a core of
    its own and the result may exceed the limits (check :meth:`Mapping.fits`); useful to simulate
    networks larger than a chip.

    Raises
    ------
    MappingError
        The network does not fit (``strict=True``); the message names the population, the
        resource, what it needs and the limit.
    """
    spec = net.spec if spec is None else spec
    src_offset, n = {}, 0
    for name, node in list(net.inputs.items()) + list(net.populations.items()):
        src_offset[name] = n
        n += node.size
    n_axons = max(n, 1)
    incoming, synapses = _incoming(net, spec, src_offset, n_axons)
    caps = {name: spec.compartments_per_core for name in net.populations}
    max_bits = spec.synaptic_memory_bytes_per_core * 8
    for _ in range(64):
        blocks, fan_in, mem, comps = [], [], [], []
        for name, pop in net.populations.items():
            ptr, axon, comp_bits = incoming[name]
            code, j, need, starts, fi, bits = pack_population(
                pop.size, ptr, axon, comp_bits, n_axons, caps[name], spec.fan_in_axons_per_core, max_bits, strict)
            if code == RES_FAN_IN:
                raise MappingError(f"population {name!r}: fan_in_axons: compartment {j} alone needs {need} input "
                                   f"axons, limit fan_in_axons_per_core={spec.fan_in_axons_per_core}")
            if code == RES_MEMORY:
                raise MappingError(
                    f"population {name!r}: synaptic_memory_bytes: compartment {j} alone needs {(need + 7) // 8} "
                    f"bytes of synaptic memory, limit synaptic_memory_bytes_per_core="
                    f"{spec.synaptic_memory_bytes_per_core}")
            for a, b, f, m in zip(starts[:-1], starts[1:], fi, bits):
                blocks.append((len(blocks), name, int(a), int(b)))
                fan_in.append(int(f))
                mem.append((int(m) + 7) // 8)
                comps.append(int(b - a))
        n_cores = len(blocks)
        fan_out = _fan_out(net, blocks, synapses, src_offset)
        over = np.nonzero(fan_out > spec.fan_out_axons_per_core)[0]
        if over.size == 0 or not strict:
            break
        changed = False
        for core in over:
            _, name, a, b = blocks[core]
            if b - a == 1:
                raise MappingError(f"population {name!r}: fan_out_axons: compartment {a} alone needs "
                                   f"{int(fan_out[core])} output axons, limit fan_out_axons_per_core="
                                   f"{spec.fan_out_axons_per_core}")
            new_cap = max(1, min(caps[name], (b - a) * spec.fan_out_axons_per_core // int(fan_out[core])))
            if new_cap < caps[name]:
                caps[name] = new_cap
                changed = True
        if not changed:  # pragma: no cover - caps always shrink while a core is over
            break
    else:  # pragma: no cover
        raise MappingError("mapping did not converge while reducing fan-out axons per core")
    if strict and n_cores > spec.cores_per_chip:
        first = blocks[spec.cores_per_chip][1]
        raise MappingError(f"population {first!r}: cores_per_chip: the network needs {n_cores} cores, limit "
                           f"cores_per_chip={spec.cores_per_chip} (cores run out at population {first!r})")
    usage = {"compartments": np.asarray(comps, np.int64), "fan_in_axons": np.asarray(fan_in, np.int64),
             "fan_out_axons": np.asarray(fan_out, np.int64), "synaptic_memory_bytes": np.asarray(mem, np.int64)}
    return Mapping(spec=spec, blocks=tuple(blocks), usage=usage, n_cores=n_cores)


def _fan_out(net: Network, blocks, synapses, src_offset) -> np.ndarray:
    """Output axons per core: distinct (source compartment, target core) pairs of its compartments."""
    n_comp_total = sum(p.size for p in net.populations.values())
    comp_core = np.zeros(n_comp_total, np.int64)
    pop_base, k = {}, 0
    for name, pop in net.populations.items():
        pop_base[name] = k
        k += pop.size
    for core, name, a, b in blocks:
        comp_core[pop_base[name] + a:pop_base[name] + b] = core
    n_cores = max(len(blocks), 1)
    keys = []
    for proj, s in synapses:
        if proj.src not in net.populations:
            continue
        src_c = pop_base[proj.src] + s.src
        dst_core = comp_core[pop_base[proj.dst] + s.dst]
        keys.append(src_c * n_cores + dst_core)
    fan_out = np.zeros(len(blocks), np.int64)
    if keys:
        pairs = np.unique(np.concatenate(keys))
        np.add.at(fan_out, comp_core[pairs // n_cores], 1)
    return fan_out
