"""Exception and warning types raised by gmm_numba.

Every error is a ``ValueError`` or ``TypeError`` subclass, so code written
for scikit-learn's conventions catches them.
"""

import os
import sys
import warnings


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (scikit-learn's convention).

    When scikit-learn is imported, the instances raised are also instances
    of ``sklearn.exceptions.NotFittedError`` (see :func:`not_fitted_error`),
    without scikit-learn being a dependency.
    """


class FitError(ValueError):
    """EM could not produce a valid mixture from this data and these settings."""


class SingularCovarianceError(FitError):
    """A component's covariance matrix is not positive definite."""


class EmptyComponentError(FitError):
    """A component lost (almost) all of its weight during EM."""


class NumericalError(FitError):
    """The log-likelihood became NaN or infinite."""


class NotSupportedError(ValueError, NotImplementedError):
    """Valid input and settings whose combination is not implemented (yet); the message says what to do instead."""


class ConvergenceWarning(UserWarning):
    """The best EM run stopped at ``max_iter`` before meeting ``tol``."""


_SKLEARN_COMPATIBLE = {}


def _rebuild_sklearn_not_fitted(*args):
    return _sklearn_not_fitted_class()(*args)


def _reduce_sklearn_not_fitted(self):
    return (_rebuild_sklearn_not_fitted, self.args)


def _sklearn_not_fitted_class():
    """:class:`NotFittedError` that also derives from scikit-learn's (created once, on demand).

    It shows as ``gmm_numba.errors.NotFittedError`` and pickles by rebuilding
    itself, so it needs no module-level name.
    """
    cls = _SKLEARN_COMPATIBLE.get("NotFittedError")
    if cls is None:
        from sklearn.exceptions import NotFittedError as SklearnNotFittedError

        cls = type(
            "NotFittedError",
            (NotFittedError, SklearnNotFittedError),
            {
                "__module__": __name__,
                "__qualname__": "NotFittedError",
                "__doc__": NotFittedError.__doc__,
                "__reduce__": _reduce_sklearn_not_fitted,
            },
        )
        _SKLEARN_COMPATIBLE["NotFittedError"] = cls
    return cls


def not_fitted_error(estimator_name):
    """The error to raise when a method needs a fitted estimator.

    Parameters
    ----------
    estimator_name : str

    Returns
    -------
    NotFittedError
        Also a ``sklearn.exceptions.NotFittedError`` when scikit-learn has
        been imported, so ``check_is_fitted``-style code catches it.
    """
    message = (
        f"This {estimator_name} instance is not fitted yet. Call 'fit' with "
        "appropriate arguments before using this estimator."
    )
    cls = NotFittedError
    if "sklearn" in sys.modules:
        try:
            cls = _sklearn_not_fitted_class()
        except ImportError:  # a broken or partial scikit-learn install
            cls = NotFittedError
    return cls(message)


def warn_at_caller(message, category):
    """Issue a warning attributed to the first caller outside gmm_numba."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    level = 2  # 1 would be this function, 2 its caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def one_line(text):
    """``text`` on one line (multi-line messages, such as a list of reasons, joined by '; ')."""
    lines = [line.strip() for line in str(text).splitlines()]
    lines = [line[2:].strip() if line.startswith("- ") else line for line in lines]  # list bullets
    lines = [line for line in lines if line]
    if not lines:
        return ""
    out = lines[0]
    for line in lines[1:]:
        out += (" " if out.endswith(":") else "; ") + line
    return out
