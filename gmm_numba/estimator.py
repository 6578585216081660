"""The scikit-learn compatible estimator."""

import numpy as np

from ._sklearn_params import ParamsMixin
from .errors import not_fitted_error
from .fitting.checks import check_param, check_random_state
from .fitting.core import fit_mixture
from .fitting.settings import RECORDED_SETTINGS, FitSettings
from .fitting.starts import DEFAULT_INIT_SAMPLE_SIZE


class GaussianMixture(ParamsMixin):
    """Gaussian mixture fitted by EM with fused Numba kernels.

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, methods and fitted attributes, in the same shapes.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components ``K``.
    covariance_type : str, default="full"
        Any of mclust's fourteen models (``"EII"``, ``"VII"``, ``"EEI"``, ``"VEI"``,
        ``"EVI"``, ``"VVI"``, ``"EEE"``, ``"VEE"``, ``"EVE"``, ``"VVE"``, ``"EEV"``,
        ``"VEV"``, ``"EVV"``, ``"VVV"``; ``"E"`` and ``"V"`` for one feature), or
        scikit-learn's names ``"full"`` (VVV), ``"tied"`` (EEE), ``"diag"`` (VVI)
        and ``"spherical"`` (VII).
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood per
        (weighted) sample.
    reg_covar : float or "auto", default=1e-6
        Added to the diagonal of every covariance. ``"auto"`` adds 1e-6
        times each feature's variance instead, so that the fit does not
        depend on the units of the features (a constant feature gets 1e-6
        times the mean variance of the features; data whose every feature
        is constant, 1e-6 times its mean square). An absolute value larger
        than a feature's variance is warned about (UserWarning): the fit
        would be mostly regularisation.
    max_iter : int, default=100
        EM iterations per initialisation.
    n_init : int, default=1
        Initialisations; the one with the best final lower bound is kept.
    init_params : {"k-means++", "kmeans", "random_from_data", "random", "hc"}, default="k-means++"
        How to start; see :mod:`gmm_numba.fitting.starts`. ``"hc"`` is
        mclust's start (hierarchical clustering, on 2,000 random rows of
        larger data): one deterministic start, so it needs ``n_init=1``,
        and it refuses unequal ``sample_weight``.
    weights_init : array-like of shape (n_components,), optional
    means_init : array-like of shape (n_components, n_features), optional
    precisions_init : array-like, optional
        In the shape of ``covariances_`` for the model: ``(K, D, D)`` for full,
        ``(D, D)`` for tied, ``(K, D)`` for diag, ``(K,)`` for spherical.
    random_state : int, numpy Generator or RandomState, optional
        Seeds everything random; the same seed gives bit-identical results
        on any number of threads, whatever the array's memory (alignment,
        read-only, small memmap) and in every process (see "Reproducible to
        the last bit" in the user guide).
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
    noise : None, True or array-like of shape (n_samples,) of bool, default=None
        Add a uniform noise component (density ``1 / V`` over the data's
        region, with its own weight) that absorbs scattered outliers, as
        mclust's ``initialization = list(noise = ...)``. ``True`` flags the
        starting noise rows by their nearest-neighbour distances
        (:func:`gmm_numba.data.noise.nearest_neighbour_clutter`); a boolean
        array flags them itself (True: starts as noise). The Gaussian
        components start from the unflagged rows. ``predict`` then labels
        noise rows -1 and ``predict_proba`` has one more column, the noise
        component's, last. Out-of-core data (Dask, large memory maps) is
        passed over chunk by chunk; its start reads a uniform subsample of
        ``init_sample_size`` rows (every row when there are no more), on which
        ``noise=True`` flags the clutter; row flags are one boolean per row in
        memory. Not with labelled rows (``y``), as in mclust. See :mod:`gmm_numba.fitting.noise`.
    noise_volume : float or "hull", optional
        ``V``; by default mclust's: the smaller of the volumes of the data's
        bounding box and of its bounding box in principal components.
        ``"hull"``: the volume of the data's convex hull (Qhull), for at most
        6 features; tighter than the boxes for data that do not fill a box.
        Both take every row, in memory or out of core.
    semi_supervised : bool, default=False
        Make ``fit(X, y)`` use ``y``: component indices ``0..K-1`` for
        labelled rows (they keep that component) and -1 for the others
        (estimated), as mclust's ``MclustSSC``; see
        :mod:`gmm_numba.fitting.semi_supervised`. Off by default because
        scikit-learn passes a ``y`` to every estimator's ``fit`` (pipelines,
        ``check_estimator``) that an unsupervised mixture must ignore. The
        start is mclust's (deterministic), so ``n_init``, ``init_params``,
        the ``*_init`` arrays and ``warm_start`` do not apply when some row
        is labelled. ``predict`` classifies every row by the fitted model,
        labelled rows included. Out-of-core ``X`` works too (``y`` is read
        into memory: one integer per row).
    missing : {"error", "marginalize"}, default="error"
        What NaN in ``X`` means. ``"error"``: a ``ValueError`` naming the rows.
        ``"marginalize"``: a missing entry (missing at random). ``fit`` then
        maximises the observed-data likelihood (EM with the conditional
        expectations of the missing entries, for every covariance model), and
        ``score_samples``, ``score``, ``predict``, ``predict_proba``, ``bic`` and
        ``aic`` use the density of each row's observed entries. Rows with every
        entry missing are left out of the fit (with a warning); a feature with
        every entry missing is an error; infinity stays an error. Starting
        points are computed on the data with each missing entry replaced by
        its feature's mean. In-memory data only. See :meth:`impute`.
    prior : None, "default" or dict, default=None
        mclust's conjugate prior (``Mclust(prior = priorControl())``): EM then
        maximises the posterior (MAP), with the means shrunk towards the prior
        mean and the covariances regularised by the prior scale.
        ``"default"`` is mclust's ``defaultPrior``; a dict sets any of
        ``shrinkage`` (>= 0, default 0.01), ``mean`` (default: the column
        means), ``dof`` (> 0, default ``n_features + 2``) and ``scale`` (a
        positive number, or a positive definite matrix for EEE, EEV, VEV and
        VVV; default ``var(X) / K^(2/d)``). For the models EII, VII, EEI, VEI,
        EVI, VVI, EEE, EEV, VEV, VVV (E and V on one feature) only, as in
        mclust. ``log_likelihood``, ``bic`` and ``aic`` stay those of the
        likelihood (as mclust reports them); ``lower_bound_`` is then the mean
        log posterior. Not with ``noise``, labels or ``missing="marginalize"``.
        See :mod:`gmm_numba.fitting.prior` and docs/derivation.md §15.

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
    noise_weight_ : float
        Mixing weight of the noise component (only with ``noise``); ``weights_``
        then sum to ``1 - noise_weight_``.
    noise_volume_ : float
        ``V`` of the noise component (only with ``noise``).
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
        noise=None,
        noise_volume=None,
        semi_supervised=False,
        missing="error",
        prior=None,
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
        self.noise = noise
        self.noise_volume = noise_volume
        self.semi_supervised = semi_supervised
        self.missing = missing
        self.prior = prior

    # ------------------------------------------------------------------ checks
    def _validated_settings(self):
        """The estimator's parameters as validated :class:`FitSettings`."""
        check_param("warm_start", self.warm_start, "bool")
        check_param("verbose_interval", self.verbose_interval, "int", low=1)
        check_param("semi_supervised", self.semi_supervised, "bool")
        own = ("warm_start", "verbose_interval", "semi_supervised")
        names = [name for name in self._param_names() if name not in own]
        return FitSettings.validated(**{name: getattr(self, name) for name in names})

    def _check_is_fitted(self):
        if not hasattr(self, "means_"):
            raise not_fitted_error(type(self).__name__)

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the mixture by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Ignored unless ``semi_supervised=True``; then the component of
            each labelled row (``0..n_components-1``) and -1 for unlabelled rows.
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
        self._fit(X, sample_weight, y)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most responsible component of each sample.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    def _fit(self, X, sample_weight, y=None):
        """Validate everything, run EM, and only then set the fitted attributes.

        Any error leaves the estimator as it was (fitted or not).
        """
        settings = self._validated_settings()
        previous = self._fitted if self.warm_start and hasattr(self, "means_") else None
        labels = y if self.semi_supervised else None
        fitted = fit_mixture(X, settings, sample_weight, warm_start=previous, y=labels)
        self._set_fitted(fitted)
        best = fitted.em_fit.best
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bounds_ = [float(v) for v in best.lower_bounds]
        self.lower_bound_ = self.lower_bounds_[-1]
        self.fit_result_ = fitted.em_fit
        return fitted.em_fit

    def _set_fitted(self, fitted):
        for stale in ("feature_names_in_", "noise_weight_", "noise_volume_"):
            if hasattr(self, stale):
                delattr(self, stale)
        params = fitted.parameters
        self._fitted = fitted
        self._parameters = params
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = params.model.precisions(params.precisions_cholesky)
        self.n_features_in_ = fitted.n_features
        if fitted.feature_names is not None:
            self.feature_names_in_ = fitted.feature_names
        if fitted.noise is not None:
            self.noise_weight_ = float(fitted.noise.weight)
            self.noise_volume_ = float(fitted.noise.volume)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "means_")

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type="density_estimator",
            target_tags=TargetTags(required=False),
            input_tags=InputTags(allow_nan=self.missing == "marginalize", sparse=False),
            transformer_tags=None,
            classifier_tags=None,
            regressor_tags=None,
        )

    # ----------------------------------------------------------------- predict
    def _scores(self, X, with_responsibilities=False):
        self._check_is_fitted()
        return self._fitted.scores(X, with_responsibilities, type(self).__name__)

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
            ``0..n_components-1``; -1 where the noise component (``noise``) is the most responsible.
        """
        return self._scores(X)[1]

    def predict_proba(self, X):
        """Responsibilities ``p(k | x)``.

        Returns
        -------
        ndarray of shape (n_samples, n_components), or (n_samples, n_components + 1) with ``noise``
            With a noise component its responsibility is the last column.
        """
        return self._scores(X, with_responsibilities=True)[2]

    def impute(self, X, *, n_draws=None, random_state=None):
        """Fill the missing entries (NaN) of ``X`` from the fitted mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry (whatever ``missing`` was at fit time).
        n_draws : int, optional
            Without it, each missing entry is replaced by its conditional
            expectation ``E[x_m | x_o] = sum_k p(k | x_o) E_k[x_m | x_o]``.
            With it, ``n_draws`` draws from the conditional distribution
            (multiple imputation): per row and draw a component with
            probability ``p(k | x_o)``, then the missing entries from that
            component's conditional Gaussian.
        random_state : int, numpy Generator or RandomState, optional
            Seeds the draws.

        Returns
        -------
        ndarray of shape (n_samples, n_features), or xarray.DataArray of shape (n_draws, n_samples, n_features)
            Observed entries are returned unchanged, bit for bit (in ``X``'s
            float dtype: float32 stays float32). A row with every entry
            missing gets the mixture's mean (or draws from the mixture). The
            draws are labeled with dimensions ``("draw", "sample", "feature")``.
        """
        self._check_is_fitted()
        name = type(self).__name__
        if n_draws is None:
            return self._fitted.impute(X, name)
        check_param("n_draws", n_draws, "int", low=1)
        draws = self._fitted.imputation_draws(X, n_draws, check_random_state(random_state), name)
        import xarray as xr

        features = getattr(self, "feature_names_in_", None)
        features = [f"x{i}" for i in range(self.n_features_in_)] if features is None else list(features)
        index = getattr(X, "index", None)
        samples = np.arange(draws.shape[1]) if index is None else np.asarray(index)
        return xr.DataArray(
            draws,
            dims=("draw", "sample", "feature"),
            coords={"draw": np.arange(n_draws), "sample": samples, "feature": features},
            name="imputed",
        )

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
        if self._fitted.noise is not None:
            raise ValueError(
                "sample() is not available for a mixture with a noise component (its region is known only by "
                "its volume); sample the Gaussian part with a GaussianMixture fitted without noise."
            )
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
        """The fit as a labeled :class:`xarray.DataTree` (see :mod:`gmm_numba.results.tree`).

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
        from .data.labeled import as_labeled
        from .results.convert import fitted_to_tree

        self._check_is_fitted()
        labeled = None if X is None else as_labeled(X, sample_dim)
        settings = {name: getattr(self, name) for name in RECORDED_SETTINGS}
        return fitted_to_tree(
            self._fitted, settings, labeled, observed_data=observed_data, log_likelihood=log_likelihood
        )

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
        from .results.convert import best_run_trace, fitted_from_tree

        fitted, settings = fitted_from_tree(tree)
        estimator = cls(**settings)
        estimator._set_fitted(fitted)
        trace = best_run_trace(tree)
        if trace is not None:
            estimator.converged_, estimator.lower_bounds_ = trace
            estimator.n_iter_ = len(estimator.lower_bounds_)
            estimator.lower_bound_ = estimator.lower_bounds_[-1] if estimator.lower_bounds_ else float("nan")
        return estimator

    # ---------------------------------------------------------------- criteria
    def n_parameters(self):
        """Free parameters: means, K - 1 weights and the covariances; 2 more with a noise component (as mclust)."""
        self._check_is_fitted()
        return self._fitted.n_parameters()

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
