"""Trainer: seeded reproducibility, bad inputs named, result fields."""
import pytest
import torch

from rules.base import check_batch, sequence_loss
from rules.train import RULES, TrainConfig, load_data, train

from .helpers import tiny_batch, tiny_net

TINY = dict(epochs=1, limit=48, hidden=(16,), batch_size=16, T=4)


@pytest.mark.parametrize("rule", RULES)
def test_seeded_runs_are_reproducible(rule):
    a = train(TrainConfig(rule=rule, seed=3, **TINY))
    b = train(TrainConfig(rule=rule, seed=3, **TINY))
    c = train(TrainConfig(rule=rule, seed=4, **TINY))
    sa, sb, sc = a.net.state_dict(), b.net.state_dict(), c.net.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert 0.0 <= a.test_accuracy <= 1.0 and 0.0 <= a.train_accuracy <= 1.0
    assert a.saved_bytes_per_step > 0 and a.peak_memory_bytes > 0


@pytest.mark.parametrize("kwargs, name", [
    (dict(rule="sgd-magic"), "rule"),
    (dict(T=0), "T"),
    (dict(rule="ttl", T=4, truncation=5), "truncation"),
    (dict(rule="ttl", T=4, truncation=0), "truncation"),
    (dict(encoder="morse"), "encoder"),
    (dict(dataset="cifar"), "dataset"),
    (dict(dataset="mnist"), "data_dir"),
    (dict(hidden=(0,)), "hidden"),
    (dict(lr=-1.0), "lr"),
    (dict(optimizer="lion"), "optimizer"),
    (dict(loss="hinge"), "loss"),
])
def test_bad_config_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        cfg = TrainConfig(**kwargs)
        train(cfg.resolved().__class__(**{**cfg.__dict__, "epochs": 1, "limit": 8}))


def test_mismatched_shapes_name_the_argument():
    net = tiny_net()
    x, y = tiny_batch(T=3)
    with pytest.raises(ValueError, match="x_seq"):
        check_batch(net, x[..., :5], y)
    with pytest.raises(ValueError, match="y shape"):
        check_batch(net, x, y[:2])


def test_missing_mnist_dir_is_an_error(tmp_path):
    with pytest.raises((ValueError, FileNotFoundError), match="mnist|MNIST|data_dir|not available"):
        load_data(TrainConfig(dataset="mnist", data_dir=str(tmp_path / "nope")))


def test_chenli_standin_loss_is_mse_on_mean_output():
    o = torch.randn(3, 2, 4)
    y = torch.tensor([1, 3])
    want = ((o.mean(0) - torch.nn.functional.one_hot(y, 4).float()) ** 2).mean()
    torch.testing.assert_close(sequence_loss(o, y, "chenli-standin"), want)
