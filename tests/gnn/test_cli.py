"""The medkg command line: kg build/stats, and clean one-line errors."""

import pytest

from gnn.cli import main


@pytest.fixture(scope="module")
def kg_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "kg"
    assert main(["kg", "build", "--out", str(out)]) == 0
    return out


def test_kg_build_prints_icd10cm_statistics(kg_folder, capsys):
    assert main(["kg", "stats", str(kg_folder)]) == 0
    text = capsys.readouterr().out
    assert "98505" in text  # the full FY2026 tabular list
    assert "excludes1" in text and "is_a" in text


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main(["kg", "stats", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medkg: error:") and "Traceback" not in err
    assert main(["kg", "build", "--sources", "icd11", "--out", str(tmp_path / "x")]) == 2
    assert "expected one of" in capsys.readouterr().err
