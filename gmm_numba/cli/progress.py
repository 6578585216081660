"""Compiling the kernels before a sweep, with a progress bar."""

import time
import warnings

#: Rows used to compile (or load from the cache) the kernels before a sweep.
WARM_UP_ROWS = 64


def warm_up(X, covariance_types):
    """Compile the kernels for ``X``'s dtype (or load them from Numba's on-disk cache).

    A tiny fit per covariance model on the first rows; failures are left to
    the real fit to report.

    Returns
    -------
    float
        Seconds taken.
    """
    from ..estimator import GaussianMixture
    from ..selection import select
    from ..selection.progress import ProgressBar

    started = time.perf_counter()
    sample = X.iloc[:WARM_UP_ROWS] if hasattr(X, "iloc") else X[:WARM_UP_ROWS]
    progress = ProgressBar("kernels")
    steps = list(covariance_types) + ["predict"]
    progress(0, len(steps), "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, step in enumerate(steps):
            try:
                if step == "predict":
                    GaussianMixture(1, max_iter=1).fit(sample).predict(sample)
                else:
                    select(
                        sample,
                        n_components=[1, 2],
                        covariance_type=step,
                        n_init=2,  # select's first start is k-means++, the others random rows
                        max_iter=2,
                        random_state=0,
                        allow_degenerate=True,
                        progress=False,
                    )
            except Exception:  # noqa: BLE001  (bad data or settings: the real fit says what is wrong)
                pass
            progress(i + 1, len(steps), str(step))
    progress.finish()
    return time.perf_counter() - started
