"""The gmm-numba command line, run in-process through gmm_numba.cli.main (plus one subprocess).

Fits use --components 1-3 and --n-init 1 to stay quick; the demo runs once.
"""

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import gmm_numba
from gmm_numba.cli import commands as cli
from gmm_numba.covariance import mclust_names
from gmm_numba.datasets import load_faithful
from gmm_numba.errors import one_line
from gmm_numba.selection import progress as bars
from gmm_numba.selection.progress import ProgressBar

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["--components", "1-3", "--n-init", "1"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    """``(status, stdout, stderr)`` of ``gmm-numba argv``."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_user_error(status, out, err, *fragments):
    """Exit status 2, exactly one line on stderr naming the problem, no traceback."""
    assert status == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gmm-numba") and "error:" in lines[0]
    assert "Traceback" not in err + out
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_chosen(out, tree):
    """The table stars one cell: the model the output names as chosen, and the one saved."""
    chosen, k = tree.attrs["covariance_type"], tree.attrs["n_components"]
    assert f"Chosen: {chosen} with {k} component(s)" in out
    starred = [line for line in out.splitlines() if re.search(r"\d\*", line)]
    assert len(starred) == 1 and starred[0].split()[0] == chosen, starred
    best = float(tree["selection"]["bic"].sel(covariance_type=chosen, n_components=k))
    assert f"{best:.2f}*" in starred[0]


def assert_png(path):
    assert path.is_file(), path
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG_SIGNATURE


@pytest.fixture(scope="module")
def faithful_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "faithful.csv"
    load_faithful().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, faithful_csv):
    """A model saved by ``gmm-numba fit`` (K = 1..3, BIC): its path."""
    path = tmp_path_factory.mktemp("model") / "model.nc"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["fit", str(faithful_csv), *QUICK, "--output", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One run of the demo: ``(folder, stdout, stderr, status)``."""
    folder = tmp_path_factory.mktemp("demo") / "out"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["demo", "--output", str(folder), "--components", "1-4", "--n-init", "2"])
    return folder, out.getvalue(), err.getvalue(), status


# ---------------------------------------------------------------------- demo
def test_demo_writes_the_result_and_plots_into_the_folder_it_names(demo):
    folder, out, err, status = demo
    assert status == 0, err
    assert str(folder) in out
    assert "compiles" in out and "Kernels ready" in out
    for model in mclust_names():
        assert model in out
    assert "BIC, lower is better" in out and "weights[0]" in out  # the table and the chosen model's summary
    tree = gmm_numba.load(folder / "faithful.nc")
    assert_chosen(out, tree)
    assert "selection" in tree.children
    for name in ("criterion.png", "classification.png"):
        assert_png(folder / name)
        assert f"Wrote {folder / name}" in out


def test_demo_defaults_sweep_k_1_to_9_over_mclusts_fourteen_models():
    args = cli.build_parser().parse_args(["demo"])
    assert args.components == list(range(1, 10))
    assert args.covariance_types == mclust_names()
    assert args.criterion == "bic" and args.output == cli.DEMO_FOLDER


def test_demo_never_overwrites_without_being_asked(demo, capsys):
    folder = demo[0]
    before = (folder / "faithful.nc").stat().st_mtime_ns
    status, out, err = run(capsys, "demo", "--output", folder, *QUICK)
    assert_user_error(status, out, err, "faithful.nc", "--overwrite")
    assert "Chosen" not in out  # refused before any work
    assert (folder / "faithful.nc").stat().st_mtime_ns == before


def test_demo_without_matplotlib_still_fits_and_says_why_there_are_no_plots(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_have_matplotlib", lambda: False)
    status, out, err = run(capsys, "demo", "-o", tmp_path / "d", "-k", "2", "--n-init", "1", "--models", "full")
    assert status == 0, err
    assert "No plots" in out and "matplotlib" in out
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["faithful.nc"]


# ----------------------------------------------------------------------- fit
def test_fit_csv_prints_the_table_and_writes_model_and_plots(faithful_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bars, "_interactive", lambda stream: True)  # as if attached to a terminal
    model, plots = tmp_path / "m.nc", tmp_path / "plots"
    status, out, err = run(capsys, "fit", faithful_csv, *QUICK, "--output", model, "--plots", plots)
    assert status == 0, err
    assert "fitting [" in err and "42/42" in err  # the progress bar: 14 models x 3 values of K
    assert "kernels [" in err
    table = out[out.index("BIC") : out.index("Chosen")]
    assert all(model_name in table for model_name in mclust_names())
    tree = gmm_numba.load(model)
    assert_chosen(out, tree)
    assert list(tree["selection"]["n_components"].values) == [1, 2, 3]
    assert_png(plots / "criterion.png")
    assert_png(plots / "classification.png")


def test_failed_cells_are_marked_with_their_reason(faithful_csv, capsys):
    status, out, err = run(capsys, "fit", faithful_csv, "-k", "2,300", "--n-init", "1", "--models", "full", "VII")
    assert status == 0, err
    assert "failed" in out.split("Chosen")[0]
    assert "Failed cells:" in out and "full K=300, VII K=300: 300 components need at least 300 samples" in out


def test_warnings_are_one_line(faithful_csv, capsys):
    status, out, err = run(
        capsys, "fit", faithful_csv, "-k", "2", "--n-init", "1", "--models", "full", "--max-iter", "2"
    )
    assert status == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gmm-numba: warning: ") and "max_iter=2" in lines[0]


def test_fit_without_a_terminal_draws_no_progress_bar(faithful_csv, capsys):
    status, out, err = run(capsys, "fit", faithful_csv, "--components", "2", "--n-init", "1", "--models", "full")
    assert status == 0
    assert "[" not in err


def test_fit_options_columns_models_criterion_search_seed(tmp_path, capsys):
    iris = tmp_path / "iris.csv"
    gmm_numba.datasets.load_iris().to_csv(iris, index=False)
    status, out, err = run(
        capsys,
        "fit",
        iris,
        "--columns",
        "Petal.Length,Petal.Width",
        "Sepal.Length",
        "--models",
        "VVV",
        "EEE",
        "--criterion",
        "icl",
        "--search",
        "models",
        "--seed",
        "3",
        *QUICK,
        "--output",
        tmp_path / "iris.nc",
    )
    assert status == 0, err
    assert out.startswith("Preparing")
    assert "ICL, lower is better" in out
    assert "diag" not in out.split("Chosen")[0]
    tree = gmm_numba.load(tmp_path / "iris.nc")
    assert list(tree["posterior"]["feature"].values) == ["Petal.Length", "Petal.Width", "Sepal.Length"]
    assert tree.attrs["criterion"] == "icl" and tree.attrs["random_state"] == 3
    assert tree.attrs["search"] == "models"
    assert tree.attrs["covariance_type"] in ("VVV", "EEE")  # the names as given


def test_fit_float32_npy_generates_feature_names(tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, load_faithful().to_numpy(dtype=np.float32))
    status, out, err = run(capsys, "fit", path, *QUICK, "--models", "full", "--output", tmp_path / "m.nc")
    assert status == 0, err
    tree = gmm_numba.load(tmp_path / "m.nc")
    assert list(tree["posterior"]["feature"].values) == ["x0", "x1"]
    assert tree.attrs["named_features"] == 0


@pytest.mark.parametrize("layout", ["variables", "matrix"])
def test_fit_netcdf(tmp_path, capsys, layout):
    frame = load_faithful()
    if layout == "variables":
        ds = xr.Dataset({name: ("time", frame[name].to_numpy()) for name in frame.columns})
    else:
        ds = xr.Dataset({"X": (("sample", "feature"), frame.to_numpy())}, coords={"feature": ["eruptions", "waiting"]})
    ds.to_netcdf(tmp_path / "data.nc")
    status, out, err = run(capsys, "fit", tmp_path / "data.nc", *QUICK, "--models", "full", "-o", tmp_path / "m.nc")
    assert status == 0, err
    assert list(gmm_numba.load(tmp_path / "m.nc")["posterior"]["feature"].values) == ["eruptions", "waiting"]


@pytest.mark.filterwarnings("ignore:Consolidated metadata")
def test_fit_zarr(tmp_path, capsys):
    store = tmp_path / "data.zarr"
    try:
        import zarr  # noqa: F401
    except ImportError:
        store.mkdir()
        status, out, err = run(capsys, "fit", store, *QUICK)
        assert_user_error(status, out, err, "zarr", "pip install zarr")
        return
    frame = load_faithful()
    xr.Dataset({name: ("sample", frame[name].to_numpy()) for name in frame.columns}).to_zarr(store)
    status, out, err = run(capsys, "fit", store, *QUICK, "--models", "full")
    assert status == 0, err


def test_fit_parquet(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    load_faithful().to_parquet(tmp_path / "data.parquet")
    status, out, err = run(capsys, "fit", tmp_path / "data.parquet", *QUICK, "--models", "full")
    assert status == 0, err
    assert "eruptions" in out


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, capsys, monkeypatch):
    def read_parquet(*args, **kwargs):
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", read_parquet)
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    status, out, err = run(capsys, "fit", tmp_path / "data.parquet")
    assert_user_error(status, out, err, "pyarrow")


def test_drop_nan_leaves_the_rows_out(tmp_path, capsys):
    frame = load_faithful()
    frame.loc[[3, 10], "waiting"] = np.nan
    frame.to_csv(tmp_path / "nan.csv", index=False)
    status, out, err = run(capsys, "fit", tmp_path / "nan.csv", *QUICK, "--models", "full", "--drop-nan")
    assert status == 0, err
    assert "270 rows" in out


def test_overwrite_replaces_an_existing_model(faithful_csv, tmp_path, capsys):
    model = tmp_path / "m.nc"
    model.write_text("old")
    status, out, err = run(capsys, "fit", faithful_csv, "-k", "2", "--n-init", "1", "--models", "full", "-o", model)
    assert_user_error(status, out, err, str(model), "--overwrite")
    assert model.read_text() == "old"
    status, out, err = run(
        capsys, "fit", faithful_csv, "-k", "2", "--n-init", "1", "--models", "full", "-o", model, "--overwrite"
    )
    assert status == 0, err
    assert gmm_numba.load(model).attrs["n_components"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["m.nc"]  # no temporary file left behind


# -------------------------------------------------------------- user errors
@pytest.fixture
def bad_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,name\n1,2,x\n3,4,y\n5,,z\n7,8,w\nnan,1,v\n")
    return path


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["fit", "{tmp}/missing.csv"], ["missing.csv", "no such file"]),
        (["fit", "{bad}", "--columns", "a", "nope"], ["no column 'nope'", "a, b, name"]),
        (["fit", "{bad}"], ["column 'name' is not numeric", "line 2", "--columns a b"]),
        (["fit", "{bad}", "--columns", "a", "b"], ["2 of 5 row(s)", "NaN", "line 4", "--drop-nan"]),
        (["fit", "{bad}", "-c", "a", "b", "--drop-nan", "-o", "{tmp}"], ["is a folder"]),
        (["fit", "{bad}", "-c", "a", "b", "--drop-nan", "-o", "{tmp}/m.csv"], [".nc"]),
        (["fit", "{bad}", "-c", "a", "b", "--drop-nan", "-o", "{tmp}/no/m.nc"], ["does not exist"]),
        (["fit", "{bad}", "-c", "a", "b", "--drop-nan", "--models", "VVX"], ["VVX", "VVV"]),
        (["fit", "{bad}", "-c", "a", "b", "--drop-nan", "-k", "9"], ["Every model failed", "9 components"]),
        (["fit", "{bad}", "-k", "0-2"], ["--components", "1 or more"]),
        (["fit", "{bad}", "--n-init", "0"], ["--n-init"]),
        (["fit"], ["DATA"]),
        (["predict", "{bad}", "{bad}"], ["bad.csv is not a gmm_numba model"]),
        (["predict", "{tmp}/none.nc", "{bad}"], ["none.nc", "no such file"]),
        (["summary", "{bad}"], ["not a gmm_numba model"]),
        (["summary", "{plain_nc}"], ["not a gmm_numba model", "format"]),
        (["fit", "{model}"], ["no data variables", "gmm-numba predict"]),
        (["predict", "{model}", "{bad}"], ["no column", "eruptions"]),
        (["predict", "{model}", "{bad}", "-c", "a", "--drop-nan"], ["1 column(s)", "2 feature(s)"]),
        (["predict", "{model}", "{bad}", "-c", "a", "b", "--drop-nan", "-o", "{tmp}/p.nc"], [".csv"]),
    ],
)
def test_user_errors_are_one_line_with_status_2(argv, fragments, bad_csv, fitted, tmp_path, capsys):
    plain = tmp_path / "plain.nc"
    xr.Dataset({"v": ("x", np.arange(3.0))}).to_netcdf(plain)
    names = {"tmp": tmp_path, "bad": bad_csv, "model": fitted, "plain_nc": plain}
    status, out, err = run(capsys, *[a.format(**names) for a in argv])
    assert_user_error(status, out, err, *fragments)


def test_debug_shows_the_traceback(tmp_path, capsys):
    with pytest.raises(cli.UserError):
        cli.main(["fit", str(tmp_path / "missing.csv"), "--debug"])


# ------------------------------------------------------------ predict, summary
def test_predict_writes_labels_and_probabilities(fitted, tmp_path, capsys):
    frame = load_faithful()
    frame.loc[5, "eruptions"] = np.nan
    frame.insert(0, "id", np.arange(len(frame)))  # extra columns are fine: the model names its features
    frame.to_csv(tmp_path / "new.csv", index=False)
    out_csv = tmp_path / "labels.csv"
    status, out, err = run(capsys, "predict", fitted, tmp_path / "new.csv", "--drop-nan", "-o", out_csv)
    assert status == 0, err
    table = pd.read_csv(out_csv)
    assert list(table.columns) == ["row", "label", "p0", "p1", "p2"]
    assert len(table) == 271 and 5 not in table["row"].values
    proba = table[["p0", "p1", "p2"]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(table["label"], proba.argmax(axis=1))
    estimator = gmm_numba.GaussianMixture.from_xarray(gmm_numba.load(fitted))
    X = frame.drop(columns="id").dropna().to_numpy()
    np.testing.assert_array_equal(table["label"], estimator.predict(X))

    status, out, err = run(capsys, "predict", fitted, tmp_path / "new.csv", "--drop-nan", "-o", out_csv)
    assert_user_error(status, out, err, "--overwrite")


def test_predict_to_standard_output_by_position_for_npy(fitted, tmp_path, capsys):
    np.save(tmp_path / "x.npy", load_faithful().to_numpy()[:4])
    status, out, err = run(capsys, "predict", fitted, tmp_path / "x.npy")
    assert status == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "row,label,p0,p1,p2" and len(lines) == 5


def test_summary_prints_the_selection_and_the_model(fitted, capsys):
    status, out, err = run(capsys, "summary", fitted)
    assert status == 0, err
    assert "BIC, lower is better" in out and out.count("*") == 2  # the legend and the chosen cell
    assert "covariance 'EEE'" in out and "means[0, eruptions]" in out  # mclust's name, as the sweep's row


# ------------------------------------------------------------------ pieces
def test_components_syntax():
    assert cli._ks("1-9") == list(range(1, 10))
    assert cli._ks("2,3,5") == [2, 3, 5]
    assert cli._ks("1-3,5") == [1, 2, 3, 5]
    for bad in ("3-1", "a", "0", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            cli._ks(bad)


def test_progress_bar_only_on_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar("fitting", stream=stream)  # StringIO is no terminal
    bar(1, 2, "full K=1")
    assert stream.getvalue() == ""
    bar = ProgressBar("fitting", stream=stream, enabled=True)
    bar(1, 2, "full K=1")
    bar(2, 2, "full K=2")
    bar.finish()
    assert "[############............] 1/2 full K=1" in stream.getvalue()
    assert "s left" in stream.getvalue().split("\r")[1]  # after one cell of two: the time left
    assert stream.getvalue().endswith("\n")


def test_one_line_joins_a_list_of_reasons():
    assert one_line("Every model failed to fit:\n- a\n- b") == "Every model failed to fit: a; b"


def test_python_m_gmm_numba_help():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, "-m", "gmm_numba", "--help"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    for command in ("demo", "fit", "predict", "summary"):
        assert command in done.stdout


def test_threads_option_applies_and_is_restored(fitted, capsys, monkeypatch):
    import numba

    before = numba.get_num_threads()
    seen = []
    real = cli.cmd_summary
    monkeypatch.setattr(cli, "cmd_summary", lambda args: (seen.append(numba.get_num_threads()), real(args)))
    status, out, err = run(capsys, "summary", fitted, "--threads", "1")
    assert status == 0, err
    assert seen == [1] and numba.get_num_threads() == before
    status, out, err = run(capsys, "summary", fitted, "--threads", "100000")
    assert_user_error(status, out, err, "--threads", "NUMBA_NUM_THREADS")


def test_version(capsys):
    status, out, err = run(capsys, "--version")
    assert status == 0 and out.strip() == f"gmm-numba {gmm_numba.__version__}"
