"""Compile a :class:`~hwsim.learning.rule.LearningRule` and a :class:`~hwsim.spec.ChipSpec` into the flat
integer tables the numba kernels read (``hwsim.learning.kernels``).

Widths (Lava 0.10.0 ``lava/magma/core/learning/constants.py``, generalised through the spec):

==========================  ===============================  ======================
factor / quantity           width (bits)                     Lava default
==========================  ===============================  ======================
x0, y0 (1-bit factors)      1                                1
x1 x2 y1 y2 y3 (traces)     ``trace_bits``                   7
w                           ``weight_bits + 1``              9
d (tag_2), t (tag_1)        ``tag_bits + 1``                 9
C (constant factor)         ``W_CONST``                      8
scale mantissa              ``W_S_MANT``                     4
accumulator magnitude       ``accumulator_bits``             15
==========================  ===============================  ======================

A factor's value is clipped to ``[-2**width, 2**width - 1]``; a product is right-shifted by
``max(0, sum(widths) + W_S_MANT - accumulator_bits)`` (the *uncompensated* shift: 3 for a product
of two traces) and then left-shifted by its exponent + 7. A target variable v enters the
accumulator as ``v << (accumulator_bits - var_bits)`` (7 by default) and leaves it by stochastic
rounding of the same shift.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import W_CONST, W_S_MANT
from ..spec import ChipSpec, SpecError
from .rule import RULE_KINDS, TARGETS, LearningRule

__all__ = ["LearningProgram", "compile_program", "SIGN_MODES"]

SIGN_MODES = ("mixed", "excitatory", "inhibitory")

# factor variable codes
V_X0, V_Y0, V_X1, V_X2, V_Y1, V_Y2, V_Y3, V_W, V_D, V_T, V_C = range(11)
VAR_CODE = {"x0": V_X0, "y0": V_Y0, "x1": V_X1, "x2": V_X2, "y1": V_Y1, "y2": V_Y2, "y3": V_Y3,
            "w": V_W, "d": V_D, "t": V_T, "C": V_C}
# dependency codes
D_X0, D_Y0, D_U = 0, 1, 2
DEP_CODE = {"x0": D_X0, "y0": D_Y0, "u": D_U}
# factor classes: where the factor's value varies
C_ROW = 0      # per pre neuron i (x traces with dep x0/u, x0, C)
C_COL = 1      # per post neuron j (y traces with dep y0/u, y0)
C_CROSSX = 2   # x trace at the post spike time: Hx[ty_j, k, i] (dep y0)
C_CROSSY = 3   # y trace at the pre spike time: Hy[tx_i, k, j] (dep x0)
C_SYN = 4      # w, d, t of the synapse
# product evaluation modes
M_COL = 0      # term depends on (epoch time, j) only on the rows where it is active
M_ROW = 1      # term depends on (epoch time, i) only
M_GEN = 2      # general: computed per synapse
# target codes (row of the target table), Lava's order dw, dd, dt
T_W, T_D, T_T = 0, 1, 2
# product table columns
P_TARGET, P_DEP, P_MANT, P_LSHIFT, P_RSHIFT, P_MODE, P_F0, P_F1, P_CROSS, P_SYN = range(10)
N_PCOLS = 10
# factor table columns
F_VAR, F_CLASS, F_CINT, F_ISINT, F_SGN, F_LO, F_HI, F_TRACE = range(8)
N_FCOLS = 8
# target table columns
G_ACTIVE, G_SHIFT, G_LO, G_HI, G_SAT, G_HAS_X0, G_HAS_Y0, G_HAS_U = range(8)
N_GCOLS = 8
SAT_NONE, SAT_MAX0, SAT_MIN0 = 0, 1, 2
# indices of an engine's int64 parameter vector ``par``
(PAR_T_EPOCH, PAR_KIND, PAR_DECIM, PAR_TRACE_MAX, PAR_ACC_LO, PAR_ACC_HI, PAR_WEIGHT_EXP,
 PAR_ROUNDING) = range(8)
N_PAR = 8
KIND_2F, KIND_3F, KIND_PLAIN = 0, 1, 2      # par[PAR_KIND] (the order of rule.RULE_KINDS)
# indices of an engine's int64 counter vector ``cnt``
(CNT_STEPS, CNT_EPOCHS, CNT_TRACE_UPDATES, CNT_SYN_W, CNT_SYN_D, CNT_SYN_T,
 CNT_SYN_OPS) = range(7)
N_CNT = 7
KIND_CODE = {k: i for i, k in enumerate(RULE_KINDS)}   # 2F=0, 3F=1, plain=2


@dataclass(frozen=True)
class LearningProgram:
    """Flat tables of a rule for one chip spec and sign mode (what the numba kernels take).

    Attributes
    ----------
    prod : int64 (P, 10)
        Per product: target code, dependency code, mantissa (4-bit), left shift (exponent + 7),
        right shift, evaluation mode, factor range [f0, f1), has-cross-factor and
        has-synaptic-factor flags.
    fac : int64 (F, 8)
        Per factor: variable code, class, integer constant, const-is-integer flag, sgn flag,
        clip low, clip high, trace index (0..1 for x, 0..2 for y).
    fac_c : float64 (F,)
        The constant as a float (used when it is not an integer).
    tgt : int64 (3, 8)
        Per target (w, tag_2, tag_1): active, accumulator shift, final clip low/high, accumulator
        saturation mode, has x0 / y0 / u products.
    acc_lo, acc_hi : int
        Accumulator saturation, ``-(2**accumulator_bits) - 1`` and ``2**accumulator_bits - 1``.
    imp_int, imp_frac : int64 (5,)
        Integer impulse and its fraction in units of 2**-trace_frac_bits, for x1 x2 y1 y2 y3.
    decay : float64 (5,)
        ``exp(-1/tau)`` as Lava computes it (0 where tau == 0).
    tau_nz : bool (5,)
        tau != 0 (a trace with tau == 0 has no memory).
    trace_need : bool (5,)
        Whether the engine needs each trace's history: always for x1, x2 (carried from epoch to
        epoch) and for the y traces of 2F / plain rules; for a 3F rule (y overwritten by the third
        factors every step) only the y traces a factor reads.
    trace_max : int
        ``2**trace_bits - 1``.
    imp_rand_hi : int
        Impulse random numbers are drawn in [0, imp_rand_hi) = [0, 2**trace_bits).
    kind : int
        0 = 2F, 1 = 3F, 2 = plain.
    decimate : int
        k of u<k>, or -1 when the rule has no (visible) u term (then u is always 0, as in Lava).
    t_epoch : int
    """

    prod: np.ndarray
    fac: np.ndarray
    fac_c: np.ndarray
    tgt: np.ndarray
    acc_lo: int
    acc_hi: int
    imp_int: np.ndarray
    imp_frac: np.ndarray
    decay: np.ndarray
    tau_nz: np.ndarray
    trace_need: np.ndarray
    trace_max: int
    imp_rand_hi: int
    kind: int
    decimate: int
    t_epoch: int

    @property
    def n_products(self) -> int:
        return int(self.prod.shape[0])


def _width(var: str, spec: ChipSpec) -> int:
    if var in ("x0", "y0"):
        return 1
    if var in ("x1", "x2", "y1", "y2", "y3"):
        return spec.trace_bits
    if var == "w":
        return spec.weight_bits + 1
    if var in ("d", "t"):
        return spec.tag_bits + 1
    return W_CONST


def _factor_class(var: str, dep: str) -> int:
    if var in ("x1", "x2"):
        return C_CROSSX if dep == "y0" else C_ROW
    if var in ("y1", "y2", "y3"):
        return C_CROSSY if dep == "x0" else C_COL
    if var in ("x0", "C"):
        return C_ROW
    if var == "y0":
        return C_COL
    return C_SYN


def _decay_factors(taus) -> np.ndarray:
    """``exp(-1/tau)`` computed the way Lava does it (``np.exp(-t / taus)`` on the column of nonzero
    taus), so the float64 factors are bit-identical."""
    taus = np.array(taus)
    out = np.zeros(taus.shape[0], dtype=np.float64)
    nz = taus != 0
    if np.any(nz):
        out[nz] = np.exp(-1 / taus[nz][:, np.newaxis])[:, 0]
    return out


def compile_program(rule: LearningRule, spec: ChipSpec, sign_mode: str = "mixed") -> LearningProgram:
    """Turn a rule into kernel tables for a spec and a weight sign mode.

    Raises
    ------
    SpecError
        If the accumulator is narrower than the weights or tags, or sign_mode is unknown.
    """
    if sign_mode not in SIGN_MODES:
        raise SpecError(f"sign_mode={sign_mode!r} is not one of {SIGN_MODES}")
    for name, bits in (("weight_bits", spec.weight_bits), ("tag_bits", spec.tag_bits)):
        if spec.accumulator_bits < bits:
            raise SpecError(f"ChipSpec: accumulator_bits={spec.accumulator_bits} must be >= {name}="
                            f"{bits} (the learning accumulator holds the variable shifted left)")
    acc_bits = spec.accumulator_bits
    prods, facs, fac_c = [], [], []
    tgt = np.zeros((3, N_GCOLS), dtype=np.int64)
    w_lo, w_hi = spec.weight_range(sign_mode)
    tag_hi = (1 << spec.tag_bits) - 1
    tgt[T_W, [G_SHIFT, G_LO, G_HI, G_SAT]] = (acc_bits - spec.weight_bits, w_lo, w_hi,
                                              {"mixed": SAT_NONE, "excitatory": SAT_MAX0,
                                               "inhibitory": SAT_MIN0}[sign_mode])
    tgt[T_D, [G_SHIFT, G_LO, G_HI, G_SAT]] = (acc_bits - spec.tag_bits, 0, tag_hi, SAT_MAX0)
    tgt[T_T, [G_SHIFT, G_LO, G_HI, G_SAT]] = (acc_bits - spec.tag_bits, -tag_hi - 2, tag_hi, SAT_NONE)
    for tcode, target in enumerate(TARGETS):
        if target not in rule.products:
            continue
        tgt[tcode, G_ACTIVE] = 1
        for p in rule.products[target]:
            dep = DEP_CODE[p.dependency]
            tgt[tcode, {D_X0: G_HAS_X0, D_Y0: G_HAS_Y0, D_U: G_HAS_U}[dep]] = 1
            f0 = len(facs)
            width_sum = W_S_MANT
            row_var = col_var = has_syn = cross = False
            for f in p.factors:
                w = _width(f.var, spec)
                width_sum += w
                cls = _factor_class(f.var, p.dependency)
                c = 0 if f.const is None else f.const
                isint = float(c).is_integer()
                trace = {"x1": 0, "x2": 1, "y1": 0, "y2": 1, "y3": 2}.get(f.var, 0)
                facs.append([VAR_CODE[f.var], cls, int(c) if isint else 0, int(isint), int(f.is_sgn),
                             -(1 << w), (1 << w) - 1, trace])
                fac_c.append(float(c))
                if cls == C_SYN:
                    has_syn = True
                elif cls in (C_CROSSX, C_CROSSY):
                    cross = True
                    row_var |= cls == C_CROSSX
                    col_var |= cls == C_CROSSY
                elif cls == C_ROW and not (f.var == "C" or (f.var == "x0" and dep == D_X0)):
                    row_var = True
                elif cls == C_COL and not (f.var == "y0" and dep == D_Y0):
                    col_var = True
            if has_syn or (row_var and col_var):
                mode = M_GEN
            elif not row_var:
                mode = M_COL
            else:
                mode = M_ROW
            rshift = max(0, width_sum - acc_bits)
            prods.append([tcode, dep, p.mantissa, p.stored_exponent, rshift, mode, f0, len(facs),
                          int(cross), int(has_syn)])
    imp = np.array(rule.impulses, dtype=np.float64)
    imp_int = np.floor(imp)
    imp_frac = np.round((imp - imp_int) * 2 ** spec.trace_frac_bits)
    return LearningProgram(
        prod=np.array(prods, dtype=np.int64).reshape(-1, N_PCOLS),
        fac=np.array(facs, dtype=np.int64).reshape(-1, N_FCOLS),
        fac_c=np.array(fac_c, dtype=np.float64),
        tgt=tgt,
        acc_lo=-(1 << acc_bits) - 1,
        acc_hi=(1 << acc_bits) - 1,
        imp_int=imp_int.astype(np.int64),
        imp_frac=imp_frac.astype(np.int64),
        decay=np.concatenate([_decay_factors(rule.taus[:2]), _decay_factors(rule.taus[2:])]),
        tau_nz=np.array([t != 0 for t in rule.taus], dtype=np.bool_),
        trace_need=np.array([True, True] + [rule.kind != "3F" or any(f[0] == v for f in facs)
                                            for v in (V_Y1, V_Y2, V_Y3)], dtype=np.bool_),
        trace_max=(1 << spec.trace_bits) - 1,
        imp_rand_hi=1 << spec.trace_bits,
        kind=KIND_CODE[rule.kind],
        decimate=-1 if rule.decimate_exponent is None else int(rule.decimate_exponent),
        t_epoch=rule.t_epoch,
    )
