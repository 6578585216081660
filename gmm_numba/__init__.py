"""gmm_numba: Gaussian mixture models by EM, with fused Numba kernels."""

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
    "available_models",
    "ConvergenceWarning",
    "EmptyComponentError",
    "FitError",
    "NotFittedError",
    "NumericalError",
    "SingularCovarianceError",
    "__version__",
]
