"""Backbone registry: a name maps to a small factory; a prefix ('timm:', 'torchvision:')
maps to a factory that takes the rest of the name.

Every module in ``yololab.backbones`` is imported on first use, so adding a backbone is one
new file that calls ``register_backbone`` -- nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from yololab.backbones.base import Backbone, BackboneRequest
from yololab.backbones.stem import check_channels

BackboneFactory = Callable[[BackboneRequest], Backbone]
PrefixFactory = Callable[[str, BackboneRequest], Backbone]

_FACTORIES: dict[str, BackboneFactory] = {}
_PREFIXES: dict[str, PrefixFactory] = {}
_DESCRIPTIONS: dict[str, str] = {}
_loaded = False


def register_backbone(name: str, description: str = "") -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator: register ``factory(request) -> Backbone`` under ``name`` (unique)."""

    def wrap(factory: BackboneFactory) -> BackboneFactory:
        if name in _FACTORIES:
            raise ValueError(f"backbone {name!r} is already registered")
        _FACTORIES[name] = factory
        _DESCRIPTIONS[name] = description
        return factory

    return wrap


def register_prefix(prefix: str, description: str = "") -> Callable[[PrefixFactory], PrefixFactory]:
    """Decorator: register ``factory(rest_of_name, request)`` for names like 'prefix:rest'."""

    def wrap(factory: PrefixFactory) -> PrefixFactory:
        if prefix in _PREFIXES:
            raise ValueError(f"backbone prefix {prefix!r} is already registered")
        _PREFIXES[prefix] = factory
        _DESCRIPTIONS[f"{prefix}:<name>"] = description
        return factory

    return wrap


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import yololab.backbones as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in ("base", "catalog", "registry", "stem"):
            importlib.import_module(f"{package.__name__}.{info.name}")


def list_backbones() -> list[str]:
    """Registered names, then the prefix forms (e.g. 'timm:<name>')."""
    _load_all()
    return sorted(_FACTORIES) + sorted(f"{p}:<name>" for p in _PREFIXES)


def describe_backbones() -> dict[str, str]:
    _load_all()
    return {name: _DESCRIPTIONS[name] for name in list_backbones()}


def create_backbone(request: BackboneRequest) -> Backbone:
    """Build the backbone named in ``request``; unknown names list the valid ones."""
    _load_all()
    check_channels(request.in_channels)
    name = request.name
    if name in _FACTORIES:
        backbone = _FACTORIES[name](request)
    elif ":" in name and name.split(":", 1)[0] in _PREFIXES:
        prefix, rest = name.split(":", 1)
        backbone = _PREFIXES[prefix](rest, request)
    else:
        raise KeyError(f"unknown backbone {name!r}; valid names: {', '.join(list_backbones())}")
    if len(backbone.channels) != 3 or tuple(backbone.strides) != (8, 16, 32):
        raise ValueError(f"backbone {name!r} must give features at strides 8/16/32, "
                         f"got strides {backbone.strides} with channels {backbone.channels}")
    if backbone.in_channels != request.in_channels:
        raise ValueError(f"backbone {name!r} was asked for {request.in_channels} input channels but "
                         f"reads {backbone.in_channels}")
    return backbone
