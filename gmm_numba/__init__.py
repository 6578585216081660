"""gmm_numba: Gaussian mixture models by EM, with fused Numba kernels."""

import sys as _sys

from ._lazy import LazyPackage as _LazyPackage
from ._lazy import register_accessor_with_xarray as _register_accessor_with_xarray
from .classifier import GaussianMixtureClassifier
from .covariance import available_models
from .errors import (
    ConvergenceWarning,
    EmptyComponentError,
    FitError,
    NotFittedError,
    NumericalError,
    SingularCovarianceError,
)
from .estimator import GaussianMixture

__version__ = "0.1.0"

__all__ = [
    "GaussianMixture",
    "GaussianMixtureClassifier",
    "fit",
    "select",
    "bootstrap",
    "load",
    "summary",
    "describe",
    "to_inference_data",
    "available_models",
    "ConvergenceWarning",
    "EmptyComponentError",
    "FitError",
    "NotFittedError",
    "NumericalError",
    "SingularCovarianceError",
    "__version__",
]

# fit, select, bootstrap, load, summary, describe and to_inference_data import
# xarray, pandas or scipy.optimize: they load on first use (see gmm_numba._lazy)
_sys.modules[__name__].__class__ = _LazyPackage
_register_accessor_with_xarray()
