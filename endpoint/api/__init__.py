"""The JSON APIs: ``/api/events`` (the capture client's HTTP sink) and ``/api/queries`` (named queries)."""
