"""Small float networks and inputs shared by the quantizer and chip-run tests."""
import math

import numpy as np
import torch

from hwsim.program import chip_weights
from models.encoders import encode
from models.network import build_mlp
from models.neuron import LIFConfig

CUBA = LIFConfig(form="cuba", du=0.25, dv=0.125)


def mlp(hidden=(32, 10), n_in=64, cfg=CUBA, seed=0, gain=1.0, bias=0.0):
    torch.manual_seed(seed)
    net = build_mlp(n_in, hidden, 10, cfg)
    with torch.no_grad():
        for layer in net.layers:
            fan_in = layer.op.weight.shape[1]
            layer.op.weight.normal_(0.0, gain * 2.0 / math.sqrt(fan_in))
            if layer.bias is not None:
                layer.bias.uniform_(-bias, bias)
    return net


def rate_input(shape, T=16, seed=0, p=0.3):
    g = torch.Generator().manual_seed(seed)
    return encode(torch.full(shape, p), T, "rate", generator=g)


def expected_float(chip, prj, scale, q=1):
    p = chip.projections[prj]
    w = chip_weights(p.weights, p.sign_mode, p.num_weight_bits, chip.spec).astype(np.float64)
    return w * (64.0 * 2.0 ** p.weight_exp * q) / scale


