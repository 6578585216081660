"""select() at its defaults against R's Mclust() at its defaults (fixtures written by
tests/fixtures/mclust/make_fixtures.R; the tests never need R).

mclust starts every cell from one hierarchical partition and stops at a relative change of 1e-5; we
start from many points and iterate further, so every cell must reach at least mclust's log-likelihood,
with the same parameter count, and the chosen model's BIC must be at least as good as mclust's choice.
"""

import json
import warnings
from pathlib import Path

import pytest

import gmm_numba
from gmm_numba.datasets import load_faithful, load_iris
from gmm_numba.selection import runner

FIXTURES = Path(__file__).parent / "fixtures" / "mclust"

DATA = {"faithful": load_faithful, "iris": lambda: load_iris().drop(columns="Species")}


@pytest.fixture(scope="module", params=[(name, early) for name in sorted(DATA) for early in (False, True)],
                ids=lambda param: param[0] + ("-far-cells-stopped-early" if param[1] else ""))
def case(request):
    """Our default sweep; also with the far cells' hierarchical starts stopped early, as on large data."""
    name, early = request.param
    mclust = json.loads((FIXTURES / f"{name}_mclust.json").read_text())
    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("ignore", gmm_numba.ConvergenceWarning)
        if early:
            patch.setattr(runner.CellRunner, "_iterations_are_passes", lambda self: True)
        ours = gmm_numba.select(DATA[name](), n_components=range(1, 10), random_state=0)
    return name, ours["selection"].to_dataset(), mclust


def test_every_cell_reaches_mclusts_log_likelihood_with_the_same_parameter_count(case):
    name, ours, mclust = case
    assert list(ours["covariance_type"].values) == mclust["models"]
    compared = 0
    for model in mclust["models"]:
        for k, (loglik, df) in enumerate(zip(mclust["loglik"][model], mclust["df"][model]), start=1):
            if df is not None:
                assert int(ours["n_parameters"].sel(covariance_type=model, n_components=k)) == df, (model, k)
            if loglik is None:  # mclust could not fit the cell
                continue
            value = float(ours["log_likelihood"].sel(covariance_type=model, n_components=k))
            assert value >= loglik - 1e-6 * abs(loglik), f"{name} {model} K={k}: {value} < mclust's {loglik}"
            compared += 1
    assert compared >= 120


def test_the_choice_is_at_least_as_good_as_mclusts(case):
    name, ours, mclust = case
    chosen = float(ours["bic"].min())
    mclust_best = max(b for column in mclust["bic"].values() for b in column if b is not None)
    assert chosen <= -mclust_best + 1e-6 * abs(mclust_best)  # our BIC is mclust's negated
