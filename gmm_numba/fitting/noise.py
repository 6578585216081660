"""EM for a Gaussian mixture with a uniform noise component (Banfield & Raftery 1993).

The mixture is ``p(x) = pi_0 / V + sum_k pi_k N(x | mu_k, Sigma_k)`` with
``pi_0 + sum_k pi_k = 1``: the noise component has density ``1 / V`` over
a region of volume ``V`` that holds the data (by default mclust's:
:func:`gmm_numba.data.volume.box_volume`; ``"hull"``: the convex hull's). The E-step is
:func:`gmm_numba.data.noise.noisy_statistics`, summed over the chunks of any
data source (in memory, memory map or Dask); the M-step is the covariance
model's own from those sums, with ``pi_0 = sum_n w_n r_n0 / sum_n w_n`` and
``pi_k = sum_n w_n r_nk / sum_n w_n``. The whole-run compiled path does not
apply: each iteration is an E-step here and a fused-kernel pass.

A fit starts from the noise flags: the flagged rows start in the noise
component (``pi_0`` their share of the weight) and the Gaussian components
start from a clustering of the other rows, as mclust's ``Mclust(...,
initialization = list(noise = ...))`` does. Out of core (:func:`noise_start`)
the rows read for the start are a uniform subsample of ``init_sample_size``
rows (all rows when there are no more): the unflagged ones start the
Gaussians, and with ``noise=True`` the clutter criterion runs on them.

The number of free parameters is the Gaussian model's plus 2, as mclust
(>= 6) counts it (``nMclustParams(..., noise = TRUE)``): one weight more
and the volume ``V`` (estimated from the data by default). BIC, AIC and ICL
use that count.
"""

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from ..data.in_memory import InMemoryData, subsample_indices
from ..data.noise import flagged_weight_chunk, nearest_neighbour_clutter, source_noisy_statistics
from ..data.volume import VOLUME_OPTIONS, region_volume
from ..errors import ConvergenceWarning, FitError, NumericalError, warn_at_caller
from .em import EMFit, EMRun, StopFit, _all_failed, starting_points
from .parameters import EMPTY_FRACTION, MixtureParameters, m_step

#: Free parameters a noise component adds (its weight and its volume), as mclust counts them.
NOISE_PARAMETERS = 2


@dataclass(frozen=True)
class NoiseComponent:
    """A uniform component of density ``1 / volume``.

    Attributes
    ----------
    weight : float
        Its mixing weight ``pi_0`` (the Gaussian weights sum to ``1 - pi_0``).
    volume : float
        ``V > 0``.
    region : {"box", "hull", "given"}
        How ``V`` was obtained: mclust's box volume, the convex hull's, or given as a number.
    """

    weight: float
    volume: float
    region: str = "box"

    def volume_setting(self):
        """The ``noise_volume`` setting that gives this ``V`` again: None, ``"hull"`` or the number."""
        return {"box": None, "hull": "hull"}.get(self.region, self.volume)

    @property
    def log_density(self):
        """``log(pi_0 / V)``, the log of its weighted density (``-inf`` for weight 0)."""
        with np.errstate(divide="ignore"):
            return float(np.log(self.weight)) - math.log(self.volume)


def check_noise(noise, noise_volume, n_samples=None):
    """Check the ``noise`` and ``noise_volume`` settings (``noise`` flags against ``n_samples`` when given).

    Parameters
    ----------
    noise : None, False, True or array-like of shape (n_samples,) of bool
    noise_volume : None, float > 0 or "hull"
    n_samples : int, optional

    Returns
    -------
    None, True or ndarray of shape (n_samples,), bool
        None: no noise component; True: flags from
        :func:`~gmm_numba.data.noise.nearest_neighbour_clutter`; an array: the user's flags.

    Raises
    ------
    TypeError, ValueError
        Naming the argument, what it got and what is allowed.
    """
    if isinstance(noise_volume, str):
        if noise_volume not in VOLUME_OPTIONS:
            raise ValueError(
                f"noise_volume must be None (mclust's box volume), {', '.join(map(repr, VOLUME_OPTIONS))} or a "
                f"positive number, got {noise_volume!r}."
            )
    elif noise_volume is not None:
        if isinstance(noise_volume, (bool, np.bool_)) or not isinstance(noise_volume, (int, float, np.number)):
            raise TypeError(f"noise_volume must be None, 'hull' or a positive number, got {noise_volume!r}.")
        if not (np.isfinite(noise_volume) and noise_volume > 0):
            raise ValueError(
                f"noise_volume must be a positive finite number (the region's volume), got {noise_volume!r}."
            )
    if noise is None or noise is False or (isinstance(noise, np.bool_) and not noise):
        if noise_volume is not None:
            raise ValueError(
                "noise_volume is given but noise is None: set noise=True (or row flags) to add a noise component."
            )
        return None
    if noise is True or isinstance(noise, np.bool_):
        return True
    if isinstance(noise, str):
        raise TypeError(
            f"noise must be None, True (flag clutter by nearest-neighbour distances) or a boolean array with "
            f"one flag per row, got the string {noise!r}."
        )
    flags = np.asarray(noise)
    if flags.dtype != bool:
        raise TypeError(
            f"noise row flags must be booleans (True where a row starts as noise), got dtype {flags.dtype}."
        )
    if flags.ndim != 1:
        raise ValueError(f"noise row flags must be one-dimensional (one flag per row), got shape {flags.shape}.")
    if n_samples is not None:
        check_noise_flags(flags, n_samples)
    return flags


def check_noise_flags(flags, n_samples):
    """Flags with one entry per row, some rows flagged and some not.

    Raises
    ------
    ValueError
    """
    if flags.shape != (n_samples,):
        raise ValueError(f"noise has {flags.shape[0]} row flags but X has {n_samples} rows.")
    n_flagged = int(np.count_nonzero(flags))
    if n_flagged == n_samples:
        raise ValueError("noise flags every row: at least the rows the Gaussian components start from must be False.")
    if n_flagged == 0:
        raise ValueError(
            "noise flags no row: a noise component that starts with weight 0 keeps it; flag some rows, "
            "or use noise=True to flag them by nearest-neighbour distances, or noise=None for no noise component."
        )


def noise_start(data, noise, noise_volume=None, sample_size=None, rng=None):
    """The starting noise weight, the volume ``V`` and the rows the Gaussian components start from.

    In memory every row is read; out of core (a source other than
    :class:`~gmm_numba.data.in_memory.InMemoryData`) a uniform subsample of
    ``sample_size`` rows drawn with ``rng`` (every row when there are no
    more). With ``noise=True`` the clutter criterion flags the read rows and
    ``pi_0`` starts at their flagged share; with row flags ``pi_0`` starts at
    the flagged share of the whole weight (one pass).

    Parameters
    ----------
    data : data source
    noise : True or ndarray of shape (n_samples,), bool
        As returned by :func:`check_noise`.
    noise_volume : None, float or "hull"
    sample_size : int, optional
        Rows read out of core (required then).
    rng : numpy.random.Generator, optional

    Returns
    -------
    start_rows : InMemoryData
        The read rows that are not flagged.
    start : NoiseComponent
        ``weight`` the flagged share of the weight; ``volume`` ``noise_volume`` or the data's.

    Raises
    ------
    ValueError
        Flags of the wrong shape, none or all rows flagged (also when the
        nearest-neighbour criterion finds no clutter), or data with no volume.
    """
    if noise is not True:
        check_noise_flags(noise, data.n_samples)
    volume = region_volume(data, noise_volume)
    if not (np.isfinite(volume) and volume > 0):
        raise ValueError(
            f"The data's region has volume {volume} (a constant feature, or too many features for floating "
            "point): give noise_volume= explicitly."
        )
    index = None if isinstance(data, InMemoryData) else subsample_indices(data.n_samples, sample_size, rng)
    X, w = data.take(index)
    if noise is True:
        flags = nearest_neighbour_clutter(X if w is None else X[w > 0])
        if w is not None:
            full = np.zeros(X.shape[0], dtype=bool)
            full[w > 0] = flags
            flags = full
        if not flags.any():
            raise ValueError(
                "noise=True found no clutter (the nearest-neighbour distances show one density): "
                "pass row flags to noise=..., or fit without noise."
            )
        weights = np.ones(X.shape[0]) if w is None else w
        flagged, total = float(weights[flags].sum()), float(weights.sum())
    else:
        flagged, total = data.map_rows(flagged_weight_chunk, rows=(noise,))
        flags = noise if index is None else noise[index]
    share = flagged / total
    if not 0 < share < 1:
        raise ValueError("noise flags must include rows of positive weight, and leave some unflagged.")
    clean = ~flags
    start_rows = InMemoryData(np.ascontiguousarray(X[clean]), None if w is None else np.ascontiguousarray(w[clean]))
    region = "box" if noise_volume is None else "hull" if isinstance(noise_volume, str) else "given"
    return start_rows, NoiseComponent(share, volume, region)


def with_gaussian_share(params, noise_weight):
    """``params`` with their weights scaled to sum to ``1 - noise_weight``."""
    weights = params.weights / params.weights.sum() * (1.0 - noise_weight)
    return MixtureParameters(params.model, weights, params.means, params.covariances, params.precisions_cholesky)


def noisy_m_step(model, stats, noise_weight_sum, reg_covar, previous=None):
    """The M-step with a noise component.

    Parameters
    ----------
    model : CovarianceModel
    stats : SufficientStatistics
        From :func:`~gmm_numba.data.noise.noisy_statistics` (``total_weight`` all rows').
    noise_weight_sum : float
        ``sum_n w_n r_n0``.
    reg_covar, previous
        As for :func:`m_step`.

    Returns
    -------
    params : MixtureParameters
        Weights summing to ``1 - pi_0``.
    noise_weight : float
        ``pi_0``.
    """
    noise_weight = noise_weight_sum / stats.total_weight
    if not noise_weight > EMPTY_FRACTION:
        raise FitError(
            "The noise component lost all of its weight: no row is left that the Gaussian components do not "
            "explain better. Fit without noise, or flag other rows."
        )
    params = m_step(model, stats, reg_covar, previous=previous)
    return with_gaussian_share(params, noise_weight), noise_weight


@dataclass
class NoisyRun(EMRun):
    """An :class:`EMRun` that also carries the noise weight it ended with."""

    noise_weight: float = math.nan


def run_noise_em(data, params, noise, *, reg_covar, tol, max_iter, callback=None, verbose=0, label=""):
    """Iterate EM with a noise component from ``params`` and ``noise``.

    Convergence and the callback are as in :func:`gmm_numba.fitting.em.run_em`.

    Parameters
    ----------
    data : data source with ``map_rows``
    params : MixtureParameters
        Weights summing to ``1 - noise.weight``.
    noise : NoiseComponent
    reg_covar, tol, max_iter, callback, verbose, label
        As for :func:`~gmm_numba.fitting.em.run_em`.

    Returns
    -------
    NoisyRun
    """
    lower_bounds, previous, converged, stop = [], -np.inf, False, False
    noise_weight = noise.weight
    log_volume = math.log(noise.volume)
    start = time.perf_counter()
    for iteration in range(1, max_iter + 1):
        stats, noise_sum = source_noisy_statistics(data, params, math.log(noise_weight) - log_volume)
        mean_ll = stats.log_likelihood / stats.total_weight
        if not np.isfinite(mean_ll):
            raise NumericalError(
                f"The log-likelihood became {mean_ll} at iteration {iteration}: standardise the features."
            )
        lower_bounds.append(mean_ll)
        params, noise_weight = noisy_m_step(params.model, stats, noise_sum, reg_covar, previous=params.covariances)
        if verbose >= 2:
            print(f"  {label}iteration {iteration}: mean log-likelihood {mean_ll:.8g}, noise weight "
                  f"{noise_weight:.4g} ({time.perf_counter() - start:.2f} s)")
        if callback is not None:
            try:
                stop = bool(callback(iteration, mean_ll, params))
            except StopFit:
                stop = True
        if abs(mean_ll - previous) < tol:
            converged = True
            break
        previous = mean_ll
        if stop:
            break
    return NoisyRun(params, np.asarray(lower_bounds), converged, len(lower_bounds),
                    stopped=stop and not converged, noise_weight=noise_weight)


def fit_noise_em(data, starts, noise, *, reg_covar, tol, max_iter, callback=None, verbose=0, warn=True,
                 reorder=True):
    """EM with a noise component from each start; keep the run with the best log-likelihood.

    Parameters
    ----------
    data : data source with ``map_rows``
        In memory, memory-mapped or Dask.
    starts : list of MixtureParameters or FitError
        Gaussian starts, weights summing to ``1 - noise.weight``.
    noise : NoiseComponent
        The starting noise weight and the volume.
    reorder : bool
        Sort the Gaussian components by their means.

    Returns
    -------
    fit : EMFit
        ``final`` holds the log-likelihood and ICL term of the mixture with noise.
    noise : NoiseComponent
        The fitted noise weight and the volume.

    Raises
    ------
    FitError
        Every run failed.
    """
    runs = []
    for index, start in enumerate(starts):
        if isinstance(start, FitError):
            runs.append(EMRun(error=str(start), exception=start))
            continue
        label = f"init {index + 1}/{len(starts)}: " if len(starts) > 1 else ""
        try:
            run = run_noise_em(data, start, noise, reg_covar=reg_covar, tol=tol, max_iter=max_iter,
                               callback=callback, verbose=verbose, label=label)
        except FitError as exc:
            run = EMRun(error=str(exc), exception=exc)
        if verbose and not run.error:
            print(f"{label}{'converged' if run.converged else 'stopped'} after {run.n_iter} iterations, "
                  f"mean log-likelihood {run.lower_bound:.8g}")
        runs.append(run)
    good = [i for i, run in enumerate(runs) if not run.error]
    if not good:
        first = next(run.exception or FitError(run.error) for run in runs)
        raise _all_failed(runs, first)
    best_index = max(good, key=lambda i: runs[i].lower_bound)
    best = runs[best_index]
    if reorder:
        best.parameters = best.parameters.canonical()
    fitted_noise = replace(noise, weight=best.noise_weight)
    final, _ = source_noisy_statistics(data, best.parameters, fitted_noise.log_density)
    if not np.isfinite(final.log_likelihood):
        raise NumericalError("The log-likelihood of the fitted mixture is not finite; standardise the features.")
    if warn and not (best.converged or best.stopped) and tol > 0:
        warn_at_caller(
            f"The best of {len(runs)} initialisations did not converge within max_iter={max_iter} iterations "
            f"(last change in mean log-likelihood above tol={tol}). Increase max_iter or tol.",
            ConvergenceWarning,
        )
    return EMFit(best, runs, best_index, final), fitted_noise


def count_with_noise(n_parameters, noise):
    """Free parameters of the mixture: the Gaussian model's, plus :data:`NOISE_PARAMETERS` with noise."""
    return n_parameters + (NOISE_PARAMETERS if noise is not None else 0)



def fit_noisy_mixture(data, settings, *, rng, reg_covar, user_init, callback=None, warm_start=None):
    """:func:`gmm_numba.fitting.core.fit_mixture` with a noise component (data checked).

    Parameters
    ----------
    data : data source
        In memory, memory-mapped or Dask (:func:`noise_start` says what is read for the start).
    settings : FitSettings
        With ``noise`` set.
    rng : numpy.random.Generator
    reg_covar : float or ndarray of shape (n_features,)
        Resolved.
    user_init : tuple (weights, means, precisions)
        Given weights are the Gaussian components' shares of ``1 - pi_0``.
    callback : callable, optional
    warm_start : FittedMixture, optional
        A previous fit with noise, of the same shape and model, to start from.

    Returns
    -------
    fit : EMFit
    noise : NoiseComponent
    """
    noise_setting = check_noise(settings.noise, settings.noise_volume, data.n_samples)
    start_rows, start_noise = noise_start(data, noise_setting, settings.noise_volume, settings.init_sample_size, rng)
    k = settings.n_components
    previous = None if warm_start is None else warm_start.parameters
    if (previous is not None and getattr(warm_start, "noise", None) is not None
            and previous.means.shape == (k, data.n_features) and previous.model is settings.model):
        start_noise = replace(start_noise, weight=warm_start.noise.weight)
        starts = [previous]
    else:
        weights = start_rows.sample_weight
        if np.count_nonzero(weights > 0 if weights.size else np.ones(start_rows.n_samples)) < k:
            raise ValueError(f"noise leaves fewer unflagged rows than n_components={k} to start the Gaussians from.")
        starts = [
            start if isinstance(start, FitError) else with_gaussian_share(start, start_noise.weight)
            for start in starting_points(
                start_rows, settings.model, k, n_init=settings.n_init, init_params=settings.init_params, rng=rng,
                reg_covar=reg_covar, user_init=user_init, init_sample_size=settings.init_sample_size,
            )
        ]
    return fit_noise_em(
        data, starts, start_noise, reg_covar=reg_covar, tol=settings.tol, max_iter=settings.max_iter,
        callback=callback, verbose=settings.verbose, reorder=user_init[1] is None and warm_start is None,
    )
