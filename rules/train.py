"""The trainer shared by every rule: data, seeding, optimizer, schedule, evaluation, accounting.

``train(TrainConfig(rule="ottt-a"))`` builds the default MLP (64 -> 256 -> 256 -> readout, discrete
LIF with the rule's paper settings), trains it on digits and returns a ``TrainResult``. Every run is
reproducible from ``seed``: the network (and TTL heads) are initialised inside a forked global RNG
seeded with ``seed`` (the caller's RNG state is restored afterwards), and batches / rate-encoder
draws come from a ``torch.Generator`` seeded with ``seed``.

Defaults per rule (``RULE_DEFAULTS``; any ``TrainConfig`` field left as None takes them). All use
Adam, batch 32, cosine annealing over the epochs, no weight decay, sigmoid surrogate alpha=4, soft
reset with the reset detached, v_th=1:

=======  =====  ======  =========  ===========================================================
rule     leak   epochs  lr (Adam)  notes
=======  =====  ======  =========  ===========================================================
bptt     0.5    30      2e-3       same neuron as OTTT (like-for-like comparison)
ottt-a   0.5    30      2e-3       OTTT code: tau=2; instantaneous CE + 0.05 MSE loss
ottt-o   0.5    30      2.5e-4     T=8 optimizer steps per batch, so lr / 8
ttl      0.5    30      2e-3       K=2 (clipped to T), one layer per block
rate-*   0.2    30      2e-3       rate-BP code: decay 0.2
=======  =====  ======  =========  ===========================================================
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from models.encoders import ENCODERS, encode
from models.init import init_chen_li
from models.network import SpikingNet, build_mlp, default_device
from models.neuron import LIFConfig
from models.surrogate import Surrogate

from .base import check_loss
from .bptt import BPTT, BPTTConfig
from .memory import SavedTensorMeter, peak_process_memory
from .ottt import OTTT, OTTTConfig
from .rate import RateBP, RateConfig
from .ttl import TTL, TTLConfig

RULES = ("bptt", "ottt-a", "ottt-o", "ttl", "rate-m", "rate-s")
DATASETS = ("digits", "mnist")
OPTIMIZERS = ("adam", "sgd")
INITS = ("default", "chen-li")

# Per-rule defaults; chosen on digits to reach the acceptance targets within 3 CPU-minutes.
RULE_DEFAULTS = {
    "bptt":   dict(leak=0.5, epochs=30, lr=2e-3),
    "ottt-a": dict(leak=0.5, epochs=30, lr=2e-3),
    "ottt-o": dict(leak=0.5, epochs=30, lr=2e-3 / 8),
    "ttl":    dict(leak=0.5, epochs=30, lr=2e-3),
    "rate-m": dict(leak=0.2, epochs=30, lr=2e-3),
    "rate-s": dict(leak=0.2, epochs=30, lr=2e-3),
}


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``None`` fields take the rule's defaults (``RULE_DEFAULTS``).

    rule : one of RULES
    dataset : 'digits' (bundled) | 'mnist' (IDX files in ``data_dir``)
    T : time steps >= 1;  encoder : 'direct' | 'rate' | 'latency'
    hidden : hidden layer sizes of the MLP
    epochs, batch_size, lr, optimizer ('adam' | 'sgd'), momentum (sgd), weight_decay
    leak : LIF lambda in [0, 1] (None: rule default); surrogate alpha: ``alpha``
    truncation : TTL window K in [1, T] (None: 2, clipped to T);  block_size : layers per TTL block
    mse_weight : OTTT lambda_L;  loss : 'ce' | 'chenli-standin' (bptt, ttl)
    local_blocks, feedback : OTTT with one head per block / fixed random feedback (``rules.ottt``)
    init : 'default' (PyTorch's) | 'chen-li' (models.init.init_chen_li, calibrated on 256 training samples)
    limit : use only the first ``limit`` training samples (smoke tests)
    device : 'auto' | 'cpu' | 'cuda' | ...
    schedule_epochs : horizon of the cosine learning-rate schedule (T_max, in epochs; None: ``epochs``).
        A run stopped early and resumed (``rules.checkpoint``) matches an uninterrupted run of
        ``schedule_epochs`` epochs bit for bit.
    """

    rule: str = "ottt-a"
    dataset: str = "digits"
    data_dir: Optional[str] = None
    T: int = 8
    encoder: str = "direct"
    hidden: tuple = (256, 256)
    epochs: Optional[int] = None
    batch_size: int = 32
    lr: Optional[float] = None
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    leak: Optional[float] = None
    alpha: float = 4.0
    truncation: Optional[int] = None
    block_size: int = 1
    mse_weight: float = 0.05
    loss: str = "ce"
    init: str = "default"
    seed: int = 0
    limit: Optional[int] = None
    device: str = "auto"
    local_blocks: bool = False
    feedback: str = "mirror"
    schedule_epochs: Optional[int] = None

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"rule={self.rule!r} is not one of {RULES}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset={self.dataset!r} is not one of {DATASETS}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r} is not one of {OPTIMIZERS}")
        check_loss(self.loss)
        if self.init not in INITS:
            raise ValueError(f"init={self.init!r} is not one of {INITS}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder={self.encoder!r} is not one of {ENCODERS}")
        if int(self.T) != self.T or self.T < 1:
            raise ValueError(f"T={self.T!r} must be an integer >= 1")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden={self.hidden!r} must be one or more positive layer sizes")
        for name in ("batch_size", "block_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 1")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs={self.epochs!r} must be >= 1")
        if self.schedule_epochs is not None and (int(self.schedule_epochs) != self.schedule_epochs
                                                 or self.schedule_epochs < 1):
            raise ValueError(f"schedule_epochs={self.schedule_epochs!r} must be an integer >= 1")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr={self.lr!r} must be a finite number > 0")
        if self.truncation is not None and (int(self.truncation) != self.truncation
                                            or not 1 <= self.truncation <= self.T):
            raise ValueError(f"truncation K={self.truncation!r} is outside the allowed range [1, T={self.T}]")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit={self.limit!r} must be >= 1")
        if self.local_blocks and self.rule not in ("ottt-a", "ottt-o"):
            raise ValueError(f"local_blocks is an OTTT option (rule={self.rule!r}); ttl has blocks of its own")
        if self.feedback not in ("mirror", "random"):
            raise ValueError(f"feedback={self.feedback!r} is not one of ('mirror', 'random')")
        if self.feedback == "random" and self.rule not in ("ottt-a", "ottt-o"):
            raise ValueError(f"feedback='random' is an OTTT option (rule={self.rule!r})")
        if self.dataset == "mnist" and not self.data_dir:
            raise ValueError("dataset='mnist' needs data_dir (a folder with the MNIST IDX files)")

    def resolved(self) -> "TrainConfig":
        """A copy with the rule defaults filled in."""
        d = RULE_DEFAULTS[self.rule]
        epochs = self.epochs or d["epochs"]
        return replace(self, epochs=epochs, lr=self.lr or d["lr"], schedule_epochs=self.schedule_epochs or epochs,
                       leak=d["leak"] if self.leak is None else self.leak,
                       truncation=(min(2, self.T) if self.truncation is None else self.truncation)
                       if self.rule == "ttl" else self.truncation)


@dataclass
class TrainResult:
    config: dict
    train_accuracy: float
    test_accuracy: float
    epochs: int
    seconds: float
    cpu_seconds: float
    saved_bytes_per_step: int
    saved_bytes_peak: int
    saved_bytes_per_batch: int
    peak_memory_bytes: int
    peak_memory_kind: str
    peak_memory_at_start_bytes: int
    samples_per_s: float
    history: list = field(default_factory=list)
    net: Optional[nn.Module] = None
    state: Optional["TrainerState"] = None

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("net")
        d.pop("state")
        d["seed"] = self.config["seed"]
        d["rule"] = self.config["rule"]
        return d


@dataclass
class TrainerState:
    """Everything a run needs to continue bit-identically (``rules.checkpoint`` saves it).

    config : the resolved TrainConfig;  net, rule, extra (the rule's own modules: heads);
    optimizer, scheduler;  data_order : the torch.Generator of batch order and encoder draws;
    epochs_done : epochs trained so far;  history : per-epoch records
    """

    config: TrainConfig
    net: nn.Module
    rule: object
    extra: list
    optimizer: torch.optim.Optimizer
    scheduler: object
    data_order: torch.Generator
    epochs_done: int = 0
    history: list = field(default_factory=list)


def build_state(cfg: TrainConfig, input_size: int, n_classes: int, device, x_calib=None) -> TrainerState:
    """A fresh run's state: the network and rule modules initialised in a forked RNG seeded with
    ``cfg.seed``, the optimizer, the cosine schedule over ``cfg.schedule_epochs`` and the data-order
    generator seeded with ``cfg.seed`` (``cfg`` resolved)."""
    rule = make_rule(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = build_net(cfg, input_size, n_classes).to(device)
        if cfg.init == "chen-li":
            sample = encode(x_calib[:256], cfg.T, cfg.encoder, generator=torch.Generator().manual_seed(cfg.seed))
            init_chen_li(net, sample.to(device), generator=cfg.seed)
        extra = rule.setup(net)
    params = list(net.parameters()) + [p for m in extra for p in m.parameters()]
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.schedule_epochs)
    gen = torch.Generator().manual_seed(cfg.seed)
    return TrainerState(cfg, net, rule, extra, opt, sched, gen)


def make_rule(cfg: TrainConfig):
    """The rule object for a (resolved) config."""
    if cfg.rule == "bptt":
        return BPTT(BPTTConfig(loss=cfg.loss))
    if cfg.rule in ("ottt-a", "ottt-o"):
        return OTTT(OTTTConfig(online=cfg.rule == "ottt-o", mse_weight=cfg.mse_weight,
                               local_blocks=cfg.local_blocks, feedback=cfg.feedback))
    if cfg.rule == "ttl":
        return TTL(TTLConfig(truncation=cfg.truncation, loss=cfg.loss))
    return RateBP(RateConfig(step_mode=cfg.rule[-1]))


def load_data(cfg: TrainConfig):
    """The dataset as a ``models.data.Split`` (flat inputs)."""
    from models import data

    if cfg.dataset == "digits":
        return data.load_digits_split(seed=0)
    loader = getattr(data, "load_mnist_idx", None)
    if loader is None:
        raise ValueError("dataset='mnist' is not available yet: models.data has no load_mnist_idx")
    return loader(cfg.data_dir)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return default_device()
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} requested but CUDA is not available")
    return dev


def build_net(cfg: TrainConfig, input_size: int, n_classes: int) -> SpikingNet:
    neuron = LIFConfig(form="discrete", leak=cfg.leak, v_th=1.0, reset="soft", detach_reset=True,
                       surrogate=Surrogate("sigmoid", cfg.alpha))
    return build_mlp(input_size, cfg.hidden, n_classes, neuron, block_size=cfg.block_size)


@torch.no_grad()
def evaluate(net: SpikingNet, x: torch.Tensor, y: torch.Tensor, T: int, encoder: str = "direct",
             batch_size: int = 512, generator: torch.Generator | None = None) -> float:
    """Accuracy (fraction) of ``argmax_c sum_t o[t, c]`` on ``x`` [N, ...], ``y`` [N]."""
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size]
        o = net(encode(xb, T, encoder, generator=generator))
        correct += int((o.sum(0).argmax(-1) == y[i:i + batch_size]).sum())
    return correct / max(1, x.shape[0])


def train(cfg: TrainConfig, split=None, progress: bool = False,
          on_epoch: Callable[[dict], None] | None = None,
          resume: Optional[Callable[[TrainerState], None]] = None) -> TrainResult:
    """Train ``cfg.rule`` and return the result (accuracies are fractions in [0, 1]).

    ``resume``: a function that loads a saved state into the freshly built one (and sets its
    ``epochs_done``; ``rules.checkpoint.resume``); training then runs epochs ``epochs_done + 1 ..
    cfg.epochs``. The result's ``state`` is the live TrainerState (for ``rules.checkpoint.save``).
    """
    cfg = cfg.resolved()
    device = resolve_device(cfg.device)
    split = split if split is not None else load_data(cfg)
    x_train = torch.as_tensor(np.asarray(split.x_train), dtype=torch.float32).reshape(len(split.x_train), -1)
    y_train = torch.as_tensor(np.asarray(split.y_train), dtype=torch.long)
    x_test = torch.as_tensor(np.asarray(split.x_test), dtype=torch.float32).reshape(len(split.x_test), -1)
    y_test = torch.as_tensor(np.asarray(split.y_test), dtype=torch.long)
    if x_train.shape[0] != y_train.shape[0]:
        raise ValueError(f"x_train has {x_train.shape[0]} samples but y_train has {y_train.shape[0]}")
    if cfg.limit is not None:
        x_train, y_train = x_train[:cfg.limit], y_train[:cfg.limit]
    x_train, y_train, x_test, y_test = (t.to(device) for t in (x_train, y_train, x_test, y_test))

    mem_start = peak_process_memory(device)["bytes"]
    st = build_state(cfg, x_train.shape[1], int(split.n_classes), device, x_calib=x_train)
    if resume is not None:
        resume(st)
    net, rule, opt, sched, gen = st.net, st.rule, st.optimizer, st.scheduler, st.data_order
    params = list(net.parameters()) + [p for m in st.extra for p in m.parameters()]
    meter = SavedTensorMeter(exclude=params)
    n = x_train.shape[0]
    n_batches = math.ceil(n / cfg.batch_size)
    saved = None
    history = st.history
    first = st.epochs_done
    if first >= cfg.epochs:
        raise ValueError(f"epochs={cfg.epochs} is not beyond the {first} epochs already trained")

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=(cfg.epochs - first) * n_batches, desc=f"{cfg.rule} T={cfg.T}", unit="batch", leave=False)
    t0 = time.perf_counter()
    c0 = time.process_time()
    train_samples = 0
    for epoch in range(first, cfg.epochs):
        net.train()
        perm = torch.randperm(n, generator=gen).to(device)
        loss_sum = 0.0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            x_seq = encode(x_train[idx], cfg.T, cfg.encoder, generator=gen)
            loss_sum += rule.train_batch(net, x_seq, y_train[idx], opt, meter) * idx.numel()
            summary = meter.batch()
            if saved is None and idx.numel() == min(cfg.batch_size, n):
                saved = summary
            train_samples += idx.numel()
            if bar is not None:
                bar.update(1)
        sched.step()
        rec = {"epoch": epoch + 1, "loss": loss_sum / n}
        history.append(rec)
        if bar is not None:
            bar.set_postfix(loss=f"{rec['loss']:.4f}")
        st.epochs_done = epoch + 1
        if on_epoch is not None:
            on_epoch(rec)
    train_seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    net.eval()
    eval_gen = torch.Generator().manual_seed(cfg.seed + 1)
    train_acc = evaluate(net, x_train, y_train, cfg.T, cfg.encoder, generator=eval_gen)
    test_acc = evaluate(net, x_test, y_test, cfg.T, cfg.encoder, generator=eval_gen)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    mem = peak_process_memory(device)
    cfg_d = asdict(cfg)
    cfg_d["hidden"] = list(cfg.hidden)
    return TrainResult(config=cfg_d, train_accuracy=train_acc, test_accuracy=test_acc, epochs=cfg.epochs,
                       seconds=seconds, cpu_seconds=cpu_seconds, saved_bytes_per_step=saved.per_step, saved_bytes_peak=saved.peak,
                       saved_bytes_per_batch=saved.per_batch, peak_memory_bytes=mem["bytes"],
                       peak_memory_kind=mem["kind"], peak_memory_at_start_bytes=mem_start, samples_per_s=train_samples / max(train_seconds, 1e-9),
                       history=history, net=net, state=st)
