"""Benchmark cases, synthetic data and the common EM starting point.

Each shape ``(N, D, K)`` gets one deterministic, well-separated Gaussian
mixture (seeded by ``D`` and ``K``); every covariance type and dtype of that
shape fits the same samples.  All peers start from the same parameters: the
true means slightly perturbed, uniform weights, and precisions (or, for
oneDAL, covariances) derived from the true covariances.
"""

from dataclasses import dataclass

import numpy as np

#: ``(n_samples, n_features, n_components)`` of the full-size runs.
FULL_SHAPES = ((1_000_000, 2, 4), (1_000_000, 8, 8), (200_000, 32, 16))
COVARIANCE_TYPES = ("full", "diag", "tied", "spherical")
DTYPES = ("float64", "float32")
#: ``--quick`` divides every ``n_samples`` by this.
QUICK_DIVISOR = 20

SEED = 20240611
#: Minimum distance between two true means, in units of the largest
#: standard deviation along any axis of any component.
SEPARATION = 8.0
#: Range of the eigenvalues of the true covariance matrices.
EIGENVALUE_RANGE = (0.25, 1.0)
#: Standard deviation of the perturbation added to the true means.
MEAN_PERTURBATION = 0.1


@dataclass(frozen=True)
class Case:
    """One row of the benchmark table.

    Parameters
    ----------
    n_samples, n_features, n_components : int
        Data shape and number of mixture components.
    covariance_type : {"full", "diag", "tied", "spherical"}
        Covariance parametrisation, as in scikit-learn.
    dtype : {"float64", "float32"}
        Floating-point type of the data handed to every peer.
    """

    n_samples: int
    n_features: int
    n_components: int
    covariance_type: str
    dtype: str

    @property
    def case_id(self):
        """str : Compact identifier such as ``N1000000-D2-K4-full-float64``."""
        return f"N{self.n_samples}-D{self.n_features}-K{self.n_components}-{self.covariance_type}-{self.dtype}"

    @property
    def shape(self):
        """tuple of int : ``(n_samples, n_features, n_components)``."""
        return (self.n_samples, self.n_features, self.n_components)

    def as_dict(self):
        """Return the case as a JSON-serialisable dict."""
        return {
            "case_id": self.case_id,
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "n_components": self.n_components,
            "covariance_type": self.covariance_type,
            "dtype": self.dtype,
        }


@dataclass(frozen=True)
class Mixture:
    """True parameters of a synthetic Gaussian mixture.

    Parameters
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    covariances : ndarray of shape (K, D, D)
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


def build_cases(quick=False):
    """List every benchmark case, grouped by shape then dtype.

    Parameters
    ----------
    quick : bool, default=False
        Divide ``n_samples`` by :data:`QUICK_DIVISOR`.

    Returns
    -------
    list of Case
    """
    divisor = QUICK_DIVISOR if quick else 1
    return [
        Case(n // divisor, d, k, cov, dtype) for n, d, k in FULL_SHAPES for dtype in DTYPES for cov in COVARIANCE_TYPES
    ]


def _random_rotation(rng, n_features):
    """Draw a uniformly distributed orthogonal matrix."""
    q, r = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    return q * np.sign(np.diag(r))


def _random_covariance(rng, n_features):
    """Draw a well-conditioned covariance with eigenvalues in EIGENVALUE_RANGE."""
    rotation = _random_rotation(rng, n_features)
    eigenvalues = rng.uniform(*EIGENVALUE_RANGE, size=n_features)
    return (rotation * eigenvalues) @ rotation.T


def _separated_means(rng, n_components, n_features, min_distance):
    """Place means in a box, rejecting any closer than ``min_distance``."""
    half_width = min_distance * n_components ** (1.0 / n_features)
    means = []
    while len(means) < n_components:
        for _ in range(1000):
            candidate = rng.uniform(-half_width, half_width, size=n_features)
            if all(np.linalg.norm(candidate - m) >= min_distance for m in means):
                means.append(candidate)
                break
        else:
            half_width *= 1.5
    return np.array(means)


def make_mixture(n_features, n_components, seed=SEED):
    """Build the deterministic true mixture of one shape.

    Parameters
    ----------
    n_features, n_components : int
    seed : int, default=SEED

    Returns
    -------
    Mixture
        Dirichlet(10) weights, means at least :data:`SEPARATION` standard
        deviations apart, random rotated covariances.
    """
    rng = np.random.default_rng([seed, n_features, n_components])
    covariances = np.stack([_random_covariance(rng, n_features) for _ in range(n_components)])
    max_std = np.sqrt(EIGENVALUE_RANGE[1])
    means = _separated_means(rng, n_components, n_features, SEPARATION * max_std)
    weights = rng.dirichlet(np.full(n_components, 10.0))
    return Mixture(weights=weights, means=means, covariances=covariances)


def sample_mixture(mixture, n_samples, seed=SEED):
    """Draw float64 samples from a mixture, in random component order.

    Parameters
    ----------
    mixture : Mixture
    n_samples : int
    seed : int, default=SEED

    Returns
    -------
    ndarray of shape (n_samples, D), C-contiguous float64
    """
    n_components, n_features = mixture.means.shape
    rng = np.random.default_rng([seed, n_samples, n_features, n_components, 1])
    labels = rng.choice(n_components, size=n_samples, p=mixture.weights)
    X = np.empty((n_samples, n_features))
    for k in range(n_components):
        rows = np.flatnonzero(labels == k)
        factor = np.linalg.cholesky(mixture.covariances[k])
        noise = rng.standard_normal((rows.size, n_features))
        X[rows] = noise @ factor.T + mixture.means[k]
    return X


#: Rows drawn at a time by :func:`fill_mixture` (16 MiB of float64 noise for D = 8).
FILL_CHUNK_ROWS = 1 << 18


def fill_mixture(out, mixture, seed=SEED, chunk_rows=FILL_CHUNK_ROWS):
    """Fill a preallocated array with mixture samples, chunk by chunk.

    Unlike :func:`sample_mixture`, the temporaries (labels, noise) hold one
    chunk only, so generating a large array raises the peak resident set
    size by little more than the array itself. The samples differ from
    :func:`sample_mixture`'s.

    Parameters
    ----------
    out : ndarray of shape (n_samples, D), float32 or float64
        Written in place; float32 receives float64 samples rounded once.
    mixture : Mixture
    seed : int, default=SEED
    chunk_rows : int, default=FILL_CHUNK_ROWS

    Returns
    -------
    ndarray
        ``out``.
    """
    n_components, n_features = mixture.means.shape
    if out.ndim != 2 or out.shape[1] != n_features:
        raise ValueError(f"out must have shape (n, {n_features}), got {out.shape}")
    factors = np.linalg.cholesky(mixture.covariances)
    for index, start in enumerate(range(0, out.shape[0], chunk_rows)):
        rows = min(chunk_rows, out.shape[0] - start)
        rng = np.random.default_rng([seed, out.shape[0], n_features, n_components, 3, index])
        labels = rng.choice(n_components, size=rows, p=mixture.weights)
        noise = rng.standard_normal((rows, n_features))
        block = out[start : start + rows]
        for k in range(n_components):
            mask = labels == k
            block[mask] = noise[mask] @ factors[k].T + mixture.means[k]
    return out


def _covariances_for(covariances, covariance_type):
    """Reduce full ``(K, D, D)`` covariances to a scikit-learn parametrisation."""
    if covariance_type == "full":
        return covariances.copy()
    if covariance_type == "diag":
        return np.diagonal(covariances, axis1=1, axis2=2).copy()
    if covariance_type == "tied":
        return covariances.mean(axis=0)
    if covariance_type == "spherical":
        return np.diagonal(covariances, axis1=1, axis2=2).mean(axis=1)
    raise ValueError(f"unknown covariance_type {covariance_type!r}")


def _precisions_for(covariances, covariance_type):
    """Invert covariances given in a scikit-learn parametrisation."""
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(covariances)
    return 1.0 / covariances


def initial_parameters(mixture, covariance_type, seed=SEED):
    """Common EM starting point of every peer.

    Parameters
    ----------
    mixture : Mixture
        True parameters.
    covariance_type : {"full", "diag", "tied", "spherical"}
    seed : int, default=SEED

    Returns
    -------
    dict of ndarray (float64)
        ``weights`` (uniform), ``means`` (true means plus
        N(0, MEAN_PERTURBATION**2) noise), ``covariances`` and ``precisions``
        shaped as scikit-learn's ``covariances_``/``precisions_init`` for
        ``covariance_type``: full ``(K, D, D)``, diag ``(K, D)``, tied
        ``(D, D)`` (mean of the true covariances), spherical ``(K,)`` (mean of
        each true covariance's diagonal).
    """
    n_components, n_features = mixture.means.shape
    rng = np.random.default_rng([seed, n_features, n_components, 2])
    noise = MEAN_PERTURBATION * rng.standard_normal(mixture.means.shape)
    covariances = _covariances_for(mixture.covariances, covariance_type)
    return {
        "weights": np.full(n_components, 1.0 / n_components),
        "means": mixture.means + noise,
        "covariances": covariances,
        "precisions": _precisions_for(covariances, covariance_type),
    }
