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
    (dict(init="xavier"), "init"),
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


def test_chen_li_init_makes_every_layer_fire_before_training():
    """--init chen-li: the initialized net (before any update) fires in every hidden layer,
    which PyTorch's default init does not guarantee (models.health is the independent check)."""
    from models.health import health_report
    from models.encoders import encode
    from rules.train import build_net

    cfg = TrainConfig(rule="bptt", init="chen-li", epochs=1, limit=32, hidden=(64, 64), T=4).resolved()
    res = train(cfg)
    assert res.config["init"] == "chen-li"
    split = load_data(cfg)
    x = torch.as_tensor(split.x_test[:64]).reshape(64, -1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = build_net(cfg, 64, 10)
    from models.init import init_chen_li
    init_chen_li(net, encode(x, cfg.T), generator=cfg.seed)
    rates = [h.rate for h in health_report(net, encode(x, cfg.T))]
    assert all(0.01 < r < 0.6 for r in rates), rates
