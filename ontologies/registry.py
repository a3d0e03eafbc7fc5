"""A small name -> object registry, one per kind (ontologies, encoders, models, tasks).

Examples:
    >>> readers = Registry("reader")
    >>> @readers.register("demo")
    ... def load_demo():
    ...     return 42
    >>> readers.get("demo")()
    42
    >>> readers.get("dmeo")
    Traceback (most recent call last):
    ...
    ontologies.errors.UnknownNameError: unknown reader 'dmeo': expected one of demo
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ontologies.errors import MedKGError, UnknownNameError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; a duplicate name raises, an unknown name lists the choices.

    Args:
        kind: Human name of what is registered, used in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (lower-case)."""

        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        """Registers ``obj`` under ``name``; raises if the name is taken."""
        key = name.lower()
        if key in self._items:
            raise MedKGError(f"{self.kind} {name!r} is already registered")
        self._items[key] = obj

    def get(self, name: str) -> T:
        """Returns the object registered as ``name`` (case-insensitive)."""
        key = str(name).lower()
        if key not in self._items:
            raise UnknownNameError(self.kind, name, self.names())
        return self._items[key]

    def names(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return str(name).lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"
