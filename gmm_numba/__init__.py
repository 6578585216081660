"""gmm_numba: Gaussian mixture models by EM, with fused Numba kernels."""

from . import accessor as _accessor  # noqa: F401  (registers the .gmm accessor)
from .api import fit
from .bootstrap import bootstrap
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
from .results import load
from .selection import select
from .summary import describe, summary, to_inference_data

__version__ = "0.1.0"

__all__ = [
    "GaussianMixture",
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
