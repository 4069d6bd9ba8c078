"""A slow numpy transcription of Lava's ``LearningDense`` fixed_pt model, parameterised by a ChipSpec.

This is the second implementation the fast engine is tested against (and the oracle where Lava is not
installed). It follows ``lava/magma/core/model/py/connection.py`` (``LearningConnectionModelBitApproximate``),
``lava/magma/core/learning/learning_rule_applier.py`` (``LearningRuleApplierBitApprox``) and
``lava/proc/dense/models.py`` (``PyLearningDenseModelBitApproximate``) statement by statement, in
Lava's ``(n_post, n_pre)`` layout and dtypes (int32 weights and MAC, int64 traces and tags), with
the widths taken from the spec instead of Lava's constants. It is meant for small networks.
"""
from __future__ import annotations

import numpy as np

from ..constants import W_CONST, W_S_MANT
from ..spec import LOIHI, ChipSpec
from .engine import CONN_SEED, truncate_weights
from .rule import LearningRule

__all__ = ["ReferenceLearningDense"]

_TRACE_INDEX = {"x1": 0, "x2": 1, "y1": 0, "y2": 1, "y3": 2}


class _TraceRandom:
    """Lava's ``TraceRandom``: one decay float and one impulse int, redrawn by ``advance``."""

    def __init__(self, seed_decay: int, seed_imp: int, imp_hi: int):
        self._gd = np.random.default_rng(seed_decay)
        self._gi = np.random.default_rng(seed_imp)
        self._hi = imp_hi
        self.advance()

    def advance(self):
        self.decay = self._gd.random(1)[0]
        self.imp = self._gi.integers(0, self._hi, size=1, dtype=int)[0]


class ReferenceLearningDense:
    """Same constructor and ``step`` as :class:`~hwsim.learning.LearningDenseEngine`, computed the
    way Lava computes it (full matrices every epoch)."""

    def __init__(self, weights, rule: LearningRule, *, weight_exp: int = 0, num_weight_bits: int = 8,
                 sign_mode: str = "mixed", spec: ChipSpec = LOIHI, tag_1=None, tag_2=None,
                 rounding: str = "stochastic"):
        if rounding not in ("stochastic", "nearest", "floor"):
            raise ValueError(f"rounding={rounding!r} is not one of ('stochastic', 'nearest', 'floor')")
        self.rounding = rounding
        self.rule = rule
        self.spec = spec
        self.sign_mode = sign_mode
        self.weight_exp = int(weight_exp)
        w = np.asarray(weights)
        self.shape = w.shape
        n_post, n_pre = w.shape
        self.weights = truncate_weights(w, sign_mode, num_weight_bits, spec.weight_bits).astype(np.int32)
        self.tag_1 = np.zeros(w.shape, np.int64) if tag_1 is None else np.asarray(tag_1).astype(np.int64)
        self.tag_2 = np.zeros(w.shape, np.int64) if tag_2 is None else np.asarray(tag_2).astype(np.int64)
        self.x = np.zeros((2, n_pre), np.int64)
        self.y = np.zeros((3, n_post), np.int64)
        self.tx = np.zeros(n_pre, np.int64)
        self.ty = np.zeros(n_post, np.int64)
        self.y0 = np.zeros(n_post, bool)
        self.a_buff = np.zeros(n_post, np.int64)
        imp = np.array(rule.impulses, dtype=float)
        ii = np.floor(imp)
        self.imp_int = ii.astype(int)
        self.imp_frac = np.round((imp - ii) * 2 ** spec.trace_frac_bits).astype(int)
        self.x_taus = np.array(rule.taus[:2])
        self.y_taus = np.array(rule.taus[2:])
        hi = 2 ** spec.trace_bits
        seed = rule.rng_seed
        self.x_rng = _TraceRandom(seed, seed + 1, hi)
        self.y_rng = _TraceRandom(seed + 2, seed + 3, hi)
        self._conn = np.random.default_rng(CONN_SEED)
        self.conn_r = self._conn.random(1)[0]
        self.t = 0

    # ---- helpers (Lava names) ------------------------------------------------------------
    def _add_impulse(self, v, r, ii, ff):
        v = v + ii
        v = (v + (r < ff).astype(int)).astype(int)
        return np.clip(v, 0, 2 ** self.spec.trace_bits - 1)

    @staticmethod
    def _decay(v, taus, r):
        f = np.exp(-1 / taus) * v
        frac = f % 1
        return (np.floor(f) + (r < frac).astype(int)).astype(int)

    def _width(self, var):
        s = self.spec
        return {"x0": 1, "y0": 1, "w": s.weight_bits + 1, "d": s.tag_bits + 1, "t": s.tag_bits + 1,
                "C": W_CONST}.get(var, s.trace_bits)

    # ---- one step --------------------------------------------------------------------------
    def step(self, t, s_in, bap=None, y1=None, y2=None, y3=None):
        assert t == self.t + 1
        self.t = t
        rule = self.rule
        T = rule.t_epoch
        a_out = self.a_buff.astype(np.int32)
        s = np.asarray(s_in).astype(bool)
        acc = self.weights[:, s].sum(axis=1)
        self.a_buff = (np.left_shift(acc, self.weight_exp) if self.weight_exp > 0
                       else np.right_shift(acc, -self.weight_exp))
        te = t % T or T
        multi = (self.tx > 0) & s
        for k in range(2):
            self.x[k, multi] = self._add_impulse(self.x[k, multi], 0, self.imp_int[k], self.imp_frac[k])
        self.tx[s] = te
        self.x_rng.advance()
        self.y_rng.advance()
        if rule.kind in ("2F", "3F"):
            b = np.zeros(self.shape[0], bool) if bap is None else np.asarray(bap).astype(bool)
            self.y0[b] = True
            my = (self.ty > 0) & b
            self.y[:, my] = self._add_impulse(self.y[:, my], self.y_rng.imp, self.imp_int[2:, None],
                                              self.imp_frac[2:, None])
            self.ty[b] = te
        if rule.kind == "3F":
            for k, v in enumerate((y1, y2, y3)):
                self.y[k] = 0 if v is None else np.asarray(v)
        self.x_rng.advance()
        self.y_rng.advance()
        if t % T == 0:
            self._learn(t)
        return a_out

    def _histories(self):
        T = self.rule.t_epoch
        H = []
        for tr, taus, tspk, rng, base in ((self.x, self.x_taus, self.tx, self.x_rng, 0),
                                          (self.y, self.y_taus, self.ty, self.y_rng, 2)):
            h = np.zeros((T + 1,) + tr.shape, dtype=int)
            h[0] = tr
            nz = taus != 0
            for s in range(1, T + 1):
                h[s][nz] = self._decay(h[s - 1][nz], taus[nz][:, None], rng.decay)
                ids = np.where(tspk == s)[0]
                h[s][:, ids] = self._add_impulse(h[s][:, ids], rng.imp,
                                                 self.imp_int[base:base + tr.shape[0], None],
                                                 self.imp_frac[base:base + tr.shape[0], None])
            H.append(h)
        return H

    def _learn(self, t):
        rule, spec = self.rule, self.spec
        self.conn_r = self._conn.random(1)[0]
        x0 = self.tx > 0
        y0 = self.ty > 0
        Hx, Hy = self._histories()
        self.x = Hx[-1].copy()
        if rule.kind == "2F":
            self.y = Hy[-1].copy()
        u = 0
        if rule.decimate_exponent is not None:
            u = 1 if int(t / rule.t_epoch) % 2 ** rule.decimate_exponent == 0 else 0
        args = {"x0": x0[None, :], "y0": y0[:, None], "u": u, "w": self.weights, "d": self.tag_2,
                "t": self.tag_1}
        for tr in ("x1", "x2"):
            k = _TRACE_INDEX[tr]
            args[f"{tr}_x0"] = Hx[self.tx, k].diagonal()[None, :]
            args[f"{tr}_y0"] = Hx[self.ty, k]
            args[f"{tr}_u"] = Hx[-1, k][None, :]
        for tr in ("y1", "y2", "y3"):
            k = _TRACE_INDEX[tr]
            args[f"{tr}_x0"] = Hy[self.tx, k].T
            args[f"{tr}_y0"] = Hy[self.ty, k].diagonal()[:, None]
            args[f"{tr}_u"] = Hy[-1, k][:, None]
        acc_u = spec.accumulator_bits
        new = {}
        for target, products in rule.products.items():
            name = {"dw": "weights", "dd": "tag_2", "dt": "tag_1"}[target]
            var_u = spec.weight_bits if name == "weights" else spec.tag_bits
            shift = (acc_u + 1) - (var_u + 1)
            result = getattr(self, name).copy() << shift
            for p in products:
                cur = np.ones(self.shape, dtype=np.int32)
                cur *= args[p.dependency]
                width_sum = 0
                for f in p.factors:
                    w = self._width(f.var)
                    width_sum += w
                    c = f.const if f.const is not None else 0
                    if f.var in ("x0", "y0"):
                        val = args[f.var] + c
                    elif f.var in _TRACE_INDEX:
                        val = args[f"{f.var}_{p.dependency}"] + c
                    elif f.var == "C":
                        val = c
                    elif f.is_sgn:
                        val = np.sign(args[f.var] + c)
                    else:
                        val = args[f.var] + c
                    val = np.clip(val, -(2 ** w), 2 ** w - 1)
                    cur *= np.asarray(val).astype(np.int32)
                width_sum += W_S_MANT
                cur *= p.mantissa
                cur = np.right_shift(cur, np.maximum(0, width_sum - acc_u))
                cur = np.left_shift(cur, p.stored_exponent)
                cur = np.clip(cur, -(2 ** acc_u) - 1, 2 ** acc_u - 1)
                result = np.clip(result + cur, -(2 ** acc_u) - 1, 2 ** acc_u - 1)
            if name == "weights":
                if self.sign_mode == "excitatory":
                    result = np.maximum(0, result)
                elif self.sign_mode == "inhibitory":
                    result = np.minimum(0, result)
            elif name == "tag_2":
                result = np.maximum(0, result)
            exp_mant = 2 ** (acc_u - var_u)
            ip = result / exp_mant
            frac = ip % 1
            if self.rounding == "stochastic":      # Lava's
                ip = (np.floor(ip) + (self.conn_r < frac).astype(int)).astype(int)
            elif self.rounding == "nearest":       # round half up: floor(x + 1/2), ties toward +inf
                ip = np.floor(ip + 0.5).astype(int)
            else:                                  # floor: toward -inf
                ip = np.floor(ip).astype(int)
            result = (ip * exp_mant).astype(result.dtype) >> shift
            if name == "weights":
                lo, hi = spec.weight_range(self.sign_mode)
                result = np.clip(result, lo, hi).astype(np.int32)
            elif name == "tag_2":
                result = np.clip(result, 0, 2 ** spec.tag_bits - 1)
            else:
                result = np.clip(result, -(2 ** spec.tag_bits) - 1, 2 ** spec.tag_bits - 1)
            new[name] = result
        for name, v in new.items():
            setattr(self, name, v)
        self.tx[:] = 0
        self.ty[:] = 0
        self.y0[:] = False
