"""rules.costs: MAC and memory-access counts against closed forms worked out by hand for tiny nets."""
import pytest
from torch import nn

from models.network import NetConfig, SpikingNet
from models.neuron import LIFConfig
from rules.costs import op_shapes, optimizer_steps, training_costs


def tiny(block_size=10):
    # 3 inputs -> dense 4 -> dense 5 -> readout 2
    return SpikingNet(NetConfig((3,), ("dense:4", "dense:5"), 2, LIFConfig(), block_size))


def test_bptt_counts_match_hand_closed_form():
    c = training_costs(tiny(), "bptt", T=3, batch=2)
    # forward: T*B*(3*4 + 4*5 + 5*2) = 3*2*42
    assert c.macs_forward == 252
    # backward: weight grads 3*2*42 = 252, input grads of layer1 and readout 3*2*(20+10) = 180
    assert c.macs_backward == 432
    # memory (elements), per op: fwd T*(P + B*X + B*N + 2*B*N [state, spiking only]),
    # saved T*2*B*(X+N), weight grad T*(B*N + 2P), input grad T*(P + B*X) [not layer0], update 3P
    layer0 = 3 * (12 + 6 + 8 + 16) + 3 * 2 * 2 * 7 + 3 * (8 + 24) + 3 * 12
    layer1 = 3 * (20 + 8 + 10 + 20) + 3 * 2 * 2 * 9 + 3 * (10 + 40) + 3 * (20 + 8) + 3 * 20
    readout = 3 * (10 + 10 + 4) + 3 * 2 * 2 * 7 + 3 * (4 + 20) + 3 * (10 + 10) + 3 * 10
    assert (layer0, layer1, readout) == (342, 576, 318)
    assert c.memory_access == layer0 + layer1 + readout
    assert c.optimizer_steps == 1 and c.macs_per_step == c.macs


def test_ttl_local_blocks_add_a_head_and_cut_input_gradients():
    c = training_costs(tiny(block_size=1), "ttl", T=3, batch=2, truncation=1)
    # ops: layer0 (12), head on layer0 (4*2 = 8), layer1 (20), readout (10)
    assert [o.macs for o in op_shapes(tiny(), block_size=1)] == [12, 8, 20, 10]
    assert c.macs_forward == 3 * 2 * (12 + 8 + 20 + 10)
    # input grads only into the heads' inputs (head0, readout); layer1 starts a block: none
    assert c.macs_backward == 3 * 2 * (12 + 8 + 20 + 10) + 3 * 2 * (8 + 10)
    assert c.optimizer_steps == 3 and c.macs_per_step == c.macs / 3


def test_rate_counts_T_plus_one_forward_passes_and_one_saved_pass():
    c = training_costs(tiny(), "rate-m", T=4, batch=1)
    assert c.macs_forward == 5 * 42
    assert c.macs_backward == 42 + 30


def test_conv_macs_closed_form():
    net = SpikingNet(NetConfig((1, 4, 4), (("conv", 2, 3, 1, 1), ("pool", 2), ("conv", 3, 3, 1, 1)), 2, LIFConfig()))
    ops = op_shapes(net)
    # conv1: C_out*H*W*C_in*k*k = 2*4*4*1*9; conv2 after 2x2 pooling: 3*2*2*2*9; readout 3*2*2 -> 2
    assert [o.macs for o in ops] == [288, 216, 24]
    assert ops[1].inputs == 2 * 2 * 2
    assert ops[0].weights == net.layers[0].op.weight.numel()
    assert isinstance(net.layers[1].op, nn.Conv2d)


def test_optimizer_steps_and_errors():
    assert optimizer_steps("ottt-o", 8) == 8
    assert optimizer_steps("ttl", 8, 3) == 3
    assert optimizer_steps("ottt-a", 8) == 1
    with pytest.raises(ValueError, match="truncation K=9"):
        optimizer_steps("ttl", 8, 9)
    with pytest.raises(ValueError, match="rule='x'"):
        training_costs(tiny(), "x", 2, 1)
