"""The project's exceptions keep their fields through pickling (worker processes)."""

import pickle

from ontologies.errors import ParseError, UnknownCodeError, UnknownNameError


def test_errors_survive_pickling_with_their_fields():
    code = pickle.loads(pickle.dumps(UnknownCodeError("X:1", "a KG code")))
    assert (code.code, code.expected) == ("X:1", "a KG code")
    assert str(code) == "unknown code 'X:1': expected a KG code"
    name = pickle.loads(pickle.dumps(UnknownNameError("encoder", "nope", ["text", "image"])))
    assert (name.kind, name.name, name.choices) == ("encoder", "nope", ["text", "image"])
    parse = pickle.loads(pickle.dumps(ParseError("bad row", path="f.csv", line=3)))
    assert str(parse) == "f.csv:3: bad row" and (parse.path, parse.line) == ("f.csv", 3)
