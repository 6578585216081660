"""Semi-supervised EM: rows with a known component keep it (mclust's ``MclustSSC``).

``y`` holds a component index ``0..K-1`` for each labelled row and -1 for
the others. Labelled rows keep one-hot responsibilities; the unlabelled
rows' are estimated by EM as usual, and every covariance model's M-step
takes the sums of both (:class:`gmm_numba.data.semi_supervised.PartlyLabelledData`).

The start is mclust's: one M-step with the labelled rows one-hot and every
unlabelled row shared equally between the components, so component ``k``
starts at the labelled rows of class ``k`` (the equal shares move every
component alike). A component without any labelled row would start equal to
the other unlabelled ones and stay so; it is refused. With no row labelled
the fit is the ordinary unsupervised one.

The log-likelihood (and so BIC, AIC, ICL and ``lower_bound_``) is
``MclustSSC``'s: the unlabelled rows' mixture log-density plus the labelled
rows' ``log(pi_k N(x | k))`` for their own ``k``. The number of parameters
is the model's usual count.
"""

import numpy as np

from ..data.semi_supervised import PartlyLabelledData
from .em import fit_em
from .parameters import m_step


def check_every_component_labelled(labels, n_components):
    """Raise ValueError when some component has no labelled row.

    Parameters
    ----------
    labels : ndarray of shape (n_samples,), int64
        Checked labels, at least one not -1.
    n_components : int
    """
    counts = np.bincount(labels[labels >= 0], minlength=n_components)
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        raise ValueError(
            f"y labels no row with component(s) {missing.tolist()}: semi-supervised EM starts each component "
            f"at its labelled rows, so every component 0..{n_components - 1} needs at least one (or label no "
            "row at all for the unsupervised fit)."
        )


def fit_semi_supervised(data, labels, model, n_components, *, reg_covar, tol, max_iter, callback=None, verbose=0,
                        warn=True):
    """EM with the labelled rows' responsibilities fixed.

    Parameters
    ----------
    data : data source
        In memory, memory-mapped or Dask (passed over chunk by chunk).
    labels : ndarray of shape (n_samples,), int64
        From :func:`gmm_numba.data.semi_supervised.check_labels`, some row labelled.
    model : CovarianceModel
    n_components : int
    reg_covar, tol, max_iter, callback, verbose, warn
        As for :func:`gmm_numba.fitting.em.fit_em`.

    Returns
    -------
    EMFit
        Components in the order of the labels (not sorted).

    Raises
    ------
    ValueError
        A component has no labelled row.
    FitError
        EM found no valid mixture.
    """
    check_every_component_labelled(labels, n_components)
    data = PartlyLabelledData(data, labels, n_components)
    start = m_step(model, data.start_statistics(), reg_covar)
    return fit_em(data, model, n_components, rng=None, reg_covar=reg_covar, tol=tol, max_iter=max_iter,
                  starts=[start], reorder=False, callback=callback, verbose=verbose, warn=warn)
