r"""Compartment update of the LIF family, bit-exact with Lava's fixed-point models.

Per step ``t``, for one compartment with input ``a`` (int32, the wrapped sum of the incoming
projections' messages), decay factors ``fu = 4096 - (du + 1)``, ``fv = 4096 - dv`` and the
effective bias ``bias = bias_mant << bias_exp`` (Lava ``PyLifModelBitAcc`` and relatives):

.. math::

    u_c &= \mathrm{wrap}_{32}\big(\mathrm{trunc}_0(u\,f_u / 2^{12}) + \mathrm{wrap}_{32}(a \ll 6)\big) \\
    u' &= u_c - 2^{24}\ \text{if}\ u_c > 2^{23};\quad u_c + 2^{24}\ \text{if}\ u_c \le -2^{23};\quad u_c \\
    v' &= \mathrm{clip}\big(\mathrm{wrap}_{32}(\mathrm{trunc}_0(v\,f_v / 2^{12}) + u' + bias),
          -(2^{23}-1),\ 2^{23}-1\big) \\
    s &= v' > v_{th} \ll 6 \quad (\text{ternary: } s = [v' > v_{hi} \ll 6] - [v' < v_{lo} \ll 6]),
    \qquad v' \leftarrow 0 \text{ where } s \ne 0

``u`` is not reset and there is no refractory period. ``LIFReset`` zeroes ``u`` and ``v`` first
when ``t % reset_interval == reset_offset % reset_interval`` (the input of that step still counts).
States are int32 (Lava stores u, v as int32; after the wrap quirk u can leave the 24-bit range).
"""
import numpy as np
from numba import njit, uint64

from ..constants import ACT_SHIFT
from ..overflow import SATURATE
from .arith import decay_trunc, lava_wrap_u, wrap32

LIF = 0          # lava.proc.lif.process.LIF
LIF_RESET = 1    # LIFReset
TERNARY = 2      # TernaryLIF (emits -1/0/+1)
READOUT = 3      # non-spiking integrator (LIF sub-threshold arithmetic; docs/compartments.md)
ERROR = 4        # graded error of a partner readout (hwsim.kernels.compartments.error_block)
LEARNING = 5     # OTTT learning compartment of a partner LIF (hwsim.kernels.compartments.learning_block)

KIND_CODES = {"lif": LIF, "lif_reset": LIF_RESET, "ternary_lif": TERNARY, "readout": READOUT, "error": ERROR,
              "learning": LEARNING}


@njit(cache=True, inline="always")
def lif_subthreshold(u, v, a, fu, fv, bias, policy, uv_half, dshift):
    """One sub-threshold update; returns ``(u_new, v_new, u_overflowed, v_overflowed)``.

    Parameters
    ----------
    u, v : int
        Current and voltage before the step (int32 values).
    a : int
        Synaptic input of the step (int32 value; shifted left by 6 here).
    fu, fv : int
        Decay factors ``2**dshift - (du + 1)`` and ``2**dshift - dv``, in [0, 2**dshift].
    bias : int
        Effective bias ``bias_mant << bias_exp`` (int32 value).
    policy : int
        ``hwsim.overflow.WRAP``/``RAISE`` (Lava arithmetic) or ``SATURATE``.
    uv_half : int
        ``2**(uv_bits - 1)`` (2**23 on Loihi): u wraps past it, v clips to ``uv_half - 1``.
    dshift : int
        ``decay_bits`` (12).
    """
    uv_max = uv_half - 1
    du_ = decay_trunc(u, fu, dshift)
    exact_u = du_ + (a << ACT_SHIFT)
    # int32 arithmetic as in Lava: (a << 6) and the sum wrap at 32 bits, then the 24-bit wrap
    wrapped_u = lava_wrap_u(wrap32(du_ + wrap32(a << ACT_SHIFT)), uv_half)
    un = min(max(exact_u, -uv_max), uv_max) if policy == SATURATE else wrapped_u
    dv_ = decay_trunc(v, fv, dshift)
    exact_v = dv_ + un + bias
    vs = exact_v if policy == SATURATE else wrap32(wrap32(dv_ + un) + bias)
    vn = min(max(vs, -uv_max), uv_max)
    return un, vn, un != exact_u, vn != exact_v


@njit(cache=True, inline="always")
def spike_of(kind, v, vth_hi, vth_lo):
    """Spike of a compartment with voltage ``v``: 0/1, or -1/0/+1 for TernaryLIF.

    ``vth_hi``, ``vth_lo`` are the effective thresholds (mantissa << 6).
    """
    s = 1 if v > vth_hi else 0
    if kind == TERNARY and v < vth_lo:
        s -= 1
    return s


@njit(cache=True)
def lif_block(a_in, u, v, bias, c0, c1, kind, fu, fv, vth_hi, vth_lo, policy, reset_now, s_out, ovf_flag,
              uv_half, dshift, vpre_out):
    """Update compartments ``c0 .. c1-1`` of one population for one step, in place.

    Parameters
    ----------
    a_in : int32 array
        The step's input per compartment; read and cleared (it is the input ring's slot).
    u, v : int32 arrays
        State, updated in place.
    bias : int array
        Effective bias per compartment.
    c0, c1 : int
        Compartment range.
    kind, fu, fv, vth_hi, vth_lo : int
        Population constants (``LIF``/``LIF_RESET``/``TERNARY``, decay factors, effective thresholds).
    policy : int
        Overflow policy (:mod:`hwsim.overflow`).
    uv_half, dshift : int
        ``2**(uv_bits - 1)`` and ``decay_bits`` (see :func:`lif_subthreshold`).
    reset_now : bool
        LIFReset: zero u and v before the update.
    s_out : int8 array
        Spikes written here (-1/0/+1), every compartment of the range.
    ovf_flag : int8 array
        Per compartment: 1 if u overflowed, 2 if v did, 3 if both, else 0.
    vpre_out : int32 array
        Per compartment: v after the sub-threshold update, before the spike reset (what a partner
        learning compartment reads, docs/compartments.md).

    Returns
    -------
    n_ovf, n_active, n_spikes : int
        Overflow events (u and v counted separately), active compartments (nonzero input, u or v
        before the update) and spikes (nonzero s).

    The loop has no early exit and only selects, so LLVM vectorises it (unsigned indices avoid
    numba's negative-index test).
    """
    n_ovf = 0
    n_act = 0
    n_spk = 0
    ternary = kind == TERNARY
    for c in range(uint64(c0), uint64(c1)):
        a = np.int64(a_in[c])
        a_in[c] = 0
        uu = np.int64(u[c])
        vv = np.int64(v[c])
        if reset_now:
            uu = 0
            vv = 0
        n_act += (a != 0) | (uu != 0) | (vv != 0)
        un, vn, ou, ov = lif_subthreshold(uu, vv, a, fu, fv, np.int64(bias[c]), policy, uv_half, dshift)
        s = np.int64(vn > vth_hi)
        if ternary:
            s -= np.int64(vn < vth_lo)
        u[c] = un
        v[c] = 0 if s != 0 else vn
        vpre_out[c] = vn
        s_out[c] = s
        f = np.int64(ou) + 2 * np.int64(ov)
        ovf_flag[c] = f
        n_ovf += np.int64(ou) + np.int64(ov)
        n_spk += s != 0
    return n_ovf, n_act, n_spk


@njit(cache=True)
def compartment_step(u, v, a, kind, fu, fv, bias, vth_hi, vth_lo, policy, reset_now, out_s, uv_half, dshift):
    """Update arrays ``u``, ``v`` (int32, in place) of one population for one step.

    ``a`` (int32) is the step's input (left unchanged), ``bias`` the effective bias per
    compartment, ``reset_now`` whether a LIFReset population resets this step; spikes go to
    ``out_s`` (int8). Returns the number of overflow events (u and v counted separately).
    """
    a_copy = a.copy()
    flags = np.zeros(u.shape[0], np.int8)
    vpre = np.zeros(u.shape[0], np.int32)
    n_ovf, _, _ = lif_block(a_copy, u, v, bias, 0, u.shape[0], kind, fu, fv, vth_hi, vth_lo, policy, reset_now,
                            out_s, flags, uv_half, dshift, vpre)
    return n_ovf
