"""rules.checkpoint: save / resume of the float trainer. Oracle: an uninterrupted run of the same
config (2 + 2 epochs must equal 4 straight, every parameter bit for bit)."""
import h5py
import numpy as np
import pytest
import torch

from hwsim.io import FormatError, save_network
from hwsim.network import Network
from rules import checkpoint as ck
from tests.filescan import damage_scan
from rules.train import TrainConfig, train

SMALL = dict(hidden=(16, 8), limit=96, T=4, batch_size=32, seed=3)


def _params(res):
    mods = [res.net] + list(res.state.extra)
    return [t for m in mods for t in m.state_dict().values()]


@pytest.mark.parametrize("rule, extra", [("bptt", {}), ("ottt-a", dict(local_blocks=True, feedback="random"))])
def test_two_plus_two_epochs_equal_four_straight(tmp_path, rule, extra):
    cfg = TrainConfig(rule=rule, epochs=2, schedule_epochs=4, **SMALL, **extra)
    first = train(cfg)
    path = ck.save(tmp_path / "a.h5", first)
    saved = [t.clone() for t in _params(first)]
    c = ck.load(path)
    resumed = train(ck.resume_config(c, 2), resume=ck.resume_fn(c))
    straight = train(TrainConfig(rule=rule, epochs=4, **SMALL, **extra))
    for a, b in zip(_params(resumed), _params(straight)):
        assert torch.equal(a, b)
    assert resumed.history == straight.history and len(resumed.history) == 4
    assert resumed.config == straight.config
    assert resumed.test_accuracy == straight.test_accuracy
    # training moved the weights (the comparison is not between two untouched nets)
    assert any(not torch.equal(a, b) for a, b in zip(saved, _params(resumed)))
    if extra.get("feedback") == "random":
        for a, b in zip(resumed.state.rule.feedback, straight.state.rule.feedback):
            assert torch.equal(a, b)


def test_optimizer_state_matters(tmp_path):
    """Control: resuming the weights alone (fresh Adam moments) does not reproduce the straight run,
    so the equality above depends on the optimizer state being restored."""
    cfg = TrainConfig(rule="bptt", epochs=1, schedule_epochs=2, **SMALL)
    c = ck.load(ck.save(tmp_path / "a.h5", train(cfg)))
    full = ck.resume_fn(c)

    def weights_only(st):
        full(st)
        st.optimizer.state.clear()
    partial = train(ck.resume_config(c, 1), resume=weights_only)
    straight = train(TrainConfig(rule="bptt", epochs=2, **SMALL))
    assert any(not torch.equal(a, b) for a, b in zip(_params(partial), _params(straight)))


def test_round_trip_of_the_payload(tmp_path):
    res = train(TrainConfig(rule="ttl", epochs=1, **SMALL))
    c = ck.load(ck.save(tmp_path / "t.h5", res))
    for k, v in res.net.state_dict().items():
        assert c["model"][k].dtype == np.float32
        np.testing.assert_array_equal(c["model"][k], v.numpy())
    assert c["epochs_done"] == 1 and c["history"] == res.history
    assert c["config"]["rule"] == "ttl" and tuple(c["config"]["hidden"]) == (16, 8)
    assert c["metrics"]["test_accuracy"] == res.test_accuracy
    assert set(c["versions"]) >= {"torch", "numpy", "python", "h5py"}
    net = ck.net_from_checkpoint(c)
    x = torch.rand(4, 3, 64)
    assert torch.equal(net(x), res.net.eval()(x))
    assert ck.train_config(c) == res.state.config


def test_bad_files_are_refused(tmp_path):
    res = train(TrainConfig(rule="bptt", epochs=1, hidden=(4,), limit=16, T=2))
    good = ck.save(tmp_path / "good.h5", res)
    data = good.read_bytes()
    (tmp_path / "trunc.h5").write_bytes(data[:len(data) // 2])
    with pytest.raises(FormatError, match="truncated|corrupt"):
        ck.load(tmp_path / "trunc.h5")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(FormatError, match="not an hwlearn file"):
        ck.load(tmp_path / "foreign.h5")
    net = Network(name="n")
    net.add_input("in", (2,))
    save_network(net, tmp_path / "net.h5")
    with pytest.raises(FormatError, match="network file"):
        ck.load(tmp_path / "net.h5")
    with pytest.raises(FileNotFoundError):
        ck.load(tmp_path / "none.h5")


def test_shape_and_rule_mismatch_are_refused(tmp_path):
    res = train(TrainConfig(rule="bptt", epochs=1, hidden=(4,), limit=16, T=2))
    c = ck.load(ck.save(tmp_path / "a.h5", res))
    with pytest.raises(ck.CheckpointError, match=r"hidden=\(8,\) differs"):
        ck.check_compatible(c, hidden=(8,))
    with pytest.raises(ck.CheckpointError, match="rule='ottt-a' differs"):
        ck.check_compatible(c, rule="ottt-a")
    # a checkpoint whose weights do not fit its config (hand-edited): named, before training
    c["model"]["layers.0.op.weight"] = np.zeros((5, 64), np.float32)
    with pytest.raises(ck.CheckpointError, match=r"layers.0.op.weight.*shape \(5, 64\)"):
        train(ck.resume_config(c, 1), resume=ck.resume_fn(c))


def test_atomic_save_leaves_no_partial_file(tmp_path, monkeypatch):
    res = train(TrainConfig(rule="bptt", epochs=1, hidden=(4,), limit=16, T=2))
    res.state.history.append({"epoch": 2, "loss": object()})       # cannot be stored
    with pytest.raises(TypeError):
        ck.save(tmp_path / "x.h5", res)
    assert list(tmp_path.iterdir()) == []


def _same_tree(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_tree(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same_tree(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b
    return type(a) is type(b) and a == b


def test_flip_and_truncation_scan_of_a_checkpoint(tmp_path):
    """Issue 12's scan for checkpoints: header bytes and 300 seeded body bytes flipped, 30 truncation
    lengths: every damaged checkpoint is refused with FormatError naming it, or loads equal content."""
    path = ck.save(tmp_path / "c.h5", train(TrainConfig(rule="bptt", epochs=1, **SMALL)))
    good = ck.load(path)
    good.pop("path")

    def equal(back):
        back.pop("path")                                 # where it was read from, not content
        return _same_tree(good, back)

    damage_scan(path, ck.load, equal, kind="checkpoint", seed=21, n_body=300, n_trunc=30, max_loaded=20,
                header_step=4, extend=False, name_sep="")
