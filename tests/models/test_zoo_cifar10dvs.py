"""models.zoo shapes and models.data.load_cifar10_dvs on small synthetic files written here."""
import numpy as np
import pytest
import torch
from torch import nn

from models.data import CIFAR10_DVS_CLASSES, load_cifar10_dvs
from models.neuron import LIFConfig
from models.zoo import build_arch


def test_alexnet_shape_has_five_convs_and_two_hidden_dense():
    net = build_arch("alexnet", (2, 16, 16), 8, LIFConfig())
    kinds = [type(layer.op).__name__ for layer in net.layers]
    assert kinds == ["Conv2d"] * 5 + ["Linear"] * 2
    assert net(torch.zeros(3, 4, 2, 16, 16)).shape == (3, 4, 8)
    assert net.layers[0].op.kernel_size == (5, 5)


def test_vgg_and_deep_mlp():
    vgg = build_arch("vgg", (1, 8, 8), 10, LIFConfig())
    assert sum(isinstance(layer.op, nn.Conv2d) for layer in vgg.layers) == 4 and len(vgg.layers) == 5
    deep = build_arch("deep-mlp", (64,), 10, LIFConfig(), depth=19, width=32, block_size=2)
    assert len(deep.layers) == 19 and len(deep.blocks) == 10
    with pytest.raises(ValueError, match="at least 8x8"):
        build_arch("alexnet", (2, 4, 4), 10, LIFConfig())
    with pytest.raises(ValueError, match="arch='resnet'"):
        build_arch("resnet", (64,), 10, LIFConfig())


def write(path, t, x, y, p):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, t=np.asarray(t), x=np.asarray(x), y=np.asarray(y), p=np.asarray(p))


def test_cifar10_dvs_npz_layout(tmp_path):
    # airplane/0: 3 events; cat/0 and cat/1: one each. Timestamps start at 1000 us (shifted to 0).
    write(tmp_path / "airplane" / "a0.npz", [1000, 1500, 1999], [0, 127, 64], [0, 127, 1], [1, 0, 1])
    write(tmp_path / "cat" / "c0.npz", [5, 9], [10, 10], [20, 20], [0, 1])
    write(tmp_path / "cat" / "c1.npz", [0], [127], [0], [1])
    ds = load_cifar10_dvs(tmp_path, T=2, size=64)
    assert ds.sensor_size == (64, 64) and len(ds) == 3
    assert list(ds.labels) == [CIFAR10_DVS_CLASSES.index("airplane"), 3, 3]
    ev = ds.events[0]
    assert list(ev["t"]) == [0, 500, 999] and list(ev["x"]) == [0, 63, 32] and list(ev["y"]) == [0, 63, 0]
    f = ds.frames[0]  # bins [0, 500), [500, 1000): event 0 in bin 0, events 1 and 2 in bin 1
    assert f.shape == (2, 2, 64, 64) and f.sum() == 3
    assert f[0, 1, 0, 0] == 1 and f[1, 0, 63, 63] == 1 and f[1, 1, 0, 32] == 1
    assert ds.frames[1][0, 0, 10, 5] == 1 and ds.frames[1][1, 1, 10, 5] == 1


def test_cifar10_dvs_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no class folders"):
        load_cifar10_dvs(tmp_path)
    write(tmp_path / "dog" / "d.npz", [0], [128], [0], [1])
    with pytest.raises(ValueError, match="outside the"):
        load_cifar10_dvs(tmp_path)
    np.savez(tmp_path / "dog" / "d.npz", t=[0], x=[1])
    with pytest.raises(ValueError, match=r"missing array\(s\) \['p', 'y'\]"):
        load_cifar10_dvs(tmp_path)
    with pytest.raises(ValueError, match="size=0"):
        load_cifar10_dvs(tmp_path, size=0)
