"""The model registry: a name maps to a factory function, one hop deep (as timm's ``_registry``), and outside
packages join it by entry point.

A leaf, free of torch and of every model: each model file imports it and registers its factory with
``@register_model(kind)``, so no model file imports the module that lists them all (``dsta.models``), and importing
that module (which imports every model file) fills the registry. Ask ``dsta.models`` for the complete set; this module
knows only the model files imported so far, and the plugins.

A model's kind says how it is trained and decoded (``dsta.objectives``): ``"regression"`` (coords + sigma, RLE loss)
or ``"heatmap"`` (heatmaps, MSE loss).

**Plugins.** An installed package benchmarks its own model by declaring an entry point in the group
``dsta_bench.models`` whose object is a ``ModelPlugin``::

    [project.entry-points."dsta_bench.models"]
    tavg = "dsta_tavg.plugin:PLUGIN"

The module the entry point names must be torch-free (the config composer and the reports read it); the factory,
which builds the network, is imported only when a model is built. The entry points are read once, on the first
question about a name this process has not registered; a plugin that fails to load (import error, not a
``ModelPlugin``, unknown kind, a name of ours) is one line naming the entry point and its error, on stderr once and
in the error of every use of its name, and the other models work as before. Nothing of this project imports a
plugin by name.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dsta.core.errors import DataError

KINDS = ("regression", "heatmap")
# this project's model names (tests/test_registry.py: what importing dsta.models registers): a plugin cannot take one,
# even in a process that never imports the models (the composer, the reports)
OWN_MODELS = ("dcpose", "dsta", "heatmap_single", "rle")
ENTRY_POINT_GROUP = "dsta_bench.models"  # the name plugins are written against: never rename it

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


@dataclass(frozen=True)
class ModelPlugin:
    """What an outside package declares to join the benchmark (see the module docstring).

    Args:
        name: the registry name (``model.name`` in its config); must equal the entry point's name.
        kind: ``"regression"`` or ``"heatmap"``: how it is trained and decoded, and its block in the report tables.
        factory: ``"package.module:function"``, the function that builds the network from the config's ``kwargs``;
            imported only when a model is built.
        config: its typed config, a ``dsta.core.configs.ModelConfig`` subclass (constructor arguments, defaults,
            checks):
            ``python -m dsta.config`` checks the plugin's experiments with it, as it checks ours.
        label: the method's name in the report's tables and figures.
        configs: a folder of Hydra config groups that ``python -m dsta.config`` adds to its search path (its
            ``model/NAME.yaml``, an ``extra/NAME.yaml`` that adds its experiment to a matrix); None for none.
        bibtex: its BibTeX entry; the report's LaTeX cites it (``reports/latex/plugins.bib``).
    """

    name: str
    kind: str
    factory: str
    config: type
    label: str
    configs: str | None = None
    bibtex: str | None = None


_plugins: dict[str, ModelPlugin] | None = None  # None until the entry points are read
_broken: dict[str, str] = {}  # entry point name -> why it did not load


def _check_plugin(ep: Any, obj: Any) -> ModelPlugin:
    if not isinstance(obj, ModelPlugin):
        raise TypeError(f"expected a dsta.core.registry.ModelPlugin, got {type(obj).__name__}")
    if obj.name != ep.name:
        raise ValueError(f"its ModelPlugin is named {obj.name!r}, not {ep.name!r}")
    if obj.kind not in KINDS:
        raise ValueError(f"unknown kind {obj.kind!r}; known: {', '.join(KINDS)}")
    if ":" not in obj.factory:
        raise ValueError(f"factory must be 'module:function', got {obj.factory!r}")
    if obj.name in _factories or obj.name in OWN_MODELS:
        raise ValueError(f"{obj.name!r} is a model of dsta-bench itself")
    return obj


def plugins() -> dict[str, ModelPlugin]:
    """The plugins of the installed packages (entry point group ``dsta_bench.models``), read once."""
    global _plugins
    if _plugins is None:
        from importlib.metadata import entry_points

        _plugins = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                _plugins[ep.name] = _check_plugin(ep, ep.load())
            except Exception as err:  # any failure of an outside package: one line, the others still load
                _broken[ep.name] = (
                    f"plugin entry point {ep.name} = {ep.value} ({ENTRY_POINT_GROUP}) failed to "
                    f"load: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                )
                print(f"warning: {_broken[ep.name]}", file=sys.stderr)
    return _plugins


def reload_plugins() -> dict[str, ModelPlugin]:
    """Read the entry points again (after installing a package in this process, e.g. in a test)."""
    global _plugins
    _plugins = None
    _broken.clear()
    importlib.invalidate_caches()
    return plugins()


def plugin(name: str) -> ModelPlugin | None:
    """The plugin that provides model ``name`` (None for a model of ours or an unknown one)."""
    return None if name in _factories or name in OWN_MODELS else plugins().get(name)


def load_error(name: str) -> str | None:
    """Why the plugin entry point ``name`` failed to load (one line), or None."""
    plugins()
    return _broken.get(name)


def list_models() -> list[str]:
    """Every registered name: this project's models (those imported so far) and the installed plugins'."""
    return sorted({*_factories, *plugins()})


def own_models() -> list[str]:
    """This project's models only (imported so far): what tests of our own model set compare with, whatever
    plugins the environment has."""
    return sorted(_factories)


def _check_known(name: str) -> None:
    if name in _factories or name in plugins():
        return
    if name in _broken:
        raise DataError(None, "model.name", _broken[name])
    raise DataError(None, "model.name", f"unknown model {name!r}; registered: {', '.join(list_models())}")


def create_model(name: str, **kwargs: Any) -> Any:
    _check_known(name)
    if name in _factories:
        return _factories[name](**kwargs)
    spec = plugins()[name].factory
    module, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except Exception as err:
        raise DataError(
            None, "model.name", f"plugin {name}: cannot import its factory {spec} ({type(err).__name__}: {err})"
        ) from None
    return factory(**kwargs)


def model_target(name: str) -> str:
    """The kind of output model ``name`` returns: ``"regression"`` or ``"heatmap"``."""
    _check_known(name)
    return _kinds[name] if name in _factories else plugins()[name].kind
