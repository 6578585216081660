"""The volume ``V`` of the region a noise component spreads over, in passes over any data source.

Two definitions:

* :func:`box_volume`, mclust's default (``hypvol``): the smaller of the
  bounding box of the data in its own coordinates and the bounding box in
  its principal-component coordinates. Three passes: extent and sum,
  scatter about the mean, extent of the principal-component scores.
* :func:`hull_volume`: the volume of the convex hull (Qhull through
  :class:`scipy.spatial.ConvexHull`), for at most :data:`MAX_HULL_FEATURES`
  features. One pass: each chunk keeps only its hull's vertices, and the
  hull of the union of those is the hull of all rows.

Both take every row, whatever its sample weight (as mclust's ``hypvol``),
and work chunk by chunk through the source's ``map_rows``, so that in
memory, on a memory map and on Dask they give the same volume up to the
rounding of the sums.
"""

import math
from dataclasses import dataclass

import numpy as np

#: Largest number of features for ``noise_volume="hull"``: Qhull's work and the
#: hull's number of facets grow quickly with the dimension.
MAX_HULL_FEATURES = 6

#: ``log V`` above this overflows a float64 volume.
_LOG_MAX_VOLUME = 709.0


@dataclass(frozen=True)
class Extent:
    """Row count, per-column minimum, maximum and sum of a set of rows (added by taking the union).

    Attributes
    ----------
    count : int
    low, high, total : ndarray of shape (n_columns,)
    """

    count: int
    low: np.ndarray
    high: np.ndarray
    total: np.ndarray

    def __add__(self, other):
        return Extent(self.count + other.count, np.minimum(self.low, other.low), np.maximum(self.high, other.high),
                      self.total + other.total)

    def log_volume(self):
        """``sum log(high - low)``: ``-inf`` when some column is constant."""
        with np.errstate(divide="ignore"):
            return float(np.sum(np.log(self.high - self.low)))


def extent_chunk(X, sample_weight, rows, centre=None, axes=None):
    """:class:`Extent` of one chunk, or of its coordinates ``(X - centre) @ axes`` (a ``map_rows`` function)."""
    Y = np.asarray(X, dtype=np.float64)
    if axes is not None:
        Y = (Y - centre) @ axes
    return Extent(Y.shape[0], Y.min(axis=0), Y.max(axis=0), Y.sum(axis=0))


def scatter_chunk(X, sample_weight, rows, centre):
    """``sum_n (x_n - centre)(x_n - centre)^T`` of one chunk, shape (D, D) (a ``map_rows`` function)."""
    centred = np.asarray(X, dtype=np.float64) - centre
    return centred.T @ centred


def _as_volume(log_volume):
    return math.exp(log_volume) if log_volume < _LOG_MAX_VOLUME else math.inf


def box_volume(data):
    """mclust's ``hypvol``: the smaller of the bounding box and the principal-component box.

    The principal axes are the eigenvectors of the rows' scatter matrix
    (as R's ``princomp``), so data spread along a diagonal get the smaller,
    rotated box. On one feature it is the range.

    Parameters
    ----------
    data : data source
        With ``map_rows`` (:class:`~gmm_numba.data.in_memory.InMemoryData`,
        :class:`~gmm_numba.data.chunked.ChunkedData`, :class:`~gmm_numba.data.dask_source.DaskData`).

    Returns
    -------
    float
        ``V``; 0 when the data are flat in some direction, ``inf`` beyond float64.
    """
    extent = data.map_rows(extent_chunk)
    log_box = extent.log_volume()
    if data.n_features == 1 or not np.isfinite(log_box):
        return _as_volume(log_box)
    mean = extent.total / extent.count
    _, axes = np.linalg.eigh(data.map_rows(scatter_chunk, mean))
    log_pc_box = data.map_rows(extent_chunk, mean, axes).log_volume()
    return _as_volume(min(log_box, log_pc_box))


@dataclass(frozen=True)
class HullPoints:
    """Points that hold the convex hull of a set of rows (added by keeping the hull of the union).

    Attributes
    ----------
    points : ndarray of shape (m, n_features), float64
    """

    points: np.ndarray

    def __add__(self, other):
        return HullPoints(hull_vertices(np.concatenate([self.points, other.points])))


def hull_vertices(points):
    """The vertices of the convex hull of ``points`` (all of them when Qhull finds no full-dimensional hull)."""
    from scipy.spatial import ConvexHull, QhullError

    if points.shape[0] <= points.shape[1] + 1:
        return points
    try:
        return points[ConvexHull(points).vertices]
    except QhullError:  # a flat chunk: its rows may still span the data's hull with other chunks'
        return points


def hull_chunk(X, sample_weight, rows):
    """:class:`HullPoints` of one chunk (a ``map_rows`` function)."""
    return HullPoints(hull_vertices(np.asarray(X, dtype=np.float64)))


def hull_volume(data):
    """The volume of the convex hull of the rows (on one feature, the range).

    Parameters
    ----------
    data : data source
        As for :func:`box_volume`, with at most :data:`MAX_HULL_FEATURES` features.

    Returns
    -------
    float
        ``V > 0``.

    Raises
    ------
    ValueError
        Too many features, or rows that span no volume (all on a hyperplane).
    """
    from scipy.spatial import ConvexHull, QhullError

    d = data.n_features
    if d > MAX_HULL_FEATURES:
        raise ValueError(
            f"noise_volume='hull' is available for at most {MAX_HULL_FEATURES} features (the hull's size and "
            f"Qhull's time grow quickly with the dimension); X has {d}. Use the default box volume "
            "(noise_volume=None) or give the volume as a number."
        )
    if d == 1:
        return _as_volume(data.map_rows(extent_chunk).log_volume())
    points = data.map_rows(hull_chunk).points
    try:
        return float(ConvexHull(points).volume)
    except QhullError as exc:
        raise ValueError(
            f"noise_volume='hull': the rows span no {d}-dimensional volume (they lie on a hyperplane, or there "
            f"are too few distinct rows); Qhull says: {str(exc).strip().splitlines()[0]}. Drop the constant or "
            "linearly dependent features, or give noise_volume as a number."
        ) from exc


#: Named ways to compute ``V`` besides mclust's default box (``noise_volume=None``).
VOLUME_OPTIONS = ("hull",)


def region_volume(data, how=None):
    """``V`` for the ``noise_volume`` setting: None (:func:`box_volume`), ``"hull"`` (:func:`hull_volume`) or a number.

    Parameters
    ----------
    data : data source with ``map_rows``
    how : None, "hull" or float

    Returns
    -------
    float
    """
    if how is None:
        return box_volume(data)
    if isinstance(how, str) and how == "hull":
        return hull_volume(data)
    return float(how)
