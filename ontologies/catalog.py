"""The reader registry: ``ontologies.load(name, **options)``.

Examples:
    >>> import ontologies
    >>> ontologies.load("no-such-system")
    Traceback (most recent call last):
    ...
    ontologies.errors.UnknownNameError: unknown ontology 'no-such-system': expected one of ...
"""

from __future__ import annotations

from typing import Any

from ontologies.registry import Registry
from ontologies.schema import CodeSystemTables

__all__ = ["READERS", "load", "available"]

#: Readers by name; each returns a :class:`~ontologies.schema.CodeSystemTables`.
READERS: Registry = Registry("ontology")


def load(name: str, **options: Any) -> CodeSystemTables:
    """Reads the code system registered as ``name``.

    Args:
        name: Registry name (see :func:`available`).
        **options: Passed to the reader (e.g. ``path=`` for user-supplied files).

    Returns:
        The validated tables.
    """
    return READERS.get(name)(**options)


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return READERS.names()
