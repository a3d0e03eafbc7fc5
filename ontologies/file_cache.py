"""In-memory memoisation of file readers, keyed on the file's content.

Parsing the shipped mapping files takes 50-130 ms (the ICD-9-CM list, the CCSR JSON) and
mapping helpers call their reader once per column mapped; hashing the bytes takes ~2 ms.
The key is a digest of the content, not the size and mtime: a same-size rewrite within
the filesystem's mtime granularity must not return the stale table.

Examples:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "n.txt"
    >>> _ = path.write_text("1")
    >>> calls = []
    >>> @file_cache
    ... def read(p):
    ...     calls.append(p)
    ...     return p.read_text()
    >>> read(path), read(path), len(calls)
    ('1', '1', 1)
    >>> _ = path.write_text("2")  # same size, maybe the same mtime: read again
    >>> read(path), len(calls)
    ('2', 2)
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

__all__ = ["file_cache", "content_digest"]

T = TypeVar("T")


def content_digest(path: str | os.PathLike) -> bytes:
    """A 128-bit BLAKE2b digest of the file's bytes.

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "d.txt"
        >>> _ = path.write_text("medkg")
        >>> len(content_digest(path))
        16
    """
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=16).digest()


def file_cache(read: Callable[[Path], T], maxsize: int = 4) -> Callable[[Path], T]:
    """Memoises ``read(path)`` while the file's content is unchanged.

    The cached value is shared: callers must not modify it. A file that cannot be read
    is passed to ``read`` uncached, so the reader raises its own error.

    Args:
        read: A function of one path.
        maxsize: How many (path, content) results are kept.

    Returns:
        The memoised reader (``__wrapped__`` is the original).
    """
    cached = functools.lru_cache(maxsize=maxsize)(lambda path, digest: read(path))

    @functools.wraps(read)
    def wrapper(path: Path) -> T:
        try:
            digest = content_digest(path)
        except OSError:
            return read(path)  # missing or unreadable: the reader's DataNotFoundError
        return cached(Path(path), digest)

    return wrapper
