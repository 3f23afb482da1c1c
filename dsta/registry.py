"""The model registry: a name maps to a factory function, one hop deep (as timm's ``_registry``).

A leaf, free of torch and of every model: each model file imports it and registers its factory with
``@register_model(kind)``, so no model file imports the module that lists them all (``dsta.models``), and importing
that module (which imports every model file) fills the registry. Ask ``dsta.models`` for the complete set; this module
knows only the model files imported so far.

A model's kind says how it is trained and decoded (``dsta.objectives``): ``"regression"`` (coords + sigma, RLE loss)
or ``"heatmap"`` (heatmaps, MSE loss).
"""
from __future__ import annotations

from typing import Any, Callable

from dsta.errors import DataError

KINDS = ("regression", "heatmap")

_factories: dict[str, Callable[..., Any]] = {}
_kinds: dict[str, str] = {}


def register_model(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a factory under its function name, with the kind of output its model returns."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        _factories[fn.__name__] = fn
        _kinds[fn.__name__] = kind
        return fn

    return wrap


def list_models() -> list[str]:
    return sorted(_factories)


def _check_known(name: str) -> None:
    if name not in _factories:
        raise DataError(None, "model.name", f"unknown model {name!r}; registered: {', '.join(list_models())}")


def create_model(name: str, **kwargs: Any) -> Any:
    _check_known(name)
    return _factories[name](**kwargs)


def model_target(name: str) -> str:
    """The kind of output model ``name`` returns: ``"regression"`` or ``"heatmap"``."""
    _check_known(name)
    return _kinds[name]
