"""The constraints of mclust's parametrisation, checked on full covariance matrices.

mclust writes each covariance as ``Sigma_k = lambda_k D_k A_k D_k^T``:
volume ``lambda_k = det(Sigma_k)^(1/d)``, orientation ``D_k`` (orthogonal)
and shape ``A_k`` (diagonal, determinant 1). A model's three letters say
whether each is equal across components (E), varying (V) or the identity
(I). A model lists the constraints below that its covariances obey; loading
saved covariances checks them (:meth:`CovarianceModel.from_full_covariances`)
and so do the tests.

Every check is relative, with tolerance :data:`RTOL`.
"""

from dataclasses import dataclass

import numpy as np

#: Relative tolerance of the structure checks: far above the rounding of an
#: M-step's arithmetic, far below any real departure from a constraint.
RTOL = 1e-10


@dataclass(frozen=True)
class Constraint:
    """A named property of a set of covariance matrices.

    Attributes
    ----------
    broken : str
        What is wrong when the property does not hold (for error messages).
    holds : callable
        ``holds(full)`` for ``full`` of shape (n_components, n_features,
        n_features); True when the property holds within :data:`RTOL`.
    """

    broken: str
    holds: object


def volumes(full):
    """``det(Sigma_k)^(1/d)`` per matrix, shape (n_components,); NaN unless the determinant is positive.

    By LU factorisation, which (unlike eigenvalues) keeps its relative
    accuracy when the features have very different scales.
    """
    sign, log_det = np.linalg.slogdet(full)
    return np.where(sign > 0, np.exp(log_det / full.shape[-1]), np.nan)


def _axis_aligned(full):
    diagonal = np.diagonal(full, axis1=1, axis2=2)
    off = full - diagonal[:, :, None] * np.eye(full.shape[-1])
    root = np.sqrt(np.abs(diagonal))
    scale = root[:, :, None] * root[:, None, :]  # not sqrt(d_i d_j), which overflows at extreme scales
    return bool(np.all(np.abs(off) <= RTOL * scale))


def _isotropic(full):
    diagonal = np.diagonal(full, axis1=1, axis2=2)
    return bool(np.all(np.abs(diagonal - diagonal.mean(axis=1, keepdims=True)) <= RTOL * np.abs(diagonal).max()))


def _equal_volume(full):
    vol = volumes(full)
    return bool(np.all(np.abs(vol - vol[0]) <= RTOL * vol[0]))


def _equal_shape_and_orientation(full):
    normalised = full / volumes(full)[:, None, None]
    return bool(np.all(np.abs(normalised - normalised[0]) <= RTOL * np.abs(normalised).max()))


def _equal_shape(full):
    eigenvalues = np.linalg.eigvalsh(full)
    shapes = eigenvalues / volumes(full)[:, None]
    return bool(np.all(np.abs(shapes - shapes[0]) <= RTOL * np.abs(shapes).max()))


def _common_orientation(full):
    # symmetric matrices share their eigenvectors exactly when they commute
    norms = np.abs(full).max(axis=(1, 2))
    for j in range(len(full)):
        commutators = full[j] @ full - full @ full[j]
        if np.any(np.abs(commutators) > RTOL * full.shape[-1] * norms[j] * norms[:, None, None]):
            return False
    return True


AXIS_ALIGNED = Constraint("off-diagonal entries are not zero (orientation I)", _axis_aligned)
ISOTROPIC = Constraint("unequal variances within a component (shape I)", _isotropic)
EQUAL_VOLUME = Constraint("unequal determinants across components (volume E)", _equal_volume)
EQUAL_SHAPE = Constraint("unequal eigenvalues after scaling to determinant 1 (shape E)", _equal_shape)
EQUAL_SHAPE_AND_ORIENTATION = Constraint(
    "unequal matrices after scaling to determinant 1 (shape and orientation E)", _equal_shape_and_orientation
)
COMMON_ORIENTATION = Constraint("the matrices do not share their eigenvectors (orientation E)", _common_orientation)
