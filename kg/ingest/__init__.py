"""Ingest: events and specs become validated PROV-ML quads, in the pipeline's real order.

check (:mod:`provml.events`) → :mod:`~provml.ingest.translation` (with :mod:`~provml.ingest.iris`
and :mod:`~provml.ingest.spec`) → :mod:`~provml.ingest.enrichment` (the ontology's class closure) →
:mod:`~provml.ingest.validation` (SHACL) → the store (one transaction). :mod:`~provml.ingest.loader`
feeds spools and RDF files through it batch by batch; :mod:`provml.knowledge` ties it to a store.
:mod:`~provml.ingest.reasoner` (HermiT, Java) is for ontology work and the tests, never run at ingest.
"""
