"""Model selection: sweep numbers of components and covariance models, choose by a criterion."""

from .sweep import DEFAULT_COVARIANCE_TYPES, DEFAULT_N_INIT, DEFAULT_TOL, MIXED, select

__all__ = ["select", "DEFAULT_COVARIANCE_TYPES", "DEFAULT_N_INIT", "DEFAULT_TOL", "MIXED"]
