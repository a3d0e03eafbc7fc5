"""Patient records -> modality embeddings (:class:`ModalityFeatures`) for the cohort graph.

:func:`embed_records` runs the text encoder over ``records.notes`` (one ``"note"`` row per
note, ``key`` = ``note_id``) and one encoder per modality over ``records.modalities``
(``key`` = ``path``). Raw items come from a ``resolver`` (e.g. the synthetic cohort's
renderer) or from files under ``records.root``. Encoders are given as instances or
registry names; names are built with a fixed seed, so the same settings give the same
weights and the embedding cache (``cache_dir``) hits on a re-run.

Only ``"note"`` has pretrained weights (MiniLM). The others are randomly initialised;
on the synthetic cohort their globally pooled features already carry the planted signs
(see ``benchmarks/bench_embed.py``), and :mod:`graphs.pretrain` aligns them to the notes
when that is not enough.

Examples:
    >>> import torch
    >>> from graphs.cohort.demo import tiny_records
    >>> from graphs.encoders.base import Encoder
    >>> class Length(Encoder):  # a stand-in for the 384-d MiniLM encoder
    ...     name = "length-demo"
    ...     def __init__(self):
    ...         super().__init__(dim=1)
    ...     def prepare(self, item):
    ...         return torch.tensor([float(len(item))])
    ...     def forward(self, batch):
    ...         return batch
    >>> feats = embed_records(tiny_records(), encoders={"note": Length()}, progress=False)
    >>> feats["note"], feats["note"].table["key"].tolist(), feats["note"].x.tolist()
    (ModalityFeatures('note', rows=1, dim=1), ['n1'], [[21.0]])
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from graphs.cohort.features import MODALITY_TYPES, ModalityFeatures
from graphs.encoders.base import ENCODERS, EmbeddingCache, Encoder
from ontologies.errors import ConfigError, InputError, MedKGError, SchemaError

__all__ = ["DEFAULT_ENCODERS", "FAST_OPTIONS", "embed_records", "build_encoder",
           "load_items", "ItemError"]

log = logging.getLogger(__name__)

#: Registry name of the encoder each modality uses when ``encoders`` is not given.
DEFAULT_ENCODERS: dict[str, str] = {
    "note": "text", "image": "image_cnn", "signal": "signal_cnn", "genomic": "genomic_cnn",
    "audio": "audio_cnn", "volume": "volume_cnn", "slide": "slide_mil", "video": "video",
}

#: Constructor options that keep the default encoders CPU-fast while their pooled
#: features still separate the synthetic cohort's planted signs (measured in
#: ``benchmarks/bench_embed.py``); pass as ``encoder_options=FAST_OPTIONS``.
FAST_OPTIONS: dict[str, dict[str, Any]] = {
    # synthetic notes are ~60 tokens; 128 avoids padding to 256 for the rare long note
    "note": {"max_length": 128},
    # 32 px and half the default widths: ~6x faster than 64 px with (32..256), and
    # random-init probes are as good or better (a focal opacity covers more of a
    # smaller receptive field)
    "image": {"image_size": 32, "widths": (16, 32, 64, 128), "dim": 128},
    # stride 2 halves the sequence; width 32 quarters the block FLOPs of width 64
    "signal": {"width": 32, "stride": 2, "dim": 128},
    "genomic": {"n_motifs": 64, "dim": 128},
}

# registry name -> module that registers it, imported only when the name is used
# (importing every encoder module costs seconds on a busy machine)
_MODULES = {"text": "text", "image_cnn": "image", "image_vit": "image", "signal_cnn": "signal",
            "signal_rnn": "signal", "genomic_cnn": "genomic", "audio_cnn": "audio",
            "volume_cnn": "volume", "slide_mil": "slide", "video": "video"}
_ON_ERROR = ("raise", "skip")
# errors that mean "this item cannot be read/encoded" rather than a bug in the caller
_ITEM_ERRORS = (MedKGError, OSError, ValueError)

Resolver = Callable[[list[str]], Sequence[Any]]


class ItemError(InputError):
    """An observation could not be loaded or encoded.

    Attributes:
        modality: The modality (``"note"`` for notes).
        row: Position of the row in ``records.notes`` / ``records.modalities``.
        key: The note id or modality path of the row.
    """

    def __init__(self, modality: str, row: int, key: str, reason: str):
        self.modality, self.row, self.key = modality, int(row), key
        table = "notes" if modality == "note" else "modalities"
        what = f"note_id {key!r}" if modality == "note" else f"path {key!r}"
        super().__init__(f"{modality}: records.{table} row {row} ({what}) could not be "
                         f"encoded: {reason}; fix or remove the row, or pass on_error='skip'")


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Temporarily uses ``n`` torch intra-op threads (on a busy 2-core host one thread is
    often ~3x faster than two, which spin waiting for each other)."""
    if n is None:
        yield
        return
    if int(n) < 1:
        raise ConfigError(f"num_threads must be >= 1 or None, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _registered(name: str) -> type:
    module = _MODULES.get(str(name).lower())
    if module is not None:
        importlib.import_module(f"graphs.encoders.{module}")
    return ENCODERS.get(name)


def _channels(item: Any) -> int | None:
    """Number of channels of a raw signal (array ``[C, L]`` or a waveform file)."""
    if isinstance(item, (str, os.PathLike)):
        from graphs.encoders.signal_io import read_signal
        return int(read_signal(item).signal.shape[0])
    shape = getattr(item, "shape", None)
    if shape is not None and len(shape) in (1, 2):
        return 1 if len(shape) == 1 else int(shape[0])
    return None


def build_encoder(spec: Encoder | str, modality: str,
                  options: Mapping[str, Any] | None = None,
                  cache_dir: str | os.PathLike | None = None, seed: int = 0,
                  example: Any = None) -> Encoder:
    """An encoder instance from an instance (returned as is) or a registry name.

    A name is instantiated with ``options`` (plus ``cache_dir``) under a fixed ``seed``,
    so its random weights, and therefore its cache identity, repeat across runs. For
    signal encoders ``in_channels`` defaults to the channel count of ``example``.

    Args:
        spec: An :class:`Encoder` or a registered name (``"image_cnn"``, ...).
        modality: The modality it will encode (for messages).
        options: Constructor keyword arguments (names only).
        cache_dir: Embedding cache folder (names only).
        seed: Seed of the random initialisation (names only).
        example: One raw item, used to infer ``in_channels``.

    Raises:
        UnknownNameError: ``spec`` is not a registered name.
        ConfigError: ``spec`` is neither an encoder nor a name, or ``options`` do not fit.

    Examples:
        >>> enc = build_encoder("genomic_cnn", "genomic", {"dim": 8, "n_motifs": 4})
        >>> enc.dim, enc.identity() == build_encoder("genomic_cnn", "genomic",
        ...                                            {"dim": 8, "n_motifs": 4}).identity()
        (8, True)
    """
    if isinstance(spec, Encoder):
        if options:
            raise ConfigError(f"encoder_options[{modality!r}] given for an encoder instance; "
                              "options only apply to registry names")
        return spec
    if not isinstance(spec, str):
        raise ConfigError(f"encoders[{modality!r}] must be an Encoder or a registry name, got "
                          f"{type(spec).__name__}")
    cls = _registered(spec)
    kwargs = dict(options or {})
    params = inspect.signature(cls.__init__).parameters
    if cache_dir is not None and "cache_dir" in params:
        kwargs.setdefault("cache_dir", cache_dir)
    if "in_channels" in params and "in_channels" not in kwargs and modality == "signal" \
            and example is not None:
        channels = _channels(example)
        if channels is not None:
            kwargs["in_channels"] = channels
    if "seed" in params:
        kwargs.setdefault("seed", seed)
    with torch.random.fork_rng(devices=[]):  # layers without a seed argument draw here
        torch.manual_seed(int(seed))
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise ConfigError(f"encoder {spec!r} for {modality!r} rejected options "
                              f"{sorted(kwargs)}: {err}") from err


@contextlib.contextmanager
def _cached(encoder: Encoder, cache_dir: str | os.PathLike | None) -> Iterator[None]:
    """Gives an instance without a cache the ``cache_dir`` cache for the duration."""
    if cache_dir is None or encoder.cache is not None:
        yield
        return
    encoder.cache = EmbeddingCache(cache_dir)
    try:
        yield
    finally:
        encoder.cache = None


def _rows(records: Any, modality: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The table rows of one modality (with ``key``) and their positions in the table."""
    if modality == "note":
        table = records.notes
        pos = np.arange(len(table))
        rows = table.assign(key=table["note_id"])
    else:
        table = records.modalities
        pos = np.flatnonzero((table["modality"] == modality).fillna(False).to_numpy(bool))
        rows = table.iloc[pos].assign(key=table["path"].iloc[pos])
    cols = ["patient_id", "visit_id", "key"] + (["time"] if "time" in rows.columns else [])
    out = rows[cols].reset_index(drop=True)
    dup = out["key"].duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        col = "note_id" if modality == "note" else "path"
        raise SchemaError(f"{modality}: {col} at records row {int(pos[i])} repeats an earlier "
                          "row; each observation needs a unique key")
    return out, pos


def _load(records: Any, modality: str, rows: pd.DataFrame, pos: np.ndarray,
          resolver: Resolver | None) -> tuple[list[Any], dict[int, str]]:
    """Raw items of ``rows`` and ``{index in rows: reason}`` for those that failed."""
    keys = rows["key"].astype(object).tolist()
    failed: dict[int, str] = {}
    if modality == "note":
        text = records.notes["text"].iloc[pos]
        empty = text.isna().to_numpy(bool) | (text.fillna("").str.strip() == "").to_numpy(bool)
        for i in np.flatnonzero(empty):
            failed[int(i)] = "the note text is empty or missing"
        return text.fillna("").astype(str).tolist(), failed
    if resolver is not None:
        try:
            items = list(resolver([str(k) for k in keys]))
        except _ITEM_ERRORS:  # locate the bad paths one at a time
            items = []
            for i, key in enumerate(keys):
                try:
                    items.append(resolver([str(key)])[0])
                except _ITEM_ERRORS as err:
                    items.append(None)
                    failed[i] = f"the resolver failed ({err})"
        if len(items) != len(keys):
            raise ConfigError(f"resolver returned {len(items)} items for {len(keys)} paths; "
                              "expected one item per path, in order")
        for i, item in enumerate(items):
            if item is None:
                failed.setdefault(i, "the resolver returned nothing")
        return items, failed
    items = []
    for i, key in enumerate(keys):
        try:
            path = records.resolve_path(key)
        except InputError as err:
            items.append(None)
            failed[i] = str(err)
            continue
        if path.is_file():
            items.append(path)  # a Path: the cache hashes the file's bytes
        elif Path(str(path) + ".hea").is_file():
            items.append(str(path))  # a WFDB record name (header + data files)
        else:
            items.append(None)
            failed[i] = f"file {str(key)!r} does not exist under the records root"
    return items, failed


def load_items(records: Any, modality: str, resolver: Resolver | None = None,
               patients: Iterable[str] | None = None, on_error: str = "raise"
               ) -> tuple[pd.DataFrame, list[Any]]:
    """The rows of one modality and their raw items (text for ``"note"``).

    Args:
        records: :class:`~graphs.records.PatientRecords`.
        modality: ``"note"`` or a modality of ``records.modalities``.
        resolver: As in :func:`embed_records` (``None``: files under ``records.root``,
            returned as paths the encoders read).
        patients: Keep only these patients' rows.
        on_error: ``"raise"`` an :class:`ItemError` or ``"skip"`` unreadable rows.

    Returns:
        ``(table, items)``: ``patient_id``, ``visit_id``, ``key`` (+ ``time``) and one
        raw item per table row.

    Examples:
        >>> from graphs.cohort.demo import tiny_records
        >>> table, items = load_items(tiny_records(), "note")
        >>> table["key"].tolist(), items
        (['n1'], ['Polyuria; HbA1c 9.1%.'])
    """
    if on_error not in _ON_ERROR:
        raise ConfigError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    rows, pos = _rows(records, modality)
    if patients is not None:
        sel = rows["patient_id"].isin(list(patients)).to_numpy(bool)
        rows, pos = rows[sel].reset_index(drop=True), pos[sel]
    items, failed = _load(records, modality, rows, pos, resolver)
    if failed:
        first = min(failed)
        if on_error == "raise":
            raise ItemError(modality, int(pos[first]), str(rows["key"].iloc[first]),
                            failed[first])
        log.warning("%s: skipped %d of %d rows that could not be loaded (on_error='skip')",
                    modality, len(failed), len(rows))
        keep = np.array([i not in failed for i in range(len(rows))], dtype=bool)
        rows = rows[keep].reset_index(drop=True)
        items = [it for it, k in zip(items, keep, strict=True) if k]
    return rows, items


def _encode(encoder: Encoder, items: list[Any], batch_size: int
            ) -> tuple[torch.Tensor, dict[int, str]]:
    """Encodes ``items``; when a batch fails, retries its items one by one to find the
    unreadable ones. Returns embeddings (failed rows zero) and ``{index: reason}``."""
    out = torch.zeros(len(items), encoder.dim)
    failed: dict[int, str] = {}
    for lo in range(0, len(items), batch_size):
        chunk = items[lo:lo + batch_size]
        try:
            out[lo:lo + len(chunk)] = encoder.encode(chunk, batch_size=batch_size,
                                                     progress=False)
            continue
        except _ITEM_ERRORS:
            pass  # one bad item spoils its batch: find it below
        for j, item in enumerate(chunk):
            try:
                out[lo + j] = encoder.encode([item], batch_size=1, progress=False)[0]
            except _ITEM_ERRORS as err:
                failed[lo + j] = f"{type(err).__name__}: {err}"
    return out, failed


def _embed_modality(records: Any, modality: str, spec: Encoder | str,
                    resolver: Resolver | None, batch_size: int, progress: bool,
                    cache_dir: str | os.PathLike | None, on_error: str,
                    options: Mapping[str, Any] | None, seed: int) -> ModalityFeatures | None:
    rows, pos = _rows(records, modality)
    if rows.empty:
        return None
    keep = np.ones(len(rows), dtype=bool)
    parts: list[tuple[int, torch.Tensor | None]] = []  # None: every row of the chunk failed
    encoder: Encoder | None = None
    chunk = batch_size * 16  # bounds the memory of rendered/loaded raw items
    bar = tqdm(total=len(rows), desc=f"embed {modality}", disable=not progress, leave=False)
    try:
        for lo in range(0, len(rows), chunk):
            sub, sub_pos = rows.iloc[lo:lo + chunk], pos[lo:lo + chunk]
            items, failed = _load(records, modality, sub, sub_pos, resolver)
            good = [i for i in range(len(items)) if i not in failed]
            emb = None
            if good:
                if encoder is None:
                    encoder = build_encoder(spec, modality, options, cache_dir, seed,
                                            example=items[good[0]])
                with _cached(encoder, cache_dir):
                    vecs, bad = _encode(encoder, [items[i] for i in good], batch_size)
                emb = torch.zeros(len(items), encoder.dim)
                emb[good] = vecs
                failed.update({good[i]: reason for i, reason in bad.items()})
            if failed:
                first = min(failed)
                if on_error == "raise":
                    raise ItemError(modality, int(sub_pos[first]),
                                    str(sub["key"].iloc[first]), failed[first])
                keep[lo + np.fromiter(failed, int)] = False
            parts.append((len(items), emb))
            bar.update(len(items))
    finally:
        bar.close()
    skipped = int((~keep).sum())
    if skipped:
        log.warning("%s: skipped %d of %d rows that could not be encoded (on_error='skip')",
                    modality, skipped, len(rows))
    if encoder is None:
        return None
    x = torch.cat([e if e is not None else torch.zeros(n, encoder.dim) for n, e in parts])
    return ModalityFeatures(modality, rows[keep], x[torch.from_numpy(keep)])


def embed_records(records: Any, encoders: Mapping[str, Encoder | str | None] | None = None,
                  resolver: Resolver | None = None, batch_size: int = 64,
                  progress: bool = True, cache_dir: str | os.PathLike | None = None,
                  on_error: str = "raise",
                  encoder_options: Mapping[str, Mapping[str, Any]] | None = None,
                  seed: int = 0, num_threads: int | None = None
                  ) -> dict[str, ModalityFeatures]:
    """Embeds every note and modality observation of ``records``.

    Args:
        records: A :class:`~graphs.records.PatientRecords`.
        encoders: Modality -> :class:`Encoder` instance or registry name. ``None`` uses
            :data:`DEFAULT_ENCODERS`. A given mapping is complete: a modality present in
            the records but absent (or ``None``) here is skipped with a warning; use
            ``{**DEFAULT_ENCODERS, "image": my_encoder}`` to override one.
        resolver: Callable mapping a list of ``modalities.path`` values to raw items in
            the same order, e.g. ``functools.partial(graphs.synthetic.resolve, cohort)``.
            ``None`` reads files through :meth:`PatientRecords.resolve_path`.
        batch_size: Items per forward pass.
        progress: Show a tqdm bar per modality.
        cache_dir: Embedding cache folder, used by every encoder that has none yet; a
            re-run with the same encoders and data only reads the cache (raw items are
            still loaded, since the cache is keyed by content).
        on_error: ``"raise"`` (default) stops at the first unreadable item with an
            :class:`ItemError` naming its table row and note id/path; ``"skip"`` drops
            such rows and logs how many.
        encoder_options: Modality -> constructor options for encoders given by name
            (e.g. :data:`FAST_OPTIONS`).
        seed: Seed of encoders built from names (same seed, same weights).
        num_threads: Torch intra-op threads while encoding (``None``: unchanged).

    Returns:
        Modality -> :class:`ModalityFeatures` whose table rows follow the records'
        rows (``key`` = ``note_id`` for notes, ``path`` otherwise); modalities without
        rows or without an encoder are absent.

    Raises:
        ItemError: An unreadable item with ``on_error="raise"``.
        ConfigError: Bad ``on_error``, ``batch_size`` or encoder options.
        UnknownNameError: An encoder name that is not registered.
        SchemaError: A repeated note id or path.
    """
    if on_error not in _ON_ERROR:
        raise ConfigError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    for name in ("notes", "modalities"):
        if not isinstance(getattr(records, name, None), pd.DataFrame):
            raise InputError(f"records must be PatientRecords (with a {name} table), got "
                             f"{type(records).__name__}")
    specs = dict(DEFAULT_ENCODERS if encoders is None else encoders)
    options = dict(encoder_options or {})
    unknown = sorted(set(specs) - set(MODALITY_TYPES))
    if unknown:
        raise ConfigError(f"encoders for unknown modalities {unknown}: expected keys among "
                          f"{', '.join(MODALITY_TYPES)}")
    kinds = set(records.modalities["modality"].dropna().astype(str))
    for kind in sorted(kinds - set(MODALITY_TYPES)):
        log.warning("modality %r is not one of %s: its rows are skipped", kind,
                    ", ".join(MODALITY_TYPES))
    present = (["note"] if len(records.notes) else []) + [
        m for m in MODALITY_TYPES if m != "note" and m in kinds]
    out: dict[str, ModalityFeatures] = {}
    with _threads(num_threads):
        for modality in present:
            spec = specs.get(modality)
            if spec is None:
                n = len(_rows(records, modality)[0])
                log.warning("no encoder for modality %r: skipped its %d rows", modality, n)
                continue
            feats = _embed_modality(records, modality, spec, resolver, batch_size, progress,
                                    cache_dir, on_error, options.get(modality), seed)
            if feats is not None and len(feats.table):
                out[modality] = feats
    if not out and present:
        log.warning("embed_records produced no features (modalities present: %s)",
                    ", ".join(present))
    return out

