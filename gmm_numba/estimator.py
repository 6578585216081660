"""The scikit-learn compatible estimator."""

import inspect

import numpy as np

from ._params import ParamsMixin
from .covariance import get_model
from .data_sources import is_out_of_core, make_data_source, out_of_core_scores
from .em import fit_em
from .errors import FitError, NumericalError, not_fitted_error
from .initialization import DEFAULT_INIT_SAMPLE_SIZE, INIT_METHODS
from .regularization import check_reg_covar, resolve_reg_covar
from .sources import InMemoryData, per_sample_scores
from .validation import (
    check_data,
    check_feature_names,
    check_init_array,
    check_param,
    check_precisions_init,
    check_random_state,
    check_sample_weight,
    check_weights_init,
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
    reg_covar : float or "auto", default=1e-6
        Added to the diagonal of every covariance. ``"auto"`` adds 1e-6
        times each feature's variance instead, so that the fit does not
        depend on the units of the features.
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
        check_reg_covar(self.reg_covar)
        check_param("max_iter", self.max_iter, "int", low=1)
        check_param("n_init", self.n_init, "int", low=1)
        check_param("init_params", self.init_params, "option", options=INIT_METHODS)
        check_param("warm_start", self.warm_start, "bool")
        check_param("verbose", self.verbose, "int", low=0)
        check_param("verbose_interval", self.verbose_interval, "int", low=1)
        check_param("init_sample_size", self.init_sample_size, "int", low=1)
        _check_callback(self.callback)
        return model

    def _validated_init(self, model, n_features):
        """``(weights, means, precisions)`` from the ``*_init`` parameters (None where not given)."""
        k = self.n_components
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = check_weights_init(self.weights_init, k)
        if self.means_init is not None:
            means = check_init_array(self.means_init, "means_init", (k, n_features))
        if self.precisions_init is not None:
            precisions = check_precisions_init(self.precisions_init, model, k, n_features)
            # the model's own checks (its factorisation) run too
            model.precisions_cholesky_from_precisions(precisions)
        return weights, means, precisions

    def _check_is_fitted(self):
        if not hasattr(self, "means_"):
            raise not_fitted_error(type(self).__name__)

    def _fit_sample_requirement(self):
        """Fewest rows ``fit`` accepts, and why."""
        k = self.n_components
        if k >= 2:
            return k, f"n_components={k} needs at least as many samples as components"
        return 2, "estimating a covariance needs at least 2 samples"

    def _check_input(self, X, *, reset, min_samples=1, requirement=""):
        names = feature_names(X)
        if reset:
            arr = check_data(X, min_samples=min_samples, requirement=requirement)
            return arr, names
        self._check_is_fitted()
        check_feature_names(names, getattr(self, "feature_names_in_", None), hasattr(X, "columns"), type(self).__name__)
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

        Raises
        ------
        TypeError, ValueError
            Invalid parameters, data, sample weights or ``*_init`` arrays; the
            message names the argument, the offending value and what is allowed.
        FitError
            EM found no valid mixture (a component emptied or its covariance
            collapsed); the message says what to try. The estimator keeps the
            state it had before the call.
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
        """Validate everything, run EM, and only then set the fitted attributes.

        Any error leaves the estimator as it was (fitted or not).
        """
        model = self._validated_settings()
        rng = check_random_state(self.random_state)
        min_samples, requirement = self._fit_sample_requirement()
        if is_out_of_core(X):  # Dask, xarray on Dask, large np.memmap: see gmm_numba.data_sources
            data = make_data_source(X, sample_weight, min_samples=min_samples, requirement=requirement)
            X = names = weights = None
            n_features = data.n_features
        else:
            X, names = self._check_input(X, reset=True, min_samples=min_samples, requirement=requirement)
            n_samples, n_features = X.shape
            weights = check_sample_weight(sample_weight, n_samples)
            _check_weighted_samples(weights, min_samples, requirement)
            data = InMemoryData(X, weights)
        if (
            self.warm_start
            and hasattr(self, "means_")
            and self.means_.shape == (self.n_components, n_features)
            and get_model(self.covariance_type) is self._parameters.model
        ):
            starts = [self._parameters]
            n_init = 1
        else:
            starts = None
            n_init = self.n_init
        user_init = self._validated_init(model, n_features)
        try:
            result = fit_em(
                data,
                model,
                self.n_components,
                n_init=n_init,
                init_params=self.init_params,
                rng=rng,
                reg_covar=resolve_reg_covar(self.reg_covar, data),
                tol=self.tol,
                max_iter=self.max_iter,
                user_init=user_init,
                init_sample_size=self.init_sample_size,
                callback=_checked_callback(self.callback),
                verbose=self.verbose,
                starts=starts,
            )
        except FitError as exc:
            note = "" if X is None else _distinct_rows_note(X, weights, self.n_components)
            if note:
                raise type(exc)(f"{exc} {note}") from exc
            raise
        _check_finite_result(result)
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
        if is_out_of_core(X):  # lazy Dask arrays for Dask input; chunk by chunk for a large np.memmap
            self._check_is_fitted()
            return out_of_core_scores(X, self._parameters, with_responsibilities, self.n_features_in_)
        X, _ = self._check_input(X, reset=False)
        scores = per_sample_scores(X, self._parameters, with_responsibilities)
        _check_finite_scores(scores[0])
        return scores

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
        X = np.vstack(
            [
                rng.multivariate_normal(mean, cov, size=int(count), method="cholesky")
                for mean, cov, count in zip(self.means_, full, counts)
            ]
        )
        y = np.concatenate([np.full(count, k, dtype=np.int64) for k, count in enumerate(counts)])
        return X, y

    # ----------------------------------------------------------------- xarray
    def to_xarray(self, X=None, *, observed_data=False, log_likelihood=False, sample_dim=None):
        """The fit as a labeled :class:`xarray.DataTree` (see :mod:`gmm_numba.results`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), optional
            The training data; needed only for ``observed_data`` or ``log_likelihood``.
        observed_data, log_likelihood : bool, default=False
            Store ``X`` and the per-sample log-density.
        sample_dim : str, optional
            The sample dimension of a DataArray ``X``.

        Returns
        -------
        xarray.DataTree
        """
        from .api import estimator_to_tree
        from .labeled import as_labeled

        labeled = None if X is None else as_labeled(X, sample_dim)
        return estimator_to_tree(self, labeled, observed_data=observed_data, log_likelihood=log_likelihood)

    @classmethod
    def from_xarray(cls, tree):
        """A fitted estimator from a result tree (for example one read by :func:`gmm_numba.load`).

        Its predictions, scores, samples and criteria equal those of the
        estimator that produced the tree.

        Raises
        ------
        ValueError
            If ``tree`` is not a valid gmm_numba result.
        """
        from .api import estimator_from_tree

        return estimator_from_tree(cls, tree)

    # ---------------------------------------------------------------- criteria
    def n_parameters(self):
        """Free parameters: means, K - 1 weights and the covariances."""
        self._check_is_fitted()
        return self._parameters.n_parameters()

    _n_parameters = n_parameters

    def _mean_score_and_count(self, X):
        scores = self.score_samples(X)
        return float(scores.mean()), scores.shape[0]

    def bic(self, X):
        """Bayesian information criterion on ``X`` (lower is better).

        ``-2 log L + p log n``.
        """
        mean, n = self._mean_score_and_count(X)
        return -2.0 * mean * n + self.n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion on ``X`` (lower is better): ``-2 log L + 2 p``."""
        mean, n = self._mean_score_and_count(X)
        return -2.0 * mean * n + 2 * self.n_parameters()


def _check_callback(callback):
    """A callable taking ``(iteration, lower_bound, parameters)``, or None.

    Raises
    ------
    TypeError
        Not callable, or its signature cannot take three positional arguments.
    """
    if callback is None:
        return
    if not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}.")
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return
    try:
        signature.bind(0, 0.0, None)
    except TypeError:
        raise TypeError(
            f"callback must accept three positional arguments (iteration, lower_bound, parameters); "
            f"{callback!r} has the signature {signature}."
        ) from None


def _checked_callback(callback):
    """``callback`` with its return value checked: anything with a truth value (True stops EM)."""
    if callback is None:
        return None

    def checked(iteration, lower_bound, parameters):
        result = callback(iteration, lower_bound, parameters)
        try:
            return bool(result)
        except (TypeError, ValueError):
            raise TypeError(
                f"callback returned {result!r} of type {type(result).__name__}; it must return True to stop "
                "EM, or False or None to go on."
            ) from None

    return checked


def _check_finite_scores(log_density):
    """Refuse samples whose log-density is not finite (they lie too far from every component).

    Their responsibilities and labels would be NaN or arbitrary.
    """
    bad = np.flatnonzero(~np.isfinite(log_density))
    if bad.size:
        raise NumericalError(
            f"X has {bad.size} row(s) (first: row {bad[0]}) whose log-density is {log_density[bad[0]]}: they lie "
            "too far from every component for floating point. Check that X has the units and scaling of "
            "the data the model was fitted on."
        )


def _check_weighted_samples(weights, min_samples, requirement):
    """Enough rows with positive weight (rows of weight 0 do not count)."""
    if weights is None:
        return
    n_positive = int(np.count_nonzero(weights))
    if n_positive < min_samples:
        raise ValueError(
            f"sample_weight is positive for {n_positive} sample(s) while a minimum of {min_samples} "
            f"is required ({requirement}); samples of weight 0 do not count."
        )


def _distinct_rows_note(X, weights, n_components):
    """A note for a failed fit when X has fewer distinct rows than components, else ""."""
    rows = X if weights is None else X[weights > 0]
    n_distinct = np.unique(rows, axis=0).shape[0]
    if n_distinct >= n_components:
        return ""
    among = "" if weights is None else " among the samples of positive weight"
    return (
        f"Note: X has only {n_distinct} distinct row(s){among}, fewer than n_components={n_components}: "
        f"use at most {n_distinct} components."
    )


def _check_finite_result(result):
    """Never hand back NaN or infinite parameters."""
    params = result.parameters
    arrays = {name: getattr(params, name) for name in ("weights", "means", "covariances", "precisions_cholesky")}
    with np.errstate(over="ignore"):
        arrays["precisions"] = params.model.precisions(params.precisions_cholesky)
    for name, values in arrays.items():
        if not np.all(np.isfinite(values)):
            raise NumericalError(
                f"EM produced non-finite {name}; the data's scale is probably beyond what floating "
                "point handles here. Standardise the features, use float64, or increase reg_covar."
            )
