"""The settings of one fit, validated once, for every entry point.

:class:`GaussianMixture`, :func:`gmm_numba.fit`, a saved result's recorded
settings and :func:`gmm_numba.bootstrap` all describe a fit with the same
hyper-parameters; :class:`FitSettings` checks them in one place.
"""

import inspect
from dataclasses import dataclass, replace

from ..covariance import get_model
from .checks import check_init_array, check_param, check_precisions_init, check_weights_init
from .noise import check_noise
from .prior import check_prior, check_prior_model
from .regularization import check_reg_covar
from .starts import DEFAULT_INIT_SAMPLE_SIZE, INIT_METHODS

#: Settings recorded as attributes of a result (and read back when it is loaded).
RECORDED_SETTINGS = ("tol", "reg_covar", "max_iter", "n_init", "init_params", "random_state", "missing", "prior")

#: ``missing``: NaN is an error, or marks a missing entry to marginalise (:mod:`gmm_numba.data.missing`).
MISSING_OPTIONS = ("error", "marginalize")


@dataclass(frozen=True)
class FitSettings:
    """Hyper-parameters of one EM fit (scikit-learn's ``GaussianMixture`` parameters).

    Build it with :meth:`validated`, which checks every value and resolves
    the covariance model. The meaning of each field is documented on
    :class:`gmm_numba.GaussianMixture`.

    Attributes
    ----------
    model : CovarianceModel
        The model named by ``covariance_type``.
    """

    n_components: int = 1
    covariance_type: object = "full"
    tol: float = 1e-3
    reg_covar: object = 1e-6
    max_iter: int = 100
    n_init: int = 1
    init_params: str = "k-means++"
    weights_init: object = None
    means_init: object = None
    precisions_init: object = None
    random_state: object = None
    verbose: int = 0
    init_sample_size: int = DEFAULT_INIT_SAMPLE_SIZE
    callback: object = None
    noise: object = None
    noise_volume: object = None
    missing: str = "error"
    prior: object = None
    model: object = None

    @classmethod
    def validated(cls, **settings):
        """Settings with every value checked.

        Raises
        ------
        TypeError, ValueError
            Naming the setting, its value and what is allowed.
        """
        check_param("n_components", settings.get("n_components", 1), "int", low=1)
        model = get_model(settings.get("covariance_type", "full"))
        out = cls(**settings, model=model)
        check_param("tol", out.tol, "float", low=0)
        check_reg_covar(out.reg_covar)
        check_param("max_iter", out.max_iter, "int", low=1)
        check_param("n_init", out.n_init, "int", low=1)
        check_param("init_params", out.init_params, "option", options=INIT_METHODS)
        if out.init_params == "hc" and out.n_init > 1:
            raise ValueError(
                f"init_params='hc' gives one deterministic start (mclust's hierarchical clustering), so "
                f"n_init={out.n_init} would repeat it; use n_init=1, or init_params='k-means++' for several starts."
            )
        check_param("verbose", out.verbose, "int", low=0)
        check_param("init_sample_size", out.init_sample_size, "int", low=1)
        check_callback(out.callback)
        if check_noise(out.noise, out.noise_volume) is None and out.noise is not None:
            out = replace(out, noise=None)  # noise=False means no noise component
        check_param("missing", out.missing, "option", options=MISSING_OPTIONS)
        out = replace(out, prior=check_prior(out.prior))
        check_prior_model(out.prior, model)
        return out

    def user_init(self, n_features):
        """``(weights, means, precisions)`` from the ``*_init`` settings (None where not given).

        Raises
        ------
        TypeError, ValueError
            An array of the wrong shape or with invalid values.
        """
        k = self.n_components
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = check_weights_init(self.weights_init, k)
        if self.means_init is not None:
            means = check_init_array(self.means_init, "means_init", (k, n_features))
        if self.precisions_init is not None:
            precisions = check_precisions_init(self.precisions_init, self.model, k, n_features)
            # the model's own checks (its factorisation) run too
            self.model.precisions_cholesky_from_precisions(precisions)
        return weights, means, precisions

    def sample_requirement(self):
        """Fewest rows a fit accepts, and why."""
        k = self.n_components
        if k >= 2:
            return k, f"n_components={k} needs at least as many samples as components"
        return 2, "estimating a covariance needs at least 2 samples"


def check_callback(callback):
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


def checked_callback(callback):
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
