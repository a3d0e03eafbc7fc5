"""Parsing RDF files with rdflib safely: one gate for every reader of RDF in medkg.

Used by :func:`ontologies.rdf.read_rdf` and :func:`kg.rdf_view.from_rdf`. RDF/XML (and
TriX) is first checked with :mod:`defusedxml`: DTD entity declarations and external
entities are refused, so a billion-laughs file cannot expand for minutes and an XXE file
cannot read local files (this also refuses Protégé-style ``<!ENTITY owl "...">`` headers:
convert such files to Turtle). Text formats must be UTF-8. Whatever rdflib raises on a
malformed file becomes a :class:`~ontologies.errors.ParseError` naming the file (and the
line where the parser gives one).

Examples:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "bomb.owl"
    >>> _ = p.write_text('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>')
    >>> parse_rdf(p, "xml")
    Traceback (most recent call last):
    ...
    ontologies.errors.ParseError: ...bomb.owl: refused unsafe XML (EntitiesForbidden...
"""

from __future__ import annotations

import xml.sax
from pathlib import Path

import defusedxml
import defusedxml.sax
import rdflib
from rdflib.exceptions import ParserError as RdflibParserError
from rdflib.plugin import PluginException
from rdflib.plugins.parsers.notation3 import BadSyntax

from ontologies.errors import ConfigError, ParseError

__all__ = ["XML_FORMATS", "check_xml", "parse_rdf"]

#: rdflib format names whose parser reads XML (checked by :func:`check_xml` first).
XML_FORMATS = frozenset({"xml", "pretty-xml", "application/rdf+xml", "trix"})


def check_xml(data: bytes, path: str | Path | None = None) -> None:
    """Raises ParseError unless ``data`` is well-formed XML without entity declarations.

    Args:
        data: The document's bytes.
        path: The file, for messages.

    Examples:
        >>> check_xml(b'<r a="1"><c/></r>')
        >>> check_xml(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
        Traceback (most recent call last):
        ...
        ontologies.errors.ParseError: refused unsafe XML (EntitiesForbidden...
    """
    try:
        defusedxml.sax.parseString(data, xml.sax.ContentHandler(), forbid_dtd=False,
                                   forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as err:
        raise ParseError(f"refused unsafe XML ({type(err).__name__}: {err}); entity "
                         "declarations and external references are not accepted", path) \
            from err
    except xml.sax.SAXParseException as err:
        raise ParseError(f"malformed XML: {err.getMessage()}", path,
                         err.getLineNumber()) from err


def parse_rdf(path: Path, fmt: str, *, store: str = "default") -> rdflib.Graph:
    """Parses an RDF file with rdflib after the safety checks; errors become ParseError.

    Args:
        path: The file.
        fmt: rdflib format name (``"turtle"``, ``"xml"``, ``"nt"``, ``"n3"``, ...).
        store: rdflib store plugin of the new graph (``"SimpleMemory"`` fills faster).

    Returns:
        A new graph with rdflib's core prefixes bound.

    Raises:
        ParseError: Unsafe or malformed XML, text that is not UTF-8, or a syntax error
            (with the line where rdflib gives one).
        ConfigError: rdflib has no parser for ``fmt``.
    """
    path = Path(path)
    data = path.read_bytes()
    if fmt in XML_FORMATS:
        check_xml(data, path)
    else:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ParseError(f"not UTF-8 ({err.reason}): {fmt} files are UTF-8", path,
                             data.count(b"\n", 0, err.start) + 1) from err
    graph = rdflib.Graph(store=store, bind_namespaces="core")
    try:
        graph.parse(data=data, format=fmt, publicID=path.resolve().as_uri())
    except PluginException as err:
        raise ConfigError(f"no RDF parser for format {fmt!r} ({err})") from err
    except BadSyntax as err:
        raise ParseError(f"bad {fmt} syntax: {err._why}", path, err.lines + 1) from err
    except (RdflibParserError, xml.sax.SAXParseException) as err:
        raise ParseError(f"bad {fmt} content: {err}", path) from err
    except (AssertionError, IndexError, AttributeError, KeyError, TypeError, ValueError,
            RecursionError) as err:  # rdflib's parsers leak these on truncated input, '?x'
        # variables, a lone quote (notation3 checks syntax with assert), ...
        raise ParseError(f"cannot parse as {fmt}: truncated or unsupported input "
                         f"({type(err).__name__}: {err})", path) from err
    return graph
