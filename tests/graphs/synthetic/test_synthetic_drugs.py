"""Drugs, prescribing rules and the DDI table."""

from graphs.synthetic.catalog import CONDITION_KEYS
from graphs.synthetic.drugs import DDI, DRUGS, TREATMENTS, ddi_table, drugs_table

# RxNorm ingredient CUIs the brief listed (and the catalogue uses)
EXPECTED = {"metformin": "6809", "insulin_glargine": "274783", "lisinopril": "29046",
            "amlodipine": "17767", "atorvastatin": "83367", "simvastatin": "36567",
            "aspirin": "1191", "clopidogrel": "32968", "warfarin": "11289",
            "apixaban": "1364430", "furosemide": "4603", "metoprolol": "6918",
            "albuterol": "435", "tiotropium": "69120", "fluticasone": "41126",
            "amoxicillin": "723", "azithromycin": "18631", "sertraline": "36437",
            "fluoxetine": "4493", "escitalopram": "321988", "buspirone": "1827"}


def test_rxcuis():
    for key, cui in EXPECTED.items():
        assert DRUGS[key].rxcui == cui
    table = drugs_table()
    assert table["code"].str.match(r"^RXNORM:\d+$").all()
    assert table["code"].is_unique


def test_rules_reference_known_drugs_and_conditions():
    assert set(TREATMENTS) == set(CONDITION_KEYS)
    for lines in TREATMENTS.values():
        for line in lines:
            assert set(line.options) <= set(DRUGS)
            assert 0 < line.prob <= 1 and len(line.weights) == len(line.options)


def test_ddi_table():
    t = ddi_table()
    assert list(t.columns[:4]) == ["drug_a", "drug_b", "severity", "description"]
    assert t["severity"].between(0, 1).all()
    assert set(t["severity"]) <= {0.25, 0.5, 0.75, 1.0}
    pairs = {frozenset((a, b)) for a, b, *_ in DDI}
    assert len(pairs) == len(DDI)  # no duplicated unordered pair
    assert t["source"].str.contains("not clinical advice").all()
    warfarin_aspirin = t[(t.label_a == "warfarin") & (t.label_b == "aspirin")]
    assert warfarin_aspirin["severity"].item() >= 0.75
