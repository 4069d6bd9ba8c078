"""The rule tests are tiny; one intra-op thread avoids oversubscribing a shared CPU."""
import torch

torch.set_num_threads(1)
