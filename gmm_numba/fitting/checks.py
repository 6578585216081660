"""Checks of settings (hyper-parameters, seeds, user-given initial parameters).

Every message names the argument, the offending value and what is allowed.
"""

import math
import numbers

import numpy as np

from ..data.checks import as_real_array, plural


def _check_option(name, value, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(map(repr, options))}.")
    return value


def _check_range(name, value, low, high, low_inclusive):
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and value > high
    if too_low or too_high:
        bounds = []
        if low is not None:
            bounds.append(f"{'>=' if low_inclusive else '>'} {low}")
        if high is not None:
            bounds.append(f"<= {high}")
        raise ValueError(f"{name}={value!r} is out of range; it must be {' and '.join(bounds)}.")


def _is_finite_real(value):
    """Whether a real number is finite; Python ints beyond float range count as not finite."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def check_param(name, value, kind, *, low=None, high=None, low_inclusive=True, options=None):
    """Validate one hyper-parameter; raise a message naming it, its value and what is allowed.

    Parameters
    ----------
    name : str
    value : object
    kind : {"int", "float", "bool", "option"}
    low, high : number, optional
        Bounds (``high`` inclusive).
    low_inclusive : bool
    options : sequence of str, optional
        Allowed values for ``kind="option"``.

    Returns
    -------
    object
        ``value`` (a Python bool for ``kind="bool"``).

    Raises
    ------
    TypeError
        A value of the wrong type (``"3"`` or ``1.5`` for an int; booleans
        are not accepted as numbers).
    ValueError
        A value out of range, a non-finite float, an unknown option.
    """
    if kind == "option":
        return _check_option(name, value, options)
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r} of type {type(value).__name__}.")
        return bool(value)
    wanted = numbers.Integral if kind == "int" else numbers.Real
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, wanted):
        what = "an integer" if kind == "int" else "a real number"
        raise TypeError(f"{name} must be {what}, got {value!r} of type {type(value).__name__}.")
    if kind == "float" and not _is_finite_real(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    _check_range(name, value, low, high, low_inclusive)
    return value


def check_random_state(random_state):
    """A :class:`numpy.random.Generator` from None, an int, a Generator or a RandomState.

    Raises
    ------
    TypeError
        Any other type (booleans and strings included).
    ValueError
        A negative seed.
    """
    if isinstance(random_state, (bool, np.bool_)):
        raise TypeError(f"random_state must be None, an int, a numpy Generator or RandomState, got {random_state!r}.")
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state={random_state} is out of range; a seed must be >= 0.")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or RandomState, "
        f"got {random_state!r} of type {type(random_state).__name__}."
    )


def check_init_array(value, name, shape):
    """A user-given initial parameter as a finite float64 array of ``shape``.

    Raises
    ------
    TypeError
        Non-numeric values.
    ValueError
        Complex values, the wrong shape, NaN or infinity (with the first position).
    """
    arr = np.array(as_real_array(value, name))
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, but has shape {arr.shape}.")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        raise ValueError(
            f"{name} contains NaN or infinity at {plural(len(bad), 'position')} "
            f"(first: {name}[{', '.join(map(str, bad[0]))}] = {arr[tuple(bad[0])]})."
        )
    return arr


def check_weights_init(value, n_components):
    """Initial weights: shape ``(n_components,)``, in [0, 1], summing to 1 (renormalised exactly).

    Raises
    ------
    TypeError, ValueError
        As :func:`check_init_array`; also negative weights, weights above 1,
        or a sum that is not 1 (within 1e-6).
    """
    weights = check_init_array(value, "weights_init", (n_components,))
    bad = np.flatnonzero((weights < 0) | (weights > 1))
    if bad.size:
        raise ValueError(f"weights_init must lie in [0, 1], but weights_init[{bad[0]}] = {weights[bad[0]]}.")
    total = weights.sum()
    if not np.isclose(total, 1.0, rtol=0, atol=1e-6):
        raise ValueError(f"weights_init must sum to 1, but they sum to {total:.8g}.")
    return weights / total


def check_precisions_init(value, model, n_components, n_features):
    """Initial precisions in ``model``'s shape, each valid for that model.

    Parameters
    ----------
    value : array-like
        ``(K, D, D)`` for full, ``(D, D)`` for tied, ``(K, D)`` for diag,
        ``(K,)`` for spherical (``model.covariance_shape(K, D)``).
    model : CovarianceModel
    n_components, n_features : int

    Returns
    -------
    ndarray

    Raises
    ------
    TypeError, ValueError
        As :func:`check_init_array`; also matrices that are not symmetric
        or not positive definite (full-matrix models), or entries that are
        not positive (diagonal models).
    """
    shape = model.covariance_shape(n_components, n_features)
    precisions = check_init_array(value, "precisions_init", shape)
    model.check_precisions(precisions, "precisions_init")
    return precisions
