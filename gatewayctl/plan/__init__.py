"""The plan stage: desired entities (rendered from the catalog) against live owned entities -> changes."""
