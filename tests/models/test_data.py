"""Data: IDX (MNIST) and N-MNIST files written byte by byte from the format specs and read back
exactly; malformed files give clear errors; the DVS-like generator is seeded and its class is not
decidable from the time-collapsed frame."""
import gzip
import struct

import numpy as np
import pytest

from models.data import (EVENT_DTYPE, events_to_frames, load_digits_split, load_mnist_idx, load_mnist_pair,
                         load_nmnist, make_event_dataset, read_idx, read_nmnist_events)


# ----------------------------------------------------------------------------- IDX
# Spec (yann.lecun.com/exdb/mnist): big-endian int32 magic (2051 images, 2049 labels), int32 dims,
# then unsigned bytes, row-major.

def idx_images(imgs):
    n, r, c = imgs.shape
    return struct.pack(">iiii", 2051, n, r, c) + bytes(imgs.astype(np.uint8).ravel().tolist())


def idx_labels(labels):
    return struct.pack(">ii", 2049, len(labels)) + bytes(list(labels))


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    tr_x, te_x = rng.integers(0, 256, (5, 3, 4)), rng.integers(0, 256, (2, 3, 4))
    tr_y, te_y = [3, 1, 4, 1, 5], [9, 2]
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_images(tr_x))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_labels(tr_y)))
    (tmp_path / "t10k-images.idx3-ubyte").write_bytes(idx_images(te_x))  # the dotted spelling
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(te_y))
    return tmp_path, tr_x, tr_y, te_x, te_y


def test_mnist_idx_round_trip(mnist_dir):
    root, tr_x, tr_y, te_x, te_y = mnist_dir
    raw = load_mnist_idx(root, normalize=False, image=True)
    assert raw.x_train.dtype == np.uint8 and raw.x_train.shape == (5, 1, 3, 4)
    np.testing.assert_array_equal(raw.x_train[:, 0], tr_x)
    np.testing.assert_array_equal(raw.x_test[:, 0], te_x)
    assert raw.y_train.tolist() == tr_y and raw.y_test.tolist() == te_y and raw.n_classes == 10
    flat = load_mnist_idx(str(root))
    assert flat.x_train.dtype == np.float32 and flat.input_shape == (12,)
    np.testing.assert_allclose(flat.x_test, te_x.reshape(2, 12) / 255.0, rtol=1e-6)
    files = [root / "train-images-idx3-ubyte", root / "train-labels-idx1-ubyte.gz",
             root / "t10k-images.idx3-ubyte", root / "t10k-labels-idx1-ubyte"]
    seq = load_mnist_idx(files, normalize=False)
    mapping = load_mnist_idx(dict(zip(["train_images", "train_labels", "test_images", "test_labels"], files)),
                             normalize=False)
    np.testing.assert_array_equal(seq.x_train, raw.x_train.reshape(5, 12))
    np.testing.assert_array_equal(mapping.y_test, te_y)


def test_read_idx_other_types(tmp_path):
    # type code 0x0D = float32, 2 dims
    p = tmp_path / "f.idx"
    p.write_bytes(struct.pack(">BBBBii", 0, 0, 0x0D, 2, 2, 1) + struct.pack(">ff", 1.5, -2.0))
    a = read_idx(p)
    assert a.dtype == np.float32 and a.tolist() == [[1.5], [-2.0]]


def test_missing_file_names_the_path(mnist_dir, tmp_path):
    root = mnist_dir[0]
    (root / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"no MNIST test labels file \(t10k-labels-idx1-ubyte\[\.gz\]"):
        load_mnist_idx(root)
    with pytest.raises(FileNotFoundError, match="nowhere/x-idx3: file not found"):
        read_idx(tmp_path / "nowhere" / "x-idx3")
    with pytest.raises(FileNotFoundError, match="MNIST directory not found"):
        load_mnist_idx(tmp_path / "absent")


def test_bad_magic(tmp_path):
    imgs, labels = tmp_path / "i", tmp_path / "l"
    imgs.write_bytes(idx_labels([1, 2]))  # a label file where images are expected
    labels.write_bytes(idx_labels([1, 2]))
    with pytest.raises(ValueError, match=r"/i: bad IDX magic number 2049 \(0x00000801\), expected 2051"):
        load_mnist_pair(imgs, labels)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="junk: bad IDX magic number"):
        read_idx(junk)


def test_truncated(tmp_path):
    p = tmp_path / "imgs"
    p.write_bytes(idx_images(np.zeros((3, 2, 2)))[:-1])
    with pytest.raises(ValueError, match=r"imgs: truncated IDX data: header declares shape \(3, 2, 2\) "
                                         r"\(12 bytes\), file holds 11 bytes"):
        read_idx(p, 2051)
    p.write_bytes(struct.pack(">ii", 2051, 3))
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(p)
    p.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="truncated IDX file"):
        read_idx(p)
    p.write_bytes(idx_images(np.zeros((1, 2, 2))) + b"\x00")
    with pytest.raises(ValueError, match="1 bytes after the declared shape"):
        read_idx(p)
    g = tmp_path / "imgs.gz"
    g.write_bytes(gzip.compress(idx_images(np.zeros((1, 2, 2))))[:-6])
    with pytest.raises(ValueError, match="imgs.gz: corrupt or truncated gzip"):
        read_idx(g)


def test_count_mismatch(tmp_path):
    (tmp_path / "i").write_bytes(idx_images(np.zeros((3, 2, 2))))
    (tmp_path / "l").write_bytes(idx_labels([0, 1]))
    with pytest.raises(ValueError, match="holds 3 images but .*/l holds 2 labels"):
        load_mnist_pair(tmp_path / "i", tmp_path / "l")


def test_load_digits_split_kept():
    s = load_digits_split(seed=0)
    assert s.x_train.shape[1:] == (64,) and s.n_classes == 10 and 0.0 <= s.x_train.min() and s.x_train.max() <= 1.0
    with pytest.raises(ValueError, match="test_fraction=1.5"):
        load_digits_split(test_fraction=1.5)


# ----------------------------------------------------------------------------- N-MNIST
# Spec (Orchard et al. 2015, garrickorchard.com/datasets/n-mnist): 40 bits per event:
# bits 39-32 x, 31-24 y, bit 23 polarity, bits 22-0 timestamp (microseconds).

def nmnist_bytes(events):
    out = b""
    for x, y, p, t in events:
        word = (p << 23) | t
        out += struct.pack(">BBBH", x, y, word >> 16, word & 0xFFFF)
    return out


EVENTS = [(0, 0, 1, 0), (33, 5, 0, 1), (7, 33, 1, 0x7FFFFF), (12, 20, 0, 65536 + 258), (3, 4, 1, 150)]


def test_nmnist_file_round_trip(tmp_path):
    f = tmp_path / "00001.bin"
    f.write_bytes(nmnist_bytes(EVENTS))
    ev = read_nmnist_events(f)
    assert ev.dtype == EVENT_DTYPE
    assert [(int(e["x"]), int(e["y"]), int(e["p"]), int(e["t"])) for e in ev] == EVENTS


def test_nmnist_directory_and_frames(tmp_path):
    for digit, name, evs in [(0, "a.bin", EVENTS[:2]), (0, "b.bin", EVENTS[4:]), (3, "c.bin", EVENTS[3:4])]:
        d = tmp_path / "Train" / str(digit)
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(nmnist_bytes(evs))
    (tmp_path / "Train" / "3" / "notes.txt").write_text("ignored")
    ds = load_nmnist(tmp_path, T=4, duration=200)
    assert ds.labels.tolist() == [0, 0, 3] and ds.sensor_size == (34, 34) and len(ds) == 3
    assert ds.frames.shape == (3, 4, 2, 34, 34)
    # bins of 50 us: a.bin -> (t=0, ON at y0 x0) bin 0 and (t=1, OFF at y5 x33) bin 0; b.bin t=150 -> bin 3
    assert ds.frames[0, 0, 1, 0, 0] == 1 and ds.frames[0, 0, 0, 5, 33] == 1 and ds.frames[0].sum() == 2
    assert ds.frames[1, 3, 1, 4, 3] == 1 and ds.frames[1].sum() == 1
    assert ds.frames[2].sum() == 0  # t = 65794 lies beyond duration = 200: dropped
    assert load_nmnist(tmp_path / "Train", max_per_class=1).labels.tolist() == [0, 3]
    assert load_nmnist(tmp_path).frames is None and load_nmnist(tmp_path).duration == 65794 + 1


def test_nmnist_errors(tmp_path):
    f = tmp_path / "bad.bin"
    f.write_bytes(nmnist_bytes(EVENTS[:2])[:-1])
    with pytest.raises(ValueError, match=r"bad.bin: truncated N-MNIST file: 9 bytes"):
        read_nmnist_events(f)
    with pytest.raises(FileNotFoundError, match="N-MNIST event file not found"):
        read_nmnist_events(tmp_path / "none.bin")
    with pytest.raises(FileNotFoundError, match="N-MNIST directory not found"):
        load_nmnist(tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="no digit class folders"):
        load_nmnist(tmp_path)
    d = tmp_path / "Train" / "1"
    d.mkdir(parents=True)
    (d / "x.bin").write_bytes(nmnist_bytes([(40, 0, 1, 3)]))
    with pytest.raises(ValueError, match="x.bin: event address outside"):
        load_nmnist(tmp_path)


def test_events_to_frames_binning():
    ev = np.zeros(4, EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = [0, 24, 25, 99], [0, 1, 1, 2], [0, 0, 0, 1], [1, 0, 0, 1]
    fr = events_to_frames(ev, 4, (2, 3), duration=100)
    assert fr.shape == (4, 2, 2, 3) and fr.sum() == 4
    assert fr[0, 1, 0, 0] == 1 and fr[0, 0, 0, 1] == 1 and fr[1, 0, 0, 1] == 1 and fr[3, 1, 1, 2] == 1
    with pytest.raises(ValueError, match="outside the sensor"):
        events_to_frames(ev, 4, (1, 3))
    assert events_to_frames(ev[:0], 2, (2, 3)).sum() == 0


# ----------------------------------------------------------------------------- DVS-like generator

def test_generator_is_seeded():
    a = make_event_dataset(12, 6, seed=3, size=(8, 8))
    b = make_event_dataset(12, 6, seed=3, size=(8, 8))
    c = make_event_dataset(12, 6, seed=4, size=(8, 8))
    assert np.array_equal(a.labels, b.labels) and all(np.array_equal(x, y) for x, y in zip(a.events, b.events))
    assert np.array_equal(a.frames, b.frames)
    assert not all(len(x) == len(y) and np.array_equal(x, y) for x, y in zip(a.events, c.events))
    g = make_event_dataset(12, 6, seed=0, size=(8, 8), generator=np.random.default_rng(3))
    assert np.array_equal(g.frames, a.frames)


def test_generator_layout():
    ds = make_event_dataset(16, 10, seed=0, size=(6, 9), n_classes=8, dt_us=500)
    assert ds.frames.shape == (16, 10, 2, 6, 9) and ds.duration == 5000
    assert np.bincount(ds.labels, minlength=8).tolist() == [2] * 8
    assert ds.class_names[0] == "right-slow" and ds.class_names[7] == "up-fast"
    for ev, fr in zip(ds.events, ds.frames):
        assert np.all(np.diff(ev["t"]) >= 0) and ev["t"].min() >= 0 and ev["t"].max() < 5000
        assert fr.sum() == len(ev)  # every event lands in one bin
    np.testing.assert_array_equal(ds.to_frames(10), ds.frames)
    assert ds.to_frames(3, binary=True).max() == 1.0
    with pytest.raises(ValueError, match="n_classes=3"):
        make_event_dataset(4, 4, seed=0, n_classes=3)


def test_time_collapse_loses_the_class():
    # without noise and drop-outs every stream puts exactly one ON and one OFF event on every pixel:
    # all classes have the same summed frame, yet their temporal frames differ
    ds = make_event_dataset(16, 8, seed=1, size=(6, 7), n_classes=8, noise_rate=0.0, emit_prob=1.0)
    collapsed = ds.frames.sum(1)
    assert np.all(collapsed == 1.0)
    right = ds.frames[ds.labels == 0][0]
    left = ds.frames[ds.labels == 1][0]
    # ON events sweep from column 0 (right) or column 6 (left) first
    first_on = lambda fr: np.argmax(fr[:, 1].sum(1) > 0, axis=0)  # noqa: E731  first bin with ON per column
    assert first_on(right)[0] <= first_on(right)[-1] and first_on(left)[0] >= first_on(left)[-1]
    assert not np.array_equal(right, left)
    # leading edge before trailing edge at every pixel
    for fr in ds.frames:
        on_t = np.argmax(fr[:, 1] > 0, axis=0)
        off_t = np.argmax(fr[:, 0] > 0, axis=0)
        assert np.all(on_t <= off_t)


def test_time_collapse_is_at_chance_for_a_classifier():
    from sklearn.linear_model import LogisticRegression

    ds = make_event_dataset(320, 6, seed=0, size=(6, 6), n_classes=4)
    y, n = ds.labels, 240
    collapsed = ds.frames.sum(1).reshape(len(y), -1)
    temporal = ds.frames.reshape(len(y), -1)
    acc = {name: LogisticRegression(max_iter=500).fit(X[:n], y[:n]).score(X[n:], y[n:])
           for name, X in (("collapsed", collapsed), ("temporal", temporal))}
    assert acc["temporal"] > 0.9
    assert acc["collapsed"] < 0.45  # chance is 0.25
