"""Named network shapes for the reproductions, sized for 2 CPU cores.

* ``mlp``: ``input -> hidden... -> readout`` (``widths``; the project's default is 256, 256);
* ``deep-mlp``: ``depth`` dense spiking layers of ``width`` (Chen & Li's depth sweep);
* ``vgg``: VGG-style: 3x3 convs (padding 1) ``16, 16, pool, 32, 32, pool``, dense 64, readout
  (5 spiking layers; the OTTT paper's VGG is ``64,128,M,256,256,M,512,512,M,512,512``);
* ``alexnet``: AlexNet-shaped (5 convs, 2 hidden dense, as AlexNet's 5 + 3): conv 16 5x5, pool,
  conv 32 5x5, pool, conv 48 3x3, conv 48 3x3, conv 32 3x3, pool, dense 128, dense 128, readout
  (7 spiking layers; channels ~1/6 of AlexNet's 96-256-384-384-256, dense 4096 -> 128).

Pooling is 2x2 average pooling (as in the OTTT and rate-BP code). Every shape takes any
``(C, H, W)`` input whose sides survive its pools (``vgg``: 4, ``alexnet``: 8 pixels or more).
"""
from __future__ import annotations

from typing import Sequence

from .network import NetConfig, SpikingNet, build_convnet, build_mlp
from .neuron import LIFConfig

ARCHS = ("mlp", "deep-mlp", "vgg", "alexnet")

ALEXNET_LAYERS = (("conv", 16, 5, 1, 2), ("pool", 2), ("conv", 32, 5, 1, 2), ("pool", 2),
                  ("conv", 48, 3, 1, 1), ("conv", 48, 3, 1, 1), ("conv", 32, 3, 1, 1), ("pool", 2),
                  ("dense", 128), ("dense", 128))
VGG_CHANNELS = (16, 16, "pool", 32, 32, "pool")
VGG_DENSE = (64,)


def build_arch(arch: str, input_shape: Sequence[int], n_classes: int, neuron: LIFConfig,
               block_size: int = 1, widths: Sequence[int] = (256, 256), depth: int = 4,
               width: int = 128) -> SpikingNet:
    """A ``SpikingNet`` of the named shape (module docstring); ``input_shape`` excludes T and batch.

    ``mlp`` and ``deep-mlp`` flatten the input; ``vgg`` and ``alexnet`` need ``(C, H, W)``.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch={arch!r} is not one of {ARCHS}")
    shape = tuple(int(s) for s in input_shape)
    flat = 1
    for s in shape:
        flat *= s
    if arch == "mlp":
        return build_mlp(flat, tuple(widths), n_classes, neuron, block_size=block_size)
    if arch == "deep-mlp":
        if int(depth) != depth or depth < 1 or width < 1:
            raise ValueError(f"depth={depth!r} and width={width!r} must be integers >= 1")
        return build_mlp(flat, (int(width),) * int(depth), n_classes, neuron, block_size=block_size)
    if len(shape) != 3:
        raise ValueError(f"arch={arch!r} needs a (C, H, W) input, got input_shape={shape}")
    need = 4 if arch == "vgg" else 8
    if min(shape[1:]) < need:
        raise ValueError(f"arch={arch!r} needs an input of at least {need}x{need} pixels, got {shape[1:]}")
    if arch == "vgg":
        return build_convnet(shape, VGG_CHANNELS, VGG_DENSE, n_classes, neuron, block_size=block_size)
    return SpikingNet(NetConfig(shape, ALEXNET_LAYERS, n_classes, neuron, block_size))
