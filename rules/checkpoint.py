"""Checkpoints of the float trainer (``hwlearn train --save / --resume``): HDF5, format
``hwlearn-checkpoint``, written through :mod:`hwsim.io`'s atomic writer (temporary file, integrity
header with the SHA-256 of the content, rename) and read back through its checked opener, so a
truncated, damaged or foreign file is refused before anything is read.

Layout (every entry below ``/checkpoint`` is hwsim.io's typed tree: arrays keep their dtypes)::

    /                 attrs: format='hwlearn-checkpoint', format_version, format_minor,
                             hwlearn_version, checkpoint_version, producer, kind='float-train'
    /checkpoint
        config        the resolved TrainConfig (dict)
        net_config    the NetConfig: input_shape, layers, n_classes, block_size, neuron (LIFConfig
                      fields, surrogate kind/param) -- enough to rebuild the SpikingNet alone
        model         {parameter name: float array}   (net.state_dict())
        extra         [{name: array}] the rule's own modules (local heads), in setup order
        rule_state    {"feedback": [array | None]}   (OTTT's fixed random feedback)
        optimizer     torch optimizer state_dict (tensors as arrays)
        scheduler     torch lr-scheduler state_dict
        rng           {"torch", "numpy", "python", "data_order"}: the global generators and the
                      trainer's batch-order / encoder generator
        epochs_done, history (per-epoch records), metrics (train/test accuracy at save time),
        versions      {hwlearn, python, torch, numpy, h5py}

Resuming rebuilds the run from ``config`` exactly as a fresh run does (same seed, same
construction order), then overwrites every parameter, the optimizer and scheduler state and
every generator with the saved ones, so ``N`` epochs + ``M`` resumed epochs reproduce ``N + M``
straight epochs bit for bit when both use the same schedule horizon (``schedule_epochs``).
"""
from __future__ import annotations

import random
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path

import h5py
import numpy as np
import torch

from hwsim.io import FormatError, _atomic_write, _open_checked, _read_value, _with_path, _write_value
from models.quantize_io import net_config_from_dict, net_config_to_dict

CHECKPOINT_FORMAT = "hwlearn-checkpoint"
CHECKPOINT_VERSION = 1
PRODUCER = "hwlearn rules.checkpoint"

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "save", "load", "resume_fn", "net_from_checkpoint",
           "train_config", "check_compatible"]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used for what was asked (wrong rule or shape, damaged state);
    the message names the file and the mismatch."""


# ------------------------------------------------------------------------------ torch <-> numpy
_SCALAR_TENSOR = "__scalar_tensor__"


def _to_numpy_tree(obj):
    """Tensors -> numpy arrays, recursively through dicts, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        a = obj.detach().cpu().numpy().copy()
        # hwsim.io reads a 0-d dataset back as a numpy scalar: keep 0-d tensors as one-element arrays
        return {_SCALAR_TENSOR: a.reshape(1)} if a.ndim == 0 else a
    if isinstance(obj, dict):
        return {k: _to_numpy_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_numpy_tree(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_numpy_tree(v) for v in obj)
    return obj


def _to_torch_tree(obj):
    """Numpy arrays -> tensors, recursively (inverse of :func:`_to_numpy_tree`)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.array(obj))
    if isinstance(obj, dict):
        if set(obj) == {_SCALAR_TENSOR}:
            return torch.from_numpy(np.array(obj[_SCALAR_TENSOR])).reshape(())
        return {k: _to_torch_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_torch_tree(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_torch_tree(v) for v in obj)
    return obj


# ------------------------------------------------------------------------------ save
def save(path, result, split=None) -> Path:
    """Write the state of a finished (or stopped) run, ``result`` a :class:`rules.train.TrainResult`
    whose ``state`` is set, to ``path`` (atomically: no partial file on failure)."""
    st = result.state
    if st is None:
        raise ValueError("result has no trainer state (was it produced by rules.train.train?)")
    cfg = st.config
    cfg_d = asdict(cfg)
    cfg_d["hidden"] = list(cfg.hidden)
    payload = {
        "config": cfg_d,
        "net_config": net_config_to_dict(st.net.config),
        "model": _to_numpy_tree(dict(st.net.state_dict())),
        "extra": [_to_numpy_tree(dict(m.state_dict())) for m in st.extra],
        "rule_state": {"feedback": [None if f is None else _to_numpy_tree(f)
                                    for f in (getattr(st.rule, "feedback", None) or [])]},
        "optimizer": _to_numpy_tree(st.optimizer.state_dict()),
        "scheduler": _to_numpy_tree(st.scheduler.state_dict()),
        "rng": {"torch": torch.get_rng_state().numpy().copy(),
                "numpy": _numpy_rng_state(),
                "python": _python_rng_state(),
                "data_order": st.data_order.get_state().numpy().copy()},
        "epochs_done": int(st.epochs_done),
        "history": [dict(h) for h in st.history],
        "metrics": {"train_accuracy": float(result.train_accuracy), "test_accuracy": float(result.test_accuracy)},
        "versions": {"python": sys.version.split()[0], "torch": str(torch.__version__), "numpy": str(np.__version__),
                     "h5py": str(h5py.__version__)},
    }

    def writer(f):
        f.attrs["checkpoint_version"] = CHECKPOINT_VERSION
        f.attrs["producer"] = PRODUCER
        f.attrs["kind"] = "float-train"
        _write_value(f, "checkpoint", payload, "checkpoint")

    _atomic_write(path, writer, CHECKPOINT_FORMAT)
    return Path(path)


def _numpy_rng_state() -> dict:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": str(name), "keys": np.asarray(keys), "pos": int(pos), "has_gauss": int(has_gauss),
            "gauss": float(gauss)}


def _python_rng_state() -> dict:
    version, state, gauss = random.getstate()
    return {"version": int(version), "state": np.asarray(state, dtype=np.int64), "gauss": gauss}


# ------------------------------------------------------------------------------ load
_REQUIRED = ("config", "net_config", "model", "extra", "rule_state", "optimizer", "scheduler", "rng",
             "epochs_done", "history", "metrics", "versions")


def load(path) -> dict:
    """Read and check a checkpoint; returns its payload (arrays as numpy).

    Raises FormatError (a ValueError naming the file) for a missing, foreign, truncated,
    damaged or newer file, or one missing an entry."""
    f, _ = _open_checked(path, CHECKPOINT_FORMAT)
    try:
        v = int(f.attrs.get("checkpoint_version", 0))
        if not 1 <= v <= CHECKPOINT_VERSION:
            raise FormatError(f"{path}: checkpoint_version {v} is not one this hwlearn reads "
                              f"(1..{CHECKPOINT_VERSION})")
        if "checkpoint" not in f:
            raise FormatError(f"{path}: missing /checkpoint")
        data = _read_value(f["checkpoint"], "/checkpoint", rebuild=False)
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise FormatError(f"{path}: checkpoint is missing {missing}")
        data["path"] = str(path)
        return data
    except FormatError as exc:
        raise _with_path(exc, path) from None
    except Exception as exc:
        raise FormatError(f"{path}: malformed checkpoint ({type(exc).__name__}: {exc})") from None
    finally:
        f.close()


def train_config(ckpt: dict):
    """The :class:`rules.train.TrainConfig` of a checkpoint (unknown fields refused)."""
    from rules.train import TrainConfig

    d = dict(ckpt["config"])
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise CheckpointError(f"{ckpt.get('path')}: config has unknown field(s) {unknown} (newer hwlearn?)")
    d["hidden"] = tuple(d["hidden"])
    try:
        return TrainConfig(**d)
    except ValueError as exc:
        raise CheckpointError(f"{ckpt.get('path')}: stored config is invalid: {exc}") from None


def check_compatible(ckpt: dict, **given) -> None:
    """Raise CheckpointError if any given TrainConfig field differs from the checkpoint's (``--resume``
    continues the saved run; only the number of epochs changes)."""
    cfg = train_config(ckpt)
    for name, value in given.items():
        have = getattr(cfg, name)
        if name == "hidden":
            value = tuple(value)
        if value != have:
            raise CheckpointError(f"{ckpt['path']}: {name}={value!r} differs from the checkpoint's "
                                  f"{name}={have!r}; --resume continues the saved run (only --epochs changes)")


def _load_state_dict(module: torch.nn.Module, arrays: dict, where: str, path) -> None:
    own = module.state_dict()
    if set(own) != set(arrays):
        raise CheckpointError(f"{path}: {where} holds {sorted(arrays)}, the network built from the config "
                              f"has {sorted(own)}")
    for k, t in own.items():
        a = arrays[k]
        if tuple(a.shape) != tuple(t.shape):
            raise CheckpointError(f"{path}: {where}[{k!r}] has shape {tuple(a.shape)}, the network built "
                                  f"from the config has {tuple(t.shape)} (different network shape)")
    module.load_state_dict({k: torch.from_numpy(np.array(a)).to(own[k].dtype) for k, a in arrays.items()})


def resume_fn(ckpt: dict):
    """A ``resume`` hook for :func:`rules.train.train`: loads weights, rule state, optimizer,
    scheduler and every generator of ``ckpt`` into the freshly built TrainerState."""
    path = ckpt["path"]

    def apply(st) -> None:
        _load_state_dict(st.net, ckpt["model"], "model", path)
        if len(ckpt["extra"]) != len(st.extra):
            raise CheckpointError(f"{path}: {len(ckpt['extra'])} rule modules saved, the rule builds "
                                  f"{len(st.extra)} (different rule options)")
        for i, (m, arrays) in enumerate(zip(st.extra, ckpt["extra"])):
            _load_state_dict(m, arrays, f"extra[{i}]", path)
        fb = ckpt["rule_state"]["feedback"]
        if fb:
            if len(fb) != len(st.rule.feedback):
                raise CheckpointError(f"{path}: {len(fb)} feedback matrices saved, the rule has "
                                      f"{len(st.rule.feedback)}")
            st.rule.feedback = [None if a is None else torch.from_numpy(np.array(a)) for a in fb]
        try:
            st.optimizer.load_state_dict(_to_torch_tree(ckpt["optimizer"]))
            st.scheduler.load_state_dict(ckpt["scheduler"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: optimizer/scheduler state does not fit the run ({exc})") from None
        rng = ckpt["rng"]
        st.data_order.set_state(torch.from_numpy(np.array(rng["data_order"])))
        torch.set_rng_state(torch.from_numpy(np.array(rng["torch"])))
        n = rng["numpy"]
        np.random.set_state((n["name"], n["keys"], n["pos"], n["has_gauss"], n["gauss"]))
        p = rng["python"]
        random.setstate((p["version"], tuple(int(x) for x in p["state"]), p["gauss"]))
        st.epochs_done = int(ckpt["epochs_done"])
        st.history[:] = [dict(h) for h in ckpt["history"]]

    return apply


def resume_config(ckpt: dict, epochs: int):
    """The config that continues ``ckpt`` for ``epochs`` more epochs (same schedule horizon)."""
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be an integer >= 1 (epochs to add)")
    cfg = train_config(ckpt)
    return replace(cfg, epochs=int(ckpt["epochs_done"]) + int(epochs))


def net_from_checkpoint(ckpt: dict, dtype: torch.dtype = torch.float32):
    """The trained float :class:`models.network.SpikingNet` of a checkpoint (eval mode, CPU)."""
    from models.network import SpikingNet

    net = SpikingNet(net_config_from_dict(ckpt["net_config"])).to(dtype)
    _load_state_dict(net, ckpt["model"], "model", ckpt["path"])
    return net.eval()


def file_sha256(path) -> str:
    """SHA-256 of a file's content after the header (the hash its hwlearn header records)."""
    from hwsim.io import USERBLOCK_SIZE, _file_sha256

    with open(path, "rb") as fh:
        return _file_sha256(fh, USERBLOCK_SIZE)[0]


def summary(ckpt: dict) -> list:
    """Readable lines: rule, epochs, metrics, network."""
    c = ckpt["config"]
    n = ckpt["net_config"]
    lines = [f"rule {c['rule']}  dataset {c['dataset']}  T={c['T']}  encoder {c['encoder']}  seed {c['seed']}",
             f"epochs done {ckpt['epochs_done']} (schedule over {c.get('schedule_epochs')})  optimizer "
             f"{c['optimizer']} lr={c['lr']}  batch {c['batch_size']}",
             f"network: input {tuple(n['input_shape'])} -> " + " -> ".join(":".join(map(str, s)) for s in n["layers"])
             + f" -> readout {n['n_classes']}; neuron {n['neuron']['form']} leak={n['neuron']['leak']} "
             f"v_th={n['neuron']['v_th']} reset={n['neuron']['reset']}",
             f"parameters: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in ckpt["model"].items())]
    m = ckpt["metrics"]
    lines.append(f"metrics at save: train_acc={m['train_accuracy']:.4f} test_acc={m['test_accuracy']:.4f}")
    if ckpt["history"]:
        lines.append("history: " + ", ".join(f"{h['epoch']}: loss {h['loss']:.4f}" for h in ckpt["history"]))
    v = ckpt["versions"]
    lines.append("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    return lines
