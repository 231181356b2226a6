"""Store: where the quads live — the ``Store`` protocol and its backends.

:mod:`~provml.store.oxigraph` (embedded Oxigraph, on disk or in memory) and
:mod:`~provml.store.remote` (any SPARQL 1.1 server); :mod:`~provml.store.rdfio` reads RDF files and
:mod:`~provml.store.update_dataset` restricts an update's dataset.
"""
