"""Image-report pairs as a torch Dataset (a MIMIC-CXR style folder plus ``reports.csv``).

``reports.csv`` has one row per pair: a text column (the report) and a column naming
the image: a relative path (``p10/s5/img.jpg``), a file name (``img.jpg``) or a stem
such as a study id (``s5`` for ``s5.png``). PNG/JPEG/TIFF are read with Pillow, DICOM
(``.dcm``) with pydicom.

The hands-on in a few lines: a tiny folder, an image encoder, text embeddings, the
fusion (projection) layer, the contrastive loss and one optimiser step.

Examples:
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd, torch
    >>> from PIL import Image
    >>> from graphs.encoders.alignment import ContrastiveAligner
    >>> from graphs.encoders.image import ResNetEncoder        # any torch module works
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(4):                                     # 4 tiny grey "X-rays"
    ...     Image.fromarray(np.full((16, 16), 60 * i, np.uint8)).save(root / f"s{i}.png")
    >>> pd.DataFrame({"study_id": [f"s{i}" for i in range(4)],
    ...               "report": ["normal", "effusion", "cardiomegaly", "pneumonia"]}
    ...              ).to_csv(root / "reports.csv", index=False)
    >>> ds = MultimodalDataset(root, "reports.csv", id_column="study_id",
    ...                        text_column="report", image_size=16, mode="L")
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=ds.collate)
    >>> images, texts = next(iter(loader))
    >>> images.shape, texts[:2]
    (torch.Size([4, 1, 16, 16]), ['normal', 'effusion'])
    >>> _ = torch.manual_seed(0)
    >>> image_encoder = ResNetEncoder(dim=64, in_channels=1, image_size=16, widths=(8, 16))
    >>> text_vectors = {t: torch.randn(384) for t in ds.texts} # or TextEncoder().encode()
    >>> model = ContrastiveAligner(image_encoder, 384, dim=32) # fusion: projection heads
    >>> optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    >>> loss = model.loss(images, torch.stack([text_vectors[t] for t in texts]))
    >>> loss.backward(); optimiser.step()
    >>> bool(loss > 0)
    True
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ontologies.errors import DataNotFoundError, InputError, ParseError, SchemaError

__all__ = ["MultimodalDataset", "collate_pairs", "load_image", "IMAGE_SUFFIXES"]

log = logging.getLogger(__name__)

#: File types the dataset indexes (lower-case suffixes).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")


def load_image(path: str | os.PathLike, image_size: int | tuple[int, int] | None = None,
               mode: str | None = None) -> torch.Tensor:
    """Reads an image as float ``[C, H, W]`` in ``[0, 1]``.

    Args:
        path: PNG/JPEG/TIFF/BMP (Pillow) or DICOM (``.dcm``, pydicom; min-max scaled).
        image_size: Resize to ``size`` x ``size`` (or ``(height, width)``), bilinear.
        mode: Pillow mode to convert to (``"L"`` grey, ``"RGB"``); ``None`` keeps it.

    Raises:
        DataNotFoundError: Missing file.
        ParseError: Unreadable or corrupt image.

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> p = os.path.join(tempfile.mkdtemp(), "a.png")
        >>> Image.fromarray(np.full((4, 6, 3), 255, np.uint8)).save(p)
        >>> x = load_image(p, image_size=(2, 3))
        >>> x.shape, float(x.max())
        (torch.Size([3, 2, 3]), 1.0)
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"image {path} not found")
    try:
        if path.suffix.lower() == ".dcm":
            import pydicom

            pixels = pydicom.dcmread(path).pixel_array.astype(np.float32)
            lo, hi = float(pixels.min()), float(pixels.max())
            pixels = (pixels - lo) / (hi - lo) if hi > lo else np.zeros_like(pixels)
            img = Image.fromarray(pixels)  # float32 -> mode "F"
        else:
            img = Image.open(path)
            img.load()
    except (UnidentifiedImageError, OSError, ValueError, AttributeError) as err:
        raise ParseError(f"not a readable image ({err})", path=path) from err
    if mode is not None and img.mode != "F":
        img = img.convert(mode)
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        # Pillow sizes are (width, height)
        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype in (np.uint16, np.int32) or img.mode.startswith("I"):
        arr = arr.astype(np.float32) / 65535.0  # 16-bit radiographs
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if mode == "RGB" and arr.shape[2] == 1:  # DICOM (always grey) in an RGB dataset
        arr = np.repeat(arr, 3, axis=2)
    # np.array copies: Pillow's buffer is read-only
    return torch.from_numpy(np.array(arr.transpose(2, 0, 1), dtype=np.float32, order="C"))


def collate_pairs(batch: list[tuple[torch.Tensor, str]]) -> tuple[torch.Tensor, list[str]]:
    """Stacks ``(image, text)`` pairs into ``([b, C, H, W], [text, ...])``.

    Examples:
        >>> x, t = collate_pairs([(torch.zeros(1, 2, 2), "a"), (torch.ones(1, 2, 2), "b")])
        >>> x.shape, t
        (torch.Size([2, 1, 2, 2]), ['a', 'b'])
    """
    if not batch:
        raise InputError("cannot collate an empty batch")
    shapes = sorted({tuple(img.shape) for img, _ in batch})
    if len(shapes) > 1:
        raise InputError(f"images in a batch differ in shape {shapes}; set image_size= "
                         "(or a transform that resizes)")
    return torch.stack([img for img, _ in batch]), [text for _, text in batch]


class MultimodalDataset(Dataset):
    """Pairs images in ``image_dir`` with report text from a CSV file.

    Args:
        image_dir: Folder searched recursively for images (``IMAGE_SUFFIXES``).
        text_file: CSV with one row per pair, relative to ``image_dir`` unless absolute.
        id_column: Row identifier (e.g. ``study_id``); also names the image when
            ``image_column`` is ``None``.
        text_column: Column holding the report text.
        image_column: Column naming the image (relative path, file name or stem).
        transform: Optional callable applied to each image tensor ``[C, H, W]``.
        image_size: Resize every image to this size (needed to batch unequal images).
        mode: Pillow colour mode (``"L"`` for chest X-rays, ``"RGB"``).
        on_missing: ``"error"`` raises on the first row whose image (or text) is
            missing; ``"skip"`` drops such rows and logs how many.

    Attributes:
        ids, texts, paths: Per-pair identifiers, report texts and resolved image paths.
        n_skipped: Rows dropped under ``on_missing="skip"``.
    """

    def __init__(self, image_dir: str | os.PathLike, text_file: str | os.PathLike = "reports.csv",
                 id_column: str = "study_id", text_column: str = "report",
                 image_column: str | None = None,
                 transform: Callable[[torch.Tensor], Any] | None = None,
                 image_size: int | tuple[int, int] | None = None, mode: str | None = None,
                 on_missing: str = "error"):
        if on_missing not in ("error", "skip"):
            raise InputError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
        self.image_dir = Path(image_dir)
        if not self.image_dir.is_dir():
            raise DataNotFoundError(f"image folder {self.image_dir} not found")
        csv = Path(text_file)
        csv = csv if csv.is_absolute() else self.image_dir / csv
        if not csv.is_file():
            raise DataNotFoundError(f"report table {csv} not found")
        try:
            table = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
            raise ParseError(f"cannot read report CSV ({err})", path=csv) from err
        image_column = image_column or id_column
        missing_cols = [c for c in {id_column, text_column, image_column} if c not in table]
        if missing_cols:
            raise SchemaError(f"{csv}: missing column(s) {sorted(missing_cols)}; found "
                              f"{list(table.columns)}")
        self.transform, self.image_size, self.mode = transform, image_size, mode
        paths = table[image_column].map(self._index()).astype(object)
        ok = paths.notna() & table[text_column].notna()
        if not ok.all():
            bad = table.index[~ok]
            first = int(bad[0])
            what = "text" if pd.notna(paths.iloc[first]) else \
                f"image {table[image_column].iloc[first]!r}"
            if on_missing == "error":
                raise DataNotFoundError(
                    f"{csv} row {first + 2}: no {what} for {id_column}="
                    f"{table[id_column].iloc[first]!r} in {self.image_dir} ({len(bad)} row(s) "
                    "affected; pass on_missing='skip' to drop them)")
            log.warning("%s: skipped %d of %d rows without an image or text (first: row %d)",
                        csv, len(bad), len(table), first + 2)
        self.n_skipped = int((~ok).sum())
        self.ids: list[str] = table.loc[ok, id_column].tolist()
        self.texts: list[str] = table.loc[ok, text_column].tolist()
        self.paths: list[Path] = paths[ok].tolist()
        if not self.ids:
            raise InputError(f"{csv}: no usable image-text pairs")

    def _index(self) -> dict[str, Path]:
        """One directory walk: relative path, file name and stem -> file (a name or stem
        shared by several files is ambiguous and left out, with a warning)."""
        files = sorted(p for p in self.image_dir.rglob("*")
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        rel = pd.Series(files, index=[p.relative_to(self.image_dir).as_posix() for p in files],
                        dtype=object)
        index = rel.to_dict()
        for key in (lambda p: p.name, lambda p: p.stem):
            names = pd.Series([key(p) for p in files], dtype=object)
            dup = names.duplicated(keep=False)
            if dup.any():
                log.warning("%d image names/stems occur in several folders; refer to those "
                            "images by relative path", int(dup.sum()))
            for name, path in zip(names[~dup], np.asarray(files, dtype=object)[~dup.to_numpy()]):
                index.setdefault(name, path)
        return index

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[Any, str]:
        image = load_image(self.paths[i], self.image_size, self.mode)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.texts[i]

    @staticmethod
    def collate(batch: list[tuple[torch.Tensor, str]]) -> tuple[torch.Tensor, list[str]]:
        """DataLoader ``collate_fn``: see :func:`collate_pairs`."""
        return collate_pairs(batch)

    def __repr__(self) -> str:
        return (f"MultimodalDataset(n={len(self)}, image_dir={str(self.image_dir)!r}, "
                f"skipped={self.n_skipped})")
