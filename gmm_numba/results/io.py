"""Reading results back from netCDF files."""

import xarray as xr

from .validate import check_tree


def load(path):
    """Read a result written by ``result.to_netcdf(path)``, checking what it reads.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    xarray.DataTree
        Loaded into memory (the file is closed).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable netCDF file or not a valid gmm_numba result.
    """
    import os

    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like object, got {path!r} of type {type(path).__name__}.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    try:
        with xr.open_datatree(path, engine="netcdf4") as opened:
            tree = opened.load().copy()
    except Exception as exc:  # netCDF4/HDF5 raise many types for damaged files
        raise ValueError(f"Could not read {path!r} as a netCDF file ({type(exc).__name__}: {exc}).") from None
    check_tree(tree)
    return tree
