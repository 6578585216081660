"""Vectorisable scalar ``exp`` and ``log`` for the kernels' inner loops.

Numba calls the scalar libm functions for ``math.exp`` in a loop (it no
longer ships SVML), which keeps the loop from vectorising and costs about
20 ns a call. These versions use only arithmetic, comparisons and bit
reinterpretation (an LLVM ``bitcast``), so a loop that calls them becomes
SIMD code once LLVM inlines them.

``flushed_exp`` dispatches on the argument type: float32 arguments are
computed in float32 (twice the lanes, a shorter polynomial), float64 in
float64. Accuracy: a few ulp of the argument's precision (relative error
below 1e-15 in float64, 1e-6 in float32).
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .config import FASTMATH, JIT

#: No ``reassoc``: it would fold the two-constant range reduction
#: ``(x - k ln2_hi) - k ln2_lo`` into one product and lose ~|x| ulp.
_INLINE_OPTIONS = dict(JIT, fastmath=FASTMATH - {"reassoc"})


@intrinsic
def _float64_from_bits(typingctx, bits):
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _bits_from_float64(typingctx, value):
    if value != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _float32_from_bits(typingctx, bits):
    if bits != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


# float64: exp(x) = 2^k exp(r), |r| <= ln(2)/2, Taylor polynomial of degree 12
# (truncation error below 2e-16 relative), evaluated by Estrin's scheme so
# that the dependency chain is short.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10

# float32: |r| <= ln(2)/2, Taylor degree 7 (truncation error below 6e-9).
_LOG2E_32 = np.float32(_LOG2E)
_LN2_HI_32 = np.float32(0.693359375)
_LN2_LO_32 = np.float32(-2.12194440e-4)
_ROUND_32 = np.float32(128.5)
_C32 = tuple(np.float32(1.0 / f) for f in (1, 1, 2, 6, 24, 120, 720, 5040))

_MANTISSA = np.int64((1 << 52) - 1)
_ONE_BITS = np.int64(1023 << 52)
_SQRT2 = 1.4142135623730951


def flushed_exp(x, floor):
    """``exp(x)``, and exactly 0 when ``x < floor``.

    Parameters
    ----------
    x : float32 or float64
        At most 709 (float64) or 88 (float32); anything below ``floor``,
        ``-inf`` and NaN included, gives 0.
    floor : float
        At least -708 (float64) or -87 (float32). Flushing tiny results to
        zero keeps later arithmetic away from subnormal numbers, which are
        ~100x slower.

    Returns
    -------
    float of the type of ``x``
    """
    return np.exp(x) if x >= floor else 0.0 * x


def vector_log(x):
    """``log(x)`` for a positive, normal, finite float64 ``x``."""
    return np.log(x)


@overload(flushed_exp, jit_options=_INLINE_OPTIONS)
def _flushed_exp(x, floor):
    if x == types.float32:
        return _exp32
    if x == types.float64:
        return _exp64
    return None


# No clamping of x: below the floor (including -inf, where the conversion to
# an integer is undefined) the result is discarded by the final select, and
# above it the range is in the contract. Clamping cost 12% of the exp.


def _exp64(x, floor):
    # round to nearest by truncating a positive number (no libm floor call)
    ki = np.int64(x * _LOG2E + 1024.5) - 1024
    k = np.float64(ki)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    q0 = (1.0 + r) + r2 * (0.5 + r * (1.0 / 6.0))
    q1 = (1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0))
    q2 = (1.0 / 40320.0 + r * (1.0 / 362880.0)) + r2 * (1.0 / 3628800.0 + r * (1.0 / 39916800.0))
    p = (q0 + r4 * q1) + r8 * (q2 + r4 * (1.0 / 479001600.0))
    scale = _float64_from_bits((ki + 1023) << 52)
    return p * scale if x >= floor else 0.0


def _exp32(x, floor):
    ki = np.int64(x * _LOG2E_32 + _ROUND_32) - 128
    k = np.float32(ki)
    r = (x - k * _LN2_HI_32) - k * _LN2_LO_32
    r2 = r * r
    r4 = r2 * r2
    q0 = (_C32[0] + r * _C32[1]) + r2 * (_C32[2] + r * _C32[3])
    q1 = (_C32[4] + r * _C32[5]) + r2 * (_C32[6] + r * _C32[7])
    p = q0 + r4 * q1
    scale = _float32_from_bits(np.int32((ki + 127) << 23))
    return p * scale if x >= np.float32(floor) else np.float32(0.0)


@overload(vector_log, jit_options=_INLINE_OPTIONS)
def _vector_log(x):
    if x == types.float64:
        return _log64
    return None


def _log64(x):
    bits = _bits_from_float64(x)
    e = np.float64((bits >> 52) - 1023)
    m = _float64_from_bits((bits & _MANTISSA) | _ONE_BITS)
    # branch-free, so that loops calling this vectorise
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1.0 if big else e
    # log(m) = 2 atanh(f), |f| <= 0.172: odd series up to f^21
    f = (m - 1.0) / (m + 1.0)
    f2 = f * f
    f4 = f2 * f2
    f8 = f4 * f4
    a = (1.0 + f2 * (1.0 / 3.0)) + f4 * (1.0 / 5.0 + f2 * (1.0 / 7.0))
    b = (1.0 / 9.0 + f2 * (1.0 / 11.0)) + f4 * (1.0 / 13.0 + f2 * (1.0 / 15.0))
    c = (1.0 / 17.0 + f2 * (1.0 / 19.0)) + f4 * (1.0 / 21.0)
    s = (a + f8 * b) + (f8 * f8) * c
    return e * _LN2_HI + (2.0 * f * s + e * _LN2_LO)
