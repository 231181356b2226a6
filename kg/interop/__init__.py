"""Moving provenance between provml and other tools (docs/interop.md).

Exports (:mod:`.prov_export`: PROV-JSON, PROV-N, PROV-XML with the W3C ``prov`` package;
:mod:`.rocrate_export`: an RO-Crate with ``rocrate``) read the store; imports
(:mod:`.prov_import`, :mod:`.mlflow_import`, :mod:`.flowcept_import`) turn other tools' records
into capture events of the wire format (``provml.events``) that go through the normal ingest
pipeline (check, translate, enrich, validate). This layer sits above ``ingest`` and ``query``;
the heavy libraries are imported inside the functions that need them.
"""
