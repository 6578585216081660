"""get_params / set_params / repr without depending on scikit-learn."""

import inspect


class ParamsMixin:
    """scikit-learn's parameter protocol: every ``__init__`` argument is an attribute."""

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """Parameters of this estimator, as a dict (scikit-learn's protocol)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set parameters by name; unknown names raise ``ValueError``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. Valid parameters are: {valid!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self):
        signature = inspect.signature(type(self).__init__)
        changed = []
        for p in signature.parameters.values():
            if p.name == "self" or p.kind == p.VAR_KEYWORD:
                continue
            value = getattr(self, p.name)
            default = p.default
            same = value is default
            if not same:
                try:
                    same = bool(value == default) and type(value) is type(default)
                except (TypeError, ValueError):
                    same = False
            if not same:
                changed.append(f"{p.name}={value!r}" if not hasattr(value, "shape") else f"{p.name}=array{value.shape}")
        return f"{type(self).__name__}({', '.join(changed)})"
