"""The kernels' vectorisable exp and log against NumPy's."""

import numpy as np
import pytest
from numba import njit

from gmm_numba._kernels.vmath import flushed_exp, vector_log


@njit
def _exp_all(x, floor):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = flushed_exp(x[i], floor)
    return out


@njit
def _log_all(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = vector_log(x[i])
    return out


def _arguments(low, high, dtype):
    rng = np.random.default_rng(0)
    grid = np.linspace(low, high, 20001)
    # also points next to the range-reduction boundaries (k + 1/2) ln 2
    halves = (np.arange(int(low / np.log(2)), int(high / np.log(2))) + 0.5) * np.log(2)
    return np.concatenate([grid, halves, rng.uniform(low, high, 5000), [0.0, -0.0]]).astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "low", "high", "rtol"),
    [(np.float64, -700.0, 709.0, 1.1e-16 * 6), (np.float32, -87.0, 88.0, 6e-8 * 6)],
    ids=["float64", "float32"],
)
def test_exp_matches_numpy_to_a_few_ulp(dtype, low, high, rtol):
    x = _arguments(low, high, dtype)
    got = _exp_all(x, -1000.0 if dtype == np.float64 else -100.0)
    expected = np.exp(x.astype(np.float64))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_flushes_below_the_floor_and_keeps_what_is_above(dtype):
    x = np.array([-61.0, -60.0, -59.5, -1000.0, -np.inf, np.nan, -1e30], dtype)
    got = _exp_all(x, -60.0)
    assert got[0] == 0 and got[3] == 0 and got[4] == 0 and got[5] == 0 and got[6] == 0
    np.testing.assert_allclose(got[1:3], np.exp(x[1:3].astype(np.float64)), rtol=1e-6)


def test_log_matches_numpy_over_the_normal_range():
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            10.0 ** rng.uniform(-307, 308, 20000),
            np.linspace(0.5, 2.0, 20001),
            [1.0, np.sqrt(2.0), np.nextafter(np.sqrt(2.0), 2), 2.2250738585072014e-308, 1.7e308],
        ]
    )
    got = _log_all(x)
    expected = np.log(x)
    np.testing.assert_allclose(got, expected, rtol=1.1e-16 * 4, atol=1.1e-16 * 2)
