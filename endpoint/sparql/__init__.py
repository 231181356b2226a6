"""The SPARQL 1.1 protocols: query and update (``/sparql``), the Graph Store (``/store``), the service description, result writers, and evaluation under limits."""
