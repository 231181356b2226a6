"""Linked data: resource pages at ``/id/…``, the ontologies at their IRIs, and the dataset's VoID description and dump."""
