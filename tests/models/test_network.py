"""NetConfig / layer-spec errors name the bad parameter; forward shapes of the MLP and ConvNet."""
import pytest
import torch
from torch import nn

from models.network import NetConfig, SpikingNet, build_convnet, build_mlp, parse_layer
from models.neuron import LIFConfig


@pytest.mark.parametrize("spec,expected", [
    ("dense:256", ("dense", 256)), ("conv:32:3:1:1", ("conv", 32, 3, 1, 1)), ("pool:2", ("pool", 2)),
    ("flatten", ("flatten",)), (("conv", 8, 3), ("conv", 8, 3))])
def test_parse_layer(spec, expected):
    assert parse_layer(spec) == expected


@pytest.mark.parametrize("spec,match", [
    ("dense:abc", "'dense:abc'.*integers"), ("lstm:3", "kind must be one of"), ("dense", "expected 1..1"),
    ("conv:8", "expected 2..4"), ("dense:0", "positive"), (("conv", 8, 3, 1, -1), "positive")])
def test_parse_layer_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_layer(spec)


def test_conv_padding_zero_allowed():
    assert parse_layer("conv:8:3:1:0") == ("conv", 8, 3, 1, 0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(input_shape=(2, 2)), r"input_shape=\(2, 2\)"), (dict(input_shape=(0,)), r"input_shape=\(0,\)"),
    (dict(n_classes=1), "n_classes=1"), (dict(block_size=0), "block_size=0"),
    (dict(layers=("pool:2",)), "at least one 'dense' or 'conv'")])
def test_netconfig_errors(kwargs, match):
    base = dict(input_shape=(64,), layers=("dense:8",), n_classes=10)
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        NetConfig(**base)


@pytest.mark.parametrize("layers,match", [
    (("conv:4:3",), r"layer \('conv', 4, 3\): conv needs a \(C, H, W\) input"),
    (("pool:2", "dense:4"), r"layer \('pool', 2\): pooling needs"),
    (("conv:4:9:1:0", "dense:4"), "output shape .* is empty")])
def test_build_errors_name_the_layer(layers, match):
    shape = (1, 8, 8) if layers[0].startswith("conv:4:9") else (64,)
    with pytest.raises(ValueError, match=match):
        SpikingNet(NetConfig(shape, layers, 10))


def test_mlp_forward_shapes_and_blocks():
    net = build_mlp(64, (32, 16, 8), 10, block_size=2)
    x = torch.rand(4, 3, 64)
    assert net(x).shape == (4, 3, 10)
    assert net.blocks == [[0, 1], [2]]
    assert [layer.out_shape for layer in net.layers] == [(32,), (16,), (8,)]
    o, states, spikes, mems = net.step(x[0], net.init_states(3))
    assert o.shape == (3, 10) and [s.shape for s in spikes] == [(3, 32), (3, 16), (3, 8)]
    assert all(set(s.unique().tolist()) <= {0.0, 1.0} for s in spikes)
    assert [m.shape for m in mems] == [(3, 32), (3, 16), (3, 8)]


def test_convnet_forward_shapes():
    net = build_convnet((1, 8, 8), (4, "pool", 8, "pool"), (16,), n_classes=10)
    assert [layer.out_shape for layer in net.layers] == [(4, 8, 8), (8, 4, 4), (16,)]
    assert isinstance(net.layers[0].op, nn.Conv2d) and isinstance(net.layers[2].op, nn.Linear)
    assert net.layers[2].op.in_features == 8 * 2 * 2  # pooled and flattened into the dense layer
    assert net(torch.rand(3, 2, 1, 8, 8)).shape == (3, 2, 10)
    strided = SpikingNet(NetConfig((2, 9, 9), ("conv:4:3:2:0",), 5))
    assert strided.layers[0].out_shape == (4, 4, 4)
    assert strided(torch.rand(2, 1, 2, 9, 9)).shape == (2, 1, 5)


def test_bias_lives_in_op_or_neuron():
    disc = build_mlp(8, (4,), 2)
    cuba = build_mlp(8, (4,), 2, LIFConfig(form="cuba", du=0.1, dv=0.1))
    assert disc.layers[0].op.bias is not None and disc.layers[0].bias is None
    assert cuba.layers[0].op.bias is None and cuba.layers[0].bias.shape == (4,)
    conv = build_convnet((1, 4, 4), (2,), (), 2, LIFConfig(form="cuba"))
    assert conv.layers[0].bias.shape == (2, 1, 1)
