"""The protocol every modality encoder follows, its registry and the embedding cache.

An encoder takes a batch of raw inputs (arrays, strings or file paths) and returns a
float tensor ``[n, dim]``. Subclasses implement :meth:`Encoder.prepare` (one raw item ->
one preprocessed tensor) and :meth:`Encoder.forward` (a stacked batch -> embeddings);
:meth:`Encoder.encode` does batching, eval mode, ``no_grad``, progress and caching.

Examples:
    >>> import torch
    >>> class Mean(Encoder):
    ...     name = "mean-demo"
    ...     def __init__(self):
    ...         super().__init__(dim=1, pretrained=False)
    ...     def prepare(self, item):
    ...         return torch.as_tensor(item, dtype=torch.float32).reshape(-1)[:4]
    ...     def forward(self, batch):
    ...         return batch.mean(dim=1, keepdim=True)
    >>> Mean().encode([[1, 2, 3, 4], [0, 0, 0, 2]], progress=False)
    tensor([[2.5000],
            [0.5000]])
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ontologies.atomic import atomic_write
from ontologies.errors import InputError
from ontologies.registry import Registry

__all__ = ["Encoder", "EmbeddingCache", "ENCODERS", "get", "content_hash"]

log = logging.getLogger(__name__)

#: Registry of encoder classes by modality name ("text", "image", ...).
ENCODERS: Registry[type] = Registry("encoder")


def get(name: str, **options: Any) -> Encoder:
    """Instantiates the encoder registered as ``name`` with ``options``."""
    return ENCODERS.get(name)(**options)


def content_hash(item: Any) -> str:
    """A stable SHA-256 of a raw input: file bytes for paths, else its bytes/text/array.

    Examples:
        >>> content_hash("chest pain") == content_hash("chest pain")
        True
        >>> content_hash(np.zeros(3)) == content_hash(np.zeros(4))
        False
        >>> long = np.zeros(5000); other = long.copy(); other[2500] = 1
        >>> content_hash((long, 16000)) == content_hash((other, 16000))
        False
    """
    h = hashlib.sha256()
    if isinstance(item, (tuple, list)):
        # containers hash their parts: repr() would abbreviate long arrays into collisions
        h.update(f"seq:{type(item).__name__}:{len(item)}:".encode())
        for part in item:
            h.update(content_hash(part).encode())
        return h.hexdigest()
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        h.update(f"dataclass:{type(item).__qualname__}:".encode())
        for f in dataclasses.fields(item):
            h.update(f.name.encode() + content_hash(getattr(item, f.name)).encode())
        return h.hexdigest()
    if isinstance(item, Path) or (isinstance(item, str) and _is_file(item)):
        h.update(b"file:")
        with open(item, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    elif isinstance(item, str):
        h.update(b"str:" + item.encode("utf-8"))
    elif isinstance(item, bytes):
        h.update(b"bytes:" + item)
    elif isinstance(item, (np.ndarray, torch.Tensor)):
        arr = np.ascontiguousarray(item.detach().cpu().numpy() if torch.is_tensor(item) else item)
        h.update(f"array:{arr.dtype}:{arr.shape}:".encode())
        h.update(arr.tobytes())
    else:
        h.update(b"repr:" + repr(item).encode("utf-8"))
    return h.hexdigest()


def _is_file(text: str) -> bool:
    return len(text) < 4096 and "\n" not in text and os.path.isfile(text)


class EmbeddingCache:
    """On-disk embedding cache keyed by (encoder identity, content hash).

    One ``.npy`` per item under ``root/<identity>/<hash[:2]>/<hash>.npy``, written
    atomically, so an interrupted run never leaves a truncated entry.

    Args:
        root: Cache folder (created on first write).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _path(self, identity: str, key: str) -> Path:
        ident = hashlib.sha256(identity.encode()).hexdigest()[:16]
        return self.root / ident / key[:2] / f"{key}.npy"

    def get(self, identity: str, key: str) -> np.ndarray | None:
        """Returns the cached vector or ``None``; an unreadable entry counts as a miss."""
        path = self._path(identity, key)
        if not path.exists():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            log.warning("ignoring unreadable cache entry %s", path)
            return None

    def put(self, identity: str, key: str, vector: np.ndarray) -> None:
        """Stores one vector atomically."""
        buf = io.BytesIO()
        np.save(buf, np.asarray(vector, dtype=np.float32), allow_pickle=False)
        # no fsync: a lost or torn entry reads as a miss and is recomputed
        with atomic_write(self._path(identity, key), "wb", fsync=False) as f:
            f.write(buf.getvalue())


class Encoder(torch.nn.Module):
    """Base class of all modality encoders.

    Args:
        dim: Size of the output embedding.
        pretrained: ``True`` when weights came from a checkpoint; ``False`` means randomly
            initialised (a warning says so at construction).
        cache_dir: Optional folder for the :class:`EmbeddingCache`.
    """

    #: Registry name; subclasses override.
    name: str = "encoder"

    def __init__(self, dim: int, pretrained: bool = False,
                 cache_dir: str | os.PathLike | None = None):
        super().__init__()
        if int(dim) <= 0:
            raise InputError(f"encoder dim must be positive, got {dim!r}")
        self.dim = int(dim)
        self.pretrained = bool(pretrained)
        self.cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        if not pretrained:
            log.info("%s encoder is randomly initialised (no pretrained weights); "
                     "train it (e.g. graphs.encoders.alignment) before trusting it", self.name)

    # -- to implement -------------------------------------------------------------------
    def prepare(self, item: Any) -> torch.Tensor:
        """Turns one raw input (array, text or path) into a preprocessed tensor."""
        raise NotImplementedError

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Maps a stacked batch ``[b, ...]`` to embeddings ``[b, dim]``."""
        raise NotImplementedError

    # -- shared machinery ---------------------------------------------------------------
    def identity(self) -> str:
        """A string that changes whenever the weights or preprocessing change."""
        h = hashlib.sha256(self.name.encode())
        h.update(repr(self.config()).encode())
        for key, tensor in sorted(self.state_dict().items()):
            h.update(key.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return f"{self.name}:{h.hexdigest()[:16]}"

    def config(self) -> dict[str, Any]:
        """Preprocessing/architecture settings that affect outputs (for the cache key)."""
        return {"dim": self.dim}

    def collate(self, prepared: list[torch.Tensor]) -> torch.Tensor:
        """Stacks prepared items; override for variable-size inputs."""
        shapes = {tuple(t.shape) for t in prepared}
        if len(shapes) > 1:
            raise InputError(f"{self.name}: prepared items differ in shape {sorted(shapes)}; "
                             "expected one shape per batch (resize or pad in prepare())")
        return torch.stack(prepared)

    def encode_batch(self, items: Sequence[Any]) -> torch.Tensor:
        """Encodes one batch of raw items (no caching)."""
        return self.forward(self.collate([self.prepare(x) for x in items]))

    @torch.no_grad()
    def encode(self, items: Sequence[Any], batch_size: int = 32,
               progress: bool = True) -> torch.Tensor:
        """Encodes raw items in batches, in eval mode, using the cache when set.

        Args:
            items: Raw inputs (arrays, strings or file paths).
            batch_size: Items per forward pass.
            progress: Show a tqdm bar.

        Returns:
            Float tensor ``[len(items), dim]``.
        """
        items = list(items)
        if batch_size <= 0:
            raise InputError(f"batch_size must be positive, got {batch_size!r}")
        out = torch.empty(len(items), self.dim, dtype=torch.float32)
        todo = list(range(len(items)))
        keys: list[str] = []
        identity = self.identity() if self.cache is not None else ""
        if self.cache is not None:
            keys = [content_hash(x) for x in items]
            todo = []
            for i, key in enumerate(keys):
                hit = self.cache.get(identity, key)
                if hit is not None and hit.shape == (self.dim,):
                    out[i] = torch.from_numpy(hit)
                else:
                    todo.append(i)
        was_training = self.training
        self.eval()
        try:
            bar = tqdm(total=len(todo), desc=f"encode {self.name}", disable=not progress,
                       leave=False)
            for start in range(0, len(todo), batch_size):
                idx = todo[start:start + batch_size]
                emb = self.encode_batch([items[i] for i in idx]).float()
                if emb.shape != (len(idx), self.dim):
                    raise InputError(f"{self.name}: produced shape {tuple(emb.shape)}, "
                                     f"expected ({len(idx)}, {self.dim})")
                out[idx] = emb
                if self.cache is not None:
                    for i, vec in zip(idx, emb.numpy()):
                        self.cache.put(identity, keys[i], vec)
                bar.update(len(idx))
            bar.close()
        finally:
            self.train(was_training)
        return out

    def extra_repr(self) -> str:
        return f"dim={self.dim}, pretrained={self.pretrained}"
