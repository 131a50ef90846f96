"""Image sources, one small class per module, picked by name with ``create_source``.

A module in this package that defines a ``Source`` subclass decorated with
``@register`` is picked up automatically: adding a source touches one file.
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import IMAGE_EXTENSIONS, VECTOR_EXTENSIONS, Source, SourceFile

_REGISTRY: dict[str, type[Source]] = {}


def register(cls: type[Source]) -> type[Source]:
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")


def available() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def embedded() -> list[str]:
    """The sources of the embedded library, which ``--source embedded`` stands for."""
    _discover()
    return sorted(name for name, cls in _REGISTRY.items() if cls.embedded)


def create_source(name: str, **kwargs) -> Source:
    _discover()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None
    return cls(**kwargs)


__all__ = ["IMAGE_EXTENSIONS", "VECTOR_EXTENSIONS", "Source", "SourceFile", "available", "create_source", "embedded",
           "register"]
