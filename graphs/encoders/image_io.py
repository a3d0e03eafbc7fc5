"""2D medical image reading (DICOM, PNG/JPEG/TIFF/BMP) and preprocessing.

Readers return ``(array, metadata)``: a float32 numpy array ``[H, W]`` (grayscale) or
``[H, W, C]`` (colour), in physical units where the file defines them (CT in Hounsfield
units after RescaleSlope/Intercept), plus a metadata dict with the same keys for every
format (see :func:`read_image`). Preprocessing functions take and return such arrays;
:func:`prepare_image` chains them into the ``[C, H, W]`` tensor the 2D encoders eat.

Examples:
    >>> img = np.arange(16, dtype=np.float32).reshape(4, 4)
    >>> window(img, level=8, width=8)[1]
    array([0.   , 0.125, 0.25 , 0.375], dtype=float32)
    >>> resample(img, size=(2, 2)).shape
    (2, 2)
    >>> float(normalize_intensity(img, "minmax").max())
    1.0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from graphs.encoders import dicom_io
from ontologies.errors import ConfigError, DataNotFoundError, InputError, ParseError

__all__ = [
    "RASTER_SUFFIXES", "DICOM_SUFFIXES", "read_image", "read_dicom", "dicom_pixels",
    "dicom_metadata", "check_image", "window", "normalize_intensity", "resample", "augment",
    "to_chw", "prepare_image",
]

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
DICOM_SUFFIXES = (".dcm", ".dicom", ".dic", "")
_MULTIFRAME = ("first", "error", "all")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 grey from RGB


def _empty_meta(path: Path, fmt: str) -> dict[str, Any]:
    return {"path": str(path), "format": fmt, "modality": None, "pixel_spacing": None,
            "window_center": None, "window_width": None, "photometric": None,
            "rescale_slope": 1.0, "rescale_intercept": 0.0, "units": None, "n_frames": 1}


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def read_image(path: str | os.PathLike, *, multiframe: str = "first",
               mode: str = "auto") -> tuple[np.ndarray, dict[str, Any]]:
    """Reads one 2D image from DICOM or a raster format.

    Args:
        path: A ``.dcm`` file (or any file with the DICM preamble) or PNG/JPEG/TIFF/BMP.
        multiframe: For multi-frame DICOM: ``"first"`` frame, ``"error"`` (raise) or
            ``"all"`` (return ``[F, H, W(, C)]``).
        mode: ``"auto"`` keeps the file's grey/colour nature, ``"gray"`` converts to
            ``[H, W]``, ``"rgb"`` to ``[H, W, 3]``.

    Returns:
        ``(image, metadata)``. ``image`` is float32. ``metadata`` keys: ``path``,
        ``format``, ``modality``, ``pixel_spacing`` (row, column) mm or None,
        ``window_center``/``window_width`` (first header value) or None, ``photometric``,
        ``rescale_slope``/``rescale_intercept``, ``units`` ("HU" for CT) and ``n_frames``.

    Raises:
        DataNotFoundError: ``path`` does not exist.
        InputError: Unsupported format, or a multi-frame file with ``multiframe="error"``.
        ParseError: The file is corrupt or truncated (the message names it).

    Examples:
        >>> from pydicom.data import get_testdata_file
        >>> ct, meta = read_image(get_testdata_file("CT_small.dcm"))
        >>> ct.shape, meta["modality"], meta["units"]
        ((128, 128), 'CT', 'HU')
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"image file {str(path)!r} does not exist")
    if mode not in ("auto", "gray", "rgb"):
        raise ConfigError(f"mode must be 'auto', 'gray' or 'rgb', got {mode!r}")
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES and not _is_dicom(path):
        img, meta = _read_raster(path)
    elif suffix in DICOM_SUFFIXES or _is_dicom(path):
        img, meta = read_dicom(path, multiframe=multiframe)
    else:
        raise InputError(f"{str(path)!r}: unsupported image format {suffix!r}; expected "
                         f"DICOM ({', '.join(s for s in DICOM_SUFFIXES if s)}) or "
                         f"{', '.join(RASTER_SUFFIXES)}")
    return _to_mode(img, mode), meta


def _to_mode(img: np.ndarray, mode: str) -> np.ndarray:
    """Converts the trailing channel axis for ``mode`` (a frame axis may lead)."""
    colour = img.ndim >= 3 and img.shape[-1] in (3, 4)
    if mode == "auto" or (mode == "gray" and not colour):
        return img
    if mode == "gray":
        return np.ascontiguousarray(img[..., :3] @ _LUMA, dtype=np.float32)
    if colour:
        return np.ascontiguousarray(img[..., :3])
    return np.repeat(img[..., None], 3, axis=-1)


def _read_raster(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()  # decode now so truncation surfaces here, not later
            fmt = im.format or path.suffix.lstrip(".").upper()
            dpi = im.info.get("dpi")
            if im.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F"):
                arr = np.asarray(im).astype(np.float32)
            elif im.mode in ("LA",):
                arr = np.asarray(im.convert("L")).astype(np.float32)
            else:  # RGB, RGBA, P, CMYK, YCbCr, ... -> RGB (alpha dropped)
                arr = np.asarray(im.convert("RGB")).astype(np.float32)
            photometric = "MONOCHROME2" if arr.ndim == 2 else "RGB"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ParseError(f"not a readable image ({err}); expected a valid "
                         f"{path.suffix.lstrip('.').upper() or 'raster'} file", path) from err
    except Image.DecompressionBombError as err:
        raise InputError(f"{str(path)!r}: {err}") from err
    meta = _empty_meta(path, fmt)
    meta["photometric"] = photometric
    if dpi and all(float(d) > 0 for d in dpi[:2]):
        meta["pixel_spacing"] = (25.4 / float(dpi[1]), 25.4 / float(dpi[0]))
    return arr, meta


def dicom_metadata(ds: Any, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The metadata dict of :func:`read_image` from a pydicom dataset.

    Raises:
        ParseError: An element cannot be decoded, or a numeric one (PixelSpacing,
            WindowCenter, RescaleSlope, NumberOfFrames, ...) holds a value that is not a
            number; the message names ``path`` and the tag.

    Examples:
        >>> import pydicom
        >>> from pydicom.data import get_testdata_file
        >>> meta = dicom_metadata(pydicom.dcmread(get_testdata_file("MR_small.dcm")))
        >>> meta["modality"], meta["window_center"], meta["pixel_spacing"]
        ('MR', 600.0, (0.3125, 0.3125))
    """
    meta = _empty_meta(Path(path) if path is not None else Path(""), "DICOM")
    meta["path"] = None if path is None else str(path)
    meta["modality"] = _text(ds, "Modality", path)
    spacing = (dicom_io.numbers(ds, "PixelSpacing", path, positive=True)
               or dicom_io.numbers(ds, "ImagerPixelSpacing", path, positive=True))
    if spacing is not None and len(spacing) >= 2:
        meta["pixel_spacing"] = spacing[:2]
    meta["window_center"] = dicom_io.number(ds, "WindowCenter", path)
    meta["window_width"] = dicom_io.number(ds, "WindowWidth", path)
    meta["photometric"] = _text(ds, "PhotometricInterpretation", path)
    slope = dicom_io.number(ds, "RescaleSlope", path)
    intercept = dicom_io.number(ds, "RescaleIntercept", path)
    meta["rescale_slope"] = 1.0 if slope is None else slope
    meta["rescale_intercept"] = 0.0 if intercept is None else intercept
    rescale_type = _text(ds, "RescaleType", path)
    if meta["modality"] == "CT" and (slope is not None or intercept is not None):
        meta["units"] = "HU"
    elif rescale_type:
        meta["units"] = rescale_type
    meta["n_frames"] = dicom_io.integer(ds, "NumberOfFrames", path, default=1, minimum=1)
    return meta


def _text(ds: Any, keyword: str, path: str | os.PathLike | None) -> str | None:
    value = dicom_io.element(ds, keyword, path)
    return None if value is None else str(value)


def dicom_pixels(ds: Any, path: str | os.PathLike | None = None) -> np.ndarray:
    """Decoded pixels of a pydicom dataset in output units, float32.

    Applies the modality rescale (slope/intercept, giving Hounsfield units for CT),
    inverts MONOCHROME1 so higher always means brighter, and expands PALETTE COLOR to
    RGB. Shape: ``[H, W]``, ``[H, W, 3]`` or with a leading frame axis.

    Raises:
        ParseError: Missing/truncated pixel data, an undecodable transfer syntax, or a
            malformed element the decoding needs (names ``path`` and the tag).
    """
    from pydicom.pixels import apply_color_lut

    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ParseError("DICOM file has no pixel data (truncated, or not an image object)",
                         path)
    photometric = _text(ds, "PhotometricInterpretation", path) or "MONOCHROME2"
    try:
        raw = ds.pixel_array
        if photometric == "PALETTE COLOR":
            return apply_color_lut(raw, ds).astype(np.float32)
    except (RuntimeError, *dicom_io.DICOM_ERRORS) as err:
        raise ParseError(f"cannot decode DICOM pixel data ({type(err).__name__}: {err}); "
                         "expected uncompressed or a transfer syntax with an installed "
                         "decoder", path) from err
    arr = raw.astype(np.float32)
    if photometric == "MONOCHROME1":
        # Invert over the stored value range (not the image's), so it is data-independent.
        bits = dicom_io.integer(ds, "BitsStored", path, default=16, minimum=1)
        signed = dicom_io.integer(ds, "PixelRepresentation", path, default=0) == 1
        arr = (-1.0 - arr) if signed else (float(2 ** bits - 1) - arr)
    slope = dicom_io.number(ds, "RescaleSlope", path)
    intercept = dicom_io.number(ds, "RescaleIntercept", path)
    if slope is not None and slope != 1.0:
        arr *= np.float32(slope)
    if intercept:
        arr += np.float32(intercept)
    return arr


def read_dicom(path: str | os.PathLike, *, multiframe: str = "first"
               ) -> tuple[np.ndarray, dict[str, Any]]:
    """Reads one DICOM file; see :func:`read_image` for arguments and returns.

    Examples:
        >>> from pydicom.data import get_testdata_file
        >>> dose, meta = read_dicom(get_testdata_file("rtdose.dcm"), multiframe="all")
        >>> dose.shape, meta["n_frames"]
        ((15, 10, 10), 15)
    """
    if multiframe not in _MULTIFRAME:
        raise ConfigError(f"multiframe must be one of {_MULTIFRAME}, got {multiframe!r}")
    path = Path(path)
    ds = dicom_io.dcmread(path)
    meta = dicom_metadata(ds, path)
    arr = dicom_pixels(ds, path)
    samples = dicom_io.integer(ds, "SamplesPerPixel", path, default=1, minimum=1)
    colour = arr.shape[-1] in (3, 4) and (samples > 1 or meta["photometric"] == "PALETTE COLOR")
    spatial = arr.ndim - (1 if colour else 0)
    if spatial == 3:
        if multiframe == "error":
            raise InputError(f"{str(path)!r} holds {arr.shape[0]} frames; expected a single "
                             "frame (pass multiframe='first' or 'all')")
        if multiframe == "first":
            arr = arr[0]
    elif spatial != 2:
        raise ParseError(f"unexpected pixel array shape {arr.shape}; expected 2D frames", path)
    return np.ascontiguousarray(arr, dtype=np.float32), meta


def check_image(img: Any, name: str = "image") -> np.ndarray:
    """Validates an image array: ``[H, W]`` or channel-last ``[H, W, C]`` with C in 1/3/4.

    Returns it as float32 numpy; raises :class:`InputError` naming ``name`` otherwise.

    Examples:
        >>> check_image(np.zeros((2, 3, 3))).shape
        (2, 3, 3)
        >>> check_image(np.zeros((3, 8, 8)), "x")
        Traceback (most recent call last):
        ...
        ontologies.errors.InputError: x: shape (3, 8, 8) looks channel-first; ...
    """
    if torch.is_tensor(img):
        img = img.detach().cpu().numpy()
    try:
        arr = np.asarray(img, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name}: not a numeric array ({err})") from err
    expected = "expected [H, W] or channel-last [H, W, C] with C in (1, 3, 4)"
    if arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4):
        hint = " looks channel-first;" if arr.shape[0] in (1, 3, 4) else ""
        fix = " (use np.moveaxis(img, 0, -1))" if hint else ""
        raise InputError(f"{name}: shape {arr.shape}{hint} {expected}{fix}")
    if arr.ndim not in (2, 3):
        raise InputError(f"{name}: shape {arr.shape} has {arr.ndim} dims; {expected}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"{name}: empty image of shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return arr


def window(image: np.ndarray, level: float | None = None, width: float | None = None,
           metadata: Mapping[str, Any] | None = None) -> np.ndarray:
    """Clips to ``[level - width/2, level + width/2]`` and scales to ``[0, 1]``.

    ``level``/``width`` default to the header's WindowCenter/WindowWidth in ``metadata``
    (e.g. lung: -600/1500 HU; soft tissue: 40/400 HU).

    Examples:
        >>> window(np.array([-1000.0, 40.0, 1000.0]), level=40, width=400)
        array([0. , 0.5, 1. ], dtype=float32)
    """
    if level is None and metadata is not None:
        level = metadata.get("window_center")
    if width is None and metadata is not None:
        width = metadata.get("window_width")
    if level is None or width is None:
        raise ConfigError("window needs level and width (given, or WindowCenter/WindowWidth "
                          "in the DICOM header); none found")
    if not float(width) > 0:
        raise ConfigError(f"window width must be > 0, got {width!r}")
    lo = float(level) - float(width) / 2
    out = (np.asarray(image, dtype=np.float32) - lo) / float(width)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def normalize_intensity(img: np.ndarray, method: str = "zscore",
                        percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Rescales intensities over the whole image (all channels together).

    Args:
        img: Image array.
        method: ``"zscore"`` (mean 0, std 1), ``"minmax"`` (to [0, 1]) or
            ``"percentile"`` (clip to the given percentiles, then to [0, 1]; robust to
            a few hot pixels or metal).
        percentiles: Low/high percentiles for ``"percentile"``.

    A constant image maps to zeros rather than dividing by zero.

    Examples:
        >>> z = normalize_intensity(np.array([1.0, 2.0, 3.0]))
        >>> round(float(z.mean()), 6), round(float(z.std()), 6)
        (0.0, 1.0)
        >>> normalize_intensity(np.full((2, 2), 7.0), "minmax").tolist()
        [[0.0, 0.0], [0.0, 0.0]]
    """
    arr = np.asarray(img, dtype=np.float32)
    if method == "zscore":
        std = float(arr.std())
        return ((arr - arr.mean()) / std if std > 0 else np.zeros_like(arr)).astype(np.float32)
    if method == "minmax":
        lo, hi = float(arr.min()), float(arr.max())
    elif method == "percentile":
        p_lo, p_hi = percentiles
        if not 0 <= p_lo < p_hi <= 100:
            raise ConfigError(f"percentiles must satisfy 0 <= low < high <= 100, got "
                              f"{percentiles!r}")
        lo, hi = (float(v) for v in np.percentile(arr, [p_lo, p_hi]))
    else:
        raise ConfigError(f"normalize method must be 'zscore', 'minmax' or 'percentile', "
                          f"got {method!r}")
    if hi <= lo:
        return np.zeros_like(arr)
    return np.clip((arr - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def resample(img: np.ndarray, size: tuple[int, int] | None = None,
             spacing: tuple[float, float] | None = None,
             current_spacing: tuple[float, float] | None = None,
             mode: str = "bilinear") -> np.ndarray:
    """Resizes ``[H, W]``/``[H, W, C]`` to ``size`` pixels or to ``spacing`` mm/pixel.

    Uses :func:`torch.nn.functional.interpolate`, anti-aliased when shrinking
    (bilinear/bicubic) so downsampled images do not alias.

    Examples:
        >>> img = np.zeros((10, 20), dtype=np.float32)
        >>> resample(img, spacing=(1.0, 1.0), current_spacing=(0.5, 0.5)).shape
        (5, 10)
        >>> resample(np.zeros((4, 4, 3)), size=(8, 6)).shape
        (8, 6, 3)
    """
    arr = check_image(img, "resample input")
    if (size is None) == (spacing is None):
        raise ConfigError("resample needs exactly one of size=(H, W) or spacing=(mm, mm)")
    h, w = arr.shape[:2]
    if spacing is not None:
        if current_spacing is None:
            raise ConfigError("resample(spacing=...) needs current_spacing (e.g. "
                              "metadata['pixel_spacing'])")
        if min(spacing) <= 0 or min(current_spacing) <= 0:
            raise ConfigError(f"spacings must be > 0, got {spacing!r} and {current_spacing!r}")
        size = (max(1, round(h * current_spacing[0] / spacing[0])),
                max(1, round(w * current_spacing[1] / spacing[1])))
    size = (int(size[0]), int(size[1]))
    if min(size) < 1:
        raise ConfigError(f"target size must be positive, got {size!r}")
    if size == (h, w):
        return arr
    t = torch.from_numpy(arr if arr.ndim == 3 else arr[..., None]).permute(2, 0, 1)[None]
    antialias = mode in ("bilinear", "bicubic") and (size[0] < h or size[1] < w)
    kwargs = {} if mode in ("nearest", "area") else {"align_corners": False}
    out = F.interpolate(t, size=size, mode=mode, antialias=antialias, **kwargs)
    out = out[0].permute(1, 2, 0).numpy()
    return np.ascontiguousarray(out if arr.ndim == 3 else out[..., 0], dtype=np.float32)


def augment(img: np.ndarray, rng: np.random.Generator, *, flip: bool = True,
            rot90: bool = True, max_rotation: float = 10.0, max_scale: float = 0.1,
            max_shift: float = 0.05, intensity: float = 0.1) -> np.ndarray:
    """Random training-time augmentation; deterministic given ``rng``'s state.

    Random horizontal/vertical flips, a quarter turn (half turns only for non-square
    images, so the shape is kept), a small affine (rotation in degrees, scale, shift as a
    fraction of the size; border pixels repeat) and an intensity gain/offset jitter
    relative to the image's std. Use only when training; encoders never call it.

    Examples:
        >>> img = np.arange(12, dtype=np.float32).reshape(3, 4)
        >>> a = augment(img, np.random.default_rng(0))
        >>> b = augment(img, np.random.default_rng(0))
        >>> a.shape, bool(np.array_equal(a, b))
        ((3, 4), True)
    """
    arr = check_image(img, "augment input").copy()
    if flip and rng.random() < 0.5:
        arr = arr[:, ::-1]
    if flip and rng.random() < 0.5:
        arr = arr[::-1, :]
    if rot90:
        k = int(rng.integers(4)) if arr.shape[0] == arr.shape[1] else 2 * int(rng.integers(2))
        arr = np.rot90(arr, k=k, axes=(0, 1))
    arr = np.ascontiguousarray(arr)
    if max_rotation > 0 or max_scale > 0 or max_shift > 0:
        angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
        scale = rng.uniform(1 - max_scale, 1 + max_scale)
        tx, ty = rng.uniform(-max_shift, max_shift, size=2) * 2  # grid coords span [-1, 1]
        cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
        theta = torch.tensor([[[cos, -sin, tx], [sin, cos, ty]]], dtype=torch.float32)
        t = torch.from_numpy(arr if arr.ndim == 3 else arr[..., None]).permute(2, 0, 1)[None]
        grid = F.affine_grid(theta, list(t.shape), align_corners=False)
        t = F.grid_sample(t, grid, mode="bilinear", padding_mode="border", align_corners=False)
        out = t[0].permute(1, 2, 0).numpy()
        arr = out if arr.ndim == 3 else out[..., 0]
    if intensity > 0:
        gain = rng.uniform(1 - intensity, 1 + intensity)
        offset = rng.uniform(-intensity, intensity) * float(arr.std())
        arr = arr * gain + offset
    return np.ascontiguousarray(arr, dtype=np.float32)


def to_chw(img: np.ndarray, channels: int) -> torch.Tensor:
    """``[H, W]``/``[H, W, C]`` array -> float tensor ``[channels, H, W]``.

    Grey is repeated to 3 channels; colour becomes luminance for 1 channel; alpha is
    dropped.

    Examples:
        >>> to_chw(np.ones((2, 2, 3)), 1).shape, to_chw(np.ones((2, 2)), 3).shape
        (torch.Size([1, 2, 2]), torch.Size([3, 2, 2]))
    """
    arr = check_image(img)
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3:
        arr = arr[..., :3]
        arr = (arr @ _LUMA)[None] if channels == 1 else np.moveaxis(arr, -1, 0)
    else:
        arr = np.repeat(arr[None], channels, axis=0)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def prepare_image(item: Any, image_size: int | tuple[int, int], channels: int,
                  normalize: str | None = "zscore",
                  window_range: tuple[float, float] | str | None = None) -> torch.Tensor:
    """One raw image (path or array) -> float tensor ``[channels, H, W]`` for an encoder.

    Steps: read (paths), optional window (``(level, width)`` or ``"header"``), resize to
    ``image_size`` (aspect ratio is not kept), channel conversion, intensity normalisation.

    Examples:
        >>> prepare_image(np.random.default_rng(0).random((50, 40)), 32, 3).shape
        torch.Size([3, 32, 32])
    """
    meta: dict[str, Any] | None = None
    if isinstance(item, (str, os.PathLike)):
        img, meta = read_image(item)
        name = str(item)
    else:
        img, name = item, "image array"
    img = check_image(img, name)
    if window_range is not None:
        if window_range == "header":
            if meta is None or meta.get("window_center") is None:
                raise InputError(f"{name}: window_range='header' but the input has no "
                                 "WindowCenter/WindowWidth header")
            img = window(img, metadata=meta)
        else:
            img = window(img, *window_range)
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    img = resample(img, size=size)
    if normalize is not None:
        img = normalize_intensity(img, normalize)
    return to_chw(img, channels)
