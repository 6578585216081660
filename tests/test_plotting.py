"""plot_criterion and plot_classification draw what they promise (matplotlib Agg)."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba.datasets import load_faithful  # noqa: E402
from gmm_numba.plotting import plot_classification, plot_criterion  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def faithful_frame():
    return load_faithful()


@pytest.fixture(scope="module")
def sweep(faithful_frame):
    """Old Faithful, K = 1..4, the default (mclust's fourteen) models, and K = 300 (fails: too few rows)."""
    return gmm_numba.select(faithful_frame, n_components=[1, 2, 3, 4, 300], random_state=0)


def saved(ax, path):
    ax.figure.savefig(path)
    assert path.exists() and path.stat().st_size > 0
    return path


def test_fourteen_curves_can_be_told_apart(sweep):
    ax = plot_criterion(sweep)
    n_models = sweep["selection"].sizes["covariance_type"]
    styles = {(line.get_color(), line.get_marker(), line.get_linestyle()) for line in ax.lines[:n_models]}
    assert n_models == 14 and len(styles) == 14


def test_plot_criterion_draws_a_line_per_model_and_marks_the_best(sweep, tmp_path):
    ax = plot_criterion(sweep)
    saved(ax, tmp_path / "bic.png")
    sel = sweep["selection"].to_dataset()
    n_models = sel.sizes["covariance_type"]
    assert len(ax.lines) == n_models + 1
    ks = sel["n_components"].values
    for line, name in zip(ax.lines, sel["covariance_type"].values):
        assert line.get_label().split(" (off scale)")[0] == str(name)
        np.testing.assert_array_equal(line.get_xdata(), ks)
        np.testing.assert_array_equal(line.get_ydata(), sel["bic"].sel(covariance_type=name).values)
    best = ax.lines[-1]
    assert best.get_xdata()[0] == sel.attrs["best_n_components"]
    assert best.get_ydata()[0] == pytest.approx(float(np.nanmin(sel["bic"].values)))
    assert sel.attrs["best_covariance_type"] in best.get_label()
    assert "BIC" in ax.get_ylabel()
    assert len(ax.get_legend().get_texts()) == n_models + 1


def test_plot_criterion_has_a_title_and_zooms_on_the_best_cells(sweep):
    bic = sweep["selection"]["bic"].values
    finite = np.sort(bic[np.isfinite(bic)])  # 56 cells, 14 failed
    ax = plot_criterion(sweep, n_best=5)
    low, high = ax.get_ylim()
    assert low < finite[0] and finite[4] < high <= finite[4] + 0.1 * (finite[4] - finite[0])
    assert sweep["selection"].attrs["best_covariance_type"] in ax.get_title()
    assert "best 5 cells" in ax.get_title()
    spherical = [line.get_label() for line in ax.lines if line.get_label().startswith("VII")]
    assert spherical == ["VII (off scale)"]  # hundreds of BIC units behind on Old Faithful
    low, high = plot_criterion(sweep, n_best=None).get_ylim()
    assert low < finite[0] and finite[-1] < high
    with pytest.raises(ValueError, match="n_best"):
        plot_criterion(sweep, n_best=0)


def test_plot_criterion_other_criterion_and_given_axes(sweep, tmp_path):
    fig, axes = plt.subplots(1, 2)
    returned = plot_criterion(sweep, criterion="aic", ax=axes[1])
    assert returned is axes[1]
    assert len(axes[0].lines) == 0
    assert len(axes[1].lines) == sweep["selection"].sizes["covariance_type"] + 1  # a curve per model, the best
    aic = sweep["selection"]["aic"].values
    assert axes[1].lines[-1].get_ydata()[0] == pytest.approx(float(np.nanmin(aic)))
    assert "AIC" in axes[1].get_ylabel()
    fig.savefig(tmp_path / "aic.pdf")
    assert (tmp_path / "aic.pdf").stat().st_size > 0


@pytest.mark.parametrize("ax", ["left", 0, np.zeros(2)], ids=["string", "int", "array"])
def test_plots_refuse_what_is_not_axes(sweep, faithful_frame, ax):
    with pytest.raises(TypeError, match="ax must be matplotlib Axes"):
        plot_criterion(sweep, ax=ax)
    with pytest.raises(TypeError, match="ax must be matplotlib Axes"):
        plot_classification(sweep, faithful_frame, ax=ax)


def test_plot_criterion_needs_a_selection(faithful):
    single = gmm_numba.fit(faithful, 2, random_state=0)
    with pytest.raises(ValueError, match="selection"):
        plot_criterion(single)


def test_plot_classification_draws_two_ellipses_and_a_centre_per_component(sweep, faithful_frame, tmp_path):
    ax = plot_classification(sweep, faithful_frame)
    saved(ax, tmp_path / "classification.png")
    k = int(sweep.attrs["n_components"])
    assert len(ax.lines) == 3 * k
    assert len(ax.collections) == 1
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), faithful_frame.to_numpy())
    means = sweep["posterior"]["means"].values[0, 0]
    centres = np.array([line.get_xydata()[0] for line in ax.lines if line.get_marker() == "x"])
    np.testing.assert_allclose(centres, means)
    assert ax.get_xlabel() == "eruptions" and ax.get_ylabel() == "waiting"


def test_plot_classification_ellipses_are_one_and_two_sigma(faithful):
    tree = gmm_numba.fit(faithful, 2, covariance_type="full", random_state=0)
    ax = plot_classification(tree, faithful)
    covariances = tree["posterior"]["covariances"].values[0, 0]
    means = tree["posterior"]["means"].values[0, 0]
    ellipses = [line for line in ax.lines if line.get_marker() != "x"]
    assert len(ellipses) == 4
    for index, line in enumerate(ellipses):
        k, n_sigma = divmod(index, 2)
        d = line.get_xydata() - means[k]
        mahalanobis = np.einsum("ni,ij,nj->n", d, np.linalg.inv(covariances[k]), d)
        np.testing.assert_allclose(np.sqrt(mahalanobis), n_sigma + 1, rtol=1e-9)


def test_plot_classification_features_by_name_and_responsibilities(iris, tmp_path):
    import pandas as pd

    frame = pd.DataFrame(iris, columns=["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"])
    tree = gmm_numba.fit(frame, 2, covariance_type="diag", random_state=0)
    estimator = gmm_numba.GaussianMixture.from_xarray(tree)
    resp = estimator.predict_proba(frame)
    ax = plot_classification(tree, frame, features=("Petal.Length", "Petal.Width"), responsibilities=resp)
    saved(ax, tmp_path / "iris.png")
    assert len(ax.lines) == 6
    assert ax.get_xlabel() == "Petal.Length" and ax.get_ylabel() == "Petal.Width"
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), iris[:, 2:4])
    ax = plot_classification(tree, frame, features=(3, 0))
    assert ax.get_xlabel() == "Petal.Width" and ax.get_ylabel() == "Sepal.Length"


def test_plot_classification_refuses_one_feature(faithful):
    X = faithful[:, :1]
    tree = gmm_numba.fit(X, 2, random_state=0)
    with pytest.raises(ValueError, match="two"):
        plot_classification(tree, X)
    tree = gmm_numba.fit(faithful, 2, random_state=0)
    with pytest.raises(ValueError, match="two"):
        plot_classification(tree, faithful, features=(1, 1))


def test_plot_classification_refuses_other_feature_names(faithful):
    import pandas as pd

    frame = pd.DataFrame(faithful, columns=["eruptions", "waiting"])
    tree = gmm_numba.fit(frame, 2, random_state=0)
    with pytest.raises(ValueError, match="waiting"):
        plot_classification(tree, frame[["waiting", "eruptions"]])
