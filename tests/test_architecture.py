"""The package's layers: imports point down, never up, and no modules import each other.

Imports inside functions count: a lazy import is still a dependency. The layers are
documented in docs/architecture.md.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gmm_numba"

#: Layer of each module, by the longest matching prefix of its dotted name (low = bottom).
LAYERS = {
    "gmm_numba.errors": 0,
    "gmm_numba.datasets": 0,
    "gmm_numba._kernels": 1,
    "gmm_numba.covariance": 2,
    "gmm_numba.data": 3,
    "gmm_numba.fitting": 4,
    "gmm_numba.results": 5,
    "gmm_numba.selection": 6,
    "gmm_numba._sklearn_params": 7,
    "gmm_numba.estimator": 7,
    "gmm_numba.classifier": 7,
    "gmm_numba.api": 7,
    "gmm_numba.bootstrap": 7,
    "gmm_numba.plotting": 7,
    "gmm_numba.accessor": 7,
    "gmm_numba.cli": 8,
    "gmm_numba._lazy": 9,
    "gmm_numba.__main__": 9,
    "gmm_numba": 9,
}


def module_files():
    """Dotted module name -> path, for every module of the package."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("gmm_numba",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_modules(name, path, modules):
    """Modules of the package that ``name`` imports anywhere in its file (functions included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            candidates = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for candidate in candidates:
            # "import gmm_numba.a.b" depends on gmm_numba.a.b; a package's own parents are not dependencies
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name and not name.startswith(candidate + "."):
                found.add(candidate)
    return found


def layer(name):
    prefix = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[prefix]


@pytest.fixture(scope="module")
def graph():
    modules = module_files()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer(graph):
    assert len(graph) > 40
    for name in graph:
        assert name == "gmm_numba" or max(
            (p for p in LAYERS if name.startswith(p + ".") or name == p), key=len
        ) != "gmm_numba", f"{name} has no layer: add it to LAYERS and docs/architecture.md"


def test_imports_point_down(graph):
    upward = [
        f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
        for name, targets in graph.items()
        for target in targets
        if layer(target) > layer(name)
    ]
    assert not upward, "imports that go up a layer:\n" + "\n".join(sorted(upward))


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_no_import_cycles(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_can_fail():
    """The cycle finder and the layer rule catch what they exist to catch."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer("gmm_numba.estimator") > layer("gmm_numba.fitting.em") > layer("gmm_numba._kernels.estep")
    modules = module_files()
    lazy = imported_modules("gmm_numba.estimator", modules["gmm_numba.estimator"], modules)
    assert "gmm_numba.results.convert" in lazy  # imported inside a method, still counted
