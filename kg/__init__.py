"""The typed medical knowledge graph (tables; networkx and rdflib views)."""

__all__: list[str] = []
