"""Keep ``import gmm_numba`` light: xarray, pandas and SciPy's optimiser load
only when a function that needs them is first used.

Two mechanisms:

* :class:`LazyPackage` is the class of the ``gmm_numba`` module object: names
  such as ``gmm_numba.select`` import their module on first access;
* :func:`register_accessor_with_xarray` registers the ``.gmm`` accessor at
  once if xarray is loaded, otherwise right after xarray's own import
  finishes, whoever imports it.
"""

import importlib
import importlib.abc
import sys
import types

#: Public names whose modules import xarray, pandas or scipy.optimize.
LAZY_ATTRIBUTES = {
    "fit": "api",
    "select": "selection",
    "bootstrap": "bootstrap",
    "load": "results",
    "summary": "results.summary",
    "describe": "results.summary",
    "to_inference_data": "results.summary",
}

_ACCESSOR = "gmm_numba.accessor"


class LazyPackage(types.ModuleType):
    """Module class of ``gmm_numba`` that loads :data:`LAZY_ATTRIBUTES` on first use."""

    def __getattr__(self, name):
        if name not in LAZY_ATTRIBUTES:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        module = importlib.import_module(f"{self.__name__}.{LAZY_ATTRIBUTES[name]}")
        value = getattr(module, name)
        super().__setattr__(name, value)
        return value

    def __setattr__(self, name, value):
        # Importing the submodule gmm_numba.summary (or .bootstrap) binds it as an
        # attribute of the package; the function of the same name must stay.
        if name in LAZY_ATTRIBUTES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(LAZY_ATTRIBUTES))


class _AfterXarrayLoader(importlib.abc.Loader):
    """Delegates to xarray's loader, then imports the accessor module."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        importlib.import_module(_ACCESSOR)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _XarrayImportHook(importlib.abc.MetaPathFinder):
    """Finds xarray with the other finders and wraps its loader, once."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "xarray":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _AfterXarrayLoader(spec.loader)
        return spec


def register_accessor_with_xarray():
    """Register ``.gmm`` on xarray objects now or as soon as xarray is imported."""
    if "xarray" in sys.modules:
        importlib.import_module(_ACCESSOR)
    elif not any(isinstance(finder, _XarrayImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _XarrayImportHook())
