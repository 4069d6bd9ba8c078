"""Scalar integer operations of the chip, as numba functions usable from Python.

All arguments and results are Python/numba integers (int64 inside numba). Widths are in bits.

* ``wrap_signed(x, bits)``: two's-complement wrap, ``((x + 2**(bits-1)) mod 2**bits) - 2**(bits-1)``.
* ``add_wrap32(dst, src)``: ``dst += src`` on int32 arrays with the int32 wrap, counting the wraps.
* ``saturate_signed(x, bits)``: clip to ``[-(2**(bits-1)), 2**(bits-1) - 1]``.
* ``floor_shift(x, e)``: ``x * 2**e`` for ``e >= 0``, ``floor(x / 2**-e)`` for ``e < 0`` (arithmetic
  shift; Lava's ``np.left_shift`` / ``np.right_shift`` of the synaptic sum by ``weight_exp``).
* ``decay_trunc(x, factor, shift)``: ``sign(x * factor) * (|x * factor| >> shift)``, the decay
  that rounds toward zero (Lava ``AbstractPyLifModelFixed.subthr_dynamics``; shift = decay_bits = 12).
* ``lava_wrap_u(uc, half)``: Lava's wrap of the current, ``half = 2**(uv_bits - 1)`` (2**23):
  ``uc - 2*half`` if ``uc > half``, ``uc + 2*half`` if ``uc <= -half``; note ``half`` itself is kept
  (one value outside the two's-complement range).

Widths that a study may vary (``uv_bits``, ``decay_bits``) are arguments, taken from the
:class:`~hwsim.spec.ChipSpec`; Lava's values are 24 and 12.
"""
import numpy as np
from numba import int64, njit, uint64


@njit(cache=True, inline="always")
def wrap_signed(x, bits):
    """Wrap integer ``x`` to ``bits``-bit two's complement; returns ``(y, overflowed)``."""
    half = 1 << (bits - 1)
    mask = (1 << bits) - 1
    y = ((x + half) & mask) - half
    return y, y != x


@njit(cache=True, inline="always")
def wrap32(x):
    """Wrap an int64 to int32 (what a numpy int32 store or int32 sum does)."""
    return ((x + 2147483648) & 4294967295) - 2147483648


@njit(cache=True, inline="always")
def add_wrap32(dst, src):
    """``dst += src`` for int32 arrays, wrapping as an int32 sum does; returns the number of entries that
    wrapped. The wrap is detected on the int32 result (a signed overflow: both operands differ in sign
    from the sum), so the loop runs in int32 vector lanes; the int64 form ``wrap32(a + b) != a + b``
    compiles to a scalar add with an overflow flag per entry (2.7x slower on 512 entries)."""
    n = 0
    for j in range(dst.shape[0]):
        a = dst[j]
        b = src[j]
        s = np.int32(int64(a) + int64(b))
        n += ((a ^ s) & (b ^ s)) < 0
        dst[j] = s
    return n


@njit(cache=True, inline="always")
def saturate_signed(x, bits):
    """Clip ``x`` to the ``bits``-bit two's-complement range; returns ``(y, overflowed)``."""
    hi = (1 << (bits - 1)) - 1
    lo = -(1 << (bits - 1))
    if x > hi:
        return hi, True
    if x < lo:
        return lo, True
    return x, False


@njit(cache=True, inline="always")
def floor_shift(x, e):
    """``x * 2**e`` (e >= 0) or ``floor(x / 2**-e)`` (e < 0), exact in int64."""
    if e >= 0:
        return x << e
    return x >> (-e)


@njit(cache=True, inline="always")
def decay_trunc(x, factor, shift):
    """Decay rounding toward zero: ``sign(x*factor) * (|x*factor| >> shift)``.

    ``x`` is an int32 state and ``factor`` at most ``2**shift`` (4096), so the product fits int64
    (Lava promotes to int64 for the same reason) and the result fits int32 again.
    """
    p = x * factor
    sgn = p >> 63                       # 0 or -1; branch-free so that compartment loops vectorise
    mag = ((p ^ sgn) - sgn) >> shift
    return (mag ^ sgn) - sgn


@njit(cache=True, inline="always")
def lava_wrap_u(uc, half):
    """Lava's wrap of the current (applied to the int32 value ``uc``); ``half`` itself is not wrapped.

    The second test in Lava is made on the once-wrapped value but adds to ``uc``; since both tests
    cannot hold for one value, this is equivalent to the two independent branches below.
    """
    w = uc - 2 * half if uc > half else uc
    return uc + 2 * half if uc <= -half else w


# ---- counter-based random bits and stochastic rounding (docs/compartments.md) ---------------------
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_STEP = 0xD1B54A32D192ED03


@njit(cache=True, inline="always")
def splitmix64(x):
    """The splitmix64 finaliser of a uint64 (wrapping arithmetic)."""
    x = x + uint64(_GOLDEN)
    x = (x ^ (x >> uint64(30))) * uint64(_MIX1)
    x = (x ^ (x >> uint64(27))) * uint64(_MIX2)
    return x ^ (x >> uint64(31))


@njit(cache=True, inline="always")
def counter_bits(seed, t, c):
    """64 random bits for (population seed, time step t, compartment c): ``mix(mix(seed ^ t * STEP) ^ c)``."""
    return splitmix64(splitmix64(uint64(seed) ^ (uint64(t) * uint64(_STEP))) ^ uint64(c))


@njit(cache=True, inline="always")
def stochastic_shift(z, s, bits):
    """``SR(z, s)``: ``z << -s`` for ``s <= 0``; else ``floor(z / 2**s) + (r < z mod 2**s)`` with
    ``r = bits >> (64 - s)`` uniform in ``[0, 2**s)`` (``bits``: 64 random bits, uint64; s <= 62)."""
    if s <= 0:
        return z << (-s)
    q = z >> s
    rem = z - (q << s)
    r = int64(bits >> uint64(64 - s))
    return q + (1 if r < rem else 0)
