"""One experiment cell: train (or probe) one configuration and measure it, from a plain dict.

``run(config) -> dict`` is the cell function of ``hwlearn reproduce`` (``rules.cells``). It extends
the trainer of ``rules.train`` (same rules via ``make_rule``, same neuron, Adam + cosine schedule,
seeding and saved-tensor accounting) to any ``models.zoo`` shape, to event-frame sequences, and to
per-epoch measurements. Config fields (defaults in ``DEFAULTS``):

* ``kind``: ``"train"`` (train and evaluate every epoch) or ``"probe"`` (one training batch from
  initialisation: saved-tensor bytes and wall time of the batch, for memory against T);
* ``data``: ``{"name": "digits" | "events" | "mnist" | "nmnist" | "cifar10dvs", ...}``; ``events`` are
  ``models.data.make_event_dataset`` streams (``n_train``, ``n_test``, ``size``, ``n_classes``,
  ``seed`` and the generator's ``EVENT_KNOBS``), binned into T frames, clipped to 0/1; ``digits`` are direct-encoded (the image is the
  input current at every step); the real sets need ``data_dir`` (``limit`` caps the training set);
* ``arch`` (``models.zoo.ARCHS``) with ``widths`` / ``depth`` / ``width``; ``rule`` (``rules.train.RULES``);
  ``T``; ``truncation`` (TTL K, None = T); ``block_size`` (TTL layers per block, None = all layers);
  ``leak`` (None = the rule's default); ``lr``; ``epochs``; ``batch_size``; ``init`` (``default`` |
  ``chen-li``); ``loss`` (``ce`` | ``chenli-standin``, bptt and ttl); ``seed``; ``health`` (per-layer
  health report before and after training).

The result holds per-epoch ``history`` rows (``epoch``, ``loss``, ``train_acc``, ``test_acc``
(fractions), ``seconds`` (wall time of the epoch's training, evaluation excluded), ``cpu_seconds``),
the saved-tensor bytes of the first full batch (``rules.memory``), the counted MACs and memory
accesses of one batch (``rules.costs``), and the health reports. Seeds: the net is initialised
inside ``torch.random.fork_rng`` seeded with ``seed``; batches come from ``torch.Generator(seed)``;
event data from ``numpy`` ``default_rng(data.seed)`` (same data for every training seed).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from models.encoders import encode
from models.health import health_report
from models.init import init_chen_li
from models.neuron import LIFConfig
from models.surrogate import Surrogate
from models.zoo import ARCHS, build_arch

from .costs import training_costs
from .memory import SavedTensorMeter
from .train import RULE_DEFAULTS, RULES, TrainConfig, make_rule

DATA_NAMES = ("digits", "events", "mnist", "nmnist", "cifar10dvs")
DEFAULTS = dict(kind="train", arch="mlp", widths=[256, 256], depth=4, width=128, rule="bptt", T=8,
                truncation=None, block_size=None, leak=None, lr=2e-3, epochs=30, batch_size=32,
                init="default", loss="ce", seed=0, health=False, alpha=4.0, mse_weight=0.05)
EVENT_KNOBS = ("noise_rate", "emit_prob", "time_jitter", "max_width")  # passed on to make_event_dataset
HEALTH_SAMPLES = 128  # training samples in the health report's batch
THREADS_ENV = "HWLEARN_CELL_THREADS"  # torch threads per cell (default 1: cells run side by side)


@dataclass(frozen=True)
class Data:
    """Tensors of one dataset. ``sequence``: inputs are ``(N, T, ...)`` frames, else static ``(N, ...)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    sequence: bool
    description: str

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[2:] if self.sequence else self.x_train.shape[1:])

    def x_seq(self, x: torch.Tensor, T: int) -> torch.Tensor:
        """A batch as ``[T, batch, ...]``: frames transposed, or a static input direct-encoded."""
        if self.sequence:
            if x.shape[1] != T:
                raise ValueError(f"event frames have {x.shape[1]} time bins but T={T}")
            # contiguous, so that a step's frame x_seq[t] is its own block of memory: a strided
            # slice of a [batch, T, ...] tensor would be counted by rules.memory as the span it covers
            return x.transpose(0, 1).contiguous()
        return encode(x, T, "direct")


def load(data: dict, T: int, flat: bool) -> Data:
    """The dataset of a cell's ``data`` dict (module docstring); ``flat`` flattens each frame."""
    from models import data as mdata

    name = data.get("name")
    if name not in DATA_NAMES:
        raise ValueError(f"data name={name!r} is not one of {DATA_NAMES}")
    if name in ("mnist", "nmnist", "cifar10dvs") and not data.get("data_dir"):
        raise ValueError(f"data name={name!r} needs data_dir (a folder with the files)")
    limit = data.get("limit")
    if name == "digits":
        sp = mdata.load_digits_split(seed=0, image=not flat)
        xtr, ytr, xte, yte, ncls, seq = sp.x_train, sp.y_train, sp.x_test, sp.y_test, sp.n_classes, False
        desc = "digits (scikit-learn, 1437 train / 360 test, 8x8, direct encoding)"
    elif name == "mnist":
        sp = mdata.load_mnist_idx(data["data_dir"], image=not flat)
        xtr, ytr, xte, yte, ncls, seq = sp.x_train, sp.y_train, sp.x_test, sp.y_test, sp.n_classes, False
        desc = f"MNIST IDX files from {data['data_dir']}"
    elif name == "events":
        n_tr, n_te = int(data.get("n_train", 800)), int(data.get("n_test", 400))
        ds = mdata.make_event_dataset(n_tr + n_te, T, seed=int(data.get("seed", 0)),
                                      size=tuple(data.get("size", (16, 16))), n_classes=int(data.get("n_classes", 4)),
                                      **{k: data[k] for k in EVENT_KNOBS if k in data})
        fr = np.minimum(ds.frames, 1.0)
        xtr, ytr, xte, yte, ncls, seq = fr[:n_tr], ds.labels[:n_tr], fr[n_tr:], ds.labels[n_tr:], len(ds.class_names), True
        desc = (f"DVS-like generated events ({n_tr} train / {n_te} test, {ds.sensor_size[0]}x{ds.sensor_size[1]}, "
                f"{ncls} classes, T={T} binary frames)")
    else:
        if name == "nmnist":
            tr = mdata.load_nmnist(data["data_dir"], "Train", T=T)
            te = mdata.load_nmnist(data["data_dir"], "Test", T=T)
        else:
            ds = mdata.load_cifar10_dvs(data["data_dir"], T=T, size=data.get("size", 48))
            rng = np.random.default_rng(int(data.get("seed", 0)))
            perm = rng.permutation(len(ds))
            n_te = len(ds) // 10  # 9:1 split, the common choice (CIFAR10-DVS has no official split)
            tr = te = ds
            idx_tr, idx_te = perm[n_te:], perm[:n_te]
        if name == "nmnist":
            xtr, ytr, xte, yte = tr.frames, tr.labels, te.frames, te.labels
        else:
            xtr, ytr, xte, yte = tr.frames[idx_tr], tr.labels[idx_tr], te.frames[idx_te], te.labels[idx_te]
        xtr, xte = np.minimum(xtr, 1.0), np.minimum(xte, 1.0)
        ncls, seq = 10, True
        desc = f"{name} from {data['data_dir']} (T={T} binary frames)"
    if limit is not None:
        xtr, ytr = xtr[:int(limit)], ytr[:int(limit)]
        desc += f", first {int(limit)} training samples"
    xtr, xte = (torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (xtr, xte))
    if flat:
        lead = 2 if seq else 1
        xtr, xte = xtr.flatten(lead), xte.flatten(lead)
    ytr, yte = (torch.as_tensor(np.asarray(a), dtype=torch.long) for a in (ytr, yte))
    return Data(xtr, ytr, xte, yte, int(ncls), seq, desc)


def resolve_config(config: dict) -> dict:
    """``config`` with ``DEFAULTS`` filled in and every field checked (ValueError names the field)."""
    unknown = set(config) - set(DEFAULTS) - {"data"}
    if unknown:
        raise ValueError(f"unknown cell config field(s) {sorted(unknown)}; known: {sorted(DEFAULTS)} and 'data'")
    cfg = {**DEFAULTS, **config}
    if cfg["kind"] not in ("train", "probe"):
        raise ValueError(f"kind={cfg['kind']!r} is not one of ('train', 'probe')")
    if cfg["arch"] not in ARCHS:
        raise ValueError(f"arch={cfg['arch']!r} is not one of {ARCHS}")
    if cfg["rule"] not in RULES:
        raise ValueError(f"rule={cfg['rule']!r} is not one of {RULES}")
    if "data" not in cfg or not isinstance(cfg["data"], dict):
        raise ValueError("data must be a dict with at least 'name'")
    if cfg["leak"] is None:
        cfg["leak"] = RULE_DEFAULTS[cfg["rule"]]["leak"]
    return cfg


def _net_and_rule(cfg: dict, data: Data):
    neuron = LIFConfig(form="discrete", leak=cfg["leak"], v_th=1.0, reset="soft", detach_reset=True,
                       surrogate=Surrogate("sigmoid", cfg["alpha"]))
    T = int(cfg["T"])
    K = cfg["truncation"]
    if cfg["rule"] == "ttl" and K is None:
        K = T  # no truncation
    tc = TrainConfig(rule=cfg["rule"], T=T, truncation=K if cfg["rule"] == "ttl" else None, loss=cfg["loss"],
                     mse_weight=cfg["mse_weight"], init=cfg["init"], lr=cfg["lr"], epochs=cfg["epochs"],
                     batch_size=cfg["batch_size"], seed=cfg["seed"])
    block = 10 ** 6 if cfg["block_size"] is None else int(cfg["block_size"])  # None: one block of all layers
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["seed"])
        net = build_arch(cfg["arch"], data.input_shape, data.n_classes, neuron, block_size=block,
                         widths=cfg["widths"], depth=cfg["depth"], width=cfg["width"])
        if cfg["init"] == "chen-li":
            sample = data.x_seq(data.x_train[:256], T)
            init_chen_li(net, sample, generator=cfg["seed"])
        rule = make_rule(tc)
        extra = rule.setup(net)
    return net, rule, extra


@torch.no_grad()
def accuracy(net, data: Data, x: torch.Tensor, y: torch.Tensor, T: int, batch: int = 500) -> float:
    """Fraction of ``argmax_c sum_t o[t, c] == y`` over ``x``."""
    correct = 0
    for i in range(0, x.shape[0], batch):
        o = net(data.x_seq(x[i:i + batch], T))
        correct += int((o.sum(0).argmax(-1) == y[i:i + batch]).sum())
    return correct / max(1, x.shape[0])


def _health(net, data: Data, T: int) -> list[dict]:
    n = min(HEALTH_SAMPLES, data.x_train.shape[0])
    rep = health_report(net, data.x_seq(data.x_train[:n], T), data.y_train[:n])
    return [dict(asdict(h), status=h.status) for h in rep]


def run(config: dict) -> dict:
    """Run one cell (module docstring) and return its measurements."""
    torch.set_num_threads(int(os.environ.get(THREADS_ENV, "1")))
    cfg = resolve_config(config)
    T = int(cfg["T"])
    data = load(cfg["data"], T, flat=cfg["arch"] in ("mlp", "deep-mlp"))
    net, rule, extra = _net_and_rule(cfg, data)
    params = list(net.parameters()) + [p for m in extra for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=cfg["lr"])
    epochs = int(cfg["epochs"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(cfg["seed"])
    meter = SavedTensorMeter(exclude=params)
    n, bs = data.x_train.shape[0], int(cfg["batch_size"])
    bsize = len(net.layers) if cfg["block_size"] is None else min(int(cfg["block_size"]), len(net.layers))
    costs = training_costs(net, cfg["rule"], T, bs, truncation=(cfg["truncation"] or T) if cfg["rule"] == "ttl" else None,
                           block_size=bsize if cfg["rule"] == "ttl" else None)
    out = {"data_used": data.description, "n_layers": len(net.layers),
           "n_params": int(sum(p.numel() for p in net.parameters())),
           **{f"cost_{k}": v for k, v in costs.to_dict().items() if k not in ("rule", "T", "batch")}}
    if cfg["health"]:
        out["health_init"] = _health(net, data, T)
    if cfg["kind"] == "probe":
        idx = torch.randperm(n, generator=gen)[:bs]
        net.train()
        t0 = time.perf_counter()
        rule.train_batch(net, data.x_seq(data.x_train[idx], T), data.y_train[idx], opt, meter)
        out["batch_seconds"] = time.perf_counter() - t0
        s = meter.batch()
        out.update(saved_bytes_per_step=s.per_step, saved_bytes_peak=s.peak, saved_bytes_per_batch=s.per_batch,
                   graphs_per_batch=s.graphs, steps_per_batch=s.steps)
        return out
    history, saved = [], None
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = rule.train_batch(net, data.x_seq(data.x_train[idx], T), data.y_train[idx], opt, meter)
            loss_sum += loss * idx.numel()
            s = meter.batch()
            if saved is None and idx.numel() == min(bs, n):
                saved = s
        sched.step()
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        net.eval()
        history.append({"epoch": epoch + 1, "loss": loss_sum / n if math.isfinite(loss_sum) else None,
                        "train_acc": accuracy(net, data, data.x_train, data.y_train, T),
                        "test_acc": accuracy(net, data, data.x_test, data.y_test, T),
                        "seconds": secs, "cpu_seconds": cpu})
    out.update(history=history, final_train_acc=history[-1]["train_acc"], final_test_acc=history[-1]["test_acc"],
               best_test_acc=max(h["test_acc"] for h in history),
               saved_bytes_per_step=saved.per_step, saved_bytes_peak=saved.peak,
               saved_bytes_per_batch=saved.per_batch, steps_per_batch=saved.steps,
               epoch_seconds=float(np.mean([h["seconds"] for h in history])),
               epoch_cpu_seconds=float(np.mean([h["cpu_seconds"] for h in history])))
    if cfg["health"]:
        out["health_final"] = _health(net, data, T)
    return out
