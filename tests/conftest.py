"""Shared fixtures: bundled data sets, seeded synthetic mixtures and random parameters."""

import os
import sys

import numpy as np
import pytest

# ``import naive`` from any test module, whatever pytest's import mode.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import naive  # noqa: E402

# The tests that compare 1 thread with many must get many even when CI's machine is busy; the
# free-cores check itself is tested with the variable removed (tests/test_free_cores.py).
os.environ.setdefault("GMM_NUMBA_FREE_CORES_ONLY", "0")

from gmm_numba.covariance import get_model  # noqa: E402
from gmm_numba.datasets import load_faithful, load_iris  # noqa: E402
from gmm_numba.fitting.parameters import MixtureParameters  # noqa: E402

COVARIANCE_TYPES = naive.COVARIANCE_TYPES


# ----------------------------------------------------------------------- data sets
@pytest.fixture(scope="session")
def faithful():
    """Old Faithful as a (272, 2) float64 array."""
    X = load_faithful().to_numpy(dtype=np.float64)
    assert X.shape == (272, 2)
    return np.ascontiguousarray(X)


@pytest.fixture(scope="session")
def iris():
    """Iris measurements as a (150, 4) float64 array (Species dropped)."""
    X = load_iris().drop(columns="Species").to_numpy(dtype=np.float64)
    assert X.shape == (150, 4)
    return np.ascontiguousarray(X)


def make_mixture(seed, n_samples, n_features, n_components, separation=6.0, scale=1.0, offset=0.0):
    """A well-separated Gaussian mixture drawn with a seeded ``numpy.random.Generator``.

    Component centres are ``separation`` apart (on average, in units of the
    component scale), covariances random but well conditioned.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    labels : ndarray of shape (n_samples,)
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_components, n_features)) * separation * scale / np.sqrt(2) + offset
    weights = rng.dirichlet(np.full(n_components, 5.0))
    labels = rng.choice(n_components, size=n_samples, p=weights)
    X = np.empty((n_samples, n_features))
    for k in range(n_components):
        A = rng.normal(size=(n_features, n_features)) * 0.5
        cov = (A @ A.T / n_features + 0.5 * np.eye(n_features)) * scale**2
        idx = labels == k
        X[idx] = rng.multivariate_normal(centres[k], cov, size=int(idx.sum()))
    return np.ascontiguousarray(X), labels


@pytest.fixture(scope="session")
def blobs_2d():
    """400 points, 2 features, 3 well-separated components."""
    return make_mixture(101, 400, 2, 3)[0]


@pytest.fixture(scope="session")
def blobs_5d():
    """600 points, 5 features, 4 well-separated components."""
    return make_mixture(202, 600, 5, 4)[0]


@pytest.fixture(scope="session")
def mixture_factory():
    """``make_mixture`` as a fixture (for tests that need many problems)."""
    return make_mixture


# ---------------------------------------------------------------------- parameters
def random_covariances(cov_type, n_components, n_features, rng, scale=1.0):
    """Random valid covariances in the model's (scikit-learn) shape."""
    s2 = scale**2

    def spd():
        A = rng.normal(size=(n_features, n_features))
        return (A @ A.T / n_features + 0.3 * np.eye(n_features)) * s2

    if cov_type == "full":
        return np.array([spd() for _ in range(n_components)])
    if cov_type == "tied":
        return spd()
    if cov_type == "diag":
        return rng.uniform(0.3, 1.5, size=(n_components, n_features)) * s2
    if cov_type == "spherical":
        return rng.uniform(0.3, 1.5, size=n_components) * s2
    raise ValueError(cov_type)


class RandomParameters:
    """Random valid mixture parameters, as MixtureParameters and as plain arrays.

    Attributes
    ----------
    params : MixtureParameters
    weights, means, covariances : ndarray
        The same values (covariances in the model's shape).
    full : ndarray of shape (K, D, D)
        The covariances as full matrices, for the naive references.
    """

    def __init__(self, cov_type, weights, means, covariances):
        k, d = means.shape
        self.cov_type = cov_type
        self.model = get_model(cov_type)
        self.weights = weights
        self.means = means
        self.covariances = covariances
        self.full = naive.full_covariances(cov_type, covariances, k, d)
        self.params = MixtureParameters.from_covariances(self.model, weights, means, covariances)


def random_parameters(cov_type, n_components, n_features, rng, center=None, spread=1.0, scale=1.0):
    """Build :class:`RandomParameters` from random valid weights, means and covariances.

    Means are ``center + spread * N(0, I)``; weights Dirichlet(2) (bounded
    away from zero); covariances from :func:`random_covariances`.
    """
    center = np.zeros(n_features) if center is None else np.asarray(center, dtype=np.float64)
    weights = rng.dirichlet(np.full(n_components, 2.0))
    weights = (weights + 0.05) / (weights + 0.05).sum()
    means = center + spread * rng.normal(size=(n_components, n_features))
    covariances = random_covariances(cov_type, n_components, n_features, rng, scale)
    return RandomParameters(cov_type, weights, means, covariances)


@pytest.fixture(scope="session")
def make_parameters():
    """``random_parameters`` as a fixture."""
    return random_parameters



@pytest.fixture
def chunk_rows(monkeypatch):
    """``use(rows, n_features)`` routes every memmap through ChunkedData with ``rows`` rows per chunk."""
    import gmm_numba.data.chunked as chunked
    import gmm_numba.data.dispatch as data_sources

    def use(rows, n_features):
        monkeypatch.setattr(data_sources, "CHUNKED_MIN_BYTES", 0)
        monkeypatch.setattr(chunked, "DEFAULT_CHUNK_BYTES", rows * 8 * n_features)

    return use
