"""ICD-10-CM reader: the real FY2026 tabular, checked against simple_icd_10_cm, and a
tiny invented tabular exercising the 7th-character and note rules."""

from __future__ import annotations

import collections
import time

import pandas as pd
import pytest

import ontologies
from ontologies.errors import DataNotFoundError, ParseError
from ontologies.icd10cm import EXTENSION_EXCEPTIONS, extract_references, load_icd10cm

# --------------------------------------------------------------------------- real data


def test_counts_match_the_fy2026_release(icd10cm):
    c = icd10cm.concepts
    assert len(c) == 98_505
    assert c["level"].value_counts().to_dict() == {
        "extension": 51_305, "subcategory": 44_963, "category": 1_918, "block": 297,
        "chapter": 22}
    assert c["id"].is_unique
    assert icd10cm.metadata["version"] == "FY2026"
    assert icd10cm.metadata["licence"] == "US public domain (CDC/NCHS)"
    icd10cm.validate()


def test_items_equal_simple_icd_10_cm(icd10cm, simple_icd):
    """Same multiset (and order) as get_all_codes once our ids are written its way."""
    def theirs(code: str, level: str) -> str:
        if level == "chapter":
            return str(int(code[2:]))  # CH04 -> "4"
        first, _, last = code.partition("-")
        return first if level == "block" and first == last else code  # B10-B10 -> "B10"

    c = icd10cm.concepts
    theirs_format = [theirs(code, level) for code, level in zip(c["code"], c["level"])]
    reference = simple_icd.get_all_codes(True)
    assert collections.Counter(theirs_format) == collections.Counter(reference)
    assert theirs_format == reference


def test_parents_and_labels_equal_simple_icd_10_cm(icd10cm, icd10cm_parent, simple_icd):
    c = icd10cm.concepts
    codes = c[~c["level"].isin(["chapter", "block"])].sample(3000, random_state=0)
    for curie, code, label in codes[["id", "code", "label"]].itertuples(index=False):
        assert simple_icd.get_description(code) == label
        parent = icd10cm_parent[curie].split(":")[1]
        expected = simple_icd.get_parent(code)
        assert parent == expected or parent == f"{expected}-{expected}", code


def test_e11_9_ancestor_chain(icd10cm_parent):
    chain = ["ICD10CM:E11.9"]
    while chain[-1] in icd10cm_parent:
        chain.append(icd10cm_parent[chain[-1]])
    assert chain == ["ICD10CM:E11.9", "ICD10CM:E11", "ICD10CM:E08-E13", "ICD10CM:CH04"]


def test_every_node_but_chapters_has_one_parent(icd10cm, icd10cm_parent):
    c = icd10cm.concepts
    isa = icd10cm.relations[icd10cm.relations["relation"] == "is_a"]
    assert isa["source"].is_unique
    assert set(isa["source"]) == set(c.loc[c["level"] != "chapter", "id"])
    assert isa["provenance"].eq("ICD-10-CM FY2026 tabular").all()


def test_columns_billable_semantic_type_chapter(icd10cm):
    c = icd10cm.concepts.set_index("id")
    assert c.loc["ICD10CM:E11.9", ["billable", "generated", "level"]].tolist() == \
        [True, False, "subcategory"]
    assert not c.loc["ICD10CM:E11", "billable"]
    assert not c.loc["ICD10CM:S00.00", "billable"]  # needs a 7th character
    assert c.loc["ICD10CM:I10", "billable"]  # a category that is a leaf
    assert c.loc["ICD10CM:E11.9", "chapter"] == "ICD10CM:CH04"
    assert c.loc["ICD10CM:E11.9", "block"] == "ICD10CM:E08-E13"
    groups = c["level"].isin(["chapter", "block"])
    assert (c.loc[groups, "semantic_type"] == "category").all()
    assert (c.loc[~groups, "semantic_type"] == "disease").all()
    assert not c.loc[groups, "billable"].any()


def test_seventh_character_extensions(icd10cm, icd10cm_parent):
    c = icd10cm.concepts.set_index("id")
    row = c.loc["ICD10CM:S00.00XA"]
    assert row["label"] == "Unspecified superficial injury of scalp, initial encounter"
    assert row["generated"] and row["billable"] and row["level"] == "extension"
    assert icd10cm_parent["ICD10CM:S00.00XA"] == "ICD10CM:S00.00"
    # a 3-character leaf is padded to 6 characters with X
    assert icd10cm_parent["ICD10CM:T66.XXXA"] == "ICD10CM:T66"
    # the S06 prose rule: only A after 6th character 7 or 8
    assert "ICD10CM:S06.1X7A" in c.index
    assert "ICD10CM:S06.1X7D" not in c.index and "ICD10CM:S06.1X8S" not in c.index
    assert "ICD10CM:S06.1X6D" in c.index


def test_extension_exception_is_still_stated_in_the_tabular():
    """If a new release drops or changes the S06 note, EXTENSION_EXCEPTIONS needs review."""
    from ontologies.icd10cm import tabular_path
    text = tabular_path().read_text(encoding="utf-8")
    assert "7th characters D and S do not apply to codes in category S06 with 6th " \
           "character 7" in text
    assert set(EXTENSION_EXCEPTIONS) == {("S06", "7"), ("S06", "8")}


def test_single_category_sections_get_a_range_id(icd10cm, icd10cm_parent):
    c = icd10cm.concepts.set_index("id")
    assert c.loc["ICD10CM:B10-B10", "level"] == "block"
    assert c.loc["ICD10CM:B10", "level"] == "category"
    assert icd10cm_parent["ICD10CM:B10"] == "ICD10CM:B10-B10"
    assert (c["level"] == "block").sum() == 297


def _edges(icd10cm, source, relation):
    r = icd10cm.relations
    return r[(r["source"] == source) & (r["relation"] == relation)]


def test_excludes1_edge_from_the_xml(icd10cm):
    e = _edges(icd10cm, "ICD10CM:E11", "excludes1").set_index("target")
    # <excludes1><note>type 1 diabetes mellitus (E10.-)</note> under E11
    assert e.loc["ICD10CM:E10", "note"] == "type 1 diabetes mellitus (E10.-)"
    assert {"ICD10CM:E08", "ICD10CM:E09", "ICD10CM:E13", "ICD10CM:O24.4",
            "ICD10CM:P70.2"} <= set(e.index)


def test_use_additional_code_edges(icd10cm):
    targets = set(_edges(icd10cm, "ICD10CM:E11", "use_additional_code")["target"])
    assert {"ICD10CM:Z79.4", "ICD10CM:Z79.84", "ICD10CM:Z79.85"} <= targets


def test_ranges_resolve_to_the_smallest_exact_cover(icd10cm):
    # exact block
    assert "ICD10CM:P70-P74" in set(_edges(icd10cm, "ICD10CM:CH04", "excludes1")["target"])
    # a chapter's whole range
    assert "ICD10CM:CH01" in set(_edges(icd10cm, "ICD10CM:CH06", "excludes2")["target"])
    # subcategories N18.1 .. N18.6 (N18.3 stands for its children N18.30 .. N18.32)
    n18 = set(_edges(icd10cm, "ICD10CM:E08.22", "use_additional_code")["target"])
    assert {f"ICD10CM:N18.{i}" for i in range(1, 7)} <= n18
    assert "ICD10CM:N18.30" not in n18 and "ICD10CM:N18" not in n18
    # categories O00-O07 (no block has exactly that range; O05/O06 do not exist)
    firsts = set(_edges(icd10cm, "ICD10CM:I50", "code_first")["target"])
    assert {"ICD10CM:O00", "ICD10CM:O04", "ICD10CM:O07", "ICD10CM:O08.8"} <= firsts
    assert "ICD10CM:O00-O08" not in firsts and "ICD10CM:O08" not in firsts


def test_note_edges_only_point_to_existing_nodes(icd10cm, icd10cm_ids):
    r = icd10cm.relations
    for column in ("source", "target"):
        assert all(x in icd10cm_ids for x in r[column].to_numpy(dtype=object)), column
    notes = r[r["relation"] != "is_a"]
    assert (notes["source"] != notes["target"]).all()
    assert not notes.duplicated(["source", "relation", "target"]).any()
    assert notes["note"].notna().all() and r.loc[r["relation"] == "is_a", "note"].isna().all()
    counts = r["relation"].value_counts()
    assert counts["excludes1"] > 5000 and counts["code_also"] > 400
    assert icd10cm.metadata["unresolved_references"] < 10  # e.g. G31.90, not in the release


def test_registered_reader():
    assert {"icd10cm", "icd9cm", "gem_9to10", "gem_10to9", "ccs", "ccsr"} <= \
        set(ontologies.available())


@pytest.mark.slow
def test_load_time_budget():
    load_icd10cm()  # warm the file cache
    start = time.process_time()
    load_icd10cm()
    assert time.process_time() - start < 3.0  # ~0.8 s CPU measured; generous for CI


# ------------------------------------------------------------------- reference parsing


def test_extract_references_patterns():
    notes = pd.Series(["diabetes (E08-E13)", "insulin (Z79.4)", "(T41.- with fifth character 5)",
                       "vitamin B12 deficiency anemia (D51.-)", "see I10", "no code",
                       "(N18.1-N18.6, E16.A-)", "C7A.092 and (C7A.010)"], index=list("abcdefgh"))
    refs = extract_references(notes)
    assert refs.index.tolist() == list("abcdeggh")
    assert refs.fillna("").values.tolist() == [
        ["E08", "E13"], ["Z79.4", ""], ["T41", ""], ["D51", ""], ["I10", ""],
        ["N18.1", "N18.6"], ["E16.A", ""], ["C7A.010", ""]]


# ------------------------------------------------------------------ tiny invented file

TINY = """<?xml version="1.0" encoding="utf-8"?>
<ICD10CM.tabular>
  <version>2099</version>
  <introduction><introSection type="title"><title>test</title></introSection></introduction>
  <chapter>
    <name>19</name>
    <desc>Invented injuries (S00-S09)</desc>
    <sectionIndex><sectionRef first="S00" last="S06" id="S00-S06">x</sectionRef></sectionIndex>
    <section id="S00-S06">
      <desc>Injuries of the head (S00-S06)</desc>
      <diag>
        <name>S00</name>
        <desc>Surface injury of head</desc>
        <sevenChrDef>
          <extension char="A">initial encounter</extension>
          <extension char="S">sequela</extension>
          <note>late effect</note>
        </sevenChrDef>
        <excludes1><note>brain injury (S06.-)</note></excludes1>
        <diag><name>S00.0</name><desc>Surface injury of scalp</desc></diag>
        <diag>
          <name>S00.1</name><desc>Bruise of eyelid</desc>
          <diag><name>S00.10</name><desc>Bruise of eyelid, unspecified</desc></diag>
        </diag>
      </diag>
      <diag>
        <name>S06</name>
        <desc>Brain injury</desc>
        <sevenChrDef>
          <extension char="A">initial encounter</extension>
          <extension char="D">subsequent encounter</extension>
        </sevenChrDef>
        <codeAlso><note>any surface injury (S00.0-S00.1)</note></codeAlso>
        <diag><name>S06.0X7</name><desc>Brain injury with death</desc></diag>
      </diag>
    </section>
    <section id="S09">
      <desc>Single category block (S09)</desc>
      <diag><name>S09</name><desc>Other injury of head</desc>
        <useAdditionalCode><note>code for the injury (S00-S06) or (S09)</note></useAdditionalCode>
      </diag>
    </section>
  </chapter>
</ICD10CM.tabular>
"""


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("icd10cm") / "tabular.xml"
    path.write_text(TINY, encoding="utf-8")
    return load_icd10cm(path)


def test_tiny_tree_and_extensions(tiny):
    c = tiny.concepts.set_index("code")
    assert c.index.tolist() == [
        "CH19", "S00-S06", "S00", "S00.0", "S00.0XXA", "S00.0XXS", "S00.1", "S00.10",
        "S00.10XA", "S00.10XS", "S06", "S06.0X7", "S06.0X7A", "S09-S09", "S09"]
    assert c.loc["S00.0XXS", "label"] == "Surface injury of scalp, sequela/late effect"
    assert c.loc["S06.0X7", "billable"] == False  # noqa: E712  (numpy bool)
    assert c.loc["S09", "billable"] and not c.loc["S09", "generated"]
    assert tiny.metadata["version"] == "FY2099"
    assert tiny.metadata["concepts_by_level"] == {
        "chapter": 1, "block": 2, "category": 3, "subcategory": 4, "extension": 5}


def test_tiny_note_edges(tiny):
    r = tiny.relations
    notes = r[r["relation"] != "is_a"]
    assert notes[["source", "relation", "target"]].values.tolist() == [
        ["ICD10CM:S00", "excludes1", "ICD10CM:S06"],
        ["ICD10CM:S06", "code_also", "ICD10CM:S00.0"],
        ["ICD10CM:S06", "code_also", "ICD10CM:S00.1"],
        ["ICD10CM:S09", "use_additional_code", "ICD10CM:S00-S06"],
    ]  # (S09) names its own node: self-references are dropped


def test_malformed_xml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text("<ICD10CM.tabular>\n<chapter>\n<name>1</name>\n</ICD10CM.tabular>\n")
    with pytest.raises(ParseError) as info:
        load_icd10cm(path)
    assert str(path) in str(info.value) and info.value.line == 4


def test_entity_declarations_are_refused(tmp_path):
    path = tmp_path / "bomb.xml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY a "aaaaaaaa">'
                    '<!ENTITY b "&a;&a;&a;&a;">]>\n<ICD10CM.tabular>&b;</ICD10CM.tabular>')
    with pytest.raises(ParseError, match="forbidden"):
        load_icd10cm(path)


def test_wrong_root_missing_file_and_empty_tabular(tmp_path):
    other = tmp_path / "other.xml"
    other.write_text("<root/>")
    with pytest.raises(ParseError, match="expected <ICD10CM.tabular>"):
        load_icd10cm(other)
    empty = tmp_path / "empty.xml"
    empty.write_text("<ICD10CM.tabular><version>1</version></ICD10CM.tabular>")
    with pytest.raises(ParseError, match="no <chapter>"):
        load_icd10cm(empty)
    with pytest.raises(DataNotFoundError):
        load_icd10cm(tmp_path / "missing.xml")
