"""mclust's conjugate prior: the MAP M-step as the ordinary M-step on augmented statistics.

The prior (Fraley & Raftery 2007) puts on each component a normal prior on the
mean, ``mu_k | Sigma_k ~ N(mu_P, Sigma_k / kappa_P)`` (``kappa_P`` the
*shrinkage*), and an inverse-Wishart (inverse-gamma for diagonal and spherical
models) prior on the covariance with ``dof`` degrees of freedom and *scale*
``Lambda_P``. Every supported model's MAP M-step maximises

    Q(mu, Sigma) - 1/2 sum_k [ a_k log det Sigma_k + b tr(Sigma_k^-1 Lambda)
                               + kappa (mu_k - mu_P)^T Sigma_k^-1 (mu_k - mu_P) ]

where each model fixes the weights ``a_k`` (extra counts) and ``b`` (how often
the scale enters) to reproduce mclust's EM (:meth:`Layout.prior_weights`).
Maximising over the means first shrinks them,
``(n_k xbar_k + kappa mu_P) / (n_k + kappa)``, and leaves the model's ordinary
M-step on the augmented scatters

    T_k = W_k + c_k (xbar_k - mu_P)(xbar_k - mu_P)^T + b Lambda,    c_k = kappa n_k / (n_k + kappa),

with the counts ``n_k + a_k``. docs/derivation.md §15 derives it.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import NotSupportedError, NumericalError


@dataclass(frozen=True)
class ConjugatePrior:
    """The prior's hyper-parameters, resolved for one model, number of components and data.

    Attributes
    ----------
    shrinkage : float
        ``kappa_P >= 0``; 0 leaves the means without a prior.
    mean : ndarray of shape (n_features,)
    dof : float
    scale : float or ndarray of shape (n_features, n_features)
        A number for the diagonal and spherical models (their inverse-gamma
        priors' scale), a matrix for the others.
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: object

    def scale_matrix(self, n_features):
        """The scale as a (D, D) matrix (a number times the identity for the diagonal and spherical models)."""
        if np.ndim(self.scale) == 0:
            return float(self.scale) * np.eye(n_features)
        return np.asarray(self.scale, dtype=np.float64)

    @property
    def shrinks(self):
        """1 when the means have a prior (``shrinkage > 0``), else 0: mclust's denominators count it."""
        return 1 if self.shrinkage > 0 else 0


def unsupported(model, supported):
    """The error for a prior on a model mclust has no MAP M-step for."""
    return NotSupportedError(
        f"prior= is not available for covariance_type={model.name!r} ({model.mclust_name}): mclust has no "
        f"conjugate-prior M-step for it. The models that take a prior are {', '.join(supported)}."
    )


def prior_weights(model, n_components, n_features, prior):
    """``(a, b, shrink)`` of ``model``'s MAP M-step with ``n_components`` components.

    One component is mclust's ``mvn`` (``Mclust``'s G = 1 column): its M-step has
    the weights of the most general model of the layout (VII, VVI, EEE), and
    shrinks the means, whatever the model.
    """
    if n_components == 1:
        if not model.supports_prior:
            model.prior_weights(n_components, n_features, prior)  # raises
        s = prior.shrinks
        if model.layout == "spherical":
            return np.full(1, (prior.dof + 2) / n_features + s), 1.0 / n_features, True
        if model.layout == "diag":
            return np.full(1, prior.dof + 2.0 + s), 1.0, True
        return np.full(1, prior.dof + n_features + 1.0 + s), 1.0, True
    extra, scale_weight = model.prior_weights(n_components, n_features, prior)
    return extra, scale_weight, model.prior_shrinks_means


def map_estimate(model, stats, prior, reg_covar, previous=None):
    """Means and covariances of the MAP M-step of ``model``.

    Parameters
    ----------
    model : Layout
    stats : SufficientStatistics
    prior : ConjugatePrior
    reg_covar : float or ndarray of shape (n_features,)
        Added (times ``n_k``) to the scatters' diagonals, as without a prior.
    previous : ndarray, optional
        Warm start of iterative M-steps.

    Returns
    -------
    means : ndarray of shape (K, D)
    covariances : ndarray of shape ``model.covariance_shape(K, D)``
    """
    nk = stats.nk
    k, d = stats.n_components, stats.n_features
    extra, scale_weight, shrink = prior_weights(model, k, d, prior)
    xbar = stats.means()
    kappa = prior.shrinkage
    delta = xbar - prior.mean
    c = kappa * nk / (nk + kappa)
    scale = prior.scale_matrix(d)
    scatter = np.array(model.regularised_scatter(stats, reg_covar), dtype=np.float64)
    if model.layout == "full":
        scatter += c[:, None, None] * delta[:, :, None] * delta[:, None, :] + scale_weight * scale
    elif model.layout == "diag":
        scatter += c[:, None] * delta**2 + scale_weight * np.diag(scale)
    else:  # spherical: traces over D
        scatter += (c * (delta**2).sum(axis=1) + scale_weight * np.trace(scale)) / d
    means = xbar
    if shrink:
        means = (nk[:, None] * xbar + kappa * prior.mean) / (nk + kappa)[:, None]
    if not np.all(np.isfinite(scatter)):
        raise NumericalError(
            "The second moments of the data are not finite (overflow): standardise the features (or use float64)."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        covariances = model.covariances_from_scatter(scatter, nk + extra, previous)
    return means, covariances


def log_prior(model, means, full_covariances, prior):
    """The prior's terms that depend on the parameters (the penalty the MAP M-step maximises with ``Q``).

    ``-1/2 sum_k [a_k log det Sigma_k + b tr(Sigma_k^-1 Lambda) + kappa (mu_k - mu_P)^T Sigma_k^-1 (mu_k - mu_P)]``:
    the log prior density up to a constant for every model but EEI (whose means
    mclust does not shrink; see :meth:`Layout.prior_weights`).

    Parameters
    ----------
    model : Layout
    means : ndarray of shape (K, D)
    full_covariances : ndarray of shape (K, D, D)
    prior : ConjugatePrior

    Returns
    -------
    float
        ``-inf`` when a covariance is not positive definite.
    """
    k, d = means.shape
    extra, scale_weight, _ = prior_weights(model, k, d, prior)
    sign, log_det = np.linalg.slogdet(full_covariances)
    if not np.all(sign > 0):
        return -np.inf
    delta = means - prior.mean
    scale = np.broadcast_to(prior.scale_matrix(d), full_covariances.shape)
    solved = np.linalg.solve(full_covariances, np.concatenate([scale, delta[:, :, None]], axis=2))
    trace = np.trace(solved[:, :, :d], axis1=1, axis2=2)
    quadratic = np.einsum("ki,ki->k", delta, solved[:, :, d])
    return float(-0.5 * np.sum(extra * log_det + scale_weight * trace + prior.shrinkage * quadratic))
