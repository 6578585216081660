"""Results: fits as labeled ``xarray.DataTree`` objects (see :mod:`gmm_numba.results.tree` for the layout),
their checks, loading, conversion back to a fitted mixture, and summaries."""

from .io import load
from .tree import build_tree, parameter_dataset
from .validate import check_tree, point_parameters

__all__ = ["build_tree", "check_tree", "load", "parameter_dataset", "point_parameters"]
