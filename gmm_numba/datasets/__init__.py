"""The bundled data sets."""

from importlib import resources

import pandas as pd

__all__ = ["load_faithful", "load_iris"]


def _read(name):
    with resources.files("gmm_numba").joinpath("datasets", name).open("r") as handle:
        return pd.read_csv(handle)


def load_faithful():
    """Old Faithful eruptions: 272 rows, columns ``eruptions`` (minutes) and ``waiting`` (minutes).

    Returns
    -------
    pandas.DataFrame of shape (272, 2)
    """
    return _read("faithful.csv")


def load_iris():
    """Fisher's iris: 150 rows, four measurements (cm) and ``Species``.

    Returns
    -------
    pandas.DataFrame of shape (150, 5)
    """
    return _read("iris.csv")
