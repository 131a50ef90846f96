"""Image sources, one small class per module, picked by name with ``create_source``.

A module in this package that defines a ``Source`` subclass decorated with
``@register`` is picked up automatically: adding a source touches one file.
"""
from __future__ import annotations

from .base import IMAGE_EXTENSIONS, VECTOR_EXTENSIONS, Registry, Source, SourceFile, discover

_SOURCES = Registry("source")
register = _SOURCES.register
available = _SOURCES.names
source_class = _SOURCES.get


def embedded() -> list[str]:
    """The sources of the embedded library, which ``--source embedded`` stands for."""
    discover()
    return sorted(name for name, cls in _SOURCES.classes.items() if cls.embedded)


def create_source(name: str, **kwargs) -> Source:
    return _SOURCES.create(name, **kwargs)


__all__ = ["IMAGE_EXTENSIONS", "VECTOR_EXTENSIONS", "Source", "SourceFile", "available", "create_source", "embedded",
           "register", "source_class"]
