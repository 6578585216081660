"""mclust's hierarchical start: model-based agglomeration ("VVV") cut at each K.

``Mclust()`` starts every (model, K) cell from one tree:
``hc(X, modelName = "VVV", use = "SVD")`` on at most
``mclust.options("subset")`` = 2000 rows, cut into K groups by ``hclass``.
:func:`hierarchical_tree` builds that tree once; :meth:`HierarchicalTree.labels`
cuts it at any K, so one tree serves every K and every covariance model.

With more rows than ``subset_size`` the tree is built on a uniform random
subset (``HierarchicalTree.rows``), as mclust does. mclust then extends the
subset's partition to all rows through the model: the M-step on the subset,
one E-step on all rows, then EM. Starting EM from
:func:`partition_statistics` of the subset does exactly that, since EM here
starts with the E-step.

Sample weights are not supported: mclust's criterion has none, and the
tree of weighted data is not defined there. :func:`check_unweighted`
refuses weights unless they are all equal.

Where this differs from ``Mclust()``: its subset comes from R's random
numbers, ours from the caller's generator (sorted row indices); for
one-dimensional data it cuts at quantiles (``qclass``) instead of building
a tree, and with no more rows than features it builds the "EII" tree; here
it is always the VVV tree. ``hc()``'s own default, ``partition =
dupPartition(data)``, is never evaluated by mclust 6 (``hc`` does not pass
it on), so duplicated rows start as singletons there as here (a pair of
them is the cheapest pair of singletons, so they merge early).

The tree equals mclust's merge for merge on faithful, iris and the smooth
data we tried, but not always: where costs tie in exact arithmetic without
being duplicates (points on a grid, symmetric about a cluster), which merge
comes first depends on the last bits of the SVD transform, which R and
NumPy round differently.

mclust's own costs are not always its criterion's: ``hcvvv`` (src/mclust.f,
mclust 6.0.0 to 6.1.3) stores a merged cluster's triangular factor with
the first row copied into every stored row, so later costs that read a
cluster of three or more points back from storage use a wrong scatter
(:func:`gmm_numba._kernels.hierarchical._stored_scatter`). By default
(``mclust_storage=True``) the tree reproduces that, because the point of
this start is mclust's partitions: its merge costs then agree with
``hcvvv``'s to 1e-12 relative. ``mclust_storage=False`` merges by the true
criterion; the two trees agree until a late merge between clusters of
three or more points decides otherwise (3 of 30 random sets of 80 rows
differed, with 22, 5 and 3 clusters left; an 800-row Cauchy sample with
18 left).
"""

from dataclasses import dataclass

import numpy as np

from .. import _kernels
from ..data.in_memory import subsample_indices
from ..data.statistics import SufficientStatistics

#: Rows the tree is built on at most (``mclust.options("subset")`` in mclust 6).
SUBSET_SIZE = 2000

#: mclust's ``beta`` (the scale of the trace term); its ``alpha`` is the data's mean variance.
BETA = 1.0


@dataclass(frozen=True)
class HierarchicalTree:
    """The merge sequence of an agglomeration, cut at any number of groups.

    Attributes
    ----------
    merges : int64 ndarray of shape (m - 1, 2)
        SciPy-linkage numbering: rows 0..m-1, step ``s`` creates cluster ``m + s``.
    costs : ndarray of shape (m - 1,)
        Change of the classification criterion at each merge.
    rows : int64 ndarray of shape (m,) or None
        The rows of ``X`` the tree was built on; None for all of them.
    """

    merges: np.ndarray
    costs: np.ndarray
    rows: object = None

    @property
    def n_leaves(self):
        return self.merges.shape[0] + 1

    def labels(self, n_groups):
        """The partition into ``n_groups`` groups.

        Parameters
        ----------
        n_groups : int
            1 <= n_groups <= number of leaves.

        Returns
        -------
        int64 ndarray of shape (m,)
            Labels 0..n_groups-1 of the tree's rows, numbered in order of first
            appearance (as mclust's ``hclass``).
        """
        m = self.n_leaves
        if not 1 <= n_groups <= m:
            raise ValueError(f"A tree of {m} rows cuts into 1 to {m} groups, not {n_groups}.")
        parent = np.arange(2 * m - 1)
        done = m - n_groups
        created = m + np.arange(done)
        parent[self.merges[:done, 0]] = created
        parent[self.merges[:done, 1]] = created
        root = parent[:m]
        while True:
            up = parent[root]
            if np.array_equal(up, root):
                break
            root = up
        _, first, inverse = np.unique(root, return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))
        return order[inverse.ravel()].astype(np.int64)


def svd_transform(X):
    """mclust's ``hcUse = "SVD"``: centre, scale, rotate onto the principal axes, divide by sqrt(s).

    ``Z = scale(X) V diag(1 / sqrt(s))`` with ``svd(scale(X)) = U diag(s) V'``
    and standard deviations with ``n - 1``. Constant features are dropped (R's
    ``scale`` makes them NaN and mclust drops them), as are directions of zero
    singular value (where mclust would divide by 0). Equal rows stay exactly
    equal.

    Parameters
    ----------
    X : ndarray of shape (n, d)

    Returns
    -------
    ndarray of shape (n, q), q <= min(n, d)
    """
    X = np.asarray(X, dtype=np.float64)
    std = X.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
    keep = std > 0
    scaled = (X[:, keep] - X[:, keep].mean(axis=0)) / std[keep]
    if scaled.shape[1] == 0:
        return np.zeros((X.shape[0], 0))
    _, s, vt = np.linalg.svd(scaled, full_matrices=False)
    positive = s > s[0] * max(scaled.shape) * np.finfo(np.float64).eps
    rotation = vt[positive].T / np.sqrt(s[positive])
    unique, inverse = np.unique(scaled, axis=0, return_inverse=True)
    return np.ascontiguousarray((unique @ rotation)[inverse.ravel()])


def vvv_tree(Z, rows=None, mclust_storage=True):
    """The VVV agglomeration of ``Z`` with mclust's regularisation.

    ``alpha = tr W(Z) / (n p)`` (the mean variance of the columns, divided
    by ``n`` rather than ``n - 1``), at least machine epsilon; ``beta`` = 1.

    Parameters
    ----------
    Z : ndarray of shape (n, p), n >= 1
    rows : int64 ndarray of shape (n,), optional
        Recorded as :attr:`HierarchicalTree.rows`.
    mclust_storage : bool, default=True
        See :func:`hierarchical_tree`.

    Returns
    -------
    HierarchicalTree
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    n, p = Z.shape
    if n < 2 or p == 0:  # nothing to tell the rows apart: merge them in order
        previous = np.concatenate([[0], n + np.arange(max(n - 2, 0))])[: max(n - 1, 0)]
        merges = np.stack([previous, np.arange(1, max(n, 1))], axis=1).astype(np.int64)
        return HierarchicalTree(merges, np.zeros(max(n - 1, 0)), rows)
    centred = Z - Z.mean(axis=0)
    alpha = max(float(np.sum(centred * centred)) / (n * p), np.finfo(np.float64).eps)
    merges, costs = _kernels.vvv_merges(Z, alpha, BETA, mclust_storage)
    return HierarchicalTree(merges, costs, rows)


def check_unweighted(sample_weight):
    """Refuse sample weights that are not all equal (equal weights change nothing).

    Parameters
    ----------
    sample_weight : ndarray or dask.array.Array of shape (n_samples,), or None

    Raises
    ------
    ValueError
    """
    if sample_weight is None:
        return
    if not hasattr(sample_weight, "compute"):
        sample_weight = np.asarray(sample_weight)
    if sample_weight.shape[0] == 0:
        return
    low, high = sample_weight.min(), sample_weight.max()
    if hasattr(low, "compute"):  # a Dask array of weights
        low, high = low.compute(), high.compute()
    if low != high:
        raise ValueError(
            "init_params='hc' does not support sample_weight: mclust's hierarchical criterion is unweighted. "
            "Use another init_params, or repeat rows instead of weighting them."
        )


def hierarchical_tree(X, sample_weight=None, rng=None, subset_size=SUBSET_SIZE, mclust_storage=True):
    """mclust's hierarchical tree (VVV criterion on SVD-transformed data).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,), optional
        Must be None or all equal (see :func:`check_unweighted`).
    rng : numpy.random.Generator, optional
        Draws the subset when ``n_samples > subset_size``.
    subset_size : int
        At most this many rows build the tree.
    mclust_storage : bool, default=True
        Reproduce mclust's stored factors (its partitions), or use the true
        criterion (False); see the module's notes.

    Returns
    -------
    HierarchicalTree
        ``labels(k)`` has one label per row of ``tree.rows`` (all rows when
        that is None).
    """
    check_unweighted(sample_weight)
    X = np.asarray(X, dtype=np.float64)
    rows = subsample_indices(X.shape[0], subset_size, np.random.default_rng() if rng is None else rng)
    return vvv_tree(svd_transform(X if rows is None else X[rows]), rows, mclust_storage)


def source_tree(data, rng, subset_size=SUBSET_SIZE):
    """:func:`hierarchical_tree` of a data source (which may live out of core).

    Parameters
    ----------
    data : data source
        Needs ``n_samples``, ``rows(indices)`` and ``sample_weight``.
    rng : numpy.random.Generator

    Returns
    -------
    tree : HierarchicalTree
    X : ndarray of shape (m, n_features)
        The tree's rows.
    """
    weights = getattr(data, "sample_weight", None)
    check_unweighted(getattr(data, "weights", None) if weights is None else weights)
    rows = subsample_indices(data.n_samples, subset_size, rng)
    X = data.rows(np.arange(data.n_samples) if rows is None else rows)
    return vvv_tree(svd_transform(X), rows), X


def partition_statistics(X, labels, n_groups):
    """Statistics of a hard partition (mclust's ``mstep(z = unmap(cl))`` sums).

    Parameters
    ----------
    X : ndarray of shape (m, n_features)
    labels : int ndarray of shape (m,)
        Values 0..n_groups-1, every group non-empty.
    n_groups : int

    Returns
    -------
    SufficientStatistics
        Taken about the groups' means, with full second moments.
    """
    X = np.asarray(X, dtype=np.float64)
    counts = np.bincount(labels, minlength=n_groups).astype(np.float64)
    means = np.zeros((n_groups, X.shape[1]))
    np.add.at(means, labels, X)
    means /= counts[:, None]
    centred = X - means[labels]
    s2 = np.zeros((n_groups, X.shape[1], X.shape[1]))
    for k in range(n_groups):
        block = centred[labels == k]
        s2[k] = block.T @ block
    return SufficientStatistics(counts.sum(), np.nan, np.nan, counts, np.zeros_like(means), s2, means)
