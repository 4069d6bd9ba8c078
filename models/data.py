"""Data: scikit-learn's digits (bundled default), loaders for user-supplied files, and a
DVS-like event-stream generator.

* ``load_digits_split``: float32 images scaled to [0, 1] (pixel / 16) with a seeded, stratified
  train/test split. Shapes: ``(N, 64)`` flat or ``(N, 1, 8, 8)`` with ``image=True``.
* ``read_idx`` / ``load_mnist_idx``: the IDX format of MNIST (LeCun et al.; big-endian header:
  two zero bytes, a type code (0x08 = uint8), the number of dimensions, then one uint32 per
  dimension; images have magic 2051 = 0x00000803, labels 2049 = 0x00000801), optionally gzipped.
* ``read_nmnist_events`` / ``load_nmnist``: N-MNIST binary files (Orchard et al. 2015): 5 bytes
  per event, ``x`` (8 bits), ``y`` (8 bits), then one 24-bit big-endian word whose top bit is the
  polarity and whose low 23 bits are the timestamp in microseconds. Directory layout
  ``<root>/Train/<digit>/*.bin`` and ``<root>/Test/<digit>/*.bin``; sensor 34 x 34.
* ``load_cifar10_dvs``: CIFAR10-DVS in SpikingJelly's ``events_np`` layout (one ``.npz`` of
  ``t, x, y, p`` per recording, one folder per class), optionally binned down from 128 x 128.
* ``make_event_dataset``: seeded DVS-like streams of bars sweeping in different directions and at
  different speeds; every class produces the same time-collapsed frame (see its docstring).

Events are numpy structured arrays with fields ``t`` (int64, microseconds), ``x``, ``y`` (int16,
column and row) and ``p`` (int8, 1 = ON, 0 = OFF), sorted by ``t``. Frames are float32 counts
``[T, 2, H, W]`` with channel index = polarity (0 = OFF, 1 = ON).
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])


def load_digits_split(seed: int = 0, test_fraction: float = 0.2, image: bool = False) -> Split:
    """scikit-learn digits (1797 real 8x8 handwritten digits), seeded stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction={test_fraction} is outside the allowed range (0, 1)")
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    if image:
        xtr, xte = xtr.reshape(-1, 1, 8, 8), xte.reshape(-1, 1, 8, 8)
    return Split(xtr, ytr, xte, yte, 10)


# ----------------------------------------------------------------------------------------- IDX / MNIST

IDX_IMAGES_MAGIC = 2051  # 0x00000803: uint8, 3 dimensions (N, rows, cols)
IDX_LABELS_MAGIC = 2049  # 0x00000801: uint8, 1 dimension (N,)
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _read_bytes(path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"\x1f\x8b":  # gzip magic, whatever the suffix
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (EOFError, OSError) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    return path.read_bytes()


def read_idx(path, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array of its declared shape and type.

    Raises FileNotFoundError naming a missing path, and ValueError naming the path for a bad
    magic number, an unknown type code, or a file shorter or longer than its header declares.
    """
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated IDX file: {len(raw)} bytes, the header needs at least 4")
    magic = int.from_bytes(raw[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(f"{path}: bad IDX magic number {magic} (0x{magic:08x}), expected {expected_magic} "
                         f"(0x{expected_magic:08x})")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise ValueError(f"{path}: bad IDX magic number {magic} (0x{magic:08x}): expected two zero bytes, "
                         f"a type code in {sorted(_IDX_DTYPES)} and >= 1 dimension")
    ndim, dtype = raw[3], np.dtype(_IDX_DTYPES[raw[2]])
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header: {len(raw)} bytes, {ndim} dimensions need {header}")
    dims = tuple(int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim))
    need = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    have = len(raw) - header
    if have < need:
        raise ValueError(f"{path}: truncated IDX data: header declares shape {dims} ({need} bytes), "
                         f"file holds {have} bytes")
    if have > need:
        raise ValueError(f"{path}: IDX file has {have - need} bytes after the declared shape {dims}")
    return np.frombuffer(raw, dtype=dtype, count=need // dtype.itemsize, offset=header).reshape(dims).astype(
        dtype.newbyteorder("="))


def load_mnist_pair(images_path, labels_path, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One MNIST image/label IDX pair: ``x`` (N, rows, cols) (float32 in [0, 1] if ``normalize``,
    else uint8) and ``y`` (N,) int64. Checks magics (2051, 2049) and that the counts agree."""
    x = read_idx(images_path, IDX_IMAGES_MAGIC)
    y = read_idx(labels_path, IDX_LABELS_MAGIC)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{images_path} holds {x.shape[0]} images but {labels_path} holds {y.shape[0]} labels")
    return (x.astype(np.float32) / 255.0 if normalize else x), y.astype(np.int64)


def _find_mnist_file(root: Path, key: str) -> Path:
    for stem in _MNIST_FILES[key]:
        for name in (stem, stem + ".gz"):
            if (root / name).is_file():
                return root / name
    names = " or ".join(f"{s}[.gz]" for s in _MNIST_FILES[key])
    raise FileNotFoundError(f"{root}: no MNIST {key.replace('_', ' ')} file ({names})")


def load_mnist_idx(dir_or_files, normalize: bool = True, image: bool = False) -> Split:
    """MNIST from user-supplied IDX files as a ``Split`` (the official train / t10k division).

    Parameters
    ----------
    dir_or_files : path | mapping | sequence
        A directory holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``; the
        ``train-images.idx3-ubyte`` spelling is accepted too); or a mapping with keys
        ``train_images``, ``train_labels``, ``test_images``, ``test_labels``; or those four paths
        in that order.
    normalize : bool
        float32 pixels / 255 in [0, 1] (True) or raw uint8.
    image : bool
        Shapes ``(N, 1, rows, cols)`` (True) or flat ``(N, rows * cols)`` (False), as ``load_digits_split``.
    """
    keys = tuple(_MNIST_FILES)
    if isinstance(dir_or_files, (str, os.PathLike)):
        root = Path(dir_or_files)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: MNIST directory not found")
        files = {k: _find_mnist_file(root, k) for k in keys}
    elif isinstance(dir_or_files, Mapping):
        missing = [k for k in keys if k not in dir_or_files]
        if missing:
            raise ValueError(f"MNIST file mapping lacks keys {missing}; needs {list(keys)}")
        files = {k: dir_or_files[k] for k in keys}
    elif isinstance(dir_or_files, Sequence) and len(dir_or_files) == 4:
        files = dict(zip(keys, dir_or_files))
    else:
        raise ValueError(f"dir_or_files={dir_or_files!r} must be a directory, a mapping with keys {list(keys)} "
                         f"or a sequence of 4 paths in that order")
    xtr, ytr = load_mnist_pair(files["train_images"], files["train_labels"], normalize)
    xte, yte = load_mnist_pair(files["test_images"], files["test_labels"], normalize)
    shape = (1,) + xtr.shape[1:] if image else (int(np.prod(xtr.shape[1:])),)
    n_classes = int(max(ytr.max(initial=0), yte.max(initial=0)) + 1)
    return Split(xtr.reshape((-1,) + shape), ytr, xte.reshape((-1,) + shape), yte, max(n_classes, 10))


# ----------------------------------------------------------------------------------------- events

EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")])
NMNIST_SENSOR = (34, 34)  # (H, W) of the ATIS crops in N-MNIST
NMNIST_RECORD_BYTES = 5  # 40 bits per event
NMNIST_TS_BITS = 23


@dataclass(frozen=True)
class EventDataset:
    """Labelled event streams.

    events : list of structured arrays (``EVENT_DTYPE``), one per sample, sorted by ``t``
    labels : (N,) int64
    sensor_size : (H, W)
    duration : time span in microseconds used for binning (events with ``t >= duration`` are dropped)
    frames : (N, T, 2, H, W) float32 counts, or None when not binned yet (see ``to_frames``)
    class_names : one name per class
    """

    events: list
    labels: np.ndarray
    sensor_size: tuple
    duration: int
    frames: np.ndarray | None = None
    class_names: tuple = ()

    def __len__(self) -> int:
        return len(self.events)

    def to_frames(self, T: int, binary: bool = False) -> np.ndarray:
        """Bin every sample into ``T`` equal time bins: (N, T, 2, H, W) float32."""
        out = np.zeros((len(self.events), T, 2) + tuple(self.sensor_size), np.float32)
        for n, ev in enumerate(self.events):
            out[n] = events_to_frames(ev, T, self.sensor_size, self.duration)
        return np.minimum(out, 1.0) if binary else out


def events_to_frames(events: np.ndarray, T: int, sensor_size: tuple, duration: int | None = None) -> np.ndarray:
    """Count events in ``T`` equal bins of ``[0, duration)`` (default: last timestamp + 1).

    Returns float32 ``[T, 2, H, W]``; channel = polarity (0 OFF, 1 ON). Events outside the sensor raise.
    """
    if int(T) != T or T < 1:
        raise ValueError(f"T={T!r} must be an integer >= 1")
    H, W = sensor_size
    frames = np.zeros((T, 2, H, W), np.float32)
    if len(events) == 0:
        return frames
    if duration is None:
        duration = int(events["t"].max()) + 1
    if duration < 1:
        raise ValueError(f"duration={duration} must be >= 1 microsecond")
    bad = (events["x"] < 0) | (events["x"] >= W) | (events["y"] < 0) | (events["y"] >= H)
    if bad.any():
        e = events[np.argmax(bad)]
        raise ValueError(f"event (x={e['x']}, y={e['y']}) lies outside the sensor of size (H, W)={sensor_size}")
    keep = (events["t"] >= 0) & (events["t"] < duration)
    ev = events[keep]
    b = (ev["t"].astype(np.int64) * T) // duration
    np.add.at(frames, (b, ev["p"].astype(np.int64), ev["y"].astype(np.int64), ev["x"].astype(np.int64)), 1.0)
    return frames


def read_nmnist_events(path) -> np.ndarray:
    """One N-MNIST ``.bin`` file as a structured event array (``EVENT_DTYPE``), in file order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: N-MNIST event file not found")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % NMNIST_RECORD_BYTES:
        raise ValueError(f"{path}: truncated N-MNIST file: {raw.size} bytes is not a multiple of the "
                         f"{NMNIST_RECORD_BYTES}-byte event record")
    r = raw.reshape(-1, NMNIST_RECORD_BYTES).astype(np.int64)
    ev = np.empty(len(r), EVENT_DTYPE)
    ev["x"] = r[:, 0]
    ev["y"] = r[:, 1]
    ev["p"] = r[:, 2] >> 7
    ev["t"] = ((r[:, 2] & 0x7F) << 16) | (r[:, 3] << 8) | r[:, 4]
    return ev


def load_nmnist(path, split: str = "Train", T: int | None = None, max_per_class: int | None = None,
                duration: int | None = None) -> EventDataset:
    """N-MNIST from a user's directory: ``<path>/<split>/<digit>/*.bin`` (or ``<path>/<digit>/*.bin``).

    Files are read in sorted order. With ``T``, frames ``(N, T, 2, 34, 34)`` are binned over
    ``[0, duration)`` (default: the largest timestamp in the loaded data + 1).
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: N-MNIST directory not found")
    base = root / split if (root / split).is_dir() else root
    class_dirs = sorted(d for d in base.iterdir() if d.is_dir() and d.name.isdigit())
    if not class_dirs:
        raise FileNotFoundError(f"{base}: no digit class folders (expected {base}/0/*.bin ... {base}/9/*.bin)")
    events, labels = [], []
    for d in class_dirs:
        files = sorted(d.glob("*.bin"))
        if max_per_class is not None:
            files = files[:max_per_class]
        for f in files:
            ev = read_nmnist_events(f)
            if len(ev) and (ev["x"].max() >= NMNIST_SENSOR[1] or ev["y"].max() >= NMNIST_SENSOR[0]):
                raise ValueError(f"{f}: event address outside the {NMNIST_SENSOR} N-MNIST sensor")
            events.append(ev)
            labels.append(int(d.name))
    if not events:
        raise FileNotFoundError(f"{base}: no .bin files in the class folders")
    if duration is None:
        duration = max((int(e["t"].max()) + 1 for e in events if len(e)), default=1)
    ds = EventDataset(events, np.asarray(labels, np.int64), NMNIST_SENSOR, int(duration),
                      class_names=tuple(d.name for d in class_dirs))
    if T is not None:
        ds = EventDataset(ds.events, ds.labels, ds.sensor_size, ds.duration, ds.to_frames(T), ds.class_names)
    return ds


CIFAR10_DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_DVS_SENSOR = (128, 128)  # (H, W) of the DVS128 sensor used to record CIFAR10-DVS


def load_cifar10_dvs(path, T: int | None = None, size: int | None = None,
                     max_per_class: int | None = None) -> EventDataset:
    """CIFAR10-DVS (Li et al. 2017) from a user's directory, in SpikingJelly's ``events_np`` form.

    Layout: ``<path>/<class>/*.npz`` for the ten CIFAR-10 class names (``CIFAR10_DVS_CLASSES``, the
    label is the index in that list), each file holding the arrays ``t`` (microseconds), ``x``,
    ``y`` (sensor column and row, 0..127) and ``p`` (polarity 0/1) of one recording; this is what
    ``spikingjelly.datasets.cifar10_dvs.CIFAR10DVS`` writes from the original AEDAT files.
    Timestamps are shifted to start at 0. With ``size`` the 128 x 128 addresses are binned down to
    ``size x size`` (``x * size // 128``; the OTTT and rate-BP papers use 48). With ``T``, frames
    ``(N, T, 2, size, size)`` are binned over each recording's own span (``duration`` is the longest).
    Files are read in sorted order; the dataset has no official train/test split.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: CIFAR10-DVS directory not found")
    if size is not None and not 1 <= int(size) <= CIFAR10_DVS_SENSOR[0]:
        raise ValueError(f"size={size!r} is outside the allowed range [1, {CIFAR10_DVS_SENSOR[0]}]")
    present = [c for c in CIFAR10_DVS_CLASSES if (root / c).is_dir()]
    if not present:
        raise FileNotFoundError(f"{root}: no class folders (expected {root}/airplane/*.npz ... {root}/truck/*.npz)")
    side = CIFAR10_DVS_SENSOR[0] if size is None else int(size)
    events, labels = [], []
    for c in present:
        files = sorted((root / c).glob("*.npz"))[:max_per_class]
        for f in files:
            with np.load(f) as z:
                missing = {"t", "x", "y", "p"} - set(z.files)
                if missing:
                    raise ValueError(f"{f}: missing array(s) {sorted(missing)}; expected t, x, y, p")
                t, x, y, p = (np.asarray(z[k]).astype(np.int64).ravel() for k in ("t", "x", "y", "p"))
            if not len(t) == len(x) == len(y) == len(p):
                raise ValueError(f"{f}: arrays t, x, y, p have different lengths")
            if len(t) and (x.min() < 0 or y.min() < 0 or x.max() >= CIFAR10_DVS_SENSOR[1]
                           or y.max() >= CIFAR10_DVS_SENSOR[0]):
                raise ValueError(f"{f}: event address outside the {CIFAR10_DVS_SENSOR} sensor")
            ev = np.empty(len(t), EVENT_DTYPE)
            order = np.argsort(t, kind="stable")
            ev["t"] = t[order] - (t.min() if len(t) else 0)
            ev["x"] = x[order] * side // CIFAR10_DVS_SENSOR[1]
            ev["y"] = y[order] * side // CIFAR10_DVS_SENSOR[0]
            ev["p"] = (p[order] > 0).astype(np.int8)
            events.append(ev)
            labels.append(CIFAR10_DVS_CLASSES.index(c))
    if not events:
        raise FileNotFoundError(f"{root}: no .npz files in the class folders")
    duration = max((int(e["t"].max()) + 1 for e in events if len(e)), default=1)
    ds = EventDataset(events, np.asarray(labels, np.int64), (side, side), duration, class_names=tuple(present))
    if T is not None:
        frames = np.stack([events_to_frames(e, T, ds.sensor_size, int(e["t"].max()) + 1 if len(e) else 1)
                           for e in events])
        ds = EventDataset(ds.events, ds.labels, ds.sensor_size, ds.duration, frames, ds.class_names)
    return ds


# ----------------------------------------------------------------------------------------- DVS-like generator

BAR_DIRECTIONS = ("right", "left", "down", "up")
BAR_SPEEDS = ("slow", "fast")
_SWEEP_FRACTION = {"slow": 0.8, "fast": 0.4}  # share of the recording a full sweep takes


def make_event_dataset(n_samples: int, T: int, seed: int, size: tuple = (16, 16), n_classes: int = 4,
                       noise_rate: float = 0.01, emit_prob: float = 0.95, time_jitter: float = 0.1,
                       max_width: int = 3, dt_us: int = 1000, generator: np.random.Generator | None = None
                       ) -> EventDataset:
    """Seeded DVS-like event streams: a full-length bar sweeps across the sensor.

    Classes are (direction, speed) pairs, in the order right, left, down, up (slow), then the same
    four fast: ``n_classes`` in {2, 4, 8} (2 = right vs left). A slow sweep lasts 80% of the
    recording, a fast one 40%, starting at a random time that keeps it inside the recording. The bar
    has a random width (1..``max_width`` pixels). Each pixel emits an ON event when the bar's leading
    edge reaches it and an OFF event when the trailing edge leaves it (each with probability
    ``emit_prob``; times jittered by ``time_jitter`` frame-steps, Gaussian). Uniform noise events
    arrive at ``noise_rate`` per pixel per frame-step, random polarity.

    Because the bar spans the whole sensor and every sweep crosses every pixel exactly once, every
    class yields the same time-collapsed frame (one ON and one OFF per pixel, before drop-outs and
    noise, which do not depend on the class): the class is decidable only from the temporal order.

    Parameters
    ----------
    n_samples : int
        Number of streams; labels cycle through the classes (balanced), then are shuffled.
    T : int
        Number of frames in ``frames``; the recording lasts ``T * dt_us`` microseconds.
    seed : int
        Seed of the ``np.random.Generator`` used (ignored if ``generator`` is given).
    size : (H, W)
        Sensor size in pixels.
    """
    if n_classes not in (2, 4, 8):
        raise ValueError(f"n_classes={n_classes!r} must be 2, 4 or 8")
    if int(T) != T or T < 1 or int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples={n_samples!r} and T={T!r} must be integers >= 1")
    H, W = (int(s) for s in size)
    if H < 2 or W < 2:
        raise ValueError(f"size={size!r} must be at least (2, 2)")
    if not 0.0 <= noise_rate or not 0.0 < emit_prob <= 1.0 or time_jitter < 0 or max_width < 1 or dt_us < 1:
        raise ValueError(f"noise_rate={noise_rate}, emit_prob={emit_prob}, time_jitter={time_jitter}, "
                         f"max_width={max_width}, dt_us={dt_us}: need noise_rate >= 0, 0 < emit_prob <= 1, "
                         f"time_jitter >= 0, max_width >= 1, dt_us >= 1")
    rng = generator if generator is not None else np.random.default_rng(seed)
    classes = [(d, s) for s in BAR_SPEEDS for d in BAR_DIRECTIONS][:n_classes]
    labels = rng.permutation(np.arange(n_samples) % n_classes).astype(np.int64)
    duration = int(T) * int(dt_us)
    events = [_bar_events(classes[c], H, W, T, dt_us, noise_rate, emit_prob, time_jitter, max_width, rng)
              for c in labels]
    ds = EventDataset(events, labels, (H, W), duration, class_names=tuple(f"{d}-{s}" for d, s in classes))
    return EventDataset(events, labels, (H, W), duration, ds.to_frames(T), ds.class_names)


def _bar_events(cls, H, W, T, dt_us, noise_rate, emit_prob, time_jitter, max_width, rng) -> np.ndarray:
    direction, speed = cls
    along = W if direction in ("right", "left") else H  # pixels crossed by the sweep
    across = H if direction in ("right", "left") else W
    width = int(rng.integers(1, max_width + 1))
    sweep = _SWEEP_FRACTION[speed] * T  # frame-steps for the leading edge to go from 0 to along + width
    start = rng.uniform(0.0, T - sweep)
    pos = np.arange(along)
    if direction in ("left", "up"):
        pos = along - 1 - pos  # position counted from where the bar enters
    t_on = start + (pos + 0.5) / (along + width) * sweep
    t_off = t_on + width / (along + width) * sweep
    t_edge = np.concatenate([np.repeat(t_on, across), np.repeat(t_off, across)])
    a = np.tile(np.repeat(np.arange(along), across), 2)  # coordinate along the sweep
    b = np.tile(np.tile(np.arange(across), along), 2)  # coordinate across
    p = np.concatenate([np.ones(along * across, np.int8), np.zeros(along * across, np.int8)])
    t_edge = t_edge + time_jitter * rng.standard_normal(t_edge.shape)
    keep = rng.random(t_edge.shape) < emit_prob
    x, y = (a, b) if direction in ("right", "left") else (b, a)
    n_noise = int(rng.poisson(noise_rate * H * W * T))
    tt = np.concatenate([t_edge[keep], rng.uniform(0.0, T, n_noise)])
    ev = np.empty(len(tt), EVENT_DTYPE)
    ev["t"] = np.clip(np.floor(tt * dt_us), 0, T * dt_us - 1).astype(np.int64)
    ev["x"] = np.concatenate([x[keep], rng.integers(0, W, n_noise)])
    ev["y"] = np.concatenate([y[keep], rng.integers(0, H, n_noise)])
    ev["p"] = np.concatenate([p[keep], rng.integers(0, 2, n_noise).astype(np.int8)])
    return ev[np.argsort(ev["t"], kind="stable")]
