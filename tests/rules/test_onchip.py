"""On-chip OTTT against its float twin (chip timing): the cross-check's acceptance checks, the local /
random-feedback float rule against closed forms, and the chip trainer."""
import numpy as np
import pytest
import torch

from rules.crosscheck import crosscheck
from rules.onchip import ChipTrainConfig, train_chip
from rules.ottt import _FeedbackLinear, wrapped_head


def _cc(rule, bits, samples=96):
    # wide traces with a wide input too: the first layer's pre trace holds the input value (chip timing),
    # and a 7-bit input under a 16-bit trace's product shift loses its low bits
    cfg = ChipTrainConfig(rule=rule, local_blocks=True, weight_bits=bits, trace_bits=bits if bits > 8 else None,
                          in_bits=bits - 4 if bits > 8 else 7, seed=0, hidden=(64, 64))
    return crosscheck(cfg, samples=samples, evaluate=False)


@pytest.mark.parametrize("rule", ["ottt-a", "ottt-o"])
def test_crosscheck_16_bit_cosine_and_monotone_error(rule):
    """Acceptance: update cosine >= 0.99 between chip and float at 16-bit weights and traces, and the
    error shrinks as the bits grow (8, 12, 16)."""
    reps = {b: _cc(rule, b) for b in (8, 12, 16)}
    assert reps[16]["initial_weight_gap"] == 0.0
    assert reps[16]["min_update_cosine"] >= 0.99, reps[16]["layers"]
    for name in reps[16]["layers"]:
        assert reps[16]["layers"][name]["update_norm_float"] > 0, name      # every projection learned
    cos = [reps[b]["min_update_cosine"] for b in (8, 12, 16)]
    err = [reps[b]["max_update_rel_error"] for b in (8, 12, 16)]
    assert cos[0] < cos[1] < cos[2], cos
    assert err[0] > err[1] > err[2], err


def test_feedback_linear_gradient_goes_through_fixed_matrix():
    torch.manual_seed(0)
    x = torch.randn(4, 6, requires_grad=True)
    W = torch.randn(3, 6, requires_grad=True)
    B = torch.randn(3, 6)
    g = torch.randn(4, 3)
    out = _FeedbackLinear.apply(x, W, B)
    out.backward(g)
    torch.testing.assert_close(out, x @ W.T)
    torch.testing.assert_close(x.grad, g @ B)
    torch.testing.assert_close(W.grad, g.T @ x)


def test_wrapped_head_uses_trace_for_weight_gradient():
    """OTTT's head: value from the spikes, weight gradient from the trace (closed form
    ``dW = e^T a_hat``), spike gradient through the feedback matrix."""
    torch.manual_seed(1)
    head = torch.nn.Linear(5, 3, bias=False)
    s = (torch.rand(2, 5) > 0.5).float().requires_grad_(True)
    a = torch.rand(2, 5)
    B = torch.randn(3, 5)
    o = wrapped_head(head, s, a, B)
    torch.testing.assert_close(o, s @ head.weight.T)
    e = torch.randn(2, 3)
    o.backward(e)
    torch.testing.assert_close(head.weight.grad, e.T @ a)
    torch.testing.assert_close(s.grad, e @ B)


def test_chip_training_learns_and_is_reproducible():
    cfg = ChipTrainConfig(rule="ottt-a", local_blocks=True, epochs=1, seed=0, hidden=(128,))
    r1 = train_chip(cfg)
    r2 = train_chip(cfg)
    assert r1["chip"]["test_accuracy"] > 0.8          # 10 classes: chance is 0.1
    assert r1["chip"]["test_accuracy"] == r2["chip"]["test_accuracy"]
    for a, b in zip(r1["_model"].chip.weights, r2["_model"].chip.weights):
        np.testing.assert_array_equal(a, b)
    c = r1["chip"]["counters"]
    assert c["synapse_updates"] > 0 and c["weight_writebacks"] > 0 and r1["chip"]["energy_learning_J"] > 0


def test_chip_config_errors_name_parameter():
    with pytest.raises(ValueError, match="rule='bptt'"):
        ChipTrainConfig(rule="bptt")
    with pytest.raises(ValueError, match="weight_bits=40"):
        ChipTrainConfig(weight_bits=40)
    with pytest.raises(ValueError, match="lr="):
        ChipTrainConfig(lr=float("nan"))


def test_chip_timing_rule_exponents_stay_in_lavas_range():
    """accumulator_bits > weight_bits + 7 (6-bit weights, derived 15-bit accumulator) would ask for a
    rule exponent below Lava's -7 (one accumulator fraction bit, -frac = -9); the post factors are halved
    instead, so the rule strings parse and the network builds (it raised RuleError before)."""
    from rules.onchip import build
    from hwsim.learning import LearningRule

    cfg = ChipTrainConfig(weight_bits=6, trace_bits=5, in_bits=5, hidden=(32,), limit=64, epochs=1)
    chip = build(cfg)[0]
    assert chip.circuit.frac == 9 and min(chip.circuit.e) >= -7
    assert min(chip.scales.lr_halvings) > 0       # the exponent's floor is paid with coarser post factors
    for s in chip.circuit.rule_strings():
        LearningRule(dt=s, x1_impulse=1, x1_tau=2, kind="3F", rng_seed=1)
    # the requested float learning rate is still what the chip realises (to the rule's 4-bit mantissa)
    np.testing.assert_allclose(chip.scales.lr_eff, cfg.lr, rtol=0.5)


def test_layer_sync_timing_is_refused_naming_the_float_reference():
    """The layer-synchronous integer kernel was removed (one chip): timing='chip' is the only value, the
    one saved configs hold; 'layer-sync' is refused with the reason and where the reference is now."""
    assert ChipTrainConfig().timing == "chip" and ChipTrainConfig(timing="chip").timing == "chip"
    with pytest.raises(ValueError) as exc:
        ChipTrainConfig(timing="layer-sync")
    msg = str(exc.value)
    assert msg.startswith("timing='layer-sync': the layer-synchronous integer kernel was removed (one chip)")
    assert "allowed: 'chip'" in msg and "float OTTT (--backend float --rule ottt-a)" in msg
    with pytest.raises(ValueError, match=r"timing='lava' is not allowed; allowed: 'chip'"):
        ChipTrainConfig(timing="lava")
