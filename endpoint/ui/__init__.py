"""The web UI: pages for people (home overview, query editor, run comparison, lineage) and their JSON twins."""
