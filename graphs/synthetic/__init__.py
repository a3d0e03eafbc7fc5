"""Synthetic multimodal cohort with planted, documented truth: the toolkit's demo data.

``generate_cohort`` simulates patients, visits, diagnoses (real ICD-10-CM FY2026 leaf
codes), medications (RxNorm ingredients), procedures, labs (LOINC), notes and
references to raw images, ECGs and genomes, which ``render_*`` / ``resolve`` recreate on
demand. The mechanisms that make multimodal data plus a knowledge graph beat any single
modality, and the table of which modality shows which condition, are in
``MECHANISMS.md`` next to this file (also ``cohort.mechanisms``).

Examples:
    >>> from graphs.synthetic import generate_cohort, render_images
    >>> cohort = generate_cohort(50, seed=0)
    >>> render_images(cohort, cohort.patient_ids[:2]).shape
    (2, 64, 64)
"""

from graphs.synthetic.catalog import (
    CONDITION_KEYS,
    CONDITIONS,
    Condition,
    conditions_table,
    leaves_table,
)
from graphs.synthetic.cohort import (
    DEFAULT_MISSING,
    SyntheticCohort,
    generate_cohort,
    mechanisms_text,
)
from graphs.synthetic.drugs import DRUGS, ddi_table, drugs_table
from graphs.synthetic.knowledge import knowledge_tables
from graphs.synthetic.measures import MEASURES
from graphs.synthetic.mimic import write_mimic3
from graphs.synthetic.modalities import (
    VISIBILITY,
    render_images,
    render_notes,
    render_sequences,
    render_signals,
    resolve,
    visibility_table,
)

__all__ = [
    "generate_cohort", "SyntheticCohort", "DEFAULT_MISSING", "mechanisms_text",
    "render_images", "render_signals", "render_sequences", "render_notes", "resolve",
    "VISIBILITY", "visibility_table", "knowledge_tables",
    "Condition", "CONDITIONS", "CONDITION_KEYS", "conditions_table", "leaves_table",
    "DRUGS", "drugs_table", "ddi_table", "MEASURES", "write_mimic3",
]
