"""Prediction tasks: comorbidity and treatment, with leak-free inputs and patient splits."""

from gnn.tasks.base import TASKS, TaskData, get, patient_split
from gnn.tasks.comorbidity import comorbidity_task
from gnn.tasks.cutoff import cut_at_last_visit, drop_rows
from gnn.tasks.labels import GRANULARITIES, group_codes
from gnn.tasks.treatment import treatment_task

__all__ = ["TASKS", "TaskData", "get", "patient_split", "comorbidity_task", "treatment_task",
           "cut_at_last_visit", "drop_rows", "GRANULARITIES", "group_codes"]
