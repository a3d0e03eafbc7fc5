"""Patients, encoders and the merged knowledge + patient graph."""

__all__: list[str] = []
