"""Every script in examples/ runs in its --fast mode and writes the figures it promises."""

import os
import runpy
import sys

import pytest

pytest.importorskip("matplotlib")

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")

#: The forest plots of uncertainty.py: the weights, and each mean on its own scale.
UNCERTAINTY_FORESTS = [
    "forest_weights.png",
    *(f"forest_means_{k}_{feature}.png" for feature in ("eruptions", "waiting") for k in (0, 1)),
]

#: script -> (extra arguments, figures it writes, modules it needs)
CASES = {
    "old_faithful_em.py": ([], ["em_iterations.png", "log_likelihood.png"], []),
    "choosing_k.py": ([], ["criteria.png", "chosen_model.png"], []),
    "uncertainty.py": ([], [*UNCERTAINTY_FORESTS, "draws.png"], ["arviz"]),
    "sklearn_interplay.py": ([], ["grid_search.png"], ["sklearn"]),
    "noise.py": ([], ["noise.png"], []),
    "semi_supervised.py": ([], ["semi_supervised.png"], []),
    "missing_values.py": ([], ["imputation.png"], []),
}


def test_every_example_is_tested():
    scripts = sorted(name for name in os.listdir(EXAMPLES) if name.endswith(".py") and not name.startswith("_"))
    untested = [name for name in scripts if name not in CASES]
    # examples owned elsewhere (the Dask one) carry their own tests
    assert not [name for name in untested if "dask" not in name], untested


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs_fast_and_writes_its_figures(script, tmp_path, monkeypatch, capsys):
    extra, figures, needs = CASES[script]
    for module in needs:
        pytest.importorskip(module)
    out = tmp_path / "figures"
    monkeypatch.setattr(sys, "argv", [script, "--fast", "--out", str(out), *extra])
    monkeypatch.chdir(tmp_path)
    runpy.run_path(os.path.join(EXAMPLES, script), run_name="__main__")
    printed = capsys.readouterr().out
    for name in figures:
        path = out / name
        assert path.is_file() and path.stat().st_size > 1000, path
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
        assert f"wrote {path}" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures"]  # nothing written elsewhere


def test_default_output_folder_is_named_after_the_example(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["old_faithful_em.py", "--fast"])
    monkeypatch.chdir(tmp_path)
    runpy.run_path(os.path.join(EXAMPLES, "old_faithful_em.py"), run_name="__main__")
    assert (tmp_path / "old_faithful_em_output" / "em_iterations.png").is_file()
