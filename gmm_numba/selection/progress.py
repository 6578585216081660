"""A one-line progress bar for sweeps: cells done, time taken and time left."""

import sys
import time

#: By default a sweep draws its bar only once it has run this long (seconds): quick sweeps stay quiet.
PROGRESS_DELAY = 2.0


class ProgressBar:
    """A one-line bar on standard error, drawn in a terminal or a notebook.

    Call it as ``progress(done, total, description)``: the ``progress``
    callback of :func:`gmm_numba.select`. The time left is the time per
    cell so far times the cells left (a sweep's later cells, with more
    components, take longer: it is a lower estimate).

    Parameters
    ----------
    label : str
        Printed before the bar.
    stream : file-like, default: sys.stderr
    enabled : bool, optional
        Draw or not; by default only when ``stream`` is a terminal or a
        Jupyter kernel's output.
    delay : float, default=0
        Draw nothing until this many seconds have passed since the bar was made.
    """

    def __init__(self, label, stream=None, enabled=None, delay=0.0):
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _interactive(self.stream) if enabled is None else enabled
        self.delay = delay
        self.started = time.perf_counter()
        self._width = 0

    def __call__(self, done, total, description=""):
        elapsed = time.perf_counter() - self.started
        if not self.enabled or (elapsed < self.delay and not self._width):
            return
        bar = 24
        filled = int(bar * done / max(total, 1))
        left = f", ~{elapsed * (total - done) / done:.0f} s left" if 0 < done < total else ""
        counts = f"{done}/{total} {description}"
        text = f"{self.label} [{'#' * filled}{'.' * (bar - filled)}] {counts}  {elapsed:.1f} s{left}"
        self.stream.write("\r" + text.ljust(self._width))
        self._width = max(self._width, len(text))
        self.stream.flush()

    def stage(self, description):
        """Name what the sweep does after its cells (the bar stays full)."""
        if self._width:
            elapsed = time.perf_counter() - self.started
            text = f"{self.label} {description}  {elapsed:.1f} s"
            self.stream.write("\r" + text.ljust(self._width))
            self._width = max(self._width, len(text))
            self.stream.flush()

    def finish(self):
        """End the line, if one was drawn (once)."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


def resolve_progress(progress, label):
    """``select``'s ``progress`` argument as a callable (or None for no progress).

    None: a :class:`ProgressBar` drawn in terminals and notebooks after
    :data:`PROGRESS_DELAY` seconds; True: a bar drawn at once wherever standard
    error goes; False: none; a callable is used as it is.
    """
    if progress is None:
        return ProgressBar(label, delay=PROGRESS_DELAY)
    if progress is True:
        return ProgressBar(label, enabled=True)
    if progress is False:
        return None
    if not callable(progress):
        raise TypeError(
            f"progress must be None, True, False or a callable (done, total, description), got {progress!r}."
        )
    return progress


def _interactive(stream):
    """Whether ``stream`` shows a redrawn line: a terminal, or a Jupyter kernel's output stream."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):
        return False
    return type(stream).__module__.startswith("ipykernel")


class CellReport:
    """Reports each cell of a sweep as it is done: a line with ``verbose``, and a call of ``progress``.

    Parameters
    ----------
    total : int
        The sweep's cells.
    verbose : int or bool
    progress : callable or None
        Called as ``progress(done, total, description)``.
    """

    def __init__(self, total, verbose, progress):
        self.total = total
        self.done = 0
        self.verbose = verbose
        self.progress = progress
        self.started = time.perf_counter()

    def __call__(self, description, outcome):
        """Count one more cell done; with ``verbose`` print ``outcome`` (its error or criterion)."""
        self.done += 1
        if self.verbose:
            print(f"[{self.done}/{self.total}] {description}: {outcome} ({time.perf_counter() - self.started:.1f} s)")
        if self.progress is not None:
            self.progress(self.done, self.total, description)

    def stage(self, description):
        """Name what the sweep does after its cells, on a progress bar (other callables are not told)."""
        if isinstance(self.progress, ProgressBar):
            self.progress.stage(description)
