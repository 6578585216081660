"""The scikit-learn compatible estimator."""

import warnings

import numpy as np

from ._params import ParamsMixin
from .covariance import get_model
from .em import fit_em
from .errors import NotFittedError
from .initialization import DEFAULT_INIT_SAMPLE_SIZE, INIT_METHODS
from .parameters import MixtureParameters
from .sources import InMemoryData, per_sample_scores
from .validation import (
    check_data,
    check_param,
    check_random_state,
    check_sample_weight,
    feature_names,
)


class GaussianMixture(ParamsMixin):
    """Gaussian mixture fitted by EM with fused Numba kernels.

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, methods and fitted attributes, in the same shapes.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components ``K``.
    covariance_type : str, default="full"
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"``, or mclust's
        names for them ``"VVV"``, ``"EEE"``, ``"VVI"``, ``"VII"``.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood per
        (weighted) sample.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
        EM iterations per initialisation.
    n_init : int, default=1
        Initialisations; the one with the best final lower bound is kept.
    init_params : {"k-means++", "kmeans", "random_from_data", "random"}, default="k-means++"
        How to start; see :mod:`gmm_numba.initialization`.
    weights_init : array-like of shape (n_components,), optional
    means_init : array-like of shape (n_components, n_features), optional
    precisions_init : array-like, optional
        Shape ``(K, D, D)`` for full, ``(D, D)`` for tied, ``(K, D)`` for
        diag, ``(K,)`` for spherical.
    random_state : int, numpy Generator or RandomState, optional
        Seeds everything random; the same seed gives bit-identical results
        on any number of threads.
    warm_start : bool, default=False
        Start the next ``fit`` from the current solution (one initialisation).
    verbose : int, default=0
        1 prints one line per initialisation, 2 one per iteration.
    verbose_interval : int, default=10
        Accepted for scikit-learn compatibility.
    init_sample_size : int, default=100000
        Rows used for k-means++ seeding on large data.
    callback : callable, optional
        ``callback(iteration, lower_bound, parameters)`` after every EM
        iteration; return True to stop the run.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Shape as ``precisions_init``.
    precisions_ : ndarray
        Inverses of ``covariances_``, same shape.
    precisions_cholesky_ : ndarray
        Upper-triangular factors ``P`` with ``P P^T = precisions_``.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per sample at the start of the last iteration of the best run.
    lower_bounds_ : list of float
        The same, per iteration of the best run.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="k-means++",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        init_sample_size=DEFAULT_INIT_SAMPLE_SIZE,
        callback=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.init_sample_size = init_sample_size
        self.callback = callback

    # ------------------------------------------------------------------ checks
    def _validated_settings(self):
        check_param("n_components", self.n_components, "int", low=1)
        model = get_model(self.covariance_type)
        check_param("tol", self.tol, "float", low=0)
        check_param("reg_covar", self.reg_covar, "float", low=0)
        check_param("max_iter", self.max_iter, "int", low=1)
        check_param("n_init", self.n_init, "int", low=1)
        check_param("init_params", self.init_params, "option", options=INIT_METHODS)
        check_param("warm_start", self.warm_start, "bool")
        check_param("verbose", self.verbose, "int", low=0)
        check_param("verbose_interval", self.verbose_interval, "int", low=1)
        check_param("init_sample_size", self.init_sample_size, "int", low=1)
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be callable, got {self.callback!r}.")
        return model

    def _validated_init(self, model, n_features, dtype):
        k = self.n_components
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = _as_float_array(self.weights_init, "weights_init", (k,))
            if np.any(weights < 0) or np.any(weights > 1):
                raise ValueError(f"weights_init must lie in [0, 1]; got min {weights.min()} and max {weights.max()}.")
            if not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-6):
                raise ValueError(f"weights_init must sum to 1, but they sum to {weights.sum():.8g}.")
            weights = weights / weights.sum()
        if self.means_init is not None:
            means = _as_float_array(self.means_init, "means_init", (k, n_features))
        if self.precisions_init is not None:
            precisions = _as_float_array(
                self.precisions_init, "precisions_init", model.covariance_shape(k, n_features)
            )
            # validated (symmetry, positive definiteness) by the model on use
            model.precisions_cholesky_from_precisions(precisions)
        return weights, means, precisions

    def _check_is_fitted(self):
        if not hasattr(self, "means_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _check_input(self, X, *, reset, min_samples=1):
        names = feature_names(X)
        if reset:
            arr = check_data(X, min_samples=min_samples)
            return arr, names
        self._check_is_fitted()
        fitted_names = getattr(self, "feature_names_in_", None)
        if names is not None and fitted_names is None:
            warnings.warn(
                f"X has feature names, but {type(self).__name__} was fitted without feature names",
                UserWarning,
                stacklevel=3,
            )
        elif names is None and fitted_names is not None and hasattr(X, "columns"):
            warnings.warn(
                f"X does not have valid feature names, but {type(self).__name__} was fitted with feature names",
                UserWarning,
                stacklevel=3,
            )
        elif names is not None and fitted_names is not None and not np.array_equal(names, fitted_names):
            unseen = [n for n in names if n not in set(fitted_names)]
            missing = [n for n in fitted_names if n not in set(names)]
            message = "The feature names should match those that were passed during fit.\n"
            if unseen:
                message += f"Feature names unseen at fit time:\n- " + "\n- ".join(map(str, unseen)) + "\n"
            if missing:
                message += f"Feature names seen at fit time, yet now missing:\n- " + "\n- ".join(map(str, missing)) + "\n"
            if not unseen and not missing:
                message += "Feature names must be in the same order as they were in fit.\n"
            raise ValueError(message)
        arr = check_data(X, n_features=self.n_features_in_, estimator=type(self).__name__)
        return arr, names

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the mixture by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights (frequency weights: weight 2 counts a point twice).

        Returns
        -------
        self
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most responsible component of each sample.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def _fit(self, X, sample_weight):
        model = self._validated_settings()
        X, names = self._check_input(X, reset=True, min_samples=max(2, self.n_components))
        n_samples, n_features = X.shape
        weights = check_sample_weight(sample_weight, n_samples)
        data = InMemoryData(X, weights)
        rng = check_random_state(self.random_state)
        if self.warm_start and hasattr(self, "means_") and self.means_.shape == (self.n_components, n_features) \
                and get_model(self.covariance_type) is self._parameters.model:
            starts = [self._parameters]
            n_init = 1
        else:
            starts = None
            n_init = self.n_init
        user_init = self._validated_init(model, n_features, X.dtype)
        result = fit_em(
            data, model, self.n_components, n_init=n_init, init_params=self.init_params, rng=rng,
            reg_covar=self.reg_covar, tol=self.tol, max_iter=self.max_iter, user_init=user_init,
            init_sample_size=self.init_sample_size, callback=self.callback, verbose=self.verbose,
            starts=starts,
        )
        self._set_fitted(result.parameters, n_features, names)
        self.converged_ = bool(result.best.converged)
        self.n_iter_ = int(result.best.n_iter)
        self.lower_bounds_ = [float(v) for v in result.best.lower_bounds]
        self.lower_bound_ = self.lower_bounds_[-1]
        self.fit_result_ = result
        return result

    def _set_fitted(self, params, n_features, names):
        for stale in ("feature_names_in_",):
            if hasattr(self, stale):
                delattr(self, stale)
        self._parameters = params
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = params.model.precisions(params.precisions_cholesky)
        self.n_features_in_ = n_features
        if names is not None:
            self.feature_names_in_ = names

    def __sklearn_is_fitted__(self):
        return hasattr(self, "means_")

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type="density_estimator",
            target_tags=TargetTags(required=False),
            input_tags=InputTags(allow_nan=False, sparse=False),
            transformer_tags=None,
            classifier_tags=None,
            regressor_tags=None,
        )

    # ----------------------------------------------------------------- predict
    def _scores(self, X, with_responsibilities=False):
        X, _ = self._check_input(X, reset=False)
        return per_sample_scores(X, self._parameters, with_responsibilities)

    def score_samples(self, X):
        """Log-density ``log p(x)`` of each sample.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._scores(X)[0]

    def score(self, X, y=None):
        """Mean log-density per sample (higher is better).

        Returns
        -------
        float
        """
        return float(self.score_samples(X).mean())

    def predict(self, X):
        """Most responsible component of each sample.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._scores(X)[1]

    def predict_proba(self, X):
        """Responsibilities ``p(k | x)``.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        return self._scores(X, with_responsibilities=True)[2]

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each sample.
        """
        self._check_is_fitted()
        check_param("n_samples", n_samples, "int", low=1)
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        full = self._parameters.full_covariances()
        X = np.vstack([
            rng.multivariate_normal(mean, cov, size=int(count), method="cholesky")
            for mean, cov, count in zip(self.means_, full, counts)
        ])
        y = np.concatenate([np.full(count, k, dtype=np.int64) for k, count in enumerate(counts)])
        return X, y

    # ---------------------------------------------------------------- criteria
    def n_parameters(self):
        """Free parameters: means, K - 1 weights and the covariances."""
        self._check_is_fitted()
        return self._parameters.n_parameters()

    _n_parameters = n_parameters

    def bic(self, X):
        """Bayesian information criterion on ``X`` (lower is better).

        ``-2 log L + p log n``.
        """
        n = np.asarray(X).shape[0] if not hasattr(X, "shape") else X.shape[0]
        return -2.0 * self.score(X) * n + self.n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion on ``X`` (lower is better): ``-2 log L + 2 p``."""
        n = np.asarray(X).shape[0] if not hasattr(X, "shape") else X.shape[0]
        return -2.0 * self.score(X) * n + 2 * self.n_parameters()


def _as_float_array(value, name, shape):
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric: {exc}") from None
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, but has shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return arr
