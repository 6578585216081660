"""Blocks claimed from a shared counter (``_kernels.scheduling``)."""

import numba
import numpy as np
import pytest
from numba import njit, prange

from gmm_numba._kernels.scheduling import block_counter, claim_block


@njit(parallel=True)
def _claims_per_block(n_blocks, work):
    """How often each block was claimed, the pattern of the threaded kernels."""
    claims = np.zeros(n_blocks, np.int64)
    counter = block_counter()
    for _ in prange(n_blocks):
        b = claim_block(counter)
        if b >= n_blocks:
            continue
        while b < n_blocks:
            claims[b] += 1
            # uneven work per block, so that the threads claim at different rates
            s = 0.0
            for i in range(work * (b % 7)):
                s += np.sqrt(i)
            claims[b] += s < 0
            b = claim_block(counter)
    # the counter itself, not counter[0]: see claim_block on reading it back in a kernel
    return claims, counter


def test_claims_count_up_from_zero():
    counter = block_counter()
    assert counter.dtype == np.int64 and counter.tolist() == [0]
    assert [claim_block(counter) for _ in range(4)] == [0, 1, 2, 3]
    assert counter[0] == 4


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_blocks, work", [(1, 0), (7, 100), (3_000, 0), (200_000, 0), (2_000, 2_000)])
def test_every_block_is_claimed_exactly_once(threads, n_blocks, work):
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        claims, counter = _claims_per_block(n_blocks, work)
    finally:
        numba.set_num_threads(before)
    assert claims.shape == (n_blocks,)
    # a non-atomic counter gives some block to two threads (count 2) and skips another (count 0)
    assert np.array_equal(claims, np.ones(n_blocks, np.int64))
    # each thread stops at its first claim past the end; each prange iteration claims at least once
    assert n_blocks + 1 <= counter[0] <= 2 * n_blocks
