"""Pretraining modality encoders against paired notes, and probing what embeddings know.

Only the note encoder ships pretrained weights. :func:`pretrain_encoder` aligns a
randomly initialised modality encoder (image, signal, genomic, ...) with the MiniLM
embeddings of the notes written at the same visit, CLIP-style (symmetric InfoNCE with
projection heads, :mod:`graphs.encoders.alignment`). :func:`paired_items` builds those
pairs from records, for the patients you choose: pass training patients only. Where the
notes say too little about what a modality shows, :func:`pretrain_supervised` fits the
encoder to the diagnosis codes recorded for the same visit or patient
(:func:`code_targets`), again on training patients only.

:func:`linear_probe` measures how much an embedding says about labelled conditions: a
standardised L2 logistic regression fitted on training patients' rows and scored by
AUROC on held-out patients' rows (:func:`split_patients`), so no patient is on both sides.

Examples:
    >>> import numpy as np, pandas as pd, torch
    >>> from graphs.cohort.features import ModalityFeatures
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(200) < 0.4
    >>> x = torch.tensor(rng.normal(size=(200, 3)) + 2.0 * y[:, None], dtype=torch.float32)
    >>> table = pd.DataFrame({"patient_id": [f"p{i}" for i in range(200)],
    ...                       "visit_id": [f"v{i}" for i in range(200)],
    ...                       "key": [f"k{i}" for i in range(200)]})
    >>> feats = ModalityFeatures("image", table, x)
    >>> labels = pd.DataFrame({"visit_id": table["visit_id"], "sick": y})
    >>> train, test = split_patients(table["patient_id"], test_fraction=0.3, seed=0)
    >>> len(train), len(test)
    (140, 60)
    >>> linear_probe(feats, labels, test)["sick"] > 0.9
    True
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from graphs.cohort.features import ModalityFeatures
from graphs.embed import Resolver, load_items
from graphs.encoders.alignment import ContrastiveAligner, train_contrastive
from graphs.encoders.base import Encoder
from ontologies.atomic import atomic_torch_save
from ontologies.errors import ConfigError, InputError

__all__ = ["pretrain_encoder", "pretrain_supervised", "paired_items", "code_targets",
           "linear_probe", "split_patients", "ENCODER_CHECKPOINT"]

log = logging.getLogger(__name__)

#: File name of the trained encoder's ``state_dict`` in ``checkpoint_dir``.
ENCODER_CHECKPOINT = "encoder.pt"


def split_patients(patient_ids: Iterable[str], test_fraction: float = 0.3, seed: int = 0
                   ) -> tuple[list[str], list[str]]:
    """Splits distinct patient ids into (train, test) at random, reproducibly.

    Examples:
        >>> split_patients(["a", "b", "c", "a"], test_fraction=0.34, seed=1)
        (['b', 'c'], ['a'])
    """
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    ids = np.array(sorted(pd.Series(list(patient_ids), dtype="string").dropna().unique()),
                   dtype=object)
    if len(ids) < 2:
        raise InputError(f"need at least 2 patients to split, got {len(ids)}")
    n_test = min(len(ids) - 1, max(1, int(round(test_fraction * len(ids)))))
    test = np.zeros(len(ids), dtype=bool)
    test[np.random.default_rng(seed).permutation(len(ids))[:n_test]] = True
    return [str(p) for p in ids[~test]], [str(p) for p in ids[test]]


def paired_items(records: Any, modality: str, notes: ModalityFeatures,
                 resolver: Resolver | None = None, patients: Iterable[str] | None = None,
                 on_error: str = "raise") -> tuple[list[Any], torch.Tensor, pd.DataFrame]:
    """Raw ``modality`` items paired with the note embedding of the same visit.

    A visit with several notes is paired with their mean embedding; observations
    without a note at their visit are left out.

    Args:
        records: :class:`~graphs.records.PatientRecords`.
        modality: A modality of ``records.modalities`` (``"image"``, ``"signal"``, ...).
        notes: Note embeddings (``embed_records(...)["note"]``).
        resolver: As in :func:`graphs.embed.embed_records`.
        patients: Restrict to these patients (pass the training patients).
        on_error: ``"raise"`` or ``"skip"`` unreadable items.

    Returns:
        ``(items, text_embeddings [n, d], table)`` with ``table`` the paired rows
        (``patient_id``, ``visit_id``, ``key``).
    """
    if not isinstance(notes, ModalityFeatures) or notes.modality != "note":
        raise InputError(f"notes must be the 'note' ModalityFeatures, got {notes!r}")
    visits = notes.table["visit_id"]
    ok = visits.notna().to_numpy(bool)
    codes, uniq = pd.factorize(visits[ok])
    sums = torch.zeros(len(uniq), notes.dim).index_add_(0, torch.as_tensor(codes),
                                                        notes.x[torch.tensor(ok)])
    counts = torch.from_numpy(np.bincount(codes, minlength=len(uniq))).float()
    per_visit = sums / counts[:, None]
    table, items = load_items(records, modality, resolver, patients=patients,
                              on_error=on_error)
    where = pd.Index(uniq).get_indexer(table["visit_id"].astype(object))
    has = where >= 0
    if not has.any():
        raise InputError(f"no {modality} observation shares a visit with a note; "
                         "expected rows of records.modalities and notes with equal visit_id")
    table = table[has].reset_index(drop=True)
    return [it for it, h in zip(items, has, strict=True) if h], per_visit[where[has]], table


class _PairBatches:
    """Re-iterable shuffled batches ``(collated items, target rows)``.

    The permutation is drawn from torch's global RNG, which ``train_contrastive`` seeds
    at every epoch, so an interrupted run resumes on the same batches.
    """

    def __init__(self, encoder: Encoder, prepared: list[Any], text: torch.Tensor,
                 batch_size: int):
        self.encoder, self.prepared, self.text = encoder, prepared, text
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[tuple[Any, torch.Tensor]]:
        order = torch.randperm(len(self.prepared)).tolist()
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo:lo + self.batch_size]
            if len(idx) < 2:  # InfoNCE needs an in-batch negative
                break
            yield self.encoder.collate([self.prepared[i] for i in idx]), self.text[idx]


def pretrain_encoder(encoder: Encoder, items: Sequence[Any], text_embeddings: torch.Tensor,
                     epochs: int = 5, lr: float = 1e-3, seed: int = 0,
                     checkpoint_dir: str | os.PathLike | None = None, batch_size: int = 64,
                     dim: int = 128, temperature: float = 0.07, weight_decay: float = 1e-4,
                     progress: bool = True) -> list[float]:
    """Aligns ``encoder`` with paired text embeddings (CLIP-style), in place.

    Each item's prepared tensor is computed once; every epoch shuffles the pairs and
    minimises the symmetric InfoNCE loss between the encoder's projected output and the
    projected text embedding of its pair (the text side is fixed: only its projection
    head learns). Use pairs of training patients only.

    Args:
        encoder: A modality encoder (its weights change).
        items: Raw items (arrays, paths, sequences) the encoder's ``prepare`` accepts.
        text_embeddings: ``[len(items), d]`` embeddings of the paired notes.
        epochs: Passes over the pairs.
        lr: AdamW learning rate.
        seed: Seeds initialisation of the heads, shuffling and dropout.
        checkpoint_dir: If set, training resumes from / writes ``last.pt`` there, and
            the final encoder ``state_dict`` is written to ``encoder.pt`` (loadable with
            ``weights=`` by the image encoders or ``load_state_dict``).
        batch_size: Pairs per step (in-batch negatives: larger is harder).
        dim: Size of the shared projection space.
        temperature: Initial InfoNCE temperature (learned).
        weight_decay: AdamW weight decay.
        progress: Show a tqdm bar over epochs.

    Returns:
        Mean InfoNCE loss per epoch. The encoder is left in eval mode.

    Raises:
        InputError: Fewer than 2 pairs, mismatched lengths, or an item ``prepare``
            rejects (named by index).

    Examples:
        >>> from graphs.encoders.genomic import MotifCNNEncoder
        >>> torch.manual_seed(0) is not None
        True
        >>> enc = MotifCNNEncoder(dim=8, n_motifs=8, motif_length=4)
        >>> seqs = ["ACGTACGTAA", "TTTTGGGGCC", "ACGTTTACGA", "GGGCCCAAAT"]
        >>> text = torch.eye(4)
        >>> losses = pretrain_encoder(enc, seqs, text, epochs=3, batch_size=4, lr=1e-2,
        ...                           progress=False)
        >>> len(losses), losses[-1] < losses[0]
        (3, True)
    """
    text = torch.as_tensor(text_embeddings, dtype=torch.float32)
    if text.dim() != 2 or len(text) != len(items):
        raise InputError(f"text_embeddings must be [len(items)={len(items)}, d], got "
                         f"{tuple(text.shape)}")
    if len(items) < 2:
        raise InputError(f"pretraining needs at least 2 pairs, got {len(items)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ConfigError(f"batch_size must be an integer >= 2, got {batch_size!r}")
    prepared = _prepare_all(encoder, items)
    with torch.random.fork_rng(devices=[]):  # heads, shuffling, dropout: off the global RNG
        torch.manual_seed(int(seed))
        aligner = ContrastiveAligner(encoder, int(text.shape[1]), dim=dim,
                                     temperature=temperature)
        history = train_contrastive(aligner, _PairBatches(encoder, prepared, text,
                                                          batch_size),
                                    epochs=epochs, lr=lr, checkpoint_dir=checkpoint_dir,
                                    seed=seed, progress=progress, weight_decay=weight_decay)
    _finish(encoder, checkpoint_dir)
    return history


def _prepare_all(encoder: Encoder, items: Sequence[Any]) -> list[Any]:
    """Each item's prepared tensor, computed once for all epochs."""
    prepared = []
    for i, item in enumerate(items):
        try:
            prepared.append(encoder.prepare(item))
        except (ValueError, OSError) as err:
            raise InputError(f"pretraining item {i} could not be prepared: {err}") from err
    return prepared


def _finish(encoder: Encoder, checkpoint_dir: str | os.PathLike | None) -> None:
    encoder.eval()
    if checkpoint_dir is not None:
        atomic_torch_save(encoder.state_dict(), Path(checkpoint_dir) / ENCODER_CHECKPOINT)


def code_targets(records: Any, table: pd.DataFrame, level: int | None = 3,
                 scope: str = "visit", min_count: int = 5,
                 codes: Sequence[str] | None = None) -> tuple[torch.Tensor, list[str]]:
    """Multi-hot targets of the diagnosis codes recorded for each row of ``table``.

    Args:
        records: :class:`~graphs.records.PatientRecords` (its ``diagnoses``).
        table: Rows to label (``patient_id``, ``visit_id``), e.g. from :func:`paired_items`
            or :func:`graphs.embed.load_items`.
        level: Characters of the code kept after the system prefix (3: ``ICD10CM:E11``;
            ``None``: the full code).
        scope: ``"visit"`` (codes of the row's visit; images, signals) or ``"patient"``
            (codes of any visit of the patient; germline genomes).
        min_count: Keep codes present in at least this many rows of ``table``.
        codes: Use exactly these target codes instead (e.g. those of a training run).

    Returns:
        ``(targets [len(table), k] float, code names)``.

    Examples:
        >>> from graphs.cohort.demo import tiny_records
        >>> rows = pd.DataFrame({"patient_id": ["p1", "p2"], "visit_id": ["v1", "v3"]})
        >>> y, names = code_targets(tiny_records(), rows, min_count=1)
        >>> names, y.tolist()
        (['ICD10CM:E11', 'ICD10CM:I10'], [[1.0, 1.0], [0.0, 1.0]])
    """
    if scope not in ("visit", "patient"):
        raise ConfigError(f"scope must be 'visit' or 'patient', got {scope!r}")
    dx = records.diagnoses[["patient_id", "visit_id", "code"]].dropna(subset=["code"])
    system, _, code = dx["code"].astype(str).str.partition(":").values.T
    code = pd.Series(code) if level is None else pd.Series(code).str.slice(0, int(level))
    dx = pd.DataFrame({"row_key": dx["visit_id" if scope == "visit" else "patient_id"]
                       .astype(object).to_numpy(),
                       "code": pd.Series(system) + ":" + code})
    row_keys = table["visit_id" if scope == "visit" else "patient_id"].astype(object)
    rows = pd.DataFrame({"row_key": row_keys.to_numpy(), "row": np.arange(len(table))})
    hits = rows.merge(dx.drop_duplicates(), on="row_key")[["row", "code"]].drop_duplicates()
    if codes is None:
        counts = hits["code"].value_counts()
        codes = sorted(counts.index[counts >= min_count])
    names = [str(c) for c in codes]
    col = pd.Index(names).get_indexer(hits["code"])
    ok = col >= 0
    y = torch.zeros(len(table), len(names))
    y[torch.as_tensor(hits["row"].to_numpy()[ok]), torch.as_tensor(col[ok])] = 1.0
    return y, names


class _Supervised(nn.Module):
    """Encoder + linear multi-label head; exposes ``loss(xa, y)`` so the training loop
    (checkpointing, resume, per-epoch seeding) of ``train_contrastive`` drives it."""

    def __init__(self, encoder: Encoder, n_targets: int, pos_weight: torch.Tensor):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.dim, n_targets)
        self.register_buffer("pos_weight", pos_weight)

    def loss(self, xa: Any, y: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.encoder(xa))
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight)


def pretrain_supervised(encoder: Encoder, items: Sequence[Any], targets: torch.Tensor,
                        epochs: int = 5, lr: float = 1e-3, seed: int = 0,
                        checkpoint_dir: str | os.PathLike | None = None,
                        batch_size: int = 64, weight_decay: float = 1e-4,
                        progress: bool = True) -> list[float]:
    """Fits ``encoder`` (plus a linear head) to multi-label targets, in place.

    The honest alternative to alignment when paired notes say little about what a
    modality shows: predict the diagnosis codes recorded with each item
    (:func:`code_targets`) for training patients only. Binary cross-entropy with
    positives up-weighted by ``negatives / positives`` (capped at 50), so rare codes
    count.

    Args:
        encoder: A modality encoder (its weights change; the head is discarded).
        items: Raw items.
        targets: ``[len(items), k]`` 0/1 targets.
        epochs, lr, seed, checkpoint_dir, batch_size, weight_decay, progress: As in
            :func:`pretrain_encoder`.

    Returns:
        Mean training loss per epoch. The encoder is left in eval mode.

    Examples:
        >>> from graphs.encoders.genomic import MotifCNNEncoder
        >>> enc = MotifCNNEncoder(dim=4, n_motifs=4, motif_length=3)
        >>> seqs = ["ACGTAAAA", "TTTTACGT", "GGGGCCCC", "CCCCGGGA"]
        >>> y = torch.tensor([[1.0], [1.0], [0.0], [0.0]])  # "contains ACGT"
        >>> losses = pretrain_supervised(enc, seqs, y, epochs=20, lr=3e-2, batch_size=4,
        ...                              progress=False)
        >>> losses[-1] < losses[0]
        True
    """
    y = torch.as_tensor(targets, dtype=torch.float32)
    if y.dim() != 2 or len(y) != len(items) or y.shape[1] == 0:
        raise InputError(f"targets must be [len(items)={len(items)}, k>0], got "
                         f"{tuple(y.shape)}")
    if len(items) < 2:
        raise InputError(f"pretraining needs at least 2 items, got {len(items)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ConfigError(f"batch_size must be an integer >= 2, got {batch_size!r}")
    pos = y.sum(0)
    pos_weight = ((len(y) - pos) / pos.clamp(min=1.0)).clamp(1.0, 50.0)
    prepared = _prepare_all(encoder, items)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = _Supervised(encoder, y.shape[1], pos_weight)
        history = train_contrastive(model, _PairBatches(encoder, prepared, y, batch_size),
                                    epochs=epochs, lr=lr, checkpoint_dir=checkpoint_dir,
                                    seed=seed, progress=progress, weight_decay=weight_decay)
    _finish(encoder, checkpoint_dir)
    return history


def linear_probe(features: ModalityFeatures, labels: pd.DataFrame,
                 test_patients: Iterable[str], conditions: Sequence[str] | None = None,
                 c: float = 0.1) -> dict[str, float]:
    """AUROC of a logistic-regression probe per condition, on held-out patients.

    Rows of ``features`` are labelled by their ``visit_id``; the probe is fitted on the
    rows of patients not in ``test_patients`` and scored on the rows of those in it.

    Args:
        features: Embeddings to probe.
        labels: A ``visit_id`` column (or index) plus one boolean column per condition
            (e.g. ``SyntheticCohort.visit_labels()``).
        test_patients: Held-out patient ids.
        conditions: Columns to probe (default: every boolean column).
        c: Inverse L2 strength of the logistic regression (features are standardised).

    Returns:
        Condition -> test AUROC (``nan`` when the train or test rows hold one class only).
    """
    from sklearn.linear_model import LogisticRegression  # heavy import, only when used
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    lab = labels if "visit_id" in labels.columns else labels.reset_index()
    if "visit_id" not in lab.columns:
        raise InputError("labels need a visit_id column or index")
    lab = lab.drop_duplicates("visit_id").set_index("visit_id")
    if conditions is None:
        conditions = [col for col in lab.columns if pd.api.types.is_bool_dtype(lab[col])]
    missing = [col for col in conditions if col not in lab.columns]
    if missing:
        raise InputError(f"labels have no column(s) {missing}; available: {list(lab.columns)}")
    where = lab.index.get_indexer(features.table["visit_id"].astype(object))
    known = where >= 0
    test = features.table["patient_id"].isin(list(test_patients)).to_numpy(bool)
    train_rows, test_rows = known & ~test, known & test
    if not train_rows.any() or not test_rows.any():
        raise InputError(f"probe needs labelled rows on both sides: {int(train_rows.sum())} "
                         f"train and {int(test_rows.sum())} test rows")
    x = features.x.numpy().astype(np.float64)
    scaler = StandardScaler().fit(x[train_rows])
    xtr, xte = scaler.transform(x[train_rows]), scaler.transform(x[test_rows])
    out: dict[str, float] = {}
    for col in conditions:
        y = lab[col].to_numpy()[where].astype(bool)
        ytr, yte = y[train_rows], y[test_rows]
        if ytr.min() == ytr.max() or yte.min() == yte.max():
            out[col] = math.nan
            continue
        clf = LogisticRegression(C=c, max_iter=2000).fit(xtr, ytr)
        out[col] = float(roc_auc_score(yte, clf.decision_function(xte)))
    return out

