"""3D volumes: NIfTI and DICOM-series reading, resampling and a small 3D residual CNN.

Volumes are float32 numpy arrays ``[D, H, W]`` = (slice, row, column), with spacing
``(d, h, w)`` in mm. NIfTI files are first reoriented to the closest canonical (RAS+)
orientation so different scanners' axis flips agree, then their ``(i, j, k)`` voxel
axes are reversed into ``[D, H, W]`` (``D`` = inferior -> superior). A DICOM series is a
folder of single-slice files, sorted along the slice normal by ImagePositionPatient
(InstanceNumber if positions are absent), each slice in output units (HU for CT).

Examples:
    >>> import os
    >>> from nibabel.testing import data_path
    >>> vol, meta = read_volume(os.path.join(data_path, "anatomical.nii"))
    >>> vol.shape, meta["spacing"]
    ((25, 41, 33), (2.0, 2.0, 2.0))
    >>> resample_volume(vol, shape=(8, 8, 8)).shape
    (8, 8, 8)
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphs.encoders import dicom_io
from graphs.encoders.base import ENCODERS, Encoder
from graphs.encoders.image import load_weights, reset_all_parameters, seeded
from graphs.encoders.image_io import dicom_pixels, normalize_intensity, read_dicom, window
from ontologies.errors import ConfigError, DataNotFoundError, InputError, ParseError

__all__ = ["NIFTI_SUFFIXES", "read_volume", "read_nifti", "read_dicom_series",
           "resample_volume", "check_volume", "Conv3dEncoder"]

log = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh", ".hdr", ".img")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def read_volume(path: str | os.PathLike, *, volume_index: int | None = 0,
                canonical: bool = True, series_uid: str | None = None
                ) -> tuple[np.ndarray, dict[str, Any]]:
    """Reads a 3D volume from NIfTI/MGH, a DICOM-series folder or a multi-frame DICOM.

    Args:
        path: ``.nii``/``.nii.gz``/``.mgz`` file, a folder of DICOM slices, or one
            multi-frame ``.dcm``.
        volume_index: Which volume of a 4D file to return; ``None`` rejects 4D input.
        canonical: Reorient NIfTI to the closest RAS+ orientation first.
        series_uid: For a folder holding several series, the SeriesInstanceUID to read.

    Returns:
        ``(volume [D, H, W] float32, metadata)`` with keys ``path``, ``format``,
        ``spacing`` (d, h, w) mm, ``affine`` (4x4 voxel->world of the returned
        ``[D, H, W]`` axes for NIfTI, else None), ``modality``, ``n_volumes``.

    Raises:
        DataNotFoundError: ``path`` does not exist.
        InputError: Unsupported format, wrong dimensionality, bad ``volume_index``, an
            inconsistent or ambiguous DICOM series.
        ParseError: Corrupt file (named in the message).
    """
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"volume {str(path)!r} does not exist")
    if path.is_dir():
        return read_dicom_series(path, series_uid=series_uid)
    suffix = _suffix(path)
    if suffix in NIFTI_SUFFIXES:
        return read_nifti(path, volume_index=volume_index, canonical=canonical)
    if suffix in (".dcm", ".dicom", ""):
        arr, meta = read_dicom(path, multiframe="all")
        if arr.ndim != 3:
            raise InputError(f"{str(path)!r}: DICOM pixel array of shape {arr.shape}; expected "
                             "a multi-frame greyscale volume (or pass the series folder)")
        sp = meta["pixel_spacing"] or (1.0, 1.0)
        thick = 1.0  # per-frame positions live in functional groups; unit spacing is honest
        return arr, {"path": str(path), "format": "DICOM", "spacing": (thick, *sp),
                     "affine": None, "modality": meta["modality"], "n_volumes": 1}
    raise InputError(f"{str(path)!r}: unsupported volume format {suffix!r}; expected "
                     f"{', '.join(NIFTI_SUFFIXES)}, a DICOM file or a folder of DICOM slices")


def read_nifti(path: str | os.PathLike, *, volume_index: int | None = 0,
               canonical: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Reads a NIfTI/MGH/Analyze file; see :func:`read_volume`.

    Examples:
        >>> import os
        >>> from nibabel.testing import data_path
        >>> vol, meta = read_nifti(os.path.join(data_path, "example4d.nii.gz"), volume_index=1)
        >>> vol.shape, meta["n_volumes"]
        ((24, 96, 128), 2)
    """
    import gzip
    import zlib

    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError
    from nibabel.orientations import OrientationError
    from nibabel.spatialimages import HeaderDataError

    path = Path(path)
    try:
        img = nib.load(path)
        if any(int(s) < 1 for s in img.shape):
            raise ParseError(f"header dims {tuple(int(s) for s in img.shape)} include a "
                             "size below 1; expected positive sizes", path)
        if canonical and hasattr(img, "affine") and img.affine is not None:
            img = nib.as_closest_canonical(img)
        shape = tuple(int(s) for s in img.shape)
        if len(shape) == 4 and shape[3] == 1:
            shape = shape[:3]
        if len(shape) == 3:
            data = np.asarray(img.dataobj[..., 0] if img.ndim == 4 else img.dataobj,
                              dtype=np.float32)
            n_volumes = 1
        elif len(shape) == 4:
            n_volumes = shape[3]
            if volume_index is None:
                raise InputError(f"{str(path)!r} is 4D with {n_volumes} volumes; pass "
                                 "volume_index=<0..n-1> to pick one")
            if not -n_volumes <= int(volume_index) < n_volumes:
                raise InputError(f"{str(path)!r}: volume_index {volume_index} out of range "
                                 f"for {n_volumes} volumes")
            data = np.asarray(img.dataobj[..., int(volume_index)], dtype=np.float32)
        else:
            raise InputError(f"{str(path)!r}: image of shape {shape}; expected 3D or 4D")
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
        affine = np.asarray(img.affine, dtype=np.float64)
    except (InputError, ParseError):
        raise
    # HeaderDataError: an unknown datatype code; OrientationError: an affine that cannot
    # be reoriented (degenerate axes); OverflowError/MemoryError: absurd header sizes.
    except (ImageFileError, HeaderDataError, OrientationError, OSError, EOFError, ValueError,
            zlib.error, gzip.BadGzipFile, IndexError, OverflowError, MemoryError) as err:
        raise ParseError(f"not a readable NIfTI/MGH volume ({type(err).__name__}: {err})",
                         path) from err
    if not all(np.isfinite(z) and z > 0 for z in zooms):
        raise InputError(f"{str(path)!r}: voxel size {zooms} (header pixdim[1:4]); expected "
                         "finite sizes > 0 mm")
    # (i, j, k) -> [D, H, W]: reverse axes, and the affine's columns with them.
    vol = np.ascontiguousarray(data.transpose(2, 1, 0))
    affine = affine[:, [2, 1, 0, 3]]
    meta = {"path": str(path), "format": "NIfTI", "spacing": zooms[::-1], "affine": affine,
            "modality": None, "n_volumes": n_volumes}
    return _checked(vol, path), meta


def _checked(vol: np.ndarray, path: Path) -> np.ndarray:
    if not np.isfinite(vol).all():
        raise InputError(f"{str(path)!r}: volume contains NaN or infinite values")
    return vol


def read_dicom_series(folder: str | os.PathLike, *, series_uid: str | None = None
                      ) -> tuple[np.ndarray, dict[str, Any]]:
    """Stacks a folder of single-slice DICOM files into ``[D, H, W]``.

    Files that are not DICOM (README, DICOMDIR, hidden files) and DICOM objects without
    pixel data are ignored; a corrupt ``.dcm`` file raises.
    """
    folder = Path(folder)
    slices: list[tuple[Path, Any]] = []
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith(".") or p.name.upper() == "DICOMDIR":
            continue
        try:
            ds = dicom_io.dcmread(p)
        except ParseError:
            if p.suffix.lower() in (".dcm", ".dicom"):
                raise
            log.debug("skipping non-DICOM file %s", p)
            continue
        if "PixelData" in ds:
            slices.append((p, ds))
    if not slices:
        raise InputError(f"{str(folder)!r} holds no DICOM image files; expected a folder of "
                         "slices of one series")
    uid = {p: str(dicom_io.element(ds, "SeriesInstanceUID", p) or "") for p, ds in slices}
    uids = Counter(uid.values())
    if series_uid is not None:
        slices = [(p, ds) for p, ds in slices if uid[p] == series_uid]
        if not slices:
            raise InputError(f"{str(folder)!r} has no series {series_uid!r}; found "
                             f"{dict(uids)}")
    elif len(uids) > 1:
        raise InputError(f"{str(folder)!r} mixes {len(uids)} series {dict(uids)} (uid: "
                         "slices); pass series_uid= to pick one")
    order, z_spacing = _slice_order(slices, folder)
    slices = [slices[i] for i in order]
    first_path, first = slices[0]

    def size(p: Path, ds: Any) -> tuple[int, int]:
        return (dicom_io.integer(ds, "Rows", p, default=0, minimum=1),
                dicom_io.integer(ds, "Columns", p, default=0, minimum=1))

    shape = size(first_path, first)
    planes = []
    for p, ds in slices:
        if size(p, ds) != shape:
            raise InputError(f"{str(p)!r}: slice of size {size(p, ds)}; expected {shape} like "
                             f"{first_path.name}")
        arr = dicom_pixels(ds, p)
        if arr.ndim != 2:
            raise InputError(f"{str(p)!r}: pixel array of shape {arr.shape}; expected one "
                             "greyscale slice per file")
        planes.append(arr)
    spacing = dicom_io.numbers(first, "PixelSpacing", first_path, positive=True) or (1.0, 1.0)
    modality = dicom_io.element(first, "Modality", first_path)
    meta = {"path": str(folder), "format": "DICOM series",
            "spacing": (z_spacing, *spacing[:2]) if len(spacing) >= 2 else (z_spacing, 1.0, 1.0),
            "affine": None, "modality": None if modality is None else str(modality),
            "n_volumes": 1, "series_uid": uid[first_path] or None,
            "files": [str(p) for p, _ in slices]}
    return np.stack(planes).astype(np.float32), meta


def _slice_order(slices: list[tuple[Path, Any]], folder: Path) -> tuple[list[int], float]:
    """Order along the slice normal (or InstanceNumber) and the slice spacing in mm."""
    first_path, first = slices[0]
    fallback = (dicom_io.number(first, "SpacingBetweenSlices", first_path)
                or dicom_io.number(first, "SliceThickness", first_path) or 1.0)
    if not (np.isfinite(fallback) and fallback > 0):
        fallback = 1.0  # a mis-set thickness must not make a volume of zero depth
    have_pos = all("ImagePositionPatient" in ds and "ImageOrientationPatient" in ds
                   for _, ds in slices)
    if have_pos:
        iop = _vector(first, "ImageOrientationPatient", first_path, 6)
        normal = np.cross(iop[:3], iop[3:])
        pos = np.array([np.dot(_vector(ds, "ImagePositionPatient", p, 3), normal)
                        for p, ds in slices])
        order = np.argsort(pos, kind="stable")
        gaps = np.diff(pos[order])
        if len(gaps) and np.min(np.abs(gaps)) < 1e-4:
            dup = [slices[i][0].name for i in order[1:][np.abs(gaps) < 1e-4][:3]]
            raise InputError(f"{str(folder)!r}: several slices share one position (e.g. "
                             f"{dup}); expected one slice per position (split echoes/phases "
                             "into separate folders)")
        if len(gaps):
            spacing = float(np.median(gaps))
            if np.max(np.abs(gaps - spacing)) > 0.1 * spacing:
                log.warning("%s: uneven slice spacing (%.3g..%.3g mm); using the median",
                            folder, float(gaps.min()), float(gaps.max()))
            return order.tolist(), spacing
        return order.tolist(), fallback
    if all("InstanceNumber" in ds for _, ds in slices):
        numbers = np.array([dicom_io.integer(ds, "InstanceNumber", p, default=0,
                                             minimum=-2**31) for p, ds in slices])
        return np.argsort(numbers, kind="stable").tolist(), fallback
    log.warning("%s: slices lack ImagePositionPatient and InstanceNumber; using file-name "
                "order", folder)
    return list(range(len(slices))), fallback


def _vector(ds: Any, keyword: str, path: Path, size: int) -> np.ndarray:
    """A fixed-length numeric element (ImagePositionPatient: 3, ...Orientation...: 6)."""
    values = dicom_io.numbers(ds, keyword, path) or ()
    if len(values) != size or not np.isfinite(values).all():
        raise ParseError(f"{dicom_io.tag_name(keyword)} holds {len(values)} values; expected "
                         f"{size} finite numbers", path)
    return np.asarray(values, dtype=np.float64)


def check_volume(vol: Any, name: str = "volume") -> np.ndarray:
    """Validates a ``[D, H, W]`` array (float32 numpy out) or raises :class:`InputError`.

    Examples:
        >>> check_volume(np.zeros((2, 3, 4))).shape
        (2, 3, 4)
    """
    if torch.is_tensor(vol):
        vol = vol.detach().cpu().numpy()
    try:
        arr = np.asarray(vol, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name}: not a numeric array ({err})") from err
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise InputError(f"{name}: shape {arr.shape}; expected a 3D volume [D, H, W]")
    if not np.isfinite(arr).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return arr


def resample_volume(vol: np.ndarray, shape: tuple[int, int, int] | None = None,
                    spacing: tuple[float, float, float] | None = None,
                    current_spacing: tuple[float, float, float] | None = None) -> np.ndarray:
    """Resizes ``[D, H, W]`` to ``shape`` voxels or to ``spacing`` mm.

    Pure shrinking uses area averaging (3D interpolation has no anti-aliasing option and
    trilinear would alias); anything else is trilinear.

    Examples:
        >>> resample_volume(np.ones((4, 4, 4)), spacing=(2, 1, 1),
        ...                 current_spacing=(1, 1, 1)).shape
        (2, 4, 4)
    """
    arr = check_volume(vol, "resample_volume input")
    if (shape is None) == (spacing is None):
        raise ConfigError("resample_volume needs exactly one of shape=(D, H, W) or spacing=")
    if spacing is not None:
        if current_spacing is None or len(spacing) != 3 or len(current_spacing) != 3 \
                or min(spacing) <= 0 or min(current_spacing) <= 0:
            raise ConfigError(f"resample_volume(spacing={spacing!r}) needs 3 positive "
                              f"spacings and current_spacing, got {current_spacing!r}")
        shape = tuple(max(1, round(n * c / s))
                      for n, c, s in zip(arr.shape, current_spacing, spacing, strict=True))
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"target shape must be 3 positive ints, got {shape!r}")
    if shape == arr.shape:
        return arr
    t = torch.from_numpy(np.ascontiguousarray(arr))[None, None]
    if all(s <= n for s, n in zip(shape, arr.shape, strict=True)):
        out = F.interpolate(t, size=shape, mode="area")
    else:
        out = F.interpolate(t, size=shape, mode="trilinear", align_corners=False)
    return np.ascontiguousarray(out[0, 0].numpy(), dtype=np.float32)


class _Block3d(nn.Module):
    """Residual block of two 3x3x3 convolutions."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


@ENCODERS.register("volume_cnn")
class Conv3dEncoder(Encoder):
    """A small 3D ResNet over single-channel volumes, randomly initialised by default.

    Args:
        dim: Output size.
        volume_shape: ``(D, H, W)`` every input is resampled to; 32^3 keeps CPU cost low.
        widths: Channels per stage; stages after the first halve the resolution.
        normalize: Intensity normalisation (``"zscore"``, ``"minmax"``, ``"percentile"``,
            None), applied after optional windowing.
        window_range: ``(level, width)`` in output units (e.g. (40, 400) HU) or None.
        weights: State-dict file to load (``torch.load(weights_only=True)``).
        pretrained: Must stay False unless ``weights`` is given.
        cache_dir: Optional embedding cache folder.
        seed: Seeds the initialisation without touching the global RNG.
        volume_index: Which volume of 4D inputs to use.

    Examples:
        >>> enc = Conv3dEncoder(dim=8, volume_shape=(16, 16, 16), widths=(4, 8), seed=0)
        >>> enc.encode([np.random.default_rng(0).random((20, 30, 30))], progress=False).shape
        torch.Size([1, 8])
    """

    name = "volume_cnn"

    def __init__(self, dim: int = 128, volume_shape: tuple[int, int, int] = (32, 32, 32),
                 widths: tuple[int, ...] = (8, 16, 32, 64), normalize: str | None = "zscore",
                 window_range: tuple[float, float] | None = None,
                 weights: str | os.PathLike | None = None, pretrained: bool = False,
                 cache_dir: str | os.PathLike | None = None, seed: int | None = None,
                 volume_index: int = 0):
        if pretrained and weights is None:
            raise ConfigError("volume_cnn: no pretrained weights ship with medkg; pass "
                              "weights=<state_dict file> or pretrained=False")
        shape = tuple(int(s) for s in volume_shape)
        if len(shape) != 3 or min(shape) < 4:
            raise ConfigError(f"volume_shape must be 3 ints >= 4, got {volume_shape!r}")
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise ConfigError(f"widths must be positive ints, got {widths!r}")
        if normalize not in (None, "zscore", "minmax", "percentile"):
            raise ConfigError(f"normalize must be 'zscore', 'minmax', 'percentile' or None, "
                              f"got {normalize!r}")
        super().__init__(dim=dim, pretrained=weights is not None, cache_dir=cache_dir)
        self.volume_shape, self.widths = shape, widths
        self.normalize, self.window_range = normalize, window_range
        self.volume_index = volume_index
        with seeded(seed):
            self.stem = nn.Sequential(nn.Conv3d(1, widths[0], 3, 2, 1, bias=False),
                                      nn.BatchNorm3d(widths[0]), nn.ReLU(inplace=True))
            blocks, cin = [], widths[0]
            for i, w in enumerate(widths):
                blocks.append(_Block3d(cin, w, 1 if i == 0 else 2))
                cin = w
            self.stages = nn.Sequential(*blocks)
            self.head = nn.Linear(cin, dim)
            reset_all_parameters(self)
        if weights is not None:
            load_weights(self, weights)

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "volume_shape": self.volume_shape, "widths": self.widths,
                "normalize": self.normalize, "window_range": self.window_range,
                "volume_index": self.volume_index}

    def prepare(self, item: Any) -> torch.Tensor:
        """Path (NIfTI, DICOM folder/file) or ``[D, H, W]`` array -> ``[1, *volume_shape]``."""
        if isinstance(item, (str, os.PathLike)):
            vol, _ = read_volume(item, volume_index=self.volume_index)
            vol = check_volume(vol, str(item))
        else:
            vol = check_volume(item, "volume array")
        if self.window_range is not None:
            vol = window(vol, *self.window_range)
        vol = resample_volume(vol, shape=self.volume_shape)
        if self.normalize is not None:
            vol = normalize_intensity(vol, self.normalize)
        return torch.from_numpy(vol)[None]

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """``[b, 1, D, H, W]`` -> ``[b, dim]``."""
        if not torch.is_tensor(batch) or batch.ndim != 5 or batch.shape[1] != 1:
            shape = tuple(batch.shape) if torch.is_tensor(batch) else type(batch).__name__
            raise InputError(f"volume_cnn: batch of shape {shape}; expected [b, 1, D, H, W]")
        return self.head(self.stages(self.stem(batch)).mean(dim=(2, 3, 4)))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, volume_shape={self.volume_shape}"
