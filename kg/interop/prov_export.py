"""PROV-JSON, PROV-N and PROV-XML exports, written by the W3C-listed ``prov`` package.

The instance graphs (not the ontology graphs: they hold OWL axioms, not provenance) are read
by ``prov``'s own PROV-O reader from TriG; each named graph becomes a PROV bundle. ``prov`` then
writes the PROV serialisation. What PROV cannot say is lost: OWL classes beyond PROV's own
become ``prov:type`` attributes, and statements whose subject is a blank node are dropped by
``prov``'s reader (docs/interop.md).
"""

from __future__ import annotations

import warnings
from typing import Any

from provml.errors import MissingExtra

__all__ = ["PROV_FORMATS", "export_prov", "prov_document"]

#: export format name -> the ``prov`` package's serializer name
PROV_FORMATS = {"prov-json": "json", "prov-n": "provn", "prov-xml": "xml"}


def _prov() -> Any:
    try:
        import prov.model
    except ImportError as error:  # pragma: no cover - the dev extra installs it
        raise MissingExtra(feature="PROV exports and imports", package="prov", extra="interop") from error
    return prov.model


def prov_document(kg: Any) -> Any:
    """The instance graphs of ``kg`` as a ``prov.model.ProvDocument`` (one bundle per graph).

    :raises provml.errors.MissingExtra: the ``prov`` package is not installed.
    """
    from pyoxigraph import DefaultGraph, NamedNode

    from provml.knowledge import ONTOLOGY_GRAPHS
    from provml.query.serialization import serialize_quads

    model = _prov()
    skip = set(ONTOLOGY_GRAPHS)
    quads = [q for q in kg.store.quads() if q.graph_name not in skip]
    in_default = [q for q in quads if isinstance(q.graph_name, DefaultGraph)]
    named = [q for q in quads if isinstance(q.graph_name, NamedNode)]
    trig = serialize_quads([*in_default, *named], "trig", base=kg.base)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # prov warns about every OWL type it keeps as prov:type
        return model.ProvDocument.deserialize(content=trig.decode("utf-8"), format="rdf",
                                              rdf_format="trig")


def export_prov(kg: Any, format: str) -> bytes:
    """The instance graphs of ``kg`` as PROV-JSON, PROV-N or PROV-XML.

    :param format: ``prov-json``, ``prov-n`` or ``prov-xml``.
    :raises ValueError: another format name.
    :raises provml.errors.MissingExtra: the ``prov`` package is not installed.
    """
    if format not in PROV_FORMATS:
        raise ValueError(f"unknown PROV format {format!r}; choose one of {', '.join(PROV_FORMATS)}")
    document = prov_document(kg)
    text = document.serialize(format=PROV_FORMATS[format])
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)
