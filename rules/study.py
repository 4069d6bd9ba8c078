"""Quantization studies as data: a study file (TOML) or a dict names a base run, the axes and their
values (a grid or a list of points), the seeds and the training settings; ``Study.cells()`` expands it
into the ``rules.cells`` cells that ``rules.sweep`` runs. docs/studies.md describes the format.

Everything is validated before any cell runs (:class:`StudyError`, a ``ValueError`` whose message
names the key, the value and what is allowed): unknown keys and axes (the known ones are listed),
values outside their ``ChipSpec`` range (``hwsim.spec``'s own check, one place for ranges), an
empty grid, and every cell's full configuration (``ChipTrainConfig`` / ``TrainConfig`` raise on
width combinations the chip cannot realise).

Bases:

* ``onchip``: on-chip OTTT (``rules.onchip.train_chip``) with its float twin; axes are the
  ``ChipTrainConfig`` widths (weight_bits, trace_bits, accumulator_bits, tag_bits, in_bits), the
  rounding of learning updates, T, lr, and the rule's knobs (rule ottt-a | ottt-o, blocks local |
  global, feedback, leak, alpha, weight_range, init, hidden). ``in_bits = "auto"`` means
  ``min(7, trace_bits)`` (input payloads are written into the traces).
* ``ptq``: a float rule trained with ``rules.train`` then quantized (``models.quantize``) and run on
  the chip simulator (``rules.chiprun.evaluate``); axes are the rule, weight_bits (the projections'
  ``num_weight_bits``), the other ChipSpec widths of the quantized network (uv_bits, decay_bits,
  vth_mant_bits, bias_mant_bits, message_bits, weight_exp_min, weight_exp_max), scale_policy, and
  the training knobs T, lr, leak, alpha, hidden.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hwsim.spec import LOIHI, ChipSpec, SpecError

from .cells import Cell, canonical_json

BASES = ("onchip", "ptq")
FLOAT_MODES = ("twin", "reference", "none")
DATASETS = ("digits", "mnist")
SPEC_WIDTHS = tuple(f.name for f in dataclasses.fields(ChipSpec)
                    if f.name.endswith("_bits") or f.name.startswith("weight_exp"))
# the ChipSpec widths each base can vary (the others are known, and refused with the reason)
ONCHIP_WIDTHS = ("weight_bits", "trace_bits", "accumulator_bits", "tag_bits")
PTQ_WIDTHS = ("weight_bits", "uv_bits", "decay_bits", "vth_mant_bits", "bias_mant_bits", "message_bits",
              "weight_exp_min", "weight_exp_max")
ONCHIP_KNOBS = ("rule", "blocks", "feedback", "in_bits", "rounding", "timing", "T", "lr", "leak", "alpha",
                "weight_range", "init", "hidden")
PTQ_KNOBS = ("rule", "scale_policy", "T", "lr", "leak", "alpha", "hidden")
TOP_KEYS = ("name", "base", "dataset", "data_dir", "epochs", "seeds", "limit", "float", "reference",
            "crosscheck_samples", "fixed", "axes", "points")
CELL_FNS = {"onchip": "rules.sweep:onchip_cell", "ptq": "rules.sweep:ptq_cell",
            "ptq-train": "rules.sweep:ptq_train_cell"}
MAX_CELLS = 100_000


class StudyError(ValueError):
    """A study that cannot run; the message names the key or axis, the value and what is allowed."""


def axes_of(base: str) -> tuple:
    """The axis names a base knows (widths first)."""
    return (ONCHIP_WIDTHS + ONCHIP_KNOBS) if base == "onchip" else (PTQ_WIDTHS + PTQ_KNOBS)


def width_axes(base: str) -> tuple:
    return ONCHIP_WIDTHS + ("in_bits",) if base == "onchip" else PTQ_WIDTHS


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# number axes: (lo, hi, open at lo, open at hi)
_NUMBERS = {"lr": (0.0, 10.0, True, False), "leak": (0.0, 1.0, True, True), "alpha": (0.0, 100.0, True, False),
            "weight_range": (1.0, 1024.0, False, False)}


def _check_value(base: str, axis: str, v, where: str):
    """One axis value, normalised (lists -> lists of ints for hidden); StudyError if invalid."""
    def bad(allowed):
        return StudyError(f"{where}: {axis}={v!r} is not allowed; {allowed}")

    if axis in SPEC_WIDTHS:
        try:
            LOIHI.replace(**{axis: v})            # ChipSpec's own range check
        except SpecError as exc:
            raise StudyError(f"{where}: axis {axis}: {exc}") from None
        if not _is_int(v):
            raise bad("an integer")
        return int(v)
    if axis == "rule":
        from .onchip import CHIP_RULES
        from .train import RULES
        allowed = CHIP_RULES if base == "onchip" else RULES
        if v not in allowed:
            raise bad(f"one of {allowed}")
        return v
    choices = {"blocks": ("local", "global"), "feedback": ("mirror", "random"), "init": ("default", "chen-li"),
               "scale_policy": ("exact", "pow2")}
    if axis == "rounding":
        from hwsim.learning import ROUNDINGS
        choices["rounding"] = ROUNDINGS
    if axis == "timing":
        from .onchip import check_timing
        try:
            return check_timing(v)           # 'chip' only; 'layer-sync' (removed) is refused with the reason
        except ValueError as exc:
            raise StudyError(f"{where}: {exc}") from None
    if axis in choices:
        if v not in choices[axis]:
            raise bad(f"one of {choices[axis]}")
        return v
    if axis == "in_bits":
        if v == "auto":
            return v
        if not _is_int(v) or not 1 <= v <= 16:
            raise bad("an integer in [1, 16] (and <= trace_bits) or 'auto' (min(7, trace_bits))")
        return v
    if axis == "T":
        if not _is_int(v) or not 1 <= v <= 10_000:
            raise bad("an integer in [1, 10000]")
        return v
    if axis == "hidden":
        if not isinstance(v, (list, tuple)) or not v or not all(_is_int(h) and 1 <= h <= 100_000 for h in v):
            raise bad("a list of hidden layer sizes, each in [1, 100000]")
        return [int(h) for h in v]
    if axis in _NUMBERS:
        lo, hi, lo_open, hi_open = _NUMBERS[axis]
        ok = (isinstance(v, (int, float)) and not isinstance(v, bool) and (lo < v if lo_open else lo <= v)
              and (v < hi if hi_open else v <= hi))
        if not ok:
            raise bad(f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}")
        return float(v)
    raise StudyError(f"{where}: unknown axis {axis!r}")


def _check_axis_name(base: str, axis: str, where: str) -> None:
    known = axes_of(base)
    if axis in known:
        return
    if axis in SPEC_WIDTHS:
        raise StudyError(f"{where}: axis {axis!r} is a ChipSpec width that base {base!r} cannot vary yet "
                         f"(its widths are {width_axes(base)}); known axes of {base!r}: {list(known)}")
    raise StudyError(f"{where}: unknown axis {axis!r}; known axes of base {base!r}: {list(known)}")


@dataclass(frozen=True)
class Study:
    """A validated study (construct with :func:`parse_study`)."""

    base: str
    dataset: str = "digits"
    data_dir: Optional[str] = None
    epochs: Optional[int] = None
    seeds: tuple = (0,)
    limit: Optional[int] = None
    float_mode: str = "twin"       # the study file's ``float`` key
    reference: dict = field(default_factory=dict)
    crosscheck_samples: int = 0
    fixed: dict = field(default_factory=dict)
    points: tuple = ()              # the expanded points (dicts axis -> value), grid or list
    axes: tuple = ()                # the axis names, in order
    name: str = ""

    # ---- identity ------------------------------------------------------------------------
    def as_dict(self) -> dict:
        """Everything that defines the results (not the name)."""
        return {"base": self.base, "dataset": self.dataset, "data_dir": self.data_dir, "epochs": self.epochs,
                "seeds": list(self.seeds), "limit": self.limit, "float": self.float_mode,
                "reference": self.reference, "crosscheck_samples": self.crosscheck_samples,
                "fixed": self.fixed, "axes": list(self.axes), "points": [dict(p) for p in self.points]}

    @property
    def hash(self) -> str:
        return hashlib.sha256(canonical_json(self.as_dict()).encode()).hexdigest()[:16]

    # ---- cells ---------------------------------------------------------------------------
    def settings(self, point: dict) -> dict:
        """The full settings of a point: fixed values, then the point's axis values."""
        return {**self.fixed, **point}

    def reference_point(self, point: dict) -> dict:
        return {**point, **self.reference}

    def cells(self) -> list:
        """``[(point, seed, Cell, reference Cell or None)]`` for every point and seed, validated."""
        out = []
        for point in self.points:
            for seed in self.seeds:
                if self.base == "onchip":
                    own = onchip_config(self, self.settings(point), seed)
                    ref = None
                    if self.float_mode == "reference":
                        rcfg = onchip_config(self, self.settings(self.reference_point(point)), seed)
                        if rcfg["chip"] == own["chip"]:
                            own["twin"] = True        # the cell is its own reference
                        else:
                            rcfg["twin"] = True       # same as that point's own cell: run once
                            ref = Cell(CELL_FNS["onchip"], rcfg)
                    else:
                        own["twin"] = self.float_mode == "twin"
                    out.append((point, seed, Cell(CELL_FNS["onchip"], own), ref))
                else:
                    cfg = ptq_config(self, self.settings(point), seed)
                    out.append((point, seed, Cell(CELL_FNS["ptq"], cfg), Cell(CELL_FNS["ptq-train"], cfg["train"])))
        return out


def onchip_config(study: Study, s: dict, seed: int) -> dict:
    """The JSON config of an on-chip cell; ChipTrainConfig validates it (ValueError -> StudyError)."""
    from .onchip import ChipTrainConfig

    chip = {k: s[k] for k in ONCHIP_WIDTHS if k in s}
    for k in ("rule", "feedback", "rounding", "timing", "T", "lr", "leak", "alpha", "weight_range", "init", "hidden"):
        if k in s:
            chip[k] = s[k]
    if "blocks" in s:
        chip["local_blocks"] = s["blocks"] == "local"
    if "in_bits" in s:
        tb = chip.get("trace_bits") or LOIHI.trace_bits
        chip["in_bits"] = min(7, tb) if s["in_bits"] == "auto" else s["in_bits"]
    chip.update(dataset=study.dataset, data_dir=study.data_dir, seed=int(seed), limit=study.limit)
    if study.epochs is not None:
        chip["epochs"] = study.epochs
    try:
        cfg = ChipTrainConfig(**chip)
    except (ValueError, TypeError) as exc:
        hint = "; in_bits = 'auto' sets min(7, trace_bits)" if "in_bits" in str(exc) and s.get("in_bits") != "auto" else ""
        raise StudyError(f"point {_fmt(s)} seed {seed}: {exc}{hint}") from None
    full = {**dataclasses.asdict(cfg), "hidden": list(cfg.hidden)}
    return {"chip": full, "twin": False, "crosscheck_samples": study.crosscheck_samples}


def ptq_config(study: Study, s: dict, seed: int) -> dict:
    """The JSON config of a PTQ cell: the training config (its own cell) and the quantization."""
    from .train import TrainConfig

    train = {k: s[k] for k in ("rule", "T", "lr", "leak", "alpha", "hidden") if k in s}
    train.update(dataset=study.dataset, data_dir=study.data_dir, seed=int(seed), limit=study.limit,
                 epochs=study.epochs)
    try:
        tc = TrainConfig(**train)
    except (ValueError, TypeError) as exc:
        raise StudyError(f"point {_fmt(s)} seed {seed}: {exc}") from None
    tdict = {**dataclasses.asdict(tc), "hidden": list(tc.hidden)}
    wb = s.get("weight_bits", LOIHI.weight_bits)
    spec = {k: s[k] for k in PTQ_WIDTHS if k in s and k != "weight_bits"}
    spec["weight_bits"] = max(LOIHI.weight_bits, wb)
    try:
        sp = LOIHI.replace(**spec)
    except SpecError as exc:
        raise StudyError(f"point {_fmt(s)}: {exc}") from None
    return {"train": tdict, "weight_bits": int(wb), "scale_policy": s.get("scale_policy", "exact"),
            "spec": dataclasses.asdict(sp)}


def _fmt(point: dict) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in point.items()) + "}"


def _values(base: str, axis: str, vals, where: str) -> list:
    if not isinstance(vals, (list, tuple)):
        vals = [vals]
    if len(vals) == 0:
        raise StudyError(f"{where}: axis {axis!r} has no values (an empty grid); give at least one")
    out = [_check_value(base, axis, v, where) for v in vals]
    if len({json.dumps(v) for v in out}) != len(out):
        raise StudyError(f"{where}: axis {axis!r} lists a value twice: {vals}")
    return out


def parse_study(data: dict, where: str = "study") -> Study:
    """A :class:`Study` from a dict (a parsed TOML file or the CLI's flags); StudyError on bad input."""
    if not isinstance(data, dict):
        raise StudyError(f"{where}: a study is a table of keys, got {type(data).__name__}")
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise StudyError(f"{where}: unknown key(s) {unknown}; known keys: {list(TOP_KEYS)}")
    base = data.get("base")
    if base not in BASES:
        raise StudyError(f"{where}: base={base!r} is not one of {BASES} (onchip: on-chip OTTT with its float "
                         "twin; ptq: a float rule, quantized after training)")
    dataset = data.get("dataset", "digits")
    if dataset not in DATASETS:
        raise StudyError(f"{where}: dataset={dataset!r} is not one of {DATASETS}")
    data_dir = data.get("data_dir")
    if dataset == "mnist" and not data_dir:
        raise StudyError(f"{where}: dataset='mnist' needs data_dir (a folder with the IDX files)")
    epochs = data.get("epochs", 10 if base == "onchip" else None)
    if epochs is not None and (not _is_int(epochs) or not 1 <= epochs <= 100_000):
        raise StudyError(f"{where}: epochs={epochs!r} must be an integer in [1, 100000]")
    seeds = data.get("seeds", [0])
    if _is_int(seeds):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise StudyError(f"{where}: seeds={seeds!r} must be a non-empty list of integers")
    for sd in seeds:
        if not _is_int(sd) or not 0 <= sd < 2 ** 31:
            raise StudyError(f"{where}: seed {sd!r} is outside the allowed range [0, 2**31)")
    if len(set(seeds)) != len(seeds):
        raise StudyError(f"{where}: seeds {list(seeds)} list a seed twice")
    limit = data.get("limit")
    if limit is not None and (not _is_int(limit) or limit < 1):
        raise StudyError(f"{where}: limit={limit!r} must be an integer >= 1 (training samples)")
    fmode = data.get("float", "twin")
    if fmode not in FLOAT_MODES:
        raise StudyError(f"{where}: float={fmode!r} is not one of {FLOAT_MODES}")
    if base == "ptq" and fmode != "twin":
        raise StudyError(f"{where}: float={fmode!r} applies to base 'onchip' only (a PTQ cell always "
                         "evaluates its float network)")
    xs = data.get("crosscheck_samples", 0)
    if not _is_int(xs) or not 0 <= xs <= 100_000:
        raise StudyError(f"{where}: crosscheck_samples={xs!r} must be an integer in [0, 100000]")
    if base == "ptq" and xs:
        raise StudyError(f"{where}: crosscheck_samples applies to base 'onchip' only (update cosines of "
                         "on-chip learning against the float twin)")
    fixed_in = data.get("fixed", {})
    if not isinstance(fixed_in, dict):
        raise StudyError(f"{where}: fixed must be a table of axis = value")
    fixed = {}
    for k, v in fixed_in.items():
        _check_axis_name(base, k, f"{where}: fixed")
        fixed[k] = _check_value(base, k, v, f"{where}: fixed")
    axes_in, points_in = data.get("axes"), data.get("points")
    if axes_in is not None and points_in is not None:
        raise StudyError(f"{where}: give either axes (a grid) or points (a list), not both")
    if axes_in is None and points_in is None:
        raise StudyError(f"{where}: no axes or points given (an empty grid); known axes of base {base!r}: "
                         f"{list(axes_of(base))}")
    if axes_in is not None:
        if not isinstance(axes_in, dict) or not axes_in:
            raise StudyError(f"{where}: axes is empty (an empty grid); give axis = [values]; known axes of "
                             f"base {base!r}: {list(axes_of(base))}")
        axes = list(axes_in)
        vals = []
        for a in axes:
            _check_axis_name(base, a, f"{where}: axes")
            vals.append(_values(base, a, axes_in[a], f"{where}: axes"))
        n = 1
        for v in vals:
            n *= len(v)
        if n > MAX_CELLS:
            raise StudyError(f"{where}: the grid has {n} points, more than {MAX_CELLS}")
        points = tuple(dict(zip(axes, combo)) for combo in itertools.product(*vals))
    else:
        if not isinstance(points_in, (list, tuple)) or not points_in:
            raise StudyError(f"{where}: points is empty (an empty grid); give a list of {{axis = value}} tables")
        axes = []
        points = []
        for i, p in enumerate(points_in):
            if not isinstance(p, dict) or not p:
                raise StudyError(f"{where}: points[{i}] must be a non-empty table of axis = value")
            q = {}
            for a, v in p.items():
                _check_axis_name(base, a, f"{where}: points[{i}]")
                q[a] = _check_value(base, a, v, f"{where}: points[{i}]")
                if a not in axes:
                    axes.append(a)
            points.append(q)
        if len({canonical_json(p) for p in points}) != len(points):
            raise StudyError(f"{where}: points lists a point twice")
        points = tuple(points)
    overlap = sorted(set(axes) & set(fixed))
    if overlap:
        raise StudyError(f"{where}: {overlap} are both fixed and axes; give each in one place")
    ref_in = data.get("reference")
    if ref_in is not None and fmode != "reference":
        raise StudyError(f"{where}: reference is used with float='reference' only (float={fmode!r})")
    reference = {}
    if fmode == "reference":
        if ref_in is None:   # default: the widest value of every width axis of the study
            for a in axes:
                if a in ONCHIP_WIDTHS:
                    vs = [p[a] for p in points if a in p]
                    reference[a] = max(vs)
        else:
            if not isinstance(ref_in, dict):
                raise StudyError(f"{where}: reference must be a table of axis = value")
            for a, v in ref_in.items():
                _check_axis_name(base, a, f"{where}: reference")
                reference[a] = _check_value(base, a, v, f"{where}: reference")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise StudyError(f"{where}: name={name!r} must be a string")
    study = Study(base=base, dataset=dataset, data_dir=data_dir, epochs=epochs, seeds=tuple(int(s) for s in seeds),
                  limit=limit, float_mode=fmode, reference=reference, crosscheck_samples=int(xs), fixed=fixed,
                  points=points, axes=tuple(axes), name=name)
    study.cells()        # every cell's full configuration is valid, before anything runs
    return study


def load_study_file(path) -> dict:
    """A study file's table (TOML; ``tomllib`` from Python 3.11, ``tomli`` before)."""
    try:
        import tomllib
    except ModuleNotFoundError:          # Python 3.10
        import tomli as tomllib
    p = Path(path)
    if not p.is_file():
        raise StudyError(f"study file {str(p)!r} does not exist or is not a file")
    try:
        with open(p, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"study file {str(p)!r} is not valid TOML: {exc}") from None


# ---------------------------------------------------------------------------------------------- presets

LOIHI_POINT = {"weight_bits": 8, "trace_bits": 7, "accumulator_bits": 15}
ROUNDING_WIDTHS = (LOIHI_POINT, {"weight_bits": 6, "trace_bits": 5, "accumulator_bits": 11},
                   {"weight_bits": 4, "trace_bits": 4, "accumulator_bits": 8})


def preset(name: str) -> dict:
    """The study table of a preset (``PRESETS``); docs/studies.md explains each choice."""
    if name == "learning-precision":
        # in_bits follows the trace width (payloads are written into the traces): min(7, trace_bits);
        # float: one float-twin run per seed at the widest point (12 / 12 bits); chip timing (the
        # Simulator, the only timing; kept in the table so that the study's hash stays the same)
        return {"name": "learning-precision", "base": "onchip", "dataset": "digits", "epochs": 10,
                "seeds": [0, 1, 2], "float": "reference", "crosscheck_samples": 64,
                "fixed": {"rule": "ottt-a", "blocks": "local", "in_bits": "auto", "timing": "chip"},
                "axes": {"weight_bits": [4, 6, 8, 10, 12], "trace_bits": [4, 5, 7, 9, 12]}}
    if name == "ptq":
        from .train import RULES
        return {"name": "ptq", "base": "ptq", "dataset": "digits", "seeds": [0, 1, 2],
                "axes": {"rule": list(RULES), "weight_bits": [2, 3, 4, 5, 6, 7, 8]}}
    if name == "rounding":
        pts = [{**w, "rounding": r} for w in ROUNDING_WIDTHS for r in ("stochastic", "nearest", "floor")]
        # chip timing: the Simulator's learning engine implements every rounding (kept in the table so that
        # the study's hash stays the same)
        return {"name": "rounding", "base": "onchip", "dataset": "digits", "epochs": 10, "seeds": [0, 1, 2],
                "float": "reference", "reference": {"rounding": "stochastic"}, "crosscheck_samples": 64,
                "fixed": {"rule": "ottt-a", "blocks": "local", "in_bits": "auto", "timing": "chip"},
                "points": pts}
    raise StudyError(f"preset={name!r} is not one of {PRESETS}")


PRESETS = ("learning-precision", "ptq", "rounding")


def merge_overrides(data: dict, **kw: Any) -> dict:
    """The study table with CLI overrides (None = keep): dataset, epochs, seeds, limit, ..."""
    out = dict(data)
    for k, v in kw.items():
        if v is not None:
            out[k] = v
    return out
