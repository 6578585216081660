"""mclust's conjugate prior (``prior=``): MAP M-steps, MAP EM, select, results, CLI and bad input.

References: tests/naive.py (the MAP objective by its definition, mclust's denominators, scipy.optimize over each
model's constraint set) and R's mclust 6 (fixtures written by tests/fixtures/mclust/make_prior_fixtures.R; the
tests never need R).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import gmm_numba
from gmm_numba import GaussianMixture
from gmm_numba.covariance import get_model, prior_models
from gmm_numba.data.in_memory import InMemoryData
from gmm_numba.data.statistics import SufficientStatistics
from gmm_numba.datasets import load_faithful, load_iris
from gmm_numba.errors import NotSupportedError
from gmm_numba.fitting.em import run_em
from gmm_numba.fitting.parameters import m_step
from gmm_numba.fitting.prior import ConjugatePrior, check_prior, data_moments, log_prior_of, resolve_prior
from tests import naive

FIXTURES = Path(__file__).parent / "fixtures" / "mclust"
MULTI = ["EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "EEV", "VEV", "VVV"]
UNSUPPORTED = ["VEE", "EVE", "VVE", "EVV"]
DATA = {
    "faithful": lambda: load_faithful(),
    "iris": lambda: load_iris().drop(columns="Species"),
    "waiting": lambda: load_faithful()[["waiting"]],
}


@pytest.fixture(scope="module")
def fixture():
    return json.loads((FIXTURES / "prior_mclust.json").read_text())


def statistics(model, X, resp):
    """Sufficient statistics in ``model``'s layout (full, diagonal or trace second moments)."""
    nk = resp.sum(axis=0)
    s1 = resp.T @ X
    s2 = np.einsum("nk,ni,nj->kij", resp, X, X)
    if model.layout == "diag":
        s2 = np.diagonal(s2, axis1=1, axis2=2)[:, None, :].copy()
    elif model.layout == "spherical":
        s2 = np.trace(s2, axis1=1, axis2=2)[:, None, None].copy()
    return SufficientStatistics(float(len(X)), 0.0, 0.0, nk, s1, s2, np.zeros_like(s1))


def random_problem(seed, n_features, n_components=2, n_samples=40):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) @ rng.normal(size=(n_features, n_features)) + rng.normal(
        scale=3, size=n_features
    )
    resp = rng.dirichlet(np.ones(n_components), size=n_samples)
    a = rng.normal(size=(n_features, n_features))
    prior = ConjugatePrior(
        shrinkage=float(rng.uniform(0.05, 2.0)),
        mean=rng.normal(size=n_features),
        dof=float(n_features + rng.uniform(1, 4)),
        scale=a @ a.T + n_features * np.eye(n_features),
    )
    return rng, X, resp, prior


def resolved_for(model, prior):
    """``prior`` with the scale as the model takes it: a number for the diagonal and spherical layouts."""
    d = prior.mean.shape[0]
    if model.layout == "full" and d > 1:
        return prior
    return ConjugatePrior(prior.shrinkage, prior.mean, prior.dof, float(np.trace(prior.scale) / d))


# ------------------------------------------------------------------------------------------ MAP M-steps
@pytest.mark.parametrize("name", MULTI + ["E", "V"])
@pytest.mark.parametrize("seed", [0, 1])
def test_map_m_step_maximises_the_map_objective(name, seed):
    """Our covariances reach the maximum scipy.optimize finds over the model's constraint set, of the MAP
    objective with mclust's denominators; our means are the shrunk means (EEI: mclust keeps the averages)."""
    d = 1 if name in ("E", "V") else 2
    rng, X, resp, prior = random_problem(seed, d, n_components=3 if seed else 2)
    model = get_model(name)
    prior = resolved_for(model, prior)
    params = m_step(model, statistics(model, X, resp), 0.0, prior=prior)
    scale_matrix = prior.scale_matrix(d)
    counts, b = naive.mclust_map_counts(name, resp.sum(axis=0), d, prior.dof, prior.shrinkage)
    scatter, xbar, shrunk = naive.map_augmented_scatter(X, resp, prior.mean, prior.shrinkage, scale_matrix, b)
    np.testing.assert_allclose(params.means, xbar if name == "EEI" else shrunk, rtol=1e-12, atol=1e-12)
    ours = params.full_covariances()
    optimiser_name = {"E": "EII", "V": "VII"}.get(name, name)
    best, _ = naive.maximise_expected_log_likelihood(optimiser_name, scatter, counts, rng)
    q_ours = naive.expected_log_likelihood(ours, scatter, counts)
    assert q_ours >= best - 1e-8 * abs(best), (q_ours, best)
    if name != "EEI":  # the shrunk means maximise the objective at our covariances
        value = naive.map_objective(X, resp, params.means, ours, prior.mean, prior.shrinkage, scale_matrix, counts, b)
        for _ in range(5):
            moved = params.means + rng.normal(scale=1e-3, size=params.means.shape)
            assert naive.map_objective(X, resp, moved, ours, prior.mean, prior.shrinkage, scale_matrix, counts,
                                       b) < value


@pytest.mark.parametrize("name", MULTI)
def test_log_prior_is_the_objectives_penalty(name):
    """``log_prior_of`` is the definition's penalty (the objective less the log-likelihood part)."""
    rng, X, resp, prior = random_problem(3, 3)
    model = get_model(name)
    prior = resolved_for(model, prior)
    params = m_step(model, statistics(model, X, resp), 0.0, prior=prior)
    counts, b = naive.mclust_map_counts(name, resp.sum(axis=0), 3, prior.dof, prior.shrinkage)
    full = params.full_covariances()
    zero = np.zeros_like(resp)
    # with no responsibilities the definition's objective is the penalty alone (counts less n_k)
    penalty = naive.map_objective(X, zero, params.means, full, prior.mean, prior.shrinkage, prior.scale_matrix(3),
                                  counts - resp.sum(axis=0), b)
    assert log_prior_of(params, prior) == pytest.approx(penalty, rel=1e-10)


@pytest.mark.parametrize("name", MULTI)
def test_map_em_never_decreases_the_log_posterior(name):
    rng = np.random.default_rng(7)
    X = np.concatenate([rng.normal(size=(60, 3)), rng.normal(loc=3, size=(40, 3)) * [1, 2, 0.5]])
    data = InMemoryData(X, None)
    model = get_model(name)
    prior = resolve_prior("default", data_moments(data), model, 3)
    resp = rng.dirichlet(np.ones(3), size=len(X))
    start = m_step(model, statistics(model, X, resp), 0.0, prior=prior)
    run = run_em(data, start, reg_covar=0.0, tol=0.0, max_iter=60, prior=prior)
    steps = np.diff(run.lower_bounds)
    # EEI: mclust keeps the averages as means while its scatter counts the shrinkage term, which is not a
    # coordinate ascent; its log posterior may dip by the (tiny) shrinkage effect
    allowed = 1e-7 if name == "EEI" else 1e-12
    assert steps.min() >= -allowed * abs(run.lower_bounds).max(), steps.min()


def test_one_component_uses_mclusts_single_gaussian_map():
    """G = 1 (mclust's mvn): the most general model of the layout's weights, means shrunk, for every model."""
    rng, X, resp, prior = random_problem(4, 2, n_components=1)
    resp = np.ones((len(X), 1))
    for group, general in ((("EII", "VII"), "VII"), (("EEI", "VEI", "EVI", "VVI"), "VVI"),
                           (("EEE", "EEV", "VEV", "VVV"), "EEE")):
        expected = m_step(get_model(general), statistics(get_model(general), X, resp), 0.0,
                          prior=resolved_for(get_model(general), prior))
        for name in group:
            model = get_model(name)
            got = m_step(model, statistics(model, X, resp), 0.0, prior=resolved_for(model, prior))
            np.testing.assert_allclose(got.means, expected.means, rtol=1e-12)
            np.testing.assert_allclose(got.full_covariances(), expected.full_covariances(), rtol=1e-10)


# ------------------------------------------------------------------------------------------ against mclust
def dataset(name):
    X = DATA[name]()
    return X.to_numpy(dtype=float)


def _fixture_cells():
    data = json.loads((FIXTURES / "prior_mclust.json").read_text())
    return [pytest.param(name, i, id=f"{name}-{cell['model']}-K{cell['K']}")
            for name, ds in data["datasets"].items() for i, cell in enumerate(ds["me"])]


def _cell_setup(fixture, name, index):
    cell = fixture["datasets"][name]["me"][index]
    X = dataset(name)
    data = InMemoryData(X, None)
    model = get_model(cell["model"])
    prior = resolve_prior("default", data_moments(data), model, cell["K"])
    resp = np.eye(cell["K"])[np.asarray(cell["labels"]) - 1]
    return cell, X, data, model, prior, resp


def _relative(ours, theirs):
    theirs = np.asarray(theirs, dtype=float)
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


@pytest.mark.parametrize("name, index", _fixture_cells())
def test_default_prior_is_mclusts(fixture, name, index):
    cell, X, data, model, prior, resp = _cell_setup(fixture, name, index)
    theirs = cell["prior"]
    assert prior.shrinkage == theirs["shrinkage"] and prior.dof == theirs["dof"]
    np.testing.assert_allclose(prior.mean, theirs["mean"], rtol=1e-13)
    np.testing.assert_allclose(np.squeeze(prior.scale), np.squeeze(theirs["scale"]), rtol=1e-12)


@pytest.mark.parametrize("name, index", _fixture_cells())
def test_map_em_from_a_fixed_start_matches_mclusts_me(fixture, name, index):
    """EM from the hierarchical partition against me(..., prior = priorControl()) run to tol 1e-13."""
    cell, X, data, model, prior, resp = _cell_setup(fixture, name, index)
    start = m_step(model, statistics(model, X, resp), 0.0, prior=prior)
    theirs = cell["me"]
    if model.name not in ("EEI", "EVI", "EEV"):
        # mclust's mstep() for EEI, EVI and EEV has other denominators (EEV: no shrinkage) than its EM's M-step,
        # which is the one we follow; EII's mstep() takes the scatter about the shrunk means (a 1e-7 effect here)
        mstep = cell["mstep"]
        assert _relative(start.means, mstep["mean"]) < 1e-12
        assert _relative(start.full_covariances(), mstep["sigma"]) < 1e-6
    if theirs["loglik"] is None:  # mclust gave up (a component's weight or variance fell below its threshold)
        return
    # mclust ran to a relative change of 1e-13; a few cells (faithful VVI K=3) drift on towards an empty
    # component, so we stop at a comparable change rather than later
    run = run_em(data, start, reg_covar=0.0, tol=1e-13, max_iter=100_000, prior=prior)
    params = run.parameters
    loglik = data.em_statistics(params).log_likelihood
    assert loglik == pytest.approx(theirs["loglik"], rel=1e-7)
    assert _relative(params.means, theirs["mean"]) < 1e-5
    assert _relative(params.full_covariances(), theirs["sigma"]) < 1e-5
    np.testing.assert_allclose(params.weights, theirs["pro"], atol=1e-5)


@pytest.fixture(scope="module", params=["faithful", "iris"])
def tight_select(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gmm_numba.ConvergenceWarning)
        result = gmm_numba.select(DATA[request.param](), n_components=range(1, 10), init_params="hc", n_init=1,
                                  reg_covar=0, prior="default", tol=1e-12, max_iter=100_000, allow_degenerate=True)
    return request.param, result["selection"].to_dataset()


def test_select_cells_match_mclusts_me_refits(fixture, tight_select):
    """Every cell of Mclust(X, G = 1:9, prior = priorControl())'s table, refitted by me() from the same
    hierarchical start to tol 1e-12 (G = 1: Mclust's own, which needs no EM), against select's."""
    name, ours = tight_select
    ds = fixture["datasets"][name]
    assert list(ours["covariance_type"].values) == ds["mclust"]["models"] == MULTI
    compared = 0
    for model in MULTI:
        one = -float(ours["bic"].sel(covariance_type=model, n_components=1))
        assert one == pytest.approx(ds["mclust"]["bic"][model][0], rel=1e-9), model
        for k in range(2, 10):
            theirs = ds["tight"][model]["bic"][k - 1]
            if theirs is None:  # me() gave up at its thresholds
                continue
            value = -float(ours["bic"].sel(covariance_type=model, n_components=k))
            assert value == pytest.approx(theirs, rel=1e-6), (name, model, k)
            compared += 1
    assert compared >= 60  # of 80 (faithful 66, iris 69)


@pytest.mark.parametrize("name", sorted(DATA))
def test_select_at_mclusts_defaults_chooses_what_mclust_chooses(fixture, name):
    mclust = fixture["datasets"][name]["mclust"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gmm_numba.ConvergenceWarning)
        result = gmm_numba.select(DATA[name](), n_components=range(1, 10), init_params="hc", n_init=1, reg_covar=0,
                                  prior="default")
    selection = result["selection"]
    assert selection.attrs["best_covariance_type"] == mclust["best_model"]
    assert selection.attrs["best_n_components"] == mclust["best_G"]
    # mclust stops at a relative change of 1e-5, we at our tol: the chosen cells agree to that
    assert -float(selection["bic"].min()) == pytest.approx(mclust["best_bic"], rel=2e-5)
    means = result["posterior"]["means"].values[0, 0]
    theirs = np.asarray(mclust["parameters"]["mean"])
    order = np.lexsort(theirs.T[::-1])
    np.testing.assert_allclose(means, theirs[order], rtol=1e-3)


# ------------------------------------------------------------------------------------------ API
def test_estimator_fit_save_load_round_trip(tmp_path):
    X = dataset("faithful")
    gm = GaussianMixture(2, covariance_type="VVV", prior={"shrinkage": 0.1, "dof": 5, "scale": 2.0}).fit(X)
    path = tmp_path / "fit.nc"
    gm.to_xarray().to_netcdf(path)
    tree = gmm_numba.load(path)
    assert json.loads(tree.attrs["prior"]) == {"shrinkage": 0.1, "dof": 5.0, "scale": 2.0}
    loaded = GaussianMixture.from_xarray(tree)
    assert loaded.prior == {"shrinkage": 0.1, "dof": 5.0, "scale": 2.0}
    np.testing.assert_allclose(loaded.means_, gm.means_)
    refit = GaussianMixture(**loaded.get_params()).fit(X)
    np.testing.assert_allclose(np.sort(refit.means_, axis=0), np.sort(gm.means_, axis=0), rtol=1e-6)


def test_the_prior_changes_the_fit_as_a_map_estimate():
    X = dataset("faithful")
    plain = GaussianMixture(2, covariance_type="VVV", init_params="hc", tol=1e-10, max_iter=1000).fit(X)
    strong = GaussianMixture(2, covariance_type="VVV", init_params="hc", tol=1e-10, max_iter=1000,
                             prior={"shrinkage": 100.0}).fit(X)
    # means pulled towards the column means, and the likelihood (what bic reports) lower than the ML fit's
    centre = X.mean(axis=0)
    assert np.all(np.abs(strong.means_ - centre) < np.abs(plain.means_ - centre))
    assert strong.score(X) < plain.score(X)
    assert strong.bic(X) > plain.bic(X)


def test_fit_and_select_record_the_prior():
    X = DATA["iris"]()
    tree = gmm_numba.fit(X, 2, covariance_type="VEV", prior="default")
    assert tree.attrs["prior"] == "default"
    assert gmm_numba.fit(X, 2).attrs["prior"] == "None"
    result = gmm_numba.select(X, n_components=[1, 2], covariance_type=["VVV", "EII"], prior="default")
    assert result.attrs["prior"] == "default"
    assert list(result["selection"]["covariance_type"].values) == ["VVV", "EII"]


def test_bootstrap_refits_under_the_prior():
    X = dataset("faithful")
    tree = gmm_numba.fit(X, 2, covariance_type="EEE", prior={"shrinkage": 50.0}, random_state=0)
    draws = gmm_numba.bootstrap(tree, X, n_draws=4, random_state=0)
    assert draws.attrs["n_draws"] == 4
    plain = gmm_numba.bootstrap(gmm_numba.fit(X, 2, covariance_type="EEE", random_state=0), X, n_draws=4,
                                random_state=0)
    # the strong prior pulls every draw's means towards the column means
    centre = X.mean(axis=0)
    assert np.abs(draws["posterior"]["means"].values - centre).sum() < np.abs(
        plain["posterior"]["means"].values - centre).sum()


def test_cli_fit_with_the_default_prior(tmp_path, capsys):
    from gmm_numba.cli import main

    csv = tmp_path / "faithful.csv"
    DATA["faithful"]().to_csv(csv, index=False)
    out = tmp_path / "model.nc"
    main(["fit", str(csv), "--prior", "default", "-k", "1-3", "-o", str(out)])
    tree = gmm_numba.load(out)
    assert tree.attrs["prior"] == "default"
    assert list(tree["selection"]["covariance_type"].values) == MULTI
    assert "Chosen: EEE with 3" in capsys.readouterr().out


def test_select_with_a_prior_sweeps_the_models_that_take_it():
    assert prior_models() == MULTI + ["E", "V"]
    X = DATA["faithful"]()
    result = gmm_numba.select(X, n_components=[1, 2], prior="default")
    assert list(result["selection"]["covariance_type"].values) == MULTI
    one = gmm_numba.select(X[["waiting"]], n_components=[1, 2], prior="default")
    assert list(one["selection"]["covariance_type"].values) == ["E", "V"]


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("name", UNSUPPORTED)
def test_unsupported_models_refuse_a_prior(name):
    X = dataset("faithful")
    with pytest.raises(NotSupportedError, match=rf"covariance_type='{name}'.*EII, VII, EEI, VEI, EVI, VVI, EEE"):
        GaussianMixture(2, covariance_type=name, prior="default").fit(X)
    with pytest.raises(NotSupportedError, match=name):
        gmm_numba.select(X, n_components=[2], covariance_type=["VVV", name], prior="default")


@pytest.mark.parametrize(
    "prior, error, match",
    [
        ("mclust", ValueError, "prior='mclust' is not valid"),
        (3, TypeError, "prior must be None, 'default' or a dict"),
        ({"shrink": 0.1}, ValueError, "unknown key.*'shrink'"),
        ({"dof": 0}, ValueError, r"prior\['dof'\] must be positive"),
        ({"dof": -1.0}, ValueError, r"prior\['dof'\] must be positive"),
        ({"shrinkage": -0.1}, ValueError, r"prior\['shrinkage'\] must be non-negative"),
        ({"scale": 0.0}, ValueError, r"prior\['scale'\] must be positive"),
        ({"scale": -2.0}, ValueError, r"prior\['scale'\] must be positive"),
        ({"scale": [1.0, 2.0]}, ValueError, r"prior\['scale'\] must be a positive number or a"),
        ({"dof": "3"}, TypeError, r"prior\['dof'\] must be a finite number"),
        ({"dof": np.inf}, TypeError, r"prior\['dof'\] must be a finite number"),
        ({"mean": [[1.0, 2.0]]}, ValueError, r"prior\['mean'\] must be a vector"),
        ({"mean": [1.0, np.nan]}, ValueError, r"prior\['mean'\] must be finite"),
    ],
)
def test_bad_prior_settings(prior, error, match):
    with pytest.raises(error, match=match):
        check_prior(prior)
    with pytest.raises(error, match=match):
        GaussianMixture(2, prior=prior).fit(dataset("faithful"))


@pytest.mark.parametrize(
    "prior, match",
    [
        ({"mean": [1.0, 2.0, 3.0]}, r"prior\['mean'\] has 3 entries but X has 2 features"),
        ({"scale": np.eye(3)}, r"prior\['scale'\] has shape \(3, 3\) but X has 2 features"),
        ({"scale": [[1.0, 2.0], [2.0, 1.0]]}, r"prior\['scale'\] must be a symmetric positive definite"),
        ({"scale": [[1.0, 0.5], [0.0, 1.0]]}, r"prior\['scale'\] must be a symmetric positive definite"),
    ],
)
def test_prior_shapes_are_checked_against_the_data(prior, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, prior=prior).fit(dataset("faithful"))


def test_prior_refuses_features_without_a_map_fit():
    X = dataset("faithful")
    with pytest.raises(NotSupportedError, match="prior= cannot be combined with noise="):
        GaussianMixture(2, prior="default", noise=True).fit(X)
    with pytest.raises(NotSupportedError, match="missing='marginalize'"):
        GaussianMixture(2, prior="default", missing="marginalize").fit(X)
    with pytest.raises(NotSupportedError, match="semi-supervised"):
        GaussianMixture(2, prior="default", semi_supervised=True).fit(X, y=np.r_[0, 1, -np.ones(len(X) - 2)])
