"""Vectorisable ``exp`` and ``log`` over short float64 buffers.

Numba calls the scalar libm functions for ``math.exp`` in a loop (it no
longer ships SVML), which keeps the loop from vectorising and costs about
20 ns a call. These versions use only arithmetic, comparisons and integer
bit patterns (written to an int64 buffer and read back through a float64
view of the same memory), so LLVM turns each loop into SIMD code.

Accuracy: a few ulp over the ranges used (relative error below 1e-15).
"""

import numpy as np
from numba import njit

from .._config import JIT

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
#: Below this, exp(x) is (flushed to) zero: 2^-1021 is the smallest power the
#: exponent construction handles.
_EXP_MIN = -708.0
_EXP_MAX = 709.0
_MANTISSA = np.int64((1 << 52) - 1)
_ONE_BITS = np.int64(1023 << 52)


@njit(**JIT)
def exp_buffer(x, out, n, bits, floor):
    """``out[:n] = exp(x[:n])`` for ``x <= 709``; exactly 0 below ``floor``.

    Parameters
    ----------
    x, out : float64 arrays of length >= n
        May be the same array.
    n : int
    bits : int64 array of length >= n
        Scratch space.
    floor : float
        At least -708. Flushing tiny results to zero keeps later
        arithmetic away from subnormal numbers, which are ~100x slower.
    """
    scale = bits.view(np.float64)
    for t in range(n):
        keep = x[t] >= floor
        v = min(max(x[t], _EXP_MIN), _EXP_MAX)
        # round to nearest by truncating a positive number (no libm floor call)
        ki = np.int64(v * _LOG2E + 1024.5) - 1024
        k = np.float64(ki)
        r = (v - k * _LN2_HI) - k * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        out[t] = p
        # all-zero bits are +0.0: results below the floor vanish
        bits[t] = (ki + 1023) << 52 if keep else np.int64(0)
    for t in range(n):
        out[t] *= scale[t]


@njit(**JIT)
def log_buffer(x, out, n, bits):
    """``out[:n] = log(x[:n])`` for positive, normal, finite ``x``.

    Parameters
    ----------
    x, out : float64 arrays of length >= n
    n : int
    bits : int64 array of length >= n
        Scratch space.
    """
    mantissa = bits.view(np.float64)
    xbits = x.view(np.int64)
    for t in range(n):
        bits[t] = (xbits[t] & _MANTISSA) | _ONE_BITS
    for t in range(n):
        e = np.float64((xbits[t] >> 52) - 1023)
        m = mantissa[t]
        if m > _SQRT2:
            m = m * 0.5
            e = e + 1.0
        f = (m - 1.0) / (m + 1.0)
        f2 = f * f
        s = 1.0 / 21.0
        s = s * f2 + 1.0 / 19.0
        s = s * f2 + 1.0 / 17.0
        s = s * f2 + 1.0 / 15.0
        s = s * f2 + 1.0 / 13.0
        s = s * f2 + 1.0 / 11.0
        s = s * f2 + 1.0 / 9.0
        s = s * f2 + 1.0 / 7.0
        s = s * f2 + 1.0 / 5.0
        s = s * f2 + 1.0 / 3.0
        s = s * f2 + 1.0
        out[t] = e * _LN2_HI + (2.0 * f * s + e * _LN2_LO)
