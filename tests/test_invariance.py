"""Affine invariance with relative regularisation (reg_covar="auto")."""

import numpy as np
import pytest

import gmm_numba
from gmm_numba.fitting.regularization import RELATIVE_REG, check_reg_covar

SCALE = np.array([1e-3, 10.0, 1e4, 0.5])
SHIFT = np.array([5.0, -3.0, 1e6, 0.0])


@pytest.fixture
def iris_values(iris):
    return np.asarray(iris, dtype=np.float64)


def _fit(X, cov, init, reg_covar="auto", seed=0):
    return gmm_numba.GaussianMixture(
        3, covariance_type=cov, reg_covar=reg_covar, init_params=init, random_state=seed, n_init=2
    ).fit(X)


@pytest.mark.parametrize("init", ["k-means++", "random_from_data", "random"])
@pytest.mark.parametrize("cov", ["full", "tied", "diag"])
def test_per_feature_affine_map_gives_the_same_responsibilities(iris_values, cov, init):
    X = iris_values
    Y = X * SCALE + SHIFT
    a, b = _fit(X, cov, init), _fit(Y, cov, init)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(Y), atol=1e-8)
    np.testing.assert_allclose(b.means_, a.means_ * SCALE + SHIFT, rtol=1e-7, atol=1e-9 * np.abs(SHIFT).max())
    np.testing.assert_allclose(a.lower_bounds_[-1] - np.log(SCALE).sum(), b.lower_bounds_[-1], rtol=1e-9)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_spherical_is_invariant_to_an_isotropic_map(iris_values, init):
    X = iris_values
    Y = X * 250.0 - 7.0
    a, b = _fit(X, "spherical", init), _fit(Y, "spherical", init)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(Y), atol=1e-8)
    np.testing.assert_allclose(b.covariances_, a.covariances_ * 250.0**2, rtol=1e-7)


def test_auto_regularisation_is_relative_to_each_feature_variance(iris_values):
    """With one component the covariance is the data covariance plus 1e-6 of each variance."""
    X = iris_values
    g = gmm_numba.GaussianMixture(1, reg_covar="auto").fit(X)
    variance = X.var(axis=0)
    expected = np.cov(X.T, bias=True) + np.diag(RELATIVE_REG * variance)
    np.testing.assert_allclose(g.covariances_[0], expected, rtol=1e-10)


def test_absolute_default_breaks_invariance_for_tiny_scales(iris_values):
    """A feature measured in units where its variance is ~1e-8 is swamped by reg_covar=1e-6."""
    X = iris_values
    Y = X * 1e-5
    a = _fit(X, "full", "k-means++", reg_covar=1e-6)
    with pytest.warns(UserWarning, match="reg_covar=1e-06 is larger than the variance"):
        b = _fit(Y, "full", "k-means++", reg_covar=1e-6)
    assert np.abs(a.predict_proba(X) - b.predict_proba(Y)).max() > 1e-3
    c = _fit(Y, "full", "k-means++", reg_covar="auto")
    d = _fit(X, "full", "k-means++", reg_covar="auto")
    np.testing.assert_allclose(c.predict_proba(Y), d.predict_proba(X), atol=1e-8)


@pytest.mark.parametrize("bad", ["Auto", "relative", -1.0, np.nan])
def test_invalid_reg_covar_is_refused(bad):
    with pytest.raises((ValueError, TypeError), match="reg_covar"):
        check_reg_covar(bad)


def test_auto_round_trips_through_a_result(iris_values):
    g = _fit(iris_values, "diag", "k-means++")
    tree = g.to_xarray()
    assert tree.attrs["reg_covar"] == "auto"
    assert gmm_numba.GaussianMixture.from_xarray(tree).reg_covar == "auto"
