"""Encoders: direct, rate (Bernoulli statistics with a seeded generator), latency timing, errors."""
import math

import pytest
import torch

from models.encoders import ENCODERS, encode


def test_direct_repeats_the_input():
    x = torch.rand(3, 4)
    e = encode(x, 5, "direct")
    assert e.shape == (5, 3, 4)
    assert all(torch.equal(e[t], x) for t in range(5))


def test_rate_statistics_and_seeding():
    p = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    T = 4000
    e = encode(p, T, "rate", generator=torch.Generator().manual_seed(3))
    assert e.shape == (T, 5) and set(e.unique().tolist()) <= {0.0, 1.0}
    mean = e.mean(0)
    assert mean[0] == 0.0 and mean[-1] == 1.0
    for k in (1, 2, 3):  # within 5 binomial standard deviations
        sd = math.sqrt(p[k] * (1 - p[k]) / T)
        assert abs(float(mean[k] - p[k])) < 5 * sd
    # independent steps: lag-1 correlation of the p=0.5 train is near 0
    s = e[:, 2] - 0.5
    assert abs(float((s[1:] * s[:-1]).mean()) / 0.25) < 5 / math.sqrt(T)
    same = encode(p, T, "rate", generator=torch.Generator().manual_seed(3))
    other = encode(p, T, "rate", generator=torch.Generator().manual_seed(4))
    assert torch.equal(e, same) and not torch.equal(e, other)


def test_latency_timing():
    # one spike at round((1 - x) (T - 1)); x = 0 (not > threshold 0) never fires
    x = torch.tensor([1.0, 0.5, 0.25, 0.0, 0.01])
    e = encode(x, 5, "latency")
    assert e.shape == (5, 5)
    assert e.sum(0).tolist() == [1, 1, 1, 0, 1]
    assert e.argmax(0)[[0, 1, 2, 4]].tolist() == [0, 2, 3, 4]
    assert encode(x, 5, "latency", threshold=0.3).sum(0).tolist() == [1, 1, 0, 0, 0]


def test_latency_single_step():
    assert encode(torch.tensor([0.2, 0.0]), 1, "latency").tolist() == [[1.0, 0.0]]


@pytest.mark.parametrize("args,kwargs,match", [
    ((torch.rand(2), 0), {}, "T=0"),
    ((torch.rand(2), 2.5), {}, "T=2.5"),
    ((torch.rand(2), 3), {"kind": "poisson"}, "kind='poisson'"),
    ((torch.tensor([0.5, float("nan")]), 3), {}, "NaN"),
    ((torch.tensor([0.5, 1.5]), 3), {"kind": "rate"}, r"rate encoding needs x in \[0, 1\]"),
    ((torch.tensor([-0.1]), 3), {"kind": "latency"}, r"latency encoding needs x in \[0, 1\]"),
])
def test_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        encode(*args, **kwargs)


def test_direct_accepts_any_finite_range():
    assert encode(torch.tensor([-2.0, 3.0]), 2, "direct").shape == (2, 2)
    assert ENCODERS == ("direct", "rate", "latency")
