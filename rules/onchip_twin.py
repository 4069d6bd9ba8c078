"""The float twin of on-chip OTTT on the chip's timing (Lava's: one step per projection).

:class:`PipelinedTwin` runs the network that :func:`hwsim.circuits.ottt.ottt_network` builds, in
float64 and step by step with the same timing, so that the chip and its twin differ only by their
arithmetic (integers, shifts, stochastic rounding, the surrogate LUT). Per sample (state zeroed at
its start) and step ``t = 1 .. T_s`` (``T_s = sample_steps``; the input frame and the label are
present for the first ``T`` steps, the label delayed to meet its readout)::

    I_l(t), o_h(t), fb_l(t)  = what the projections computed at t - 1      (one step per projection)
    v_l = (1 - dv/4096) v_l + I_l;  vpre_l(t) = v_l;  s_l(t) = v_l > 1;  v_l[s] = 0     (hard reset)
    a_l(t) = clip(lambda_x a_l(t - 1) + s_l(t), 0, a_max)         (pre trace of the next projection)
    xhat(t) = the last non-zero input value of each input (the frame; Lava's OVERWRITE x1), or with
              input_trace='step' the step's input (an x0-conditioned product)
    e_h(t) = o_h(t) - onehot(label) [label window]                             (error compartment)
    delta_l(t) = fb_l(t) * sg'(vpre_l(t - d_l) - 1)                         (learning compartment)
    next: I_1 = W_1 x(t), I_l = W_l s_{l-1}(t), o_h = R_h s(t), fb = R_h^T e_h(t) (mirror: the
          weights before this step's update) or F_h e_h(t), global: W_{l+1}^T delta_{l+1}(t)
    update: dW_1 = -lr xhat delta_1, dW_l = -lr a_{l-1} delta_l, dR_h = -lr a e_h

OTTT_O adds every step's update at once (then the chip's weight range, ``[-2**wb, 2**wb - 1] q``);
OTTT_A sums them (within the tag's range, ``tag_range * q``) and adds the sum at the sample's end.
``lr`` is each projection's ``lr_eff`` (:class:`rules.onchip.ChipScales`): the float value of the
chip's rule ``m*2^e*u0*x1*y2``. Prediction: ``argmax`` over the sum of the last head's readout.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _sigmoid_grad(alpha: float, x: np.ndarray) -> np.ndarray:
    s = 1.0 / (1.0 + np.exp(-alpha * x))
    return alpha * s * (1.0 - s)


class PipelinedTwin:
    """Float64 OTTT on the chip's timing, for one :class:`~hwsim.circuits.ottt_circuit.OTTTCircuit`.

    Parameters
    ----------
    circuit : OTTTCircuit (structure, timing, T, online / local, feedback)
    weights, heads : float (n_post, n_pre) matrices: the chip's starting weights times their scales
    feedback : float (C, n_layer) per head for ``feedback='random'`` (the chip's, times the scale)
    lr : per projection (layers, then heads), the chip's ``lr_eff``
    q : per projection, the weight scale (for the weight and tag ranges)
    in_unit : input payload units per 1.0;  leak : LIF leak (1 - dv/4096);  trace_leak : lambda_x
    alpha : sigmoid surrogate parameter;  a_max : the trace range in float (``(2**tb - 1) / X``)
    """

    def __init__(self, circuit, weights: Sequence, heads: Sequence, feedback, lr: Sequence, q: Sequence,
                 in_unit: float, leak: float, trace_leak: float, alpha: float, a_max: float):
        from hwsim.circuits.ottt import learning_delays, sample_steps

        c = circuit
        self.c = c
        self.W = [np.array(w, np.float64) for w in weights]
        self.R = [np.array(h, np.float64) for h in heads]
        self.F = None if feedback is None else [np.array(f, np.float64) for f in feedback]
        self.lr = [float(x) for x in lr]
        sp = c.spec
        wlo, whi = -(1 << sp.weight_bits), (1 << sp.weight_bits) - 1
        tlo, thi = -(1 << sp.tag_bits) - 1, (1 << sp.tag_bits) - 1
        self.box = [(wlo * qq, whi * qq) for qq in q]
        self.tag_box = [(tlo * qq, thi * qq) for qq in q]
        self.in_unit = float(in_unit)
        self.leak = float(leak)
        self.trace_leak = float(trace_leak)
        self.alpha = float(alpha)
        self.a_max = float(a_max)
        self.delays = learning_delays(c)
        self.steps = sample_steps(c)

    # ---- weights --------------------------------------------------------------------------
    def weights(self) -> list:
        """Copies of the layers' and heads' weights (n_post, n_pre), layers first."""
        return [w.copy() for w in self.W + self.R]

    def set_weights(self, mats: Sequence) -> None:
        L = len(self.W)
        self.W = [np.array(m, np.float64) for m in mats[:L]]
        self.R = [np.array(m, np.float64) for m in mats[L:]]

    # ---- one pass ------------------------------------------------------------------------
    def _run(self, x: np.ndarray, labels, learn: bool, record: bool = False):
        """``x`` (B, Tx, n0) input values (float); ``labels`` (B,) or None; learning needs B = 1."""
        c = self.c
        L, H, C, T = c.n_layers, c.n_heads, c.n_classes, c.T
        B = x.shape[0]
        sizes = c.layer_sizes
        v = [np.zeros((B, n)) for n in sizes[1:]]
        a = [np.zeros((B, n)) for n in sizes[1:]]
        xhat = np.zeros((B, sizes[0]))
        I = [np.zeros((B, n)) for n in sizes[1:]]
        o = [np.zeros((B, C)) for _ in range(H)]
        fb = [np.zeros((B, n)) for n in sizes[1:]]
        D = max(self.delays) + 1
        vh = [np.zeros((D, B, n)) for n in sizes[1:]]          # vpre of step t in row t % D
        out = np.zeros((B, C))
        acc = [np.zeros_like(w) for w in self.W + self.R] if learn and not c.online else None
        onehot = np.zeros((B, C))
        if labels is not None:
            onehot[np.arange(B), labels] = 1.0
        rec = {"s": [], "vpre": [], "v": [], "e": [], "delta": []}
        for t in range(1, self.steps + 1):
            # compartments of step t
            s = []
            for l in range(L):
                v[l] = self.leak * v[l] + I[l]
                vh[l][t % D] = v[l]
                sl = v[l] > 1.0
                v[l] = np.where(sl, 0.0, v[l])
                s.append(sl.astype(np.float64))
                a[l] = np.minimum(self.trace_leak * a[l] + s[l], self.a_max)
            if record:
                rec["s"].append([z[0].copy() for z in s])
                rec["vpre"].append([vh[l][t % D][0].copy() for l in range(L)])
                rec["v"].append([z[0].copy() for z in v])
            frame = x[:, (t - 1) % x.shape[1]] if t <= T else np.zeros_like(xhat)
            xhat = np.where(frame != 0, frame, xhat) if c.input_trace == "hold" else frame
            out += o[-1]
            e = []
            for h, lh in enumerate(c.head_layers):
                in_window = lh + 3 <= t <= T + lh + 2          # the readout of layer lh + 1: steps lh + 3 ..
                e.append(o[h] - onehot if in_window else o[h].copy())
            delta = [fb[l] * _sigmoid_grad(self.alpha, vh[l][(t - self.delays[l]) % D] - 1.0)
                     if t - self.delays[l] >= 1 else fb[l] * _sigmoid_grad(self.alpha, -1.0)
                     for l in range(L)]
            if record:
                rec["e"].append([z[0].copy() for z in e])
                rec["delta"].append([z[0].copy() for z in delta])
            # what the projections send for step t + 1 (weights before this step's update)
            I = [frame @ self.W[0].T] + [s[l - 1] @ self.W[l].T for l in range(1, L)]
            o = [s[lh] @ self.R[h].T for h, lh in enumerate(c.head_layers)]
            fb = [np.zeros_like(z) for z in fb]
            for h, lh in enumerate(c.head_layers):
                F = self.R[h] if self.F is None else self.F[h]
                fb[lh] = fb[lh] + e[h] @ F
            if not c.local:
                for l in range(L - 1):
                    fb[l] = fb[l] + delta[l + 1] @ self.W[l + 1]
            if not learn:
                continue
            pres = [xhat] + [a[l - 1] for l in range(1, L)]
            grads = [np.outer(delta[l][0], pres[l][0]) for l in range(L)]
            grads += [np.outer(e[h][0], a[lh][0]) for h, lh in enumerate(c.head_layers)]
            mats = self.W + self.R
            for p, g in enumerate(grads):
                if not g.any():
                    continue
                if c.online:
                    mats[p] -= self.lr[p] * g
                    np.clip(mats[p], *self.box[p], out=mats[p])
                else:
                    acc[p] -= self.lr[p] * g
                    np.clip(acc[p], *self.tag_box[p], out=acc[p])
        if learn and not c.online:
            for p, m in enumerate(self.W + self.R):
                m += acc[p]
                np.clip(m, *self.box[p], out=m)
        return out, rec

    def _values(self, payload: np.ndarray) -> np.ndarray:
        x = np.asarray(payload, np.float64) / self.in_unit
        return x[:, None, :] if x.ndim == 2 else x

    def sample(self, payload: np.ndarray, label: int, learn: bool = True, record: bool = False):
        """One sample (payload (n0,) or (Tx, n0)), learning; returns (readout sum (C,), record)."""
        x = self._values(np.asarray(payload)[None])
        out, rec = self._run(x, np.array([int(label)]), learn, record)
        return out[0], rec

    def readout(self, payload: np.ndarray, batch: int = 512) -> np.ndarray:
        """Sum over the sample's steps of the last head's readout, no learning: (N, C)."""
        x = self._values(payload)
        return np.concatenate([self._run(x[i:i + batch], None, False)[0] for i in range(0, len(x), batch)])
