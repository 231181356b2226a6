"""Query: reading the knowledge graph — named queries (Q1–Q7 and provml's own), describe, lineage, stats, export, tables."""
