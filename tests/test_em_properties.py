"""Properties of the EM driver: monotone likelihood, thread independence,
best-of-n_init selection and convergence warnings."""

import os
import subprocess
import sys
import warnings

import naive
import numpy as np
import pytest

from gmm_numba import ConvergenceWarning, FitError, GaussianMixture
from gmm_numba._kernels.config import block_size
from gmm_numba.covariance import get_model
from gmm_numba.data.in_memory import InMemoryData
from gmm_numba.fitting.em import fit_em, run_em
from gmm_numba.fitting.parameters import MixtureParameters

COVARIANCE_TYPES = naive.COVARIANCE_TYPES
INIT_METHODS = ["k-means++", "random_from_data", "random"]
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Largest allowed decrease of the lower bound between two iterations,
#: relative to max(1, |lower bound|). float64: rounding only (observed
#: ~1e-15). float32: the per-point log densities are float32 (observed
#: ~1e-7).
MONOTONE_RTOL = {np.float64: 1e-9, np.float32: 1e-6}
N_PROBLEMS = 30


def random_problem(i, mixture_factory):
    """Problem ``i``: K in 2..4, D in 1..3, 150..400 rows, overlapping to well separated,
    weighted for odd ``i``, initialisation cycling through the three methods."""
    rng = np.random.default_rng(1000 + i)
    k = int(rng.integers(2, 5))
    d = int(rng.integers(1, 4))
    n = int(rng.integers(150, 400))
    X, _ = mixture_factory(1000 + i, n, d, k, separation=float(rng.uniform(1.0, 4.0)))
    w = rng.uniform(0.0, 2.0, n) if i % 2 else None
    return X, w, k, INIT_METHODS[i % 3]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_lower_bound_never_decreases(cov_type, dtype, mixture_factory):
    rtol = MONOTONE_RTOL[dtype]
    fitted = 0
    for i in range(N_PROBLEMS):
        X, w, k, init = random_problem(i, mixture_factory)
        gm = GaussianMixture(
            k, covariance_type=cov_type, tol=0.0, max_iter=40, reg_covar=1e-10, init_params=init, random_state=i
        )
        try:
            gm.fit(X.astype(dtype), sample_weight=w)
        except FitError:  # a degenerate start is not what this test is about
            continue
        fitted += 1
        lb = np.asarray(gm.lower_bounds_)
        assert lb.shape == (40,)
        assert np.all(np.isfinite(lb))
        drop = lb[:-1] - lb[1:]
        allowed = rtol * np.maximum(1.0, np.abs(lb[:-1]))
        assert np.all(drop <= allowed), (
            f"problem {i} ({init}, K={k}, D={X.shape[1]}): the lower bound fell by {drop.max():.3g} "
            f"at iteration {int(np.argmax(drop - allowed)) + 2}"
        )
    assert fitted >= N_PROBLEMS - 3


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(cov_type, blobs_2d):
    """sample_weight are frequency weights: weight 3 is the row three times (same start)."""
    X = blobs_2d
    counts = np.random.default_rng(8).integers(0, 4, X.shape[0])
    rng = np.random.default_rng(9)
    k = 3
    means = X[rng.choice(X.shape[0], k, replace=False)]
    precisions = naive.precisions(cov_type, {
        "full": np.array([np.eye(2)] * k), "tied": np.eye(2), "diag": np.ones((k, 2)), "spherical": np.ones(k),
    }[cov_type])
    common = dict(covariance_type=cov_type, tol=0.0, max_iter=12, weights_init=np.full(k, 1.0 / k),
                  means_init=means, precisions_init=precisions)
    weighted = GaussianMixture(k, **common).fit(X, sample_weight=counts.astype(float))
    repeated = GaussianMixture(k, **common).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10, atol=0)
    for name in ("weights_", "means_", "covariances_"):
        a, b = getattr(weighted, name), getattr(repeated, name)
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10 * np.abs(b).max(), err_msg=name)


# -------------------------------------------------------------- thread determinism
DETERMINISM_SCRIPT = r"""
import hashlib
import warnings

import numba
import numpy as np

from gmm_numba import GaussianMixture
from gmm_numba._kernels.config import block_size

warnings.simplefilter("ignore")
rng = np.random.default_rng(12345)
n, d = 20000, 3
centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [-3.0, 3.0, 1.0]])
X = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d)) * [1.0, 0.7, 1.3]
w = rng.uniform(0.0, 2.0, n)
print("threads", numba.get_num_threads())
print("blocks", -(-n // block_size(n)))
cases = [(np.float64, None), (np.float64, w), (np.float32, None)]
i = 0
for ct in ("full", "tied", "diag", "spherical"):
    for init in ("k-means++", "random_from_data", "random"):
        dtype, weights = cases[i % 3]  # every model and init meets every data variant once
        i += 1
        gm = GaussianMixture(3, covariance_type=ct, init_params=init, random_state=0, max_iter=6, tol=0.0)
        gm.fit(X.astype(dtype), sample_weight=weights)
        h = hashlib.sha256()
        for a in (gm.means_, gm.covariances_, gm.weights_, np.asarray(gm.lower_bounds_)):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        print(ct, init, np.dtype(dtype).name, weights is not None, h.hexdigest())
"""


def _run_with_threads(n_threads):
    env = dict(os.environ)
    env["NUMBA_NUM_THREADS"] = str(n_threads)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    done = subprocess.run(
        [sys.executable, "-c", DETERMINISM_SCRIPT], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def test_results_do_not_depend_on_thread_count():
    assert -(-20000 // block_size(20000)) >= 4  # the data spans several thread blocks
    one = _run_with_threads(1)
    two = _run_with_threads(2)
    assert one[0] == "threads 1" and two[0] == "threads 2"
    assert one[1] == two[1] and int(one[1].split()[1]) >= 4
    digests_one, digests_two = one[2:], two[2:]
    assert len(digests_one) == len(digests_two) == 4 * 3
    mismatched = [a for a, b in zip(digests_one, digests_two) if a != b]
    assert not mismatched, f"results differ between 1 and 2 threads for: {mismatched}"
    # the digests are of distinct fits (not e.g. all of empty arrays)
    assert len({line.split()[-1] for line in digests_one}) == len(digests_one)


# ------------------------------------------------------------------------- n_init
@pytest.mark.filterwarnings("ignore::gmm_numba.ConvergenceWarning")
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_fit_em_keeps_best_of_given_starts(cov_type, blobs_2d, make_parameters):
    X = blobs_2d
    model = get_model(cov_type)
    data = InMemoryData(X)
    rng = np.random.default_rng(3)
    starts = []
    for _ in range(4):
        centres = X[rng.choice(X.shape[0], 3, replace=False)]
        p = make_parameters(cov_type, 3, 2, rng)
        starts.append(MixtureParameters.from_covariances(model, p.weights, centres, p.covariances))
    separate = [run_em(data, s, reg_covar=1e-6, tol=1e-8, max_iter=15) for s in starts]
    bounds = [r.lower_bound for r in separate]
    fit = fit_em(data, model, 3, rng=np.random.default_rng(0), reg_covar=1e-6, tol=1e-8, max_iter=15,
                 starts=list(starts))  # may warn: 15 iterations are not enough for tol=1e-8
    assert len(fit.runs) == 4
    assert fit.best_index == int(np.argmax(bounds))
    np.testing.assert_array_equal(fit.parameters.means, separate[fit.best_index].parameters.means)
    np.testing.assert_array_equal(fit.best.lower_bounds, separate[fit.best_index].lower_bounds)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_n_init_picks_best_lower_bound(cov_type, mixture_factory):
    X, _ = mixture_factory(77, 300, 2, 4, separation=2.0)
    common = dict(covariance_type=cov_type, init_params="random_from_data", max_iter=30, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        single = GaussianMixture(4, n_init=1, random_state=5, **common).fit(X)
        multi = GaussianMixture(4, n_init=6, random_state=5, **common).fit(X)
    runs = multi.fit_result_.runs
    finals = [r.lower_bound for r in runs if not r.error]
    assert len(finals) >= 2
    assert len({round(b, 8) for b in finals}) > 1, "every start reached the same bound: nothing to choose"
    assert multi.lower_bound_ == max(finals)
    # the first start is the one n_init=1 draws from the same seed: more starts never do worse
    np.testing.assert_array_equal(runs[0].lower_bounds, single.lower_bounds_)
    assert multi.lower_bound_ >= single.lower_bound_
    best = runs[multi.fit_result_.best_index]
    np.testing.assert_array_equal(multi.means_, best.parameters.means)
    # the kept mixture really scores as its lower bound says (naively recomputed)
    full = naive.full_covariances(cov_type, best.parameters.covariances, 4, 2)
    lse, _, _ = naive.e_step(X, best.parameters.weights, best.parameters.means, full)
    assert lse.mean() >= multi.lower_bound_ - 1e-9 * abs(multi.lower_bound_)


# ------------------------------------------------------------------- convergence
@pytest.mark.parametrize("n_init", [1, 3])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_convergence_warning_when_max_iter_too_small(cov_type, n_init, blobs_2d):
    gm = GaussianMixture(3, covariance_type=cov_type, max_iter=2, tol=1e-12, n_init=n_init,
                         init_params="random", random_state=0)
    with pytest.warns(ConvergenceWarning):
        gm.fit(blobs_2d)
    assert not gm.converged_
    assert gm.n_iter_ == 2 == len(gm.lower_bounds_)


def test_convergence_warning_points_at_the_caller(blobs_2d):
    gm = GaussianMixture(3, max_iter=2, tol=1e-12, random_state=0)
    with pytest.warns(ConvergenceWarning) as record:
        gm.fit(blobs_2d)
    assert [r.filename for r in record if r.category is ConvergenceWarning] == [__file__]


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_no_convergence_warning_when_converged(cov_type, blobs_2d):
    gm = GaussianMixture(3, covariance_type=cov_type, max_iter=200, tol=1e-3, n_init=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        gm.fit(blobs_2d)
    assert gm.converged_
    lb = gm.lower_bounds_
    assert gm.n_iter_ == len(lb) < 200
    assert len(lb) >= 2 and abs(lb[-1] - lb[-2]) < 1e-3
    assert all(abs(b - a) >= 1e-3 for a, b in zip(lb[:-2], lb[1:-1]))  # it stopped at the first small change
