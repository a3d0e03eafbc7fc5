"""The one exception tree of medkg.

Every layer (``ontologies``, ``kg``, ``graphs``, ``gnn``) raises these, so a user can
catch :class:`MedKGError` for anything the toolkit rejects. Messages name the offending
value and what was expected.

Examples:
    >>> try:
    ...     raise UnknownCodeError("ICD10CM:Z99.999", "a code of ICD-10-CM FY2026")
    ... except KeyError as err:
    ...     print(err)
    unknown code 'ICD10CM:Z99.999': expected a code of ICD-10-CM FY2026
"""

from __future__ import annotations

__all__ = [
    "MedKGError",
    "SchemaError",
    "DuplicateIdError",
    "ParseError",
    "UnknownCodeError",
    "UnknownNameError",
    "DataNotFoundError",
    "ConfigError",
    "InputError",
]


class MedKGError(Exception):
    """Base class of every error medkg raises on purpose."""


class SchemaError(MedKGError, ValueError):
    """A table or tensor has missing/extra columns, wrong types or wrong shape."""


class DuplicateIdError(SchemaError):
    """An identifier that must be unique occurs more than once."""


class ParseError(MedKGError, ValueError):
    """A file could not be read; the message names the file and line/row where known.

    Args:
        message: What is wrong and what was expected.
        path: The offending file, if any.
        line: 1-based line (or row) number, if known.
    """

    def __init__(self, message: str, path: object | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)

    def __reduce__(self) -> tuple:
        return type(self), (self.message, self.path, self.line)


class UnknownCodeError(MedKGError, KeyError):
    """A code or identifier is not in the vocabulary it was looked up in.

    Args:
        code: The offending code.
        expected: What a valid value looks like.
    """

    def __init__(self, code: object, expected: str = "a known code"):
        self.code = code
        self.expected = expected
        super().__init__(code)

    def __str__(self) -> str:  # KeyError would print only repr(code)
        return f"unknown code {self.code!r}: expected {self.expected}"

    def __reduce__(self) -> tuple:  # survive pickling (e.g. back from a worker process)
        return type(self), (self.code, self.expected)


class UnknownNameError(MedKGError, KeyError):
    """A registry lookup used a name that is not registered.

    Args:
        kind: What kind of thing was looked up ("ontology", "encoder", ...).
        name: The offending name.
        choices: The valid names.
    """

    def __init__(self, kind: str, name: object, choices: list[str]):
        self.kind = kind
        self.name = name
        self.choices = list(choices)
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.name!r}: expected one of {', '.join(self.choices)}"

    def __reduce__(self) -> tuple:
        return type(self), (self.kind, self.name, self.choices)


class DataNotFoundError(MedKGError, FileNotFoundError):
    """A file or folder the user pointed to (or a packaged data file) is missing."""


class ConfigError(MedKGError, ValueError):
    """A configuration value is out of range or inconsistent."""


class InputError(MedKGError, ValueError):
    """A raw input (image, signal, sequence, text, tensor) is empty, corrupt or mis-shaped."""
