"""The documentation stays true to the code.

* every public name (``gmm_numba.__all__``, the public methods of
  GaussianMixture, the plotting and datasets functions, the ``.gmm``
  accessor) has a docstring;
* every ``python`` block of docs/user_guide.md runs, in order, in a scratch folder, and so does
  the README's example (with the installed ArviZ, 0.23 or 1.x);
* every ``gmm-numba`` command line shown in the guide parses;
* docs/api.md lists every public name with its current signature.

docs/api.md is generated from the docstrings by this file:
``python tests/test_docs.py`` rewrites it.
"""

import inspect
import os
import re
import shlex
import sys

import pytest

import gmm_numba

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_GUIDE = os.path.join(REPO, "docs", "user_guide.md")
README = os.path.join(REPO, "README.md")
API = os.path.join(REPO, "docs", "api.md")


# ------------------------------------------------------------ public names
def public_names():
    """``gmm_numba.__all__`` without the dunder names (``__version__`` is a plain string)."""
    return [name for name in gmm_numba.__all__ if not name.startswith("__")]


def public_members(cls):
    """Public methods and properties defined on ``cls`` or inherited from gmm_numba's own bases."""
    members = []
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        owner = next(base for base in cls.__mro__ if name in vars(base))
        if owner is object or not owner.__module__.startswith("gmm_numba"):
            continue
        members.append(name)
    return members


def module_functions(module):
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == module.__name__
    ]


def extra_modules():
    from gmm_numba import datasets, plotting

    return [plotting, datasets]


@pytest.mark.parametrize("name", public_names())
def test_public_name_has_a_docstring(name):
    obj = getattr(gmm_numba, name)
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"gmm_numba.{name} has no docstring"
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        assert obj.__doc__, f"gmm_numba.{name} inherits its docstring instead of having one"


#: The estimators, documented with their methods in the reference's first section.
ESTIMATORS = (gmm_numba.GaussianMixture, gmm_numba.GaussianMixtureClassifier)


@pytest.mark.parametrize(
    "cls, name",
    [(cls, name) for cls in ESTIMATORS for name in public_members(cls)],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_estimator_public_method_has_a_docstring(cls, name):
    member = inspect.getattr_static(cls, name)
    target = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
    target = target.fget if isinstance(target, property) else target
    assert target.__doc__ and target.__doc__.strip(), f"{cls.__name__}.{name} has no docstring"


def test_helper_modules_and_accessor_have_docstrings():
    from gmm_numba.accessor import GMMAccessor

    missing = [
        f"{module.__name__}.{name}"
        for module in extra_modules()
        for name in module_functions(module)
        if not inspect.getdoc(getattr(module, name))
    ]
    missing += [f"GMMAccessor.{name}" for name in public_members(GMMAccessor) if not getattr(GMMAccessor, name).__doc__]
    assert not missing, f"no docstring: {missing}"


def test_the_public_names_are_what_the_reference_expects():
    assert set(gmm_numba.__all__) >= {
        "GaussianMixture",
        "fit",
        "select",
        "bootstrap",
        "load",
        "summary",
        "describe",
        "to_inference_data",
    }


# ------------------------------------------------------------- user guide
def code_blocks(path, language):
    """``(first line number, code)`` of every fenced block of ``language`` in a Markdown file."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    blocks = []
    for match in re.finditer(rf"^```{language}[ \t]*\n(.*?)^```[ \t]*$", text, re.S | re.M):
        blocks.append((text[: match.start()].count("\n") + 2, match.group(1)))
    return blocks


def run_python_blocks(path, tmp_path, monkeypatch):
    """Run every ``python`` block of the Markdown file ``path`` in order, in ``tmp_path``; their number."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pytest.importorskip("arviz")
    monkeypatch.chdir(tmp_path)
    blocks = code_blocks(path, "python")
    name = os.path.relpath(path, REPO)
    namespace = {"__name__": "docs"}
    try:
        for line, code in blocks:
            # padding with blank lines makes tracebacks point at the line of the Markdown file
            compiled = compile("\n" * (line - 1) + code, path, "exec")
            try:
                exec(compiled, namespace)
            except Exception as exc:
                pytest.fail(f"the python block at {name}:{line} raised {type(exc).__name__}: {exc}")
    finally:
        plt.close("all")
    return len(blocks)


def test_user_guide_python_blocks_run_in_order(tmp_path, monkeypatch):
    assert run_python_blocks(USER_GUIDE, tmp_path, monkeypatch) >= 10
    assert (tmp_path / "faithful.nc").is_file() and (tmp_path / "bic.png").is_file()


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    assert run_python_blocks(README, tmp_path, monkeypatch) == 1
    printed = capsys.readouterr().out
    assert "..." not in printed  # every table whole
    assert "means[1, waiting]" in printed and "weights[0]" in printed


def test_user_guide_command_lines_parse():
    from gmm_numba.cli import commands as cli

    lines = []
    for _, code in code_blocks(USER_GUIDE, "bash"):
        for line in code.splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("gmm-numba ") and "--help" not in line:
                lines.append(line)
    assert len(lines) >= 5
    parser = cli.build_parser()
    for line in lines:
        try:
            args = parser.parse_args(shlex.split(line)[1:])
        except SystemExit:
            pytest.fail(f"docs/user_guide.md shows a command line that does not parse: {line}")
        assert callable(args.func)


# ------------------------------------------------------------ api reference
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc):`~?([^`]+)`")
_SECTION = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.M)


def _doc(obj):
    return _ROLE.sub(r"`\1`", inspect.getdoc(obj) or "")


def signature(obj, name):
    """``name(params)`` on one line, or one parameter per line when that would be long."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return f"{name}(...)"
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    rendered, star_done = [], False
    for p in params:
        if p.kind == p.KEYWORD_ONLY and not star_done:
            rendered.append("*")
            star_done = True
        if p.kind == p.VAR_POSITIONAL:
            star_done = True
        rendered.append(str(p))
    one_line = f"{name}({', '.join(rendered)})"
    if len(one_line) <= 100:
        return one_line
    return f"{name}(\n" + "".join(f"    {r},\n" for r in rendered) + ")"


def _split_doc(doc):
    """The description (Markdown) and the numpydoc sections (kept verbatim)."""
    match = _SECTION.search(doc)
    if not match:
        return doc.strip(), ""
    return doc[: match.start()].strip(), doc[match.start() :].strip()


def _entry(title, obj, sig, level="###"):
    description, sections = _split_doc(_doc(obj))
    parts = [f"{level} `{title}`", ""]
    if sig:
        parts += ["```python", sig, "```", ""]
    if description:
        parts += [description, ""]
    if sections:
        parts += ["```text", sections, "```", ""]
    return parts


def api_items():
    """``(title, object, signature)`` of every documented name, in page order."""
    items = []
    for name in public_names():
        obj = getattr(gmm_numba, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            continue
        items.append((name, obj, signature(obj, name)))
    return items


def render_api():
    """The text of docs/api.md."""
    from gmm_numba.accessor import GMMAccessor

    out = [
        "# API reference",
        "",
        "Generated from the docstrings by `python tests/test_docs.py` (the tests check that every public",
        "name is here, with its current signature). The user guide, [user_guide.md](user_guide.md), shows",
        "how the pieces fit together.",
        "",
        f"`gmm_numba.__all__`: {', '.join(f'`{n}`' for n in gmm_numba.__all__)}.",
        "",
        "## Estimators",
        "",
    ]
    for cls in ESTIMATORS:
        out += _entry(f"gmm_numba.{cls.__name__}", cls, signature(cls, cls.__name__))
        for name in public_members(cls):
            member = getattr(cls, name)
            out += _entry(f"{cls.__name__}.{name}", member, signature(member, name), level="####")
    out += ["## Functions", ""]
    for name, obj, sig in api_items():
        if obj in ESTIMATORS:
            continue
        out += _entry(f"gmm_numba.{name}", obj, sig)
    out += ["## Errors and warnings", ""]
    for name in public_names():
        obj = getattr(gmm_numba, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            bases = ", ".join(f"`{b.__name__}`" for b in obj.__bases__)
            out += _entry(f"gmm_numba.{name}", obj, None)
            out += [f"Subclass of {bases}.", ""]
    out += [
        "## Version",
        "",
        "### `gmm_numba.__version__`",
        "",
        'The version of the package, a string such as `"0.1.0"`; results record it in their',
        "`gmm_numba_version` attribute.",
        "",
        "## The `.gmm` accessor on xarray objects",
        "",
        "`import gmm_numba` registers `.gmm` on every `xarray.DataArray` and `xarray.Dataset` (at once if "
        "xarray is already imported, otherwise as soon as it is).",
        "",
    ]
    for name in public_members(GMMAccessor):
        member = getattr(GMMAccessor, name)
        out += _entry(f".gmm.{name}", member, signature(member, name), level="####")
    for module in extra_modules():
        out += [f"## `{module.__name__}`", "", _doc(module).strip(), ""]
        for name in module_functions(module):
            obj = getattr(module, name)
            out += _entry(f"{module.__name__}.{name}", obj, signature(obj, name))
    from gmm_numba import cli

    out += ["## Command line", ""]
    out += _entry("gmm_numba.cli.main", cli.main, signature(cli.main, "main"))
    out += [
        "The commands and their options: `gmm-numba --help`, `gmm-numba COMMAND --help`, and the",
        "[user guide](user_guide.md#the-command-line).",
        "",
    ]
    return "\n".join(out).rstrip() + "\n"


def test_api_reference_lists_every_public_name_with_its_signature():
    with open(API, encoding="utf-8") as handle:
        text = handle.read()
    stale = []
    for name in gmm_numba.__all__:
        if f"`gmm_numba.{name}`" not in text:
            stale.append(f"{name}: missing")
    for name, _, sig in api_items():
        if sig not in text:
            stale.append(f"{name}: signature changed to {sig}")
    for cls in ESTIMATORS:
        for name in public_members(cls):
            member = getattr(cls, name)
            if f"`{cls.__name__}.{name}`" not in text or signature(member, name) not in text:
                stale.append(f"{cls.__name__}.{name}: missing or changed")
    assert not stale, "docs/api.md is out of date (regenerate: python tests/test_docs.py): " + "; ".join(stale)


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    with open(API, "w", encoding="utf-8") as handle:
        handle.write(render_api())
    print(f"wrote {API}")


# ------------------------------------------------------------ the README's figure
def test_readme_figure_shows_what_todays_code_computes():
    """docs/images/faithful.png is drawn by docs/images/make_figures.py, which writes the numbers it
    shows beside it (faithful.json): the script's computation, run again, gives the same numbers."""
    import json
    import runpy

    import numpy as np

    script = runpy.run_path(os.path.join(REPO, "docs", "images", "make_figures.py"), run_name="make_figures")
    assert os.path.isfile(script["FIGURE"]), "docs/images/faithful.png is missing: python docs/images/make_figures.py"
    with open(script["NUMBERS"], encoding="utf-8") as handle:
        drawn = json.load(handle)
    today = script["shown_numbers"](script["faithful_selection"]())
    stale = "docs/images/faithful.png is stale: python docs/images/make_figures.py"
    assert today["chosen"] == drawn["chosen"] and today["n_components"] == drawn["n_components"], stale
    assert today["bic"].keys() == drawn["bic"].keys(), stale
    for model, values in today["bic"].items():
        np.testing.assert_allclose(values, drawn["bic"][model], atol=0.005, err_msg=stale)  # what the axis resolves
    for name in ("weights", "means"):
        np.testing.assert_allclose(today[name], drawn[name], rtol=1e-4, err_msg=stale)
