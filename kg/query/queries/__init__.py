"""Named SPARQL queries shipped with provml (``*.rq`` files with a header)."""
