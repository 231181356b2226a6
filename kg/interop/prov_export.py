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

    :raises ValueError: an IRI whose scheme is a prefix ``prov`` declares (``geo:60.1,2.5``).
    :raises provml.errors.MissingExtra: the ``prov`` package is not installed.
    """
    from pyoxigraph import DefaultGraph, NamedNode

    from provml.query.serialization import confused_with_prefix, ontology_prefixes, serialize_quads

    model = _prov()
    quads = _instance_quads(kg)
    confused = confused_with_prefix(quads, {*_rdflib_prefixes(), *ontology_prefixes(), "id"})
    if confused:  # (written as a qualified name, it came back as another IRI: a review, 27th session)
        raise ValueError(
            f"cannot write PROV: the IRI <{confused}> would be written as a qualified name of the "
            f"prefix {confused.partition(':')[0]!r} and read back as another IRI; export as N-Quads or "
            "TriG, which keep it")
    in_default = [q for q in quads if isinstance(q.graph_name, DefaultGraph)]
    named = [q for q in quads if isinstance(q.graph_name, NamedNode)]
    trig = serialize_quads([*in_default, *named], "trig", base=kg.base)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # prov warns about every OWL type it keeps as prov:type
        return model.ProvDocument.deserialize(content=trig.decode("utf-8"), format="rdf",
                                              rdf_format="trig")


def _rdflib_prefixes() -> set[str]:
    """The prefixes ``prov``'s reader declares whatever the data (rdflib's defaults: ``geo``,
    ``time``, ``schema`` ...)."""
    import rdflib

    return {prefix for prefix, _ in rdflib.Dataset().namespaces()} | {"prov", "xsd", "xsi"}  # (prov's own)


def _instance_quads(kg: Any) -> list[Any]:
    from provml.knowledge import ONTOLOGY_GRAPHS

    skip = set(ONTOLOGY_GRAPHS)
    return [q for q in kg.store.quads() if q.graph_name not in skip]


def export_prov(kg: Any, format: str) -> bytes:
    """The instance graphs of ``kg`` as PROV-JSON, PROV-N or PROV-XML.

    :param format: ``prov-json``, ``prov-n`` or ``prov-xml``.
    :raises ValueError: another format name; an IRI ``prov`` would read back as another
        (:func:`prov_document`); the ``prov`` package's writer refuses the document (PROV-XML: a
        literal holding a character XML 1.0 cannot carry, named with its subject and property).
    :raises provml.errors.MissingExtra: the ``prov`` package is not installed.
    """
    from provml.query.serialization import xml_problem

    if format not in PROV_FORMATS:
        raise ValueError(f"unknown PROV format {format!r}; choose one of {', '.join(PROV_FORMATS)}")
    document = prov_document(kg)
    try:
        text = document.serialize(format=PROV_FORMATS[format])
    except ValueError as error:  # lxml: "All strings must be XML compatible", naming nothing
        problem = xml_problem(_instance_quads(kg)) if format == "prov-xml" else None
        raise ValueError(f"cannot write {format.upper()}: {problem or error}; export as "
                         "PROV-JSON, PROV-N, N-Quads or TriG, which can") from error
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)
