"""Exception and warning types raised by gmm_numba.

Every error is a ``ValueError`` or ``TypeError`` subclass, so code written
for scikit-learn's conventions catches them.
"""


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (scikit-learn's convention)."""


class FitError(ValueError):
    """EM could not produce a valid mixture from this data and these settings."""


class SingularCovarianceError(FitError):
    """A component's covariance matrix is not positive definite."""


class EmptyComponentError(FitError):
    """A component lost (almost) all of its weight during EM."""


class NumericalError(FitError):
    """The log-likelihood became NaN or infinite."""


class ConvergenceWarning(UserWarning):
    """The best EM run stopped at ``max_iter`` before meeting ``tol``."""
