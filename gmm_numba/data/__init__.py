"""Data: input checks, labeled input, and the in-memory, chunked and Dask sources of sufficient statistics."""
