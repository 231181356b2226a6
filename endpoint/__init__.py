"""provml's web application: SPARQL endpoint, events API, linked-data pages and UI (Flask)."""
