"""Random small chip networks exercising every feature, for the reference and Lava oracle tests.

Not a test module: imported by ``test_simulator_reference.py`` and ``test_simulator_lava.py``.
"""
from __future__ import annotations

import numpy as np

from hwsim import ChipSpec, Network


def random_network(seed: int, vary_spec: bool = False):
    """A random small network using every feature, its T and inputs: ``(net, T, inputs)``."""
    rng = np.random.default_rng(seed)
    if vary_spec:
        spec = ChipSpec(uv_bits=int(rng.integers(12, 31)), decay_bits=int(rng.integers(6, 15)),
                        weight_bits=int(rng.integers(4, 11)), message_bits=int(rng.integers(8, 25)))
        net = Network(spec)
    else:
        net = Network()
    H = 2 ** (net.spec.uv_bits - 1)
    dmax = 2 ** net.spec.decay_bits
    net.add_input("bin", int(rng.integers(1, 7)))
    net.add_input("img", (int(rng.integers(1, 3)), int(rng.integers(3, 6)), int(rng.integers(3, 6))))
    net.add_input("gr", int(rng.integers(1, 5)), graded=True)
    kinds = ["lif", "lif_reset", "ternary_lif"]
    n_pop = int(rng.integers(2, 5))
    for i in range(n_pop):
        kind = kinds[int(rng.integers(0, 3))]
        n = int(rng.integers(1, 8))
        net.add_population(f"p{i}", n, kind=kind, du=int(rng.choice([-1, 0, dmax - 1, rng.integers(0, dmax)])),
                           dv=int(rng.choice([0, dmax, rng.integers(0, dmax + 1)])), vth=int(rng.integers(0, 200)),
                           vth_lo=-int(rng.integers(0, 200)), bias_mant=rng.integers(-300, 300, n),
                           bias_exp=rng.integers(0, 4, n), u_init=rng.integers(-H, H, n),
                           v_init=rng.integers(-H, H, n),
                           reset_interval=int(rng.integers(1, 6)), reset_offset=int(rng.integers(0, 8)))
    net.add_population("c", (2, 3, 3), du=int(rng.integers(0, dmax)), dv=int(rng.integers(0, dmax + 1)),
                       vth=int(rng.integers(0, 100)))
    img = net.inputs["img"].shape
    # conv img -> c with the kernel size chosen so the output is (2, 3, 3)
    kh, kw = img[1] - 3 + 1, img[2] - 3 + 1
    wlo, whi = net.spec.weight_range("mixed")
    wc = rng.integers(wlo, whi + 1, (2, img[0], kh, kw))
    net.connect_conv("conv", "img", "c", wc, sign_mode="mixed", weight_exp=int(rng.integers(-3, 3)),
                     num_weight_bits=int(rng.integers(1, net.spec.weight_bits + 1)), graded=bool(rng.integers(0, 2)))
    sources = ["bin", "gr", "c"] + [f"p{i}" for i in range(n_pop)]
    for k in range(int(rng.integers(2, 7))):
        src = "gr" if rng.random() < 0.3 else sources[int(rng.integers(0, len(sources)))]
        dst = f"p{int(rng.integers(0, n_pop))}"
        ns, nd = net.node(src).size, net.node(dst).size
        mode = ["mixed", "excitatory", "inhibitory"][int(rng.integers(0, 3))]
        lo, hi = net.spec.weight_range(mode)
        w = rng.integers(lo, hi + 1, (nd, ns))
        # exponents -7/-8 often: only below -6 does a 32-bit wrap before the shift survive LIF's (a << 6)
        common = dict(weight_exp=int(rng.choice([-8, -7, rng.integers(-8, 8)])),
                      num_weight_bits=int(rng.integers(1, net.spec.weight_bits + 1)), sign_mode=mode,
                      graded=bool(rng.integers(0, 2)))
        delays = rng.integers(0, 4, (nd, ns)) if rng.random() < 0.4 else None
        if rng.random() < 0.5:
            net.connect_dense(f"w{k}", src, dst, w, delays=delays, **common)
        else:
            m = rng.random((nd, ns)) < 0.6
            di, si = np.nonzero(m)
            net.connect_sparse(f"w{k}", src, dst, di, si, w[m], delays=None if delays is None else delays[m], **common)
    T = int(rng.integers(1, 14))
    lo, hi = net.spec.message_range
    inputs = {"bin": (rng.random((T,) + net.inputs["bin"].shape) < 0.5).astype(np.int8),
              "img": (rng.random((T,) + img) < 0.5).astype(np.int8),
              "gr": rng.choice(np.clip([lo, lo, hi, hi, 0, 1, -1, 1000, -77777], lo, hi),
                               (T,) + net.inputs["gr"].shape)}
    return net, T, inputs
