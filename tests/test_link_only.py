"""Functions only kernels call get no machine code of their own (``_kernels.link_only``)."""

import importlib
import os
import subprocess
import sys
import textwrap
import warnings

import naive
import numpy as np
from numba import njit

from gmm_numba._kernels import config, link_only, parfor_wrappers
from gmm_numba._kernels.constrained import expected_log_likelihood

KERNEL_MODULES = ("constrained", "em_run", "estep", "hierarchical", "kmeans", "linalg", "moments", "tiles")


@njit
def _kernel_calling_marked(covariances, scatter, nk):
    """A kernel of the tests' own (not cached) calling a marked function."""
    return expected_log_likelihood(covariances, scatter, nk)


@njit
def _not_marked(x):
    return x + 1.0


def in_jit(dispatcher, signature):
    """Whether the compiled ``signature`` of ``dispatcher`` has an address in the process's JIT."""
    cres = dispatcher.overloads[signature]
    engine = cres.library.codegen._engine
    return engine.is_symbol_defined(cres.fndesc.mangled_name) or bool(
        cres.library.get_pointer_to_function(cres.fndesc.llvm_cpython_wrapper_name)
    )


def random_problem(seed=0, k=3, d=4):
    rng = np.random.default_rng(seed)
    nk = rng.uniform(5.0, 20.0, size=k)
    scatter = np.empty((k, d, d))
    covariances = np.empty((k, d, d))
    for c in range(k):
        a = rng.normal(size=(d, 2 * d))
        scatter[c] = nk[c] * (a @ a.T) / (2 * d)
        b = rng.normal(size=(d, 2 * d))
        covariances[c] = b @ b.T / (2 * d) + 0.1 * np.eye(d)
    return covariances, scatter, nk


def test_the_codegen_hook_is_in_place():
    assert config is not None  # importing it hooks Numba's codegen
    assert parfor_wrappers.link_only_available(), parfor_wrappers.status
    assert isinstance(expected_log_likelihood, link_only.LinkOnlyDispatcher)


def test_a_marked_function_has_no_machine_code_after_its_caller_compiled():
    covariances, scatter, nk = random_problem()
    value = _kernel_calling_marked(covariances, scatter, nk)
    np.testing.assert_allclose(value, naive.expected_log_likelihood(covariances, scatter, nk), rtol=1e-12)
    (signature,) = [s for s in expected_log_likelihood.signatures if s == _kernel_calling_marked.signatures[0]]
    assert not in_jit(expected_log_likelihood, signature)
    assert in_jit(_kernel_calling_marked, _kernel_calling_marked.signatures[0])
    # the check itself sees an ordinary function's code
    _not_marked(1.0)
    assert in_jit(_not_marked, _not_marked.signatures[0])


def test_a_marked_function_called_from_python_is_compiled_as_usual():
    covariances, scatter, nk = random_problem(1)
    before = link_only.python_calls[link_only.qualified_name(expected_log_likelihood.py_func)]
    direct = expected_log_likelihood(covariances, scatter, nk)
    assert link_only.python_calls[link_only.qualified_name(expected_log_likelihood.py_func)] == before + 1
    python = expected_log_likelihood.python_dispatcher
    assert in_jit(python, python.signatures[0])
    np.testing.assert_allclose(direct, naive.expected_log_likelihood(covariances, scatter, nk), rtol=1e-12)
    np.testing.assert_allclose(direct, _kernel_calling_marked(covariances, scatter, nk), rtol=1e-14)


def test_a_marked_function_rebuilt_from_a_pickle_is_still_link_only():
    """Numba rebuilds a pickled dispatcher (in another process) from its function and options alone."""
    state = expected_log_likelihood._reduce_states()
    rebuilt = link_only.LinkOnlyDispatcher._rebuild(**dict(state, uuid="rebuilt-in-another-process"))
    assert rebuilt is not expected_log_likelihood and rebuilt.python_dispatcher is None
    covariances, scatter, nk = random_problem(2)

    @njit
    def kernel(covariances, scatter, nk):
        return rebuilt(covariances, scatter, nk)

    in_kernel = kernel(covariances, scatter, nk)
    assert not in_jit(rebuilt, rebuilt.signatures[0])
    np.testing.assert_allclose(rebuilt(covariances, scatter, nk), in_kernel, rtol=1e-14)
    np.testing.assert_allclose(in_kernel, naive.expected_log_likelihood(covariances, scatter, nk), rtol=1e-12)


def test_every_marked_function_is_a_link_only_dispatcher_of_its_module():
    assert len(link_only.marked) >= 60
    for name in link_only.marked:
        module, function = name.rsplit(".", 1)
        found = getattr(importlib.import_module(module), function)
        assert isinstance(found, link_only.LinkOnlyDispatcher), name
    for module in KERNEL_MODULES:
        for name, value in vars(importlib.import_module(f"gmm_numba._kernels.{module}")).items():
            if isinstance(value, link_only.LinkOnlyDispatcher):
                assert link_only.qualified_name(value.py_func) in link_only.marked, name


def test_the_package_calls_no_marked_function_from_python(faithful):
    """A marked function called from Python is compiled twice: once linked only, once for Python."""
    import gmm_numba

    before = dict(link_only.python_calls)
    X = np.asarray(faithful)[:120]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gmm_numba.select(X, n_components=[1, 2], covariance_type=["VVV", "VEV", "EVE", "EII"], n_init=2,
                         max_iter=5, random_state=0, progress=False)
        gmm_numba.GaussianMixture(2, covariance_type="diag", max_iter=5, random_state=0).fit(X).predict(X)
    assert dict(link_only.python_calls) == before


def test_a_kernel_loaded_from_the_cache_needs_no_marked_function(tmp_path):
    """Numba's cache keeps working: a second process loads the kernel and leaves its marked callee uncompiled."""
    script = tmp_path / "cached_kernel.py"
    script.write_text(textwrap.dedent(
        """
        import numpy as np
        from numba import njit

        from gmm_numba._kernels.em_run import _root_det


        @njit(cache=True)
        def kernel(matrix):
            return _root_det(matrix)


        matrix = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
        print(repr(kernel(matrix)), len(_root_det.signatures), sum(kernel.stats.cache_hits.values()))
        """
    ))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=True)
        value, compiled, hits = done.stdout.split()
        runs.append((float(value), int(compiled), int(hits)))
    (cold_value, cold_compiled, cold_hits), (warm_value, warm_compiled, warm_hits) = runs
    assert (cold_compiled, cold_hits) == (1, 0)
    assert (warm_compiled, warm_hits) == (0, 1)
    assert warm_value == cold_value
    matrix = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    np.testing.assert_allclose(cold_value, np.linalg.det(matrix) ** (1 / 3), rtol=1e-13)
