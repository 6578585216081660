"""Per-tile scratch buffers (``_kernels.tiles``): shapes, zeroing and cache-line alignment."""

import numba
import numpy as np
import pytest
from numba import njit, prange

from gmm_numba._kernels.config import TILE
from gmm_numba._kernels.tiles import ALIGNMENT, ROW_PAD, aligned_empty, new_tile, tile_buffer, tile_vector


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 513])
def test_aligned_empty_starts_a_cache_line(size, dtype):
    # several allocations in a row, so that malloc hands out differently placed blocks
    arrays = [aligned_empty(size, dtype) for _ in range(16)]
    for array in arrays:
        assert array.shape == (size,) and array.dtype == dtype and array.flags.c_contiguous
        assert array.ctypes.data % ALIGNMENT == 0
    # each array is writable over its whole length and owns its memory
    for i, array in enumerate(arrays):
        array[:] = i
    assert all((array == i).all() for i, array in enumerate(arrays))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tile_buffers_have_their_shapes(dtype):
    like = np.empty(0, dtype)
    assert tile_buffer(3, like).shape == (3, TILE + ROW_PAD)
    assert tile_buffer(0, like).shape == (0, TILE + ROW_PAD)
    assert tile_vector(like.dtype).shape == (TILE,)
    tile = new_tile(5, like)
    assert tile.shape == (8, TILE + ROW_PAD) and tile.dtype == dtype and not tile.any()


@njit(parallel=True)
def _buffer_misalignment(n_iterations, like):
    """Per iteration: the largest start address modulo ALIGNMENT of the buffers made on that thread."""
    out = np.zeros(n_iterations, np.int64)
    for i in prange(n_iterations):
        xt = new_tile(3, like)
        lp = tile_buffer(4, like)
        top = tile_vector(like.dtype)
        out[i] = max(xt.ctypes.data % ALIGNMENT, lp.ctypes.data % ALIGNMENT, top.ctypes.data % ALIGNMENT)
    return out


@pytest.mark.parametrize("threads", [1, 2])
def test_buffers_are_aligned_on_every_thread(threads):
    # the worker threads' allocations were the ones that started half-way into a cache line
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        assert not _buffer_misalignment(64, np.empty(0)).any()
        assert not _buffer_misalignment(64, np.empty(0, np.float32)).any()
    finally:
        numba.set_num_threads(before)
