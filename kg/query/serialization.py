"""RDF as people read it: prefixes taken from the ontologies, and compacted JSON-LD.

- :func:`ontology_prefixes`: the ``@prefix`` declarations of the shipped ontologies (PROV-ML,
  PROV-O, the domain ontologies), the empty prefix of each named by its
  ``vann:preferredNamespacePrefix`` (``provml``, ``oilgas``);
- :func:`jsonld_context`: those prefixes as a JSON-LD ``@context``;
- :func:`serialize_quads`: Turtle, TriG, N-Triples, N-Quads, RDF/XML with the prefixes, and
  JSON-LD compacted with that context (pyld, the JSON-LD reference processor's Python port) or
  expanded (``profile="expanded"``); what a format cannot hold is refused (``ValueError``
  naming the statement), never written broken;
- :func:`xml_problem`: why quads cannot be written as XML (RDF/XML, PROV-XML), if they cannot.

>>> ontology_prefixes()["provml"]
'https://w3id.org/provml#'
>>> from pyoxigraph import NamedNode, Quad
>>> q = Quad(NamedNode("https://w3id.org/provml/id/run/r1"), NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
...          NamedNode("https://w3id.org/provml#WorkflowExecution"))
>>> serialize_quads([q], "turtle").decode().splitlines()[-1]
'<https://w3id.org/provml/id/run/r1> a provml:WorkflowExecution .'
>>> import json; doc = json.loads(serialize_quads([q], "jsonld"))
>>> doc["@type"], doc["@context"]["provml"]
('provml:WorkflowExecution', 'https://w3id.org/provml#')
"""

from __future__ import annotations

import functools
import json
import re
import xml.parsers.expat
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from pyoxigraph import DefaultGraph, Literal, NamedNode, Quad, RdfFormat, Triple, parse, serialize

from provml.store.rdfio import FORMATS
from provml.vocab import RDF

__all__ = [
    "SERIALIZATIONS",
    "CompactionFailed",
    "Uncompacted",
    "jsonld_context",
    "ontology_prefixes",
    "confused_with_prefix",
    "serialize_quads",
    "xml_problem",
]

#: format name -> pyoxigraph format: the writable formats of :data:`provml.store.rdfio.FORMATS`
#: (N3 is a reading format), plus ``jsonld-expanded`` (``jsonld`` is compacted)
SERIALIZATIONS: dict[str, RdfFormat] = {
    **{entry.name: entry.format for entry in FORMATS if entry.format != RdfFormat.N3},
    "jsonld-expanded": RdfFormat.JSON_LD,
}


class CompactionFailed(ValueError):
    """Compaction cannot write these quads (the export refuses them): ``iri`` is the IRI it
    would confuse with a compact IRI (its scheme is a prefix of the context), None when the
    JSON-LD processor refused them otherwise."""

    def __init__(self, message: str, iri: str | None = None) -> None:
        super().__init__(message, iri)
        self.iri = iri

    def __str__(self) -> str:
        return str(self.args[0])


class Uncompacted(bytes):
    """Expanded JSON-LD written where compacted JSON-LD was asked for and compaction cannot
    write it (``serialize_quads(..., expand_unwritable=True)``): ``reason`` says why, ``iri``
    names the IRI compaction cannot write (None when it refused otherwise). It is ``bytes``, and
    keeps both through a pipe (pickled), so that a server learns why without reading it again.

    >>> from pyoxigraph import Literal, NamedNode, Triple
    >>> body = serialize_quads([Triple(NamedNode("skos:x"), NamedNode("http://e.org/p"),
    ...                                Literal("v"))], "jsonld", expand_unwritable=True)
    >>> isinstance(body, Uncompacted), body.iri, body[:1]
    (True, 'skos:x', b'[')
    """

    reason: str = ""
    iri: str | None = None
_PREFIXED = (RdfFormat.TURTLE, RdfFormat.TRIG, RdfFormat.RDF_XML, RdfFormat.N3)
_VANN_PREFIX = "http://purl.org/vocab/vann/preferredNamespacePrefix"
#: a character outside XML 1.0's ``Char`` production (https://www.w3.org/TR/xml/#charsets)
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME_START = ("A-Z_a-z\xc0-\xd6\xd8-\xf6\xf8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c\u200d"
               "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff")
#: the XML name (without ``:``) an IRI ends with: RDF/XML writes a property as an element named
#: by it (Oxigraph takes the longest such end; with none it wrote ``<oxprefix:>``, ill-formed)
_LOCAL_NAME = re.compile(f"[{_NAME_START}][{_NAME_START}\\-.0-9\xb7\u0300-\u036f\u203f\u2040]*$")
_INSTEAD = "export as N-Quads or TriG, which can"


@functools.lru_cache(maxsize=1)
def ontology_prefixes() -> dict[str, str]:
    """Prefix -> namespace from the shipped ontologies' ``@prefix`` lines (first one wins)."""
    from provml.ontology import path

    found: dict[str, str] = {}
    for name in ("provml.ttl", "imports/prov-o.ttl", "domains/oil-gas.ttl"):
        parser = parse(path=str(path(name)), format=RdfFormat.TURTLE)
        preferred = None
        for quad in parser:
            if quad.predicate.value == _VANN_PREFIX and preferred is None:
                preferred = quad.object.value
        for prefix, namespace in parser.prefixes.items():
            key = prefix or preferred
            if key and key != "xml" and key not in found and namespace not in found.values():
                found[key] = namespace
    return found


def jsonld_context() -> dict[str, str]:
    """The JSON-LD ``@context`` provml writes: the ontology prefixes.

    >>> jsonld_context()["prov"]
    'http://www.w3.org/ns/prov#'
    """
    return dict(ontology_prefixes())


def serialize_quads(
    quads: Iterable[Quad | Triple],
    format: str,
    *,
    profile: str = "compacted",
    base: str | None = None,
    expand_unwritable: bool = False,
) -> bytes:
    """``quads`` in the format named ``format`` (a key of :data:`SERIALIZATIONS`).

    Triples formats take the triples of the quads (graph names dropped). JSON-LD is compacted
    with :func:`jsonld_context` unless ``format`` is ``jsonld-expanded`` or ``profile`` is
    ``"expanded"``; named graphs become ``@graph`` objects. ``base``, the instance base IRI,
    gets the prefix ``id`` too: tools that need every IRI as a qualified name (the ``prov``
    package's RDF reader) then read instance IRIs. ``expand_unwritable``: JSON-LD that
    compaction cannot write (an IRI whose scheme is a prefix of the context, ``skos:thing``) is
    written expanded instead of refused, as an :class:`Uncompacted` that says why (the endpoint:
    it answered 500).

    :raises CompactionFailed: JSON-LD that compaction cannot write (an IRI whose scheme is a
        prefix of the context), unless ``expand_unwritable``.
    :raises ValueError: an unknown format name; quads RDF/XML cannot hold (:func:`xml_problem`).
    """
    if format not in SERIALIZATIONS:
        raise ValueError(f"unknown RDF format {format!r}; choose one of {', '.join(SERIALIZATIONS)}")
    fmt = SERIALIZATIONS[format]
    items = list(quads)
    if fmt == RdfFormat.JSON_LD:
        expanded = format == "jsonld-expanded" or profile == "expanded"
        return _jsonld(items, compact=not expanded, context=_with_base(jsonld_context(), base),
                       expand_unwritable=expand_unwritable)
    prefixes = _with_base(ontology_prefixes(), base) if fmt in _PREFIXED else None
    if fmt == RdfFormat.RDF_XML:
        problem = xml_problem(items, names=True)
        if problem:
            raise ValueError(f"cannot write RDF/XML: {problem}; {_INSTEAD}")
    if fmt.supports_datasets:
        return bytes(serialize(_as_quads(items), format=fmt, prefixes=prefixes) or b"")
    triples = [q.triple if isinstance(q, Quad) else q for q in items]
    data = bytes(serialize(triples, format=fmt, prefixes=prefixes) or b"")
    if fmt == RdfFormat.RDF_XML:
        _check_well_formed(data)
    return data


def xml_problem(quads: Iterable[Quad | Triple], *, names: bool = False) -> str | None:
    """Why ``quads`` cannot be written as XML, naming the statement, or ``None``: a literal
    holding a character XML 1.0 has no place for (a control character such as the escape of a
    coloured error message), or, with ``names`` (RDF/XML), a property IRI that does not end
    with an XML name (``http://ex.org/p/``, ``http://ex.org/123``).

    >>> from pyoxigraph import Literal, NamedNode, Triple
    >>> s, p = NamedNode("http://ex.org/s"), NamedNode("http://ex.org/p")
    >>> xml_problem([Triple(s, p, Literal("ok"))]) is None
    True
    >>> xml_problem([Triple(s, p, Literal("a\\x1b[31m"))])
    'the literal of <http://ex.org/s> <http://ex.org/p> holds U+001B, a character XML 1.0 cannot carry'
    >>> xml_problem([Triple(s, NamedNode("http://ex.org/123"), s)], names=True)
    'the property <http://ex.org/123> does not end with an XML name (RDF/XML writes properties as element names)'
    """
    named: set[str] = set()
    for q in quads:
        if names and q.predicate.value not in named:
            if _LOCAL_NAME.search(q.predicate.value) is None:
                return (f"the property {q.predicate} does not end with an XML name (RDF/XML "
                        "writes properties as element names)")
            named.add(q.predicate.value)
        if isinstance(q.object, Literal):
            bad = _NOT_XML_CHAR.search(q.object.value)
            if bad:
                return (f"the literal of {q.subject} {q.predicate} holds U+{ord(bad.group()):04X}, "
                        "a character XML 1.0 cannot carry")
    return None


def _check_well_formed(data: bytes) -> None:
    """Refuse RDF/XML that an XML parser (expat, with namespaces) would refuse: what
    :func:`xml_problem` does not foresee is never written broken."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as error:
        raise ValueError(f"cannot write RDF/XML: the writer made ill-formed XML ({error}); "
                         f"{_INSTEAD}") from error


def _as_quads(items: Iterable[Quad | Triple]) -> list[Quad]:
    """Quads, triples placed in the default graph."""
    return [q if isinstance(q, Quad) else Quad(q.subject, q.predicate, q.object, DefaultGraph())
            for q in items]


def _with_base(prefixes: dict[str, str], base: str | None) -> dict[str, str]:
    return {**prefixes, "id": base} if base else dict(prefixes)


def _jsonld(items: list[Quad | Triple], *, compact: bool, context: dict[str, str],
            expand_unwritable: bool = False) -> bytes:
    """JSON-LD from RDF: Oxigraph's JSON-LD writer (expanded node objects, a node's triples
    together once the quads are ordered by graph and subject; ``rdf:type`` to an IRI or a blank
    node as ``@type``, as JSON-LD's RDF-to-JSON-LD algorithm does), then compaction (pyld).
    Literals keep their lexical forms and datatypes (no native numbers), so the document reads
    back as the same quads. pyld's own ``from_rdf`` took time in the square of a node's values
    of one property (its duplicate check): 6.4 s for 4,000, 100 s for a page of 20,000 triples
    on the server (a hostile probe, twentieth session); lists stay ``rdf:first``/``rdf:rest``."""
    from pyld import jsonld

    ordered = sorted(_as_quads(items), key=lambda q: (str(q.graph_name), str(q.subject)))
    document: Any = json.loads(serialize(ordered, format=RdfFormat.JSON_LD) or b"[]")
    for node in _node_objects(document):
        types = node.pop(RDF.type.value, None)
        if types:
            classes = [v["@id"] for v in types if "@id" in v]
            if classes:
                node["@type"] = classes
            if len(classes) < len(types):  # a literal as a type stays a property value
                node[RDF.type.value] = [v for v in types if "@id" not in v]
    failure: CompactionFailed | None = None
    if compact:
        confused = confused_with_prefix(items, context)
        if confused:
            failure = CompactionFailed(
                f"cannot write compacted JSON-LD: the IRI <{_cut(confused)}> would read as the "
                f"compact IRI of the prefix {confused.partition(':')[0]!r} of the context; export "
                "as jsonld-expanded, N-Quads or TriG, which can", confused)
        else:
            try:
                document = jsonld.compact(document, {"@context": context})
            except jsonld.JsonLdError as error:
                failure = CompactionFailed(
                    f"cannot write compacted JSON-LD: {str(error).splitlines()[0]}; export as "
                    "jsonld-expanded, N-Quads or TriG")
                failure.__cause__ = error
    if failure is not None and not expand_unwritable:
        raise failure
    data = json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
    if failure is None:
        return data
    written = Uncompacted(data)  # (the endpoint: expanded JSON-LD is JSON-LD too)
    written.reason, written.iri = str(failure), failure.iri
    return written


#: the characters of an IRI a message quotes (an IRI may be megabytes long)
_QUOTED = 200


def _cut(iri: str) -> str:
    """``iri`` as a message quotes it: its first :data:`_QUOTED` characters, then ``…``.

    >>> _cut("urn:" + "x" * 500)[-3:], len(_cut("urn:" + "x" * 500))
    ('xx…', 201)
    """
    return iri if len(iri) <= _QUOTED else iri[:_QUOTED] + "…"


def confused_with_prefix(items: Iterable[Quad | Triple], context: Collection[str]) -> str | None:
    """The first IRI whose scheme is one of the prefixes ``context`` (``oilgas:Well_16_2``, not
    ``oilgas://…``): JSON-LD compaction refuses it ("IRI confused with prefix"), and the ``prov``
    package writes it as that prefix's qualified name (``geo:60.1,2.5`` read back as GeoSPARQL's
    ``…/geosparql#60.1,2.5``)."""
    for q in items:
        terms = [q.subject, q.predicate, q.object, *([q.graph_name] if isinstance(q, Quad) else [])]
        if isinstance(q.object, Literal):
            terms[2] = q.object.datatype
        for term in terms:
            if isinstance(term, NamedNode):
                scheme, _, rest = term.value.partition(":")
                if scheme in context and not rest.startswith("//"):
                    return term.value
    return None


def _node_objects(document: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The node objects of an expanded document: the top level and each graph's."""
    for node in document:
        yield node
        yield from node.get("@graph", ())
