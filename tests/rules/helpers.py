"""Small shared builders for the rule tests (tiny nets, fixed random inputs)."""
import torch

from models.network import build_mlp
from models.neuron import LIFConfig
from models.surrogate import Surrogate


def tiny_net(leak=0.5, hidden=(12, 10), n_in=8, n_classes=4, block_size=1, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    neuron = LIFConfig(leak=leak, surrogate=Surrogate("sigmoid", 4.0))
    net = build_mlp(n_in, hidden, n_classes, neuron, block_size=block_size)
    with torch.no_grad():   # larger weights so that every layer spikes in a few steps
        for p in net.parameters():
            p.mul_(3.0)
    return net.to(dtype)


def tiny_batch(T=6, B=5, n_in=8, n_classes=4, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((B, n_in), generator=g, dtype=dtype)
    y = torch.randint(0, n_classes, (B,), generator=g)
    return x.unsqueeze(0).expand(T, B, n_in).contiguous() + 0.3 * torch.rand((T, B, n_in), generator=g, dtype=dtype), y


def grads(modules):
    return [p.grad.detach().clone() for m in modules for p in m.parameters()]


class NullOpt:
    """An optimizer stand-in that only zeroes gradients (no update)."""

    def __init__(self, params):
        self.params = list(params)

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        pass
