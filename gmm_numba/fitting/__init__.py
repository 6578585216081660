"""Fitting: settings, parameters, the EM driver, starting points, regularisation and criteria."""
