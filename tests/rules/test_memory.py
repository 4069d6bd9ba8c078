"""Saved-tensor accounting: constant in T for OTTT and rate-BP, linear in T for BPTT."""
import pytest
import torch

from rules.bptt import BPTT
from rules.memory import SavedTensorMeter, peak_process_memory
from rules.ottt import OTTT, OTTTConfig
from rules.rate import RateBP, RateConfig
from rules.ttl import TTL, TTLConfig

from .helpers import NullOpt, tiny_batch, tiny_net

TS = (4, 8, 16, 32)


def _saved(rule, T):
    net = tiny_net(leak=0.5)
    extra = rule.setup(net)
    x, y = tiny_batch(T=T)
    meter = SavedTensorMeter(exclude=list(net.parameters()) + [p for m in extra for p in m.parameters()])
    rule.train_batch(net, x, y, NullOpt(net.parameters()), meter)
    return meter.batch()


@pytest.mark.parametrize("make", [lambda: OTTT(OTTTConfig(online=False)), lambda: OTTT(OTTTConfig(online=True)),
                                  lambda: RateBP(RateConfig("m")), lambda: RateBP(RateConfig("s")),
                                  lambda: TTL(TTLConfig(truncation=2))],
                         ids=["ottt-a", "ottt-o", "rate-m", "rate-s", "ttl-k2"])
def test_saved_bytes_per_step_constant_in_T(make):
    per_step = [_saved(make(), T).per_step for T in TS]
    assert per_step[0] > 0
    assert len(set(per_step)) == 1, per_step


def test_bptt_saved_bytes_grow_linearly_in_T():
    per_step = [_saved(BPTT(), T).per_step for T in TS]
    d = [b - a for a, b in zip(per_step, per_step[1:])]      # T: 4 -> 8 -> 16 -> 32
    assert d[0] > 0
    slope = d[0] / 4
    assert d[1] == pytest.approx(8 * slope, rel=1e-6) and d[2] == pytest.approx(16 * slope, rel=1e-6)
    ottt = _saved(OTTT(), 32).per_step
    assert per_step[-1] > 10 * ottt


def test_ottt_a_counts_T_graphs_per_step_and_o_one():
    a, o = _saved(OTTT(OTTTConfig(online=False)), 8), _saved(OTTT(OTTTConfig(online=True)), 8)
    assert (a.graphs, a.steps) == (8, 1) and (o.graphs, o.steps) == (8, 8)
    assert a.per_batch == 8 * a.per_step and a.peak == a.per_step


def test_meter_counts_unique_storages_and_skips_excluded():
    w = torch.randn(5, 5, requires_grad=True)
    x = torch.randn(3, 5)
    meter = SavedTensorMeter(exclude=[w])
    with meter.graph():
        y = (x @ w) * (x @ w)        # x saved (for grad of w) once; the product saves two [3,5] tensors
    y.sum().backward()
    s = meter.batch()
    assert s.per_step == x.numel() * 4 + 2 * 3 * 5 * 4
    assert peak_process_memory("cpu")["bytes"] > 0
