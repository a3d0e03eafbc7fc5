"""Guarded DICOM access: pydicom's own exceptions become :class:`ParseError`.

pydicom decodes elements lazily, so a malformed file can fail when it is opened *or*
when a single element is first read (an unknown VR, a value of the wrong length, text
where a number belongs). Every DICOM reader of :mod:`graphs.encoders` opens files with
:func:`dcmread` and reads header values with :func:`element`, :func:`numbers`,
:func:`number` and :func:`integer`, so each such failure names the file and the tag.

Messages show a value only for the numeric elements read here (spacings, window,
rescale, counts); text elements of a DICOM header may hold patient names, identifiers or
dates, which must not appear in errors or logs.

Examples:
    >>> from pydicom.data import get_testdata_file
    >>> ds = dcmread(get_testdata_file("CT_small.dcm"))
    >>> numbers(ds, "PixelSpacing"), integer(ds, "NumberOfFrames", default=1)
    ((0.661468, 0.661468), 1)
    >>> ds.PixelSpacing = [0, 0.5]
    >>> numbers(ds, "PixelSpacing", positive=True)
    Traceback (most recent call last):
    ...
    ontologies.errors.ParseError: PixelSpacing (0028,0030) value 0.0 is not a positive number
"""

from __future__ import annotations

import math
import os
import struct
from typing import Any

from ontologies.errors import ParseError

__all__ = ["DICOM_ERRORS", "dcmread", "element", "numbers", "number", "integer", "tag_name"]


def _pydicom_errors() -> tuple[type[BaseException], ...]:
    from pydicom.errors import BytesLengthException, InvalidDicomError

    # EOF/struct: truncation; NotImplementedError: unknown VR or transfer syntax;
    # BytesLengthException: a value whose length does not fit its VR; the rest: garbage
    # bytes met by pydicom's parsers and converters.
    return (InvalidDicomError, BytesLengthException, NotImplementedError, EOFError,
            struct.error, OSError, ValueError, KeyError, TypeError, IndexError,
            AttributeError, OverflowError)


#: What pydicom raises on malformed files and element values.
DICOM_ERRORS: tuple[type[BaseException], ...] = _pydicom_errors()


def dcmread(path: str | os.PathLike, **kwargs: Any) -> Any:
    """``pydicom.dcmread(path)``; a malformed file raises :class:`ParseError` naming it.

    Args:
        path: The file.
        **kwargs: Passed to :func:`pydicom.dcmread` (e.g. ``stop_before_pixels``).
    """
    import pydicom

    try:
        return pydicom.dcmread(path, **kwargs)
    except DICOM_ERRORS as err:
        raise ParseError(f"not a readable DICOM file ({type(err).__name__}: {err})",
                         path) from err


def tag_name(keyword: str) -> str:
    """``"PixelSpacing (0028,0030)"``: a keyword with its tag, for messages.

    Examples:
        >>> tag_name("Modality")
        'Modality (0008,0060)'
    """
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    return keyword if tag is None else f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def element(ds: Any, keyword: str, path: str | os.PathLike | None = None) -> Any:
    """The value of ``keyword`` in ``ds``, or None when it is absent or empty.

    Raises:
        ParseError: pydicom cannot decode the element (names ``path`` and the tag; the
            value itself is not shown, as it may be identifying text).
    """
    try:
        value = ds.get(keyword)
    except DICOM_ERRORS as err:
        raise ParseError(f"cannot decode DICOM element {tag_name(keyword)} "
                         f"({type(err).__name__}); expected a valid value", path) from err
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        return None
    try:
        if len(value) == 0:
            return None
    except TypeError:  # numbers have no length
        pass
    return value


def numbers(ds: Any, keyword: str, path: str | os.PathLike | None = None, *,
            positive: bool = False) -> tuple[float, ...] | None:
    """All values of a numeric element (DS/IS/US/FL...) as floats, or None if absent.

    Args:
        ds: A pydicom dataset.
        keyword: The element's keyword.
        path: The file, for messages.
        positive: Also require every value to be finite and > 0 (spacings, sizes).

    Raises:
        ParseError: A value is not a number (or, with ``positive``, not > 0).
    """
    value = element(ds, keyword, path)
    if value is None:
        return None
    scalar = isinstance(value, (str, bytes)) or not hasattr(value, "__iter__")
    items = [value] if scalar else list(value)  # MultiValue -> its items
    out = []
    for item in items:
        try:
            number_ = float(item)
        except (TypeError, ValueError, OverflowError) as err:
            raise ParseError(f"{tag_name(keyword)} value {_show(item)} is not a number", path
                             ) from err
        if positive and not (math.isfinite(number_) and number_ > 0):
            raise ParseError(f"{tag_name(keyword)} value {number_!r} is not a positive number",
                             path)
        out.append(number_)
    return tuple(out)


def number(ds: Any, keyword: str, path: str | os.PathLike | None = None) -> float | None:
    """The first value of a numeric element (e.g. one of several WindowCenter values).

    Raises:
        ParseError: The value is not a number.
    """
    values = numbers(ds, keyword, path)
    return values[0] if values else None


def integer(ds: Any, keyword: str, path: str | os.PathLike | None = None, *,
            default: int, minimum: int = 0) -> int:
    """An integer element (IS/US), ``default`` when absent.

    Raises:
        ParseError: The value is not an integer >= ``minimum``.
    """
    value = element(ds, keyword, path)
    if value is None:
        return default
    try:
        as_float = float(value)
        out = int(as_float)
        if out != as_float:
            raise ValueError("fractional")
    except (TypeError, ValueError, OverflowError) as err:
        raise ParseError(f"{tag_name(keyword)} value {_show(value)} is not an integer", path
                         ) from err
    if out < minimum:
        raise ParseError(f"{tag_name(keyword)} value {out} is below {minimum}", path)
    return out


def _show(value: Any) -> str:
    """A short repr of a value met where a number belongs (only such values are shown)."""
    text = repr(value if not isinstance(value, bytes) else value[:20])
    return text if len(text) <= 40 else text[:37] + "..."
