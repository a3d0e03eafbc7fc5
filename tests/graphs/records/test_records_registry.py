"""Reader registry and the shared normalisers."""

import pandas as pd
import pytest

from graphs.records import READERS, read_records
from graphs.records.normalise import name_curies, ndc_curies, sex_codes
from ontologies.errors import UnknownNameError


def test_all_formats_are_registered():
    assert READERS.names() == ["fhir", "mimic3", "mimic4", "omop"]
    with pytest.raises(UnknownNameError, match="expected one of fhir, mimic3, mimic4, omop"):
        read_records("cerner", ".")


def test_normalisers():
    assert sex_codes(pd.Series(["Female", "M", "other", None])).tolist() == ["F", "M", "U", "U"]
    assert ndc_curies(pd.Series(["409490234.0", "000000000", "123456789012", "4-4902-34"])) \
        .tolist() == ["NDC:00409490234", pd.NA, pd.NA, "NDC:00004490234"]
    assert name_curies(pd.Series(["R69X"]), "SRC", lower=False).tolist() == ["SRC:R69X"]
