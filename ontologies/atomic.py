"""Atomic file and folder writes: a reader never sees a half-written file.

Write to a temporary sibling, flush and fsync, then ``os.replace`` it over the target.
If the process dies mid-write, the previous file is intact. :func:`atomic_torch_save` and
:func:`safe_torch_load` are the one way medkg writes and reads torch files (checkpoints,
cohort graphs): atomically, and with ``weights_only=True`` so loading never runs code.

Examples:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_write(d / "a.txt", "w") as f:
    ...     _ = f.write("hello")
    >>> (d / "a.txt").read_text()
    'hello'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_dir", "atomic_torch_save", "safe_torch_load"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", fsync: bool = True,
                 **kwargs: Any) -> Iterator[IO]:
    """Opens a temporary file next to ``path`` and moves it into place on success.

    Args:
        path: Final destination.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        fsync: Flush to disk before the rename (durable across power loss). Caches that
            can recompute a lost entry turn it off: thousands of fsyncs dominate their cost.
        **kwargs: Passed to :func:`open` (e.g. ``encoding``).

    Yields:
        The open temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary folder that replaces ``path`` when the block succeeds.

    An existing folder at ``path`` is moved aside first and deleted only after the new
    one is in place. If moving the new folder into place fails, the previous one is moved
    back, so an error leaves the old folder at ``path``; a crash (SIGKILL) between the two
    renames leaves it under ``.<name>.old-*``. Never a half-written folder.

    Args:
        path: Final folder.

    Yields:
        The temporary folder to write into.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
        >>> with atomic_dir(d) as tmp:
        ...     _ = (tmp / "a.txt").write_text("one")
        >>> with atomic_dir(d) as tmp:
        ...     _ = (tmp / "a.txt").write_text("two")
        >>> (d / "a.txt").read_text(), sorted(p.name for p in d.parent.iterdir())
        ('two', ['out'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.rmdir(old)
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException as err:
            if old is not None:
                _put_back(old, path, err)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _put_back(old: Path, path: Path, err: BaseException) -> None:
    """Moves the previous folder back to ``path`` after a failed swap."""
    try:
        os.replace(old, path)
    except OSError as undo:  # keep the first error; say where the old folder is
        err.add_note(f"the previous folder could not be moved back ({undo}); it is at {old}")


def atomic_torch_save(obj: Any, path: str | os.PathLike, fsync: bool = True) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (the previous file survives a crash).

    torch is imported here, not at module level: the ``ontologies`` layer does not
    depend on it.

    Args:
        obj: Tensors and plain Python values (so :func:`safe_torch_load` can read them).
        path: Destination file.
        fsync: See :func:`atomic_write`.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Examples:
        >>> import tempfile, pathlib, torch
        >>> p = atomic_torch_save({"w": torch.ones(2)}, pathlib.Path(tempfile.mkdtemp()) / "a.pt")
        >>> safe_torch_load(p, "test file")["w"].tolist()
        [1.0, 1.0]
    """
    import torch

    path = Path(path)
    with atomic_write(path, "wb", fsync=fsync) as handle:
        torch.save(obj, handle)  # streamed: no second in-memory copy of a large payload
    return path


def safe_torch_load(path: str | os.PathLike, what: str, error: type | None = None) -> Any:
    """Loads a torch file with ``weights_only=True`` on the CPU; never runs pickled code.

    Args:
        path: The file.
        what: What the file should be, for messages (``"medkg checkpoint"``).
        error: The project error to raise for an unreadable file (default
            :class:`~ontologies.errors.ParseError`); readers whose documented contract is
            :class:`~ontologies.errors.SchemaError` pass that.

    Returns:
        The stored object (tensors and plain Python values).

    Raises:
        DataNotFoundError: No file at ``path``.
        ParseError: (or ``error``) The file is empty, truncated, corrupt, not a torch file,
            or holds objects the weights-only unpickler refuses (the message names it).

    Examples:
        >>> import tempfile, pathlib
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.pt"
        >>> _ = bad.write_bytes(b"PK\\x03\\x04 cut short")
        >>> safe_torch_load(bad, "checkpoint")
        Traceback (most recent call last):
        ...
        ontologies.errors.ParseError: .../bad.pt: not a readable checkpoint (RuntimeError: ...)
    """
    import torch

    from ontologies.errors import DataNotFoundError, ParseError  # lazy: see atomic_torch_save

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"no {what} at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    # torch.load surfaces whatever its zip reader, unpickler and storage code raise
    # (RuntimeError, UnpicklingError, EOFError, KeyError, ValueError, ...): all mean "not
    # a valid file", and a raw traceback would not name it.
    except Exception as err:
        message = f"not a readable {what} ({_torch_reason(err)})"
        error = error or ParseError
        if issubclass(error, ParseError):
            raise error(message, path) from err
        raise error(f"{path}: {message}") from err


def _torch_reason(err: BaseException) -> str:
    """A one-line reason from torch's multi-paragraph load errors (without its advice to
    retry with ``weights_only=False``)."""
    text = str(err)
    marker = "WeightsUnpickler error:"
    if marker in text:
        rest = [line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()]
        reason = "refused by the weights-only unpickler: " + (
            rest[0].split(". ")[0] if rest else "unsupported content")
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        reason = lines[0].split(". ")[0] if lines else "no details"
    return f"{type(err).__name__}: {reason[:200]}"
