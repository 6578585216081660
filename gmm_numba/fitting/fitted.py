"""A fitted mixture together with what it was fitted on: the core object every entry point wraps."""

from dataclasses import dataclass

import numpy as np

from ..data.checks import check_data, check_feature_names, feature_names
from ..data.dispatch import is_out_of_core, out_of_core_scores
from ..data.in_memory import per_sample_scores
from ..data.missing import conditional_draws, has_nan, missing_scores
from ..data.noise import noisy_scores
from ..errors import NumericalError
from .noise import count_with_noise


@dataclass
class FittedMixture:
    """Parameters of a fitted mixture and the shape of the data it was fitted on.

    Attributes
    ----------
    parameters : MixtureParameters
    n_features : int
    feature_names : ndarray of shape (n_features,) or None
        Column names of the training DataFrame (strings only), else None.
    em_fit : EMFit or None
        The runs that produced the fit; None for a mixture loaded from a result.
    noise : NoiseComponent or None
        The uniform noise component, if the mixture has one (the Gaussian
        weights then sum to ``1 - noise.weight``).
    missing : {"error", "marginalize"}
        Whether NaN in new data is an error or a missing entry, scored by the
        density of the row's observed entries.
    """

    parameters: object
    n_features: int
    feature_names: object = None
    em_fit: object = None
    noise: object = None
    missing: str = "error"

    def n_parameters(self):
        """Free parameters, the noise component's included (:func:`~gmm_numba.fitting.noise.count_with_noise`)."""
        return count_with_noise(self.parameters.n_parameters(), self.noise)

    def check_input(self, X, estimator="GaussianMixture", allow_nan=None):
        """``X`` as an array checked against the training data's features (scikit-learn's rules).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        estimator : str
        allow_nan : bool, optional
            Accept NaN (missing entries); default: when the mixture was fitted with ``missing="marginalize"``.

        Returns
        -------
        ndarray of shape (n_samples, n_features)

        Raises
        ------
        ValueError
            Another number of features, or invalid values; the message names ``estimator``.
        """
        check_feature_names(feature_names(X), self.feature_names, hasattr(X, "columns"), estimator)
        allow_nan = self.missing == "marginalize" if allow_nan is None else allow_nan
        return check_data(X, n_features=self.n_features, estimator=estimator, allow_nan=allow_nan)

    def scores(self, X, with_responsibilities=False, estimator="GaussianMixture"):
        """Per-sample ``(log_density, labels, responsibilities)``.

        Dask input gives lazy Dask arrays, a large memory map is scored chunk
        by chunk; anything else is checked and scored in memory.

        Raises
        ------
        NumericalError
            A row whose log-density is not finite.
        """
        log_noise = None if self.noise is None else self.noise.log_density
        if is_out_of_core(X):
            return out_of_core_scores(X, self.parameters, with_responsibilities, self.n_features, estimator, log_noise)
        X = self.check_input(X, estimator)
        if log_noise is not None:
            scores = noisy_scores(X, self.parameters, log_noise, with_responsibilities)
        elif self.missing == "marginalize" and has_nan(X):
            scores = missing_scores(X, self.parameters, with_responsibilities)[:3]
        else:
            scores = per_sample_scores(X, self.parameters, with_responsibilities)
        check_finite_scores(scores[0])
        return scores

    def impute(self, X, estimator="GaussianMixture"):
        """``X`` with each missing entry replaced by its conditional expectation under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing entry.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            ``E[x_m | x_o] = sum_k p(k | x_o) E_k[x_m | x_o]`` in place of
            each missing entry; observed entries unchanged (bit for bit, in
            ``X``'s float dtype). A row with every entry missing gets the
            mixture's mean.
        """
        X = self.check_input(X, estimator, allow_nan=True)
        if not has_nan(X):
            return X.copy()
        return missing_scores(X, self.parameters, with_imputed=True)[3]

    def imputation_draws(self, X, n_draws, rng, estimator="GaussianMixture"):
        """Draws of each missing entry from its conditional distribution (multiple imputation).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_draws : int
        rng : numpy.random.Generator

        Returns
        -------
        ndarray of shape (n_draws, n_samples, n_features)
            Observed entries unchanged in every draw; see :func:`~gmm_numba.data.missing.conditional_draws`.
        """
        X = self.check_input(X, estimator, allow_nan=True)
        return conditional_draws(X, self.parameters, n_draws, rng)


def check_finite_scores(log_density):
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
