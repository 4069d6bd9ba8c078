"""TTL-BPTT: K = T with one block is BPTT; truncation and blocks cut the gradient."""
import pytest
import torch

from rules.bptt import BPTT
from rules.memory import SavedTensorMeter
from rules.ttl import TTL, TTLConfig

from .helpers import NullOpt, grads, tiny_batch, tiny_net


def _ttl_grads(net, x, y, K):
    rule = TTL(TTLConfig(truncation=K))
    extra = rule.setup(net)
    rule.train_batch(net, x, y, NullOpt(list(net.parameters()) + [p for m in extra for p in m.parameters()]),
                     SavedTensorMeter())
    return rule


def test_ttl_full_window_one_block_equals_bptt():
    x, y = tiny_batch(T=6, dtype=torch.float64)
    net_a = tiny_net(block_size=2, dtype=torch.float64)
    net_b = tiny_net(block_size=2, dtype=torch.float64)
    assert len(net_a.blocks) == 1
    BPTT().loss(net_a, x, y).backward()
    _ttl_grads(net_b, x, y, K=6)
    for ga, gb in zip(grads([net_a]), grads([net_b])):
        assert ga.abs().sum() > 0
        torch.testing.assert_close(ga, gb, atol=1e-12, rtol=1e-10)


def test_ttl_truncation_and_blocks_change_the_gradient():
    x, y = tiny_batch(T=6, dtype=torch.float64)
    net_a = tiny_net(block_size=2, dtype=torch.float64)
    BPTT().loss(net_a, x, y).backward()
    net_b = tiny_net(block_size=1, dtype=torch.float64)
    rule = _ttl_grads(net_b, x, y, K=2)
    assert len(rule.heads) == 1           # one aux head for the first of two blocks
    ga, gb = grads([net_a]), grads([net_b])
    assert not torch.allclose(ga[0], gb[0])
    # the readout gradient accumulated over 3 windows exists and the aux head got a gradient
    assert all(p.grad is not None for p in rule.heads.parameters())


def test_ttl_truncation_out_of_range_names_parameter():
    x, y = tiny_batch(T=4)
    net = tiny_net()
    rule = TTL(TTLConfig(truncation=5))
    rule.setup(net)
    with pytest.raises(ValueError, match="truncation"):
        rule.train_batch(net, x, y, NullOpt(net.parameters()), SavedTensorMeter())
    with pytest.raises(ValueError, match="truncation"):
        TTLConfig(truncation=0)
