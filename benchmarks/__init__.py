"""Benchmark suite comparing gmm_numba with other Gaussian-mixture EM codes.

Run ``python benchmarks/run.py --help``.  This package must stay importable
with nothing but the standard library: the oneDAL worker imports
:mod:`benchmarks.timing` and :mod:`benchmarks.rss` from a separate virtual
environment.
"""
