"""The fused E-step: log-densities, log-sum-exp, responsibilities and
sufficient statistics in one pass, plus the chunked scoring kernel."""

import numpy as np
from numba import njit, prange

from .config import JIT, PARALLEL_JIT, TILE
from .link_only import link_only
from .moments import (
    common_shift,
    moments_about_means,
    tile_common_first_moments,
    tile_common_moments,
    tile_first_moments,
    tile_moments,
)
from .reduction import sum_over_blocks
from .scheduling import block_counter, claim_block
from .tiles import (
    FEATURE_BLOCK,
    component_constants,
    load_tile,
    new_tile,
    padded_features,
    padded_parameters,
    shared_factor,
    tile_argmax,
    tile_buffer,
    tile_log_probs,
    tile_normalise,
    tile_shared_log_probs,
    tile_vector,
    tile_weights,
)


@njit(**PARALLEL_JIT)
def em_statistics(X, sample_weight, means, prec, log_weights, log_det, block, like):
    """Sufficient statistics of one EM iteration, in one pass over ``X``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features), float32 or float64
        C-contiguous data.
    sample_weight : array of shape (n_samples,) or (0,)
        Per-sample weights; an empty array means every weight is 1.
    means : array of shape (n_components, n_features), float64
        Current means; also the shifts ``c_k`` of the moments.
    prec : array of shape (n_components, n_features, n_features), (n_components, 1, n_features)
        or (n_components, 1, 1)
        Full (upper triangular), diagonal or spherical precision factors, float64.
    log_weights, log_det : arrays of shape (n_components,), float64
        ``log pi_k`` and ``log |P_k|``.
    block : int
        Points per thread block (see ``config.block_size``).
    like : array of shape (0,), float32 or float64
        The per-point arithmetic runs in its dtype (float32 only for float32
        data; see ``sources.compute_dtype``). Moments are taken about the
        means rounded to it.

    Returns
    -------
    total_weight, log_likelihood, hard_log_resp : float
        ``sum w_n``, ``sum w_n l_n`` and ``sum w_n max_k log r_nk``.
    nk : array of shape (n_components,)
    s1 : array of shape (n_components, n_features)
        ``sum_n w_n r_nk (x_n - c_k)``.
    s2 : array of shape (n_components, n_features, n_features), (n_components, 1, n_features)
        or (n_components, 1, 1)
        ``sum_n w_n r_nk (x_n - c_k)(x_n - c_k)^T`` (full factors), its
        diagonal (diagonal factors) or its trace ``sum_n w_n r_nk ||x_n - c_k||^2``
        (spherical factors). All outputs are float64.
    """
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    # the trace comes from the squared distances of the log-densities, at no extra pass
    spherical = prec.shape[2] == 1
    weighted = sample_weight.shape[0] > 0
    n_blocks = (n_samples + block - 1) // block
    acc_scalars, acc_nk, acc_s1, acc_s2 = _pass_accumulators(n_blocks, n_components, n_features, prec)
    pass_setup = statistics_setup(means, prec, log_weights, log_det, n_features, like)

    counter = block_counter()
    for _ in prange(n_blocks):
        b = claim_block(counter)
        if b >= n_blocks:
            continue
        buffers = statistics_buffers(n_features, n_components, spherical, pass_setup[3], like)
        while b < n_blocks:
            block_statistics(
                X, sample_weight, weighted, b * block, min(n_samples, (b + 1) * block), pass_setup, buffers,
                acc_scalars[b], acc_nk[b], acc_s1[b], acc_s2[b],
            )
            b = claim_block(counter)
    return _pass_totals(acc_scalars, acc_nk, acc_s1, acc_s2, pass_setup, n_features)


@njit(**JIT)
def em_statistics_one_block(X, sample_weight, means, prec, log_weights, log_det, like):
    """:func:`em_statistics` of data that make one block, on the calling thread: the same arithmetic, bit for
    bit, without waking the threads (which costs more than the pass over a few hundred points)."""
    n_features = X.shape[1]
    n_components = means.shape[0]
    acc_scalars, acc_nk, acc_s1, acc_s2 = _pass_accumulators(1, n_components, n_features, prec)
    pass_setup = statistics_setup(means, prec, log_weights, log_det, n_features, like)
    buffers = statistics_buffers(n_features, n_components, prec.shape[2] == 1, pass_setup[3], like)
    block_statistics(X, sample_weight, sample_weight.shape[0] > 0, 0, X.shape[0], pass_setup, buffers,
                     acc_scalars[0], acc_nk[0], acc_s1[0], acc_s2[0])
    return _pass_totals(acc_scalars, acc_nk, acc_s1, acc_s2, pass_setup, n_features)


@link_only
@njit(**JIT)
def _pass_accumulators(n_blocks, n_components, n_features, prec):
    """Zeroed per-block accumulators of :func:`em_statistics`: scalars (B, 3), ``nk`` (B, K), first moments
    (B, K, D') and second moments (B, K, D', D'), (B, K, 1, D') or (B, K, 1, 1) by the layout of ``prec``,
    ``D'`` the padded features."""
    n_padded = padded_features(n_features)
    rows = n_padded if prec.shape[1] != 1 else 1
    columns = 1 if prec.shape[2] == 1 else n_padded
    return (np.zeros((n_blocks, 3)), np.zeros((n_blocks, n_components)), np.zeros((n_blocks, n_components, n_padded)),
            np.zeros((n_blocks, n_components, rows, columns)))


@link_only
@njit(**JIT)
def _pass_totals(acc_scalars, acc_nk, acc_s1, acc_s2, pass_setup, n_features):
    """:func:`em_statistics`'s results from its per-block accumulators, summed in block order."""
    scalars = sum_over_blocks(acc_scalars)
    nk, s1, s2 = finished_moments(
        sum_over_blocks(acc_nk), sum_over_blocks(acc_s1), sum_over_blocks(acc_s2), pass_setup, n_features
    )
    return scalars[0], scalars[1], scalars[2], nk, s1, s2


@link_only
@njit(**JIT)
def statistics_setup(means, prec, log_weights, log_det, n_features, like):
    """What every block of one pass of :func:`em_statistics` shares: padded parameters and constants.

    Returns
    -------
    tuple
        ``(mu, pc, const, shared, nu, centre, unit, common, shift, offsets, full, spherical)``; see
        ``tiles.padded_parameters``, ``tiles.shared_factor`` and ``moments.common_shift``. ``full`` and
        ``spherical`` name the layout of ``prec`` (the padded factors of a spherical model are diagonal).
    """
    full = prec.shape[1] != 1
    spherical = prec.shape[2] == 1
    mu, pc = padded_parameters(means, prec, like)
    const = component_constants(log_weights, log_det, n_features, like)
    shared, nu, centre, unit = shared_factor(mu, pc)
    # moments about one shift for all components, when that is accurate (not for full factors)
    common, shift, offsets = common_shift(mu, pc, not full)
    return mu, pc, const, shared, nu, centre, unit, common, shift, offsets, full, spherical


@link_only
@njit(**JIT)
def statistics_buffers(n_features, n_components, spherical, shared, like):
    """One thread's scratch tiles for :func:`block_statistics`."""
    return (
        new_tile(n_features, like),
        tile_buffer(FEATURE_BLOCK, like),
        tile_buffer(padded_features(n_features) if shared else 0, like),
        tile_buffer(n_components, like),
        tile_vector(np.float64),
        tile_vector(np.float64),
        tile_vector(like.dtype),
        tile_vector(like.dtype),
        tile_vector(like.dtype),
        tile_buffer(n_components if spherical else 0, like),
    )


@link_only
@njit(**JIT)
def block_statistics(X, sample_weight, weighted, first, stop, setup, buffers, scalars, nk, s1, s2):
    """Adds the statistics of rows ``first:stop`` to one block's accumulators, tile by tile.

    Parameters
    ----------
    X, sample_weight
        As for :func:`em_statistics`.
    weighted : bool
        Whether ``sample_weight`` holds weights (else every weight is 1).
    setup : tuple
        From :func:`statistics_setup`.
    buffers : tuple
        From :func:`statistics_buffers`.
    scalars : array of shape (3,)
        ``sum w``, ``sum w l`` and ``sum w max_k log r``.
    nk, s1, s2 : arrays of shape (K,), (K, padded D) and (K, rows, columns)
        The block's moment accumulators (in the padded layout of :func:`em_statistics`).
    """
    mu, pc, const, shared, nu, centre, unit, common, shift, _, full, spherical = setup
    xt, y, yt, lp, lse, log_norm, inv_total, top, wt, squares = buffers
    n_components = mu.shape[0]
    for start in range(first, stop, TILE):
        nt = min(TILE, stop - start)
        load_tile(X, start, nt, xt)
        if shared:
            tile_shared_log_probs(xt, nt, centre, pc[0], nu, unit, const, lp, yt)
        else:
            tile_log_probs(xt, nt, mu, pc, const, lp, y, squares)
        tile_normalise(lp, nt, lse, log_norm, inv_total, top)

        w_sum, ll_sum, hard_sum = tile_weights(sample_weight, weighted, start, nt, lse, log_norm, inv_total, wt)
        scalars[0] += w_sum
        scalars[1] += ll_sum
        scalars[2] += hard_sum

        for k in range(n_components):
            nk_sum = 0.0
            for t in range(nt):
                r = wt[t] * lp[k, t]
                lp[k, t] = r
                nk_sum += r
            nk[k] += nk_sum
            if spherical:
                trace_sum = 0.0
                for t in range(nt):
                    trace_sum += lp[k, t] * squares[k, t]
                s2[k, 0, 0] += trace_sum
                if not common:
                    tile_first_moments(xt, nt, lp[k], mu[k], s1[k])
            elif not common:
                tile_moments(xt, nt, lp[k], mu[k], full, s1[k], s2[k])
        # the components together, about the common shift
        if common and spherical:
            tile_common_first_moments(xt, nt, lp, shift, s1)
        elif common:
            tile_common_moments(xt, nt, lp, shift, s1, s2)


@link_only
@njit(**JIT)
def finished_moments(nk, s1, s2, setup, n_features):
    """The summed accumulators of a pass, unpadded, about the means, symmetric.

    Returns
    -------
    nk, s1, s2 : arrays in the layout :func:`em_statistics` returns
    """
    pc, common, offsets, full, spherical = setup[1], setup[7], setup[9], setup[10], setup[11]
    n_components = nk.shape[0]
    s1 = np.ascontiguousarray(s1[:, :n_features])
    s2 = np.ascontiguousarray(s2[:, : n_features if full else 1, : 1 if spherical else n_features])
    if common:
        moments_about_means(nk, offsets, s1, s2, not spherical)
    if spherical:
        # the squares were scaled by the factor p_k: ||(x - mu_k) p_k||^2
        for k in range(n_components):
            s2[k, 0, 0] /= np.float64(pc[k, 0, 0]) ** 2
    if full:
        for k in range(n_components):
            for i in range(n_features):
                for j in range(i):
                    s2[k, j, i] = s2[k, i, j]
    return nk, s1, s2


@njit(**PARALLEL_JIT)
def per_sample_scores(X, means, prec, log_weights, log_det, block, like, lse_out, label_out, resp_out):
    """Per-point log-likelihood, most responsible component and (optionally)
    responsibilities.

    Parameters
    ----------
    X, means, prec, log_weights, log_det, block, like
        As for :func:`em_statistics`.
    lse_out : array of shape (n_samples,), float64
        Receives ``log p(x_n)``.
    label_out : array of shape (n_samples,), int64
        Receives ``argmax_k r_nk`` (the lowest index on ties).
    resp_out : array of shape (n_samples, n_components) or (0, n_components), float64
        Receives ``r_nk`` unless it is empty.
    """
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    want_resp = resp_out.shape[0] > 0
    n_blocks = (n_samples + block - 1) // block
    mu, pc = padded_parameters(means, prec, like)
    const = component_constants(log_weights, log_det, n_features, like)
    shared, nu, centre, unit = shared_factor(mu, pc)
    counter = block_counter()
    for _ in prange(n_blocks):
        b = claim_block(counter)
        if b >= n_blocks:
            continue
        xt = new_tile(n_features, like)
        y = tile_buffer(FEATURE_BLOCK, like)
        yt = tile_buffer(mu.shape[1] if shared else 0, like)
        lp = tile_buffer(n_components, like)
        lse = tile_vector(np.float64)
        log_norm = tile_vector(np.float64)
        inv_total = tile_vector(like.dtype)
        top = tile_vector(like.dtype)
        best = tile_vector(np.int64)
        no_squares = tile_buffer(0, like)
        while b < n_blocks:
            stop = min(n_samples, (b + 1) * block)
            for start in range(b * block, stop, TILE):
                nt = min(TILE, stop - start)
                load_tile(X, start, nt, xt)
                if shared:
                    tile_shared_log_probs(xt, nt, centre, pc[0], nu, unit, const, lp, yt)
                else:
                    tile_log_probs(xt, nt, mu, pc, const, lp, y, no_squares)
                tile_argmax(lp, nt, best, top)
                tile_normalise(lp, nt, lse, log_norm, inv_total, top)
                for t in range(nt):
                    lse_out[start + t] = lse[t]
                    label_out[start + t] = best[t]
                if want_resp:
                    for t in range(nt):
                        for k in range(n_components):
                            resp_out[start + t, k] = lp[k, t] * inv_total[t]
            b = claim_block(counter)
