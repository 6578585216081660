"""Progress on a terminal: a one-line bar, and compiling the kernels before a sweep."""

import sys
import time
import warnings

#: Rows used to compile (or load from the cache) the kernels before a sweep.
WARM_UP_ROWS = 64


class Progress:
    """A one-line progress bar on standard error, drawn only when it is a terminal.

    Call it as ``progress(done, total, description)``; it is the
    ``progress`` callback of :func:`gmm_numba.select`.
    """

    def __init__(self, label, stream=None, enabled=None):
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.started = time.perf_counter()
        self._width = 0

    def __call__(self, done, total, description=""):
        if not self.enabled:
            return
        bar = 24
        filled = int(bar * done / max(total, 1))
        text = (
            f"{self.label} [{'#' * filled}{'.' * (bar - filled)}] {done}/{total} "
            f"{description}  {time.perf_counter() - self.started:.1f} s"
        )
        self.stream.write("\r" + text.ljust(self._width))
        self._width = max(self._width, len(text))
        if done >= total:
            self.finish()
        self.stream.flush()

    def finish(self):
        """End the line (once)."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


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

    started = time.perf_counter()
    sample = X.iloc[:WARM_UP_ROWS] if hasattr(X, "iloc") else X[:WARM_UP_ROWS]
    progress = Progress("kernels")
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
                    )
            except Exception:  # noqa: BLE001  (bad data or settings: the real fit says what is wrong)
                pass
            progress(i + 1, len(steps), str(step))
    progress.finish()
    return time.perf_counter() - started
