"""Checks of user-given precisions, by factor layout."""

import numpy as np


def _matrix_label(name, index, stacked):
    return f"{name}[{index}]" if stacked else name


def check_precision_matrices(precisions, name, covariance_type):
    """Every matrix symmetric and positive definite; messages name the first offender."""
    stacked = precisions.ndim == 3
    for k, matrix in enumerate(precisions.reshape((-1,) + precisions.shape[-2:])):
        label = _matrix_label(name, k, stacked)
        scale = np.abs(matrix).max()
        if not np.allclose(matrix, matrix.T, rtol=1e-10, atol=1e-12 * scale):
            i, j = np.unravel_index(np.argmax(np.abs(matrix - matrix.T)), matrix.shape)
            raise ValueError(
                f"{label} is not symmetric (entry [{i}, {j}] = {matrix[i, j]} but [{j}, {i}] = {matrix[j, i]}); "
                f"precisions for covariance_type={covariance_type!r} must be symmetric positive definite."
            )
        smallest = np.linalg.eigvalsh(matrix).min()
        if not smallest > 0:
            raise ValueError(
                f"{label} is not positive definite (smallest eigenvalue {smallest:.6g}); "
                f"precisions for covariance_type={covariance_type!r} must be symmetric positive definite."
            )


def check_positive_entries(precisions, name, covariance_type):
    bad = np.argwhere(~(precisions > 0))
    if bad.size:
        index = tuple(bad[0])
        raise ValueError(
            f"{name} must be positive for covariance_type={covariance_type!r}, "
            f"but {name}[{', '.join(map(str, index))}] = {precisions[index]}."
        )


