"""Classification by Gaussian mixtures: one mixture per class, Bayes' rule between them (mclust's MclustDA and EDDA)."""

import warnings
from dataclasses import replace

import numpy as np

from ._sklearn_params import ParamsMixin
from .covariance import get_model, mclust_names
from .data.checks import check_data, check_feature_names, feature_names
from .data.in_memory import InMemoryData, per_sample_scores
from .data.statistics import SufficientStatistics
from .errors import FitError, not_fitted_error
from .estimator import GaussianMixture
from .fitting.checks import check_param, check_random_state
from .fitting.fitted import FittedMixture, check_finite_scores
from .fitting.parameters import MixtureParameters, m_step
from .fitting.regularization import check_reg_covar, resolve_reg_covar

METHODS = ("MclustDA", "EDDA")

#: Rows a class needs: a mixture cannot be fitted to fewer (select's minimum).
MIN_ROWS_PER_CLASS = 2

_NAME = "GaussianMixtureClassifier"

# select's defaults, repeated because gmm_numba.selection imports xarray, which
# `import gmm_numba` must not (tests/test_classifier.py checks they agree)
DEFAULT_COVARIANCE_TYPES = tuple(mclust_names())
DEFAULT_N_INIT = 5
DEFAULT_TOL = 1e-8


class GaussianMixtureClassifier(ParamsMixin):
    """Classifier with a Gaussian mixture per class (mclust's MclustDA and EDDA).

    Each class's density is a Gaussian mixture fitted to that class's rows;
    a new point goes to the class of highest posterior probability
    ``p(c | x) ∝ prior_c p(x | c)`` (Bayes' rule).

    Parameters
    ----------
    method : {"MclustDA", "EDDA"}, default="MclustDA"
        ``"MclustDA"``: for every class, the number of components and the
        covariance model with the best BIC (:func:`gmm_numba.select` on the
        class's rows). ``"EDDA"``: one component per class, the classes being
        the components of one mixture with known labels; one covariance model
        for all classes, chosen by the BIC of that mixture (as mclust: there
        ``"EEE"`` is linear discriminant analysis, with one covariance shared
        by the classes, and ``"VVV"`` quadratic).
    n_components : int, iterable of int or dict, default=(1, 2, 3, 4, 5)
        The numbers of components swept per class (MclustDA; mclust's
        ``G = 1:5``). A dict maps each class to its own (mclust's ``G`` as a list).
    covariance_type : str, iterable of str or dict, default: mclust's fourteen models
        The covariance models swept (mclust or scikit-learn names). With
        MclustDA, a dict maps each class to its own.
    priors : array-like of shape (n_classes,), optional
        Prior class probabilities, in the order of ``classes_``: positive,
        summing to 1. By default the class proportions of the training data.
    n_init : int, default=5
    random_state : int, numpy Generator or None
    reg_covar : float or "auto", default=1e-6
    tol : float, default=1e-8
    max_iter : int, default=2000
        Passed to :func:`gmm_numba.select` (MclustDA); ``reg_covar`` also to
        the M-step of EDDA.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    priors_ : ndarray of shape (n_classes,)
    class_counts_ : ndarray of shape (n_classes,)
    models_ : dict
        Class label -> fitted :class:`GaussianMixture` of that class.
    chosen_ : dict
        Class label -> ``{"covariance_type": str, "n_components": int, "bic": float}``
        (EDDA: the BIC of the joint mixture).
    selection_ : dict or xarray.Dataset
        MclustDA: class label -> the ``selection`` table of :func:`gmm_numba.select`.
        EDDA: a Dataset of log-likelihood, parameter count and BIC per covariance model.
    n_iter_ : ndarray of shape (n_classes,)
        EM iterations of each class's chosen fit (EDDA: 1, the labels give the one M-step).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.
    """

    def __init__(
        self,
        method="MclustDA",
        *,
        n_components=(1, 2, 3, 4, 5),
        covariance_type=DEFAULT_COVARIANCE_TYPES,
        priors=None,
        n_init=DEFAULT_N_INIT,
        random_state=None,
        reg_covar=1e-6,
        tol=DEFAULT_TOL,
        max_iter=2000,
    ):
        self.method = method
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.priors = priors
        self.n_init = n_init
        self.random_state = random_state
        self.reg_covar = reg_covar
        self.tol = tol
        self.max_iter = max_iter

    # --------------------------------------------------------------------- fit
    def fit(self, X, y):
        """Fit a mixture to each class's rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels: numbers or strings.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Invalid parameters or data, missing, NaN or continuous labels, a
            single class, a class with fewer than 2 rows, or ``priors`` that
            are not positive, sum to 1 and one per class.
        FitError
            No model could be fitted to some class (the message names it).
        """
        check_param("method", self.method, "option", options=METHODS)
        check_param("n_init", self.n_init, "int", low=1)
        check_reg_covar(self.reg_covar)
        arr = check_data(X, min_samples=1, estimator=_NAME)
        classes, codes = check_labels(y, arr.shape[0])
        labels = [_plain(c) for c in classes]
        counts = np.bincount(codes, minlength=len(classes))
        too_few = np.flatnonzero(counts < MIN_ROWS_PER_CLASS)
        if too_few.size:
            c = too_few[0]
            raise ValueError(
                f"class {labels[c]!r} has {counts[c]} row(s); {_NAME} fits a mixture to each class and needs "
                f"at least {MIN_ROWS_PER_CLASS} rows per class."
            )
        priors = check_priors(self.priors, labels, counts)
        if self.method == "MclustDA":
            models, chosen, selection = self._fit_mclustda(arr, codes, labels)
        else:
            models, chosen, selection = self._fit_edda(arr, codes, labels)
        self.classes_, self.class_counts_, self.priors_ = classes, counts, priors
        self.models_, self.chosen_, self.selection_ = models, chosen, selection
        self.n_iter_ = np.array([getattr(models[c], "n_iter_", 1) for c in labels], dtype=np.int64)
        self.n_features_in_ = arr.shape[1]
        names = feature_names(X)
        if names is not None:
            self.feature_names_in_ = names
            for model in models.values():  # the class mixtures carry the names too (and to_xarray labels by them)
                model._set_fitted(replace(model._fitted, feature_names=names))
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def _fit_mclustda(self, X, codes, classes):
        """Per class, :func:`gmm_numba.select` on its rows; the best cell as a GaussianMixture."""
        from .selection import select

        rng = check_random_state(self.random_state)
        models, chosen, selection = {}, {}, {}
        for c, label in enumerate(classes):
            seed = int(rng.integers(0, 2**63 - 1))
            try:
                tree = select(
                    X[codes == c],
                    n_components=for_class(self.n_components, label, "n_components"),
                    covariance_type=for_class(self.covariance_type, label, "covariance_type"),
                    n_init=self.n_init,
                    random_state=seed,
                    reg_covar=self.reg_covar,
                    tol=self.tol,
                    max_iter=self.max_iter,
                    progress=False,
                )
            except FitError as exc:
                raise type(exc)(f"class {label!r}: {exc}") from exc
            table = tree["selection"].to_dataset()
            best = (table.attrs["best_covariance_type"], table.attrs["best_n_components"])
            models[label] = GaussianMixture.from_xarray(tree)
            chosen[label] = _choice(best[0], best[1], float(tree["criteria"]["bic"]))
            selection[label] = table
        return models, chosen, selection

    def _fit_edda(self, X, codes, classes):
        """One mixture whose components are the classes (labels known), the covariance model by BIC."""
        import xarray as xr

        from .selection.plan import models_for

        if isinstance(self.covariance_type, dict):
            raise ValueError("EDDA shares one covariance model between the classes: covariance_type cannot be a dict.")
        names = [self.covariance_type] if isinstance(self.covariance_type, str) else list(self.covariance_type)
        if not names:
            raise ValueError("covariance_type is empty; give at least one model, such as 'VVV'.")
        names, models = models_for(names, [get_model(name) for name in names], X.shape[1])
        stats = class_statistics(X, codes, len(classes))
        table = {key: np.full(len(models), np.nan) for key in ("log_likelihood", "n_parameters", "bic")}
        errors, fits = [""] * len(models), {}
        reg = resolve_reg_covar(self.reg_covar, InMemoryData(X))
        for i, model in enumerate(models):
            try:
                params = m_step(model, stats, reg)
                log_likelihood = float(per_sample_scores(X, params)[0].sum())
            except FitError as exc:
                errors[i] = str(exc)
                continue
            # mclust's EDDA counts no mixing proportions (bic(..., equalPro = TRUE))
            n_parameters = params.n_parameters() - (len(classes) - 1)
            bic = -2.0 * log_likelihood + n_parameters * np.log(X.shape[0])
            if np.isfinite(bic):
                for key, value in zip(table, (log_likelihood, n_parameters, bic)):
                    table[key][i] = value
                fits[i] = params
        if not fits:
            raise FitError("EDDA: every covariance model failed:\n" + "\n".join(f"- {e}" for e in sorted(set(errors))))
        best = int(np.nanargmin(table["bic"]))
        params = fits[best]
        full = params.full_covariances()
        models_, chosen = {}, {}
        for c, label in enumerate(classes):
            single = MixtureParameters.from_covariances(
                params.model, np.ones(1), params.means[c : c + 1], params.model.from_full_covariances(full[c : c + 1])
            )
            models_[label] = _fitted_estimator(single, X.shape[1], self)
            chosen[label] = _choice(names[best], 1, float(table["bic"][best]))
        selection = xr.Dataset(
            {key: ("covariance_type", values) for key, values in table.items()}
            | {"error": ("covariance_type", np.asarray(errors, dtype=str))},
            coords={"covariance_type": list(names)},
            attrs={"criterion": "bic", "best_covariance_type": names[best]},
        )
        return models_, chosen, selection

    # ----------------------------------------------------------------- predict
    def _check_is_fitted(self):
        if not hasattr(self, "models_"):
            raise not_fitted_error(_NAME)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "models_")

    def _joint_log_density(self, X):
        """``log prior_c + log p(x | c)``, shape (n_samples, n_classes)."""
        self._check_is_fitted()
        check_feature_names(feature_names(X), getattr(self, "feature_names_in_", None), hasattr(X, "columns"), _NAME)
        arr = check_data(X, n_features=self.n_features_in_, estimator=_NAME)
        log_density = np.column_stack([per_sample_scores(arr, self.models_[c]._parameters)[0] for c in self.classes_])
        return log_density + np.log(self.priors_)

    def predict_log_proba(self, X):
        """Log posterior class probabilities ``log p(c | x)`` (Bayes' rule, log-sum-exp).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.

        Raises
        ------
        NumericalError
            A row that lies too far from every class for floating point.
        """
        joint = self._joint_log_density(X)
        return joint - log_sum_exp(joint)[:, None]

    def predict_proba(self, X):
        """Posterior class probabilities ``p(c | x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to 1.
        """
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """The class of highest posterior probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        best = np.argmax(self.predict_log_proba(X), axis=1)
        return self.classes_[best]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        float
        """
        correct = self.predict(X) == np.asarray(y).reshape(-1)
        return float(np.average(correct, weights=sample_weight))

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            input_tags=InputTags(allow_nan=False, sparse=False),
            transformer_tags=None,
            classifier_tags=ClassifierTags(multi_class=True, multi_label=False, poor_score=False),
            regressor_tags=None,
        )

    # ------------------------------------------------------------ the results
    def summary(self):
        """What was chosen for each class: rows, prior, covariance model, components and BIC.

        Returns
        -------
        str
        """
        self._check_is_fitted()
        lines = [f"{_NAME} ({self.method}), {len(self.classes_)} classes, {self.n_features_in_} features"]
        width = max(len(str(c)) for c in self.classes_)
        for label, count, prior in zip(self.classes_, self.class_counts_, self.priors_):
            choice = self.chosen_[label]
            lines.append(
                f"  class {str(label):<{width}}  n={count:<5d} prior={prior:.4f}  "
                f"{choice['covariance_type']} K={choice['n_components']}  BIC={choice['bic']:.6g}"
            )
        if self.method == "EDDA":
            lines.append("  (EDDA: one covariance model for all classes; BIC of the joint mixture)")
        return "\n".join(lines)

    def to_xarray(self):
        """The fit as a labeled :class:`xarray.DataTree`: one group per class.

        The root holds the classes, their counts and priors, and the method;
        group ``class_<label>`` is that class's mixture in the layout of
        :meth:`GaussianMixture.to_xarray` (with, for MclustDA, its
        ``selection`` table). EDDA's BIC per covariance model is in ``selection``.

        Returns
        -------
        xarray.DataTree
        """
        import xarray as xr

        self._check_is_fitted()
        root = xr.Dataset(
            {"prior": ("class", self.priors_), "count": ("class", self.class_counts_)},
            coords={"class": self.classes_},
            attrs={
                "method": self.method,
                "chosen_covariance_type": [self.chosen_[c]["covariance_type"] for c in self.classes_],
                "chosen_n_components": [self.chosen_[c]["n_components"] for c in self.classes_],
            },
        )
        children = {}
        for label in self.classes_:
            tree = self.models_[label].to_xarray()
            if self.method == "MclustDA":
                tree["selection"] = xr.DataTree(self.selection_[label])
            children[f"class_{label}"] = tree
        if self.method == "EDDA":
            children["selection"] = xr.DataTree(self.selection_)
        return xr.DataTree(dataset=root, children=children)


# ---------------------------------------------------------------- helpers
def _plain(label):
    """A class label as a Python scalar (``1``, ``'a'``), for dict keys and messages."""
    return label.item() if isinstance(label, np.generic) else label


def _choice(covariance_type, n_components, bic):
    return {"covariance_type": str(covariance_type), "n_components": int(n_components), "bic": bic}


def _fitted_estimator(params, n_features, classifier):
    """A fitted :class:`GaussianMixture` holding ``params``, with the classifier's settings."""
    estimator = GaussianMixture(
        params.n_components,
        covariance_type=params.model.name,
        reg_covar=classifier.reg_covar,
        tol=classifier.tol,
        max_iter=classifier.max_iter,
        random_state=classifier.random_state,
    )
    estimator._set_fitted(FittedMixture(params, n_features))
    return estimator


def for_class(value, label, name):
    """``value[label]`` when ``value`` is a dict (one setting per class), else ``value``."""
    if not isinstance(value, dict):
        return value
    if label not in value:
        raise ValueError(f"{name} is a dict without an entry for class {label!r}; it has {sorted(value, key=str)}.")
    return value[label]


def class_statistics(X, codes, n_classes):
    """Sufficient statistics of the partition of ``X`` by the class labels, about the class means.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    codes : ndarray of shape (n_samples,)
        Class index of each row, 0 .. n_classes - 1.
    n_classes : int

    Returns
    -------
    SufficientStatistics
        With full second moments, shape (n_classes, n_features, n_features).
    """
    X = np.asarray(X, dtype=np.float64)
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    means = np.stack([X[codes == c].mean(axis=0) for c in range(n_classes)])
    centred = X - means[codes]
    s2 = np.stack([centred[codes == c].T @ centred[codes == c] for c in range(n_classes)])
    return SufficientStatistics(counts.sum(), np.nan, np.nan, counts, np.zeros_like(means), s2, means)


def log_sum_exp(a):
    """``log(sum(exp(a), axis=1))`` without overflow, shape (n_rows,).

    Raises
    ------
    NumericalError
        A row where every entry is ``-inf`` (or not finite).
    """
    top = np.max(a, axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        total = safe + np.log(np.exp(a - safe[:, None]).sum(axis=1))
    check_finite_scores(total)
    return total


def check_labels(y, n_samples):
    """The sorted classes and each row's class index, as scikit-learn classifiers check ``y``.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1)
    n_samples : int
        Rows of ``X``.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
    codes : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        ``y`` missing, of another length than ``X``, with several columns,
        NaN, continuous values, or a single class.
    """
    if y is None:
        raise ValueError(f"{_NAME} requires y to be passed, but the target y is None.")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        _warn_column_vector()
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y should be a 1d array of class labels, got an array of shape {y.shape} instead.")
    if y.shape[0] != n_samples:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: [{n_samples}, {y.shape[0]}].")
    if y.dtype.kind == "f" and np.isnan(y).any() or y.dtype == object and any(v is None or v != v for v in y):
        raise ValueError("Input y contains NaN (or None): every row needs a class label.")
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise ValueError(
            "Unknown label type: continuous. Maybe you are trying to fit a classifier, which expects discrete "
            "classes on a regression target with continuous values."
        )
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"{_NAME} needs samples of at least 2 classes in the data, but the data contains only one class: "
            f"{_plain(classes[0]) if len(classes) else None!r}."
        )
    return classes, codes.reshape(-1)


def _warn_column_vector():
    try:
        from sklearn.exceptions import DataConversionWarning as category
    except ImportError:  # scikit-learn is not a dependency
        category = UserWarning
    warnings.warn(
        "A column-vector y was passed when a 1d array was expected. Please change the shape of y to "
        "(n_samples,), for example using ravel().",
        category,
        stacklevel=4,
    )


def check_priors(priors, classes, counts):
    """The prior class probabilities: ``priors`` checked, or the class proportions.

    Parameters
    ----------
    priors : array-like of shape (n_classes,) or None
    classes : list of length n_classes
    counts : ndarray of shape (n_classes,)

    Returns
    -------
    ndarray of shape (n_classes,)

    Raises
    ------
    ValueError
        Not one positive number per class, or not summing to 1.
    """
    if priors is None:
        return counts / counts.sum()
    try:
        values = np.asarray(priors, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"priors must be an array of numbers, one per class; got {priors!r}.") from None
    if values.shape[0] != len(classes):
        raise ValueError(f"priors has {values.shape[0]} value(s) but y has {len(classes)} classes {list(classes)}.")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"priors must be positive and finite; got {values.tolist()}.")
    if not np.isclose(values.sum(), 1.0, rtol=0, atol=1e-8):
        raise ValueError(f"priors must sum to 1; they sum to {values.sum():.10g}.")
    return values / values.sum()
