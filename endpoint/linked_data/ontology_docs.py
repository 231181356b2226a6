"""Documentation and serializations of an ontology file, for people and for tools.

- :func:`pylode_html` — the HTML documentation pyLODE generates (offline);
- :func:`ontology_terms` — its classes and properties with labels and definitions, which a page
  can list when pyLODE is unavailable or fails;
- :func:`ontology_rdf` — the ontology in another RDF syntax (Turtle, RDF/XML, JSON-LD, N-Triples);
  :func:`ontology_jsonld` — in JSON-LD, expanded or compacted;
- :func:`digest` — a content hash, so that generated documents are cached per ontology version.

>>> from provml.ontology import path
>>> terms = ontology_terms(path("provml.ttl"))
>>> next(t for t in terms if t.iri.endswith("#Model")).kind
'class'
"""

from __future__ import annotations

import hashlib
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pyoxigraph import Literal, Quad, RdfFormat, parse, serialize

from provml.errors import Error
from provml.store import OxigraphStore, select
from provml.vocab import DCT, OWL, RDF, RDFS, SKOS, local_name

__all__ = ["OntologyTerm", "digest", "ontology_jsonld", "ontology_rdf", "ontology_terms", "pylode_html"]


@dataclass(frozen=True)
class OntologyTerm:
    """A class or property the ontology declares."""

    iri: str
    kind: str  # "class" | "object property" | "datatype property" | "annotation property"
    label: str
    definition: str
    parents: tuple[str, ...]

    @property
    def fragment(self) -> str:
        """The local name, used as the anchor of the term on a page."""
        return local_name(self.iri)


def digest(path: Path) -> str:
    """The SHA-256 of the file's bytes, hex.

    >>> from provml.ontology import path
    >>> len(digest(path("provml.ttl")))
    64
    """
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pylode_html(path: Path) -> str:
    """pyLODE's HTML documentation of the ontology at ``path`` (Turtle), with inline CSS.

    :raises provml.errors.Error: pyLODE is not installed or could not document the file (the
        message says why).
    """
    def document() -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyLODE leaves files open and uses old APIs
            import rdflib
            from pylode import OntPub

            # parsed here, not by pyLODE: on a syntax error pyLODE prints and calls exit()
            graph = rdflib.Graph().parse(str(path), format="turtle")
            return str(OntPub(ontology=graph).make_html(include_css=True))

    try:
        # on a thread of its own: pyLODE's HTML library (dominate) asks asyncio for the event
        # loop, and on the main thread Python 3.11 then makes one that nobody closes; dropped
        # when a later asyncio.run set another, it failed a test ("unclosed event loop")
        with ThreadPoolExecutor(max_workers=1) as thread:
            return thread.submit(document).result()
    except (Exception, SystemExit) as exc:  # pyLODE raises many kinds (import, rdflib, its own)
        name = Path(path).name
        raise Error(f"pyLODE could not document {name}: {type(exc).__name__}: {exc}") from exc


_KINDS = (
    (OWL.Class, "class"),
    (OWL.ObjectProperty, "object property"),
    (OWL.DatatypeProperty, "datatype property"),
    (OWL.AnnotationProperty, "annotation property"),
)

_TERMS = (
    "SELECT ?t ?kind (SAMPLE(?l) AS ?label) (SAMPLE(?d) AS ?definition)"
    " (GROUP_CONCAT(DISTINCT STR(?parent); separator=' ') AS ?parents) WHERE {{"
    " ?t {type} ?kind FILTER(isIRI(?t) && ?kind IN ({kinds}))"
    " OPTIONAL {{ ?t {label} ?l FILTER(LANG(?l) IN ('', 'en')) }}"
    " OPTIONAL {{ ?t ?dp ?d FILTER(?dp IN ({definitions}) && LANG(?d) IN ('', 'en')) }}"
    " OPTIONAL {{ ?t ?pp ?parent FILTER(?pp IN ({sub_class}, {sub_property}) && isIRI(?parent)) }}"
    "}} GROUP BY ?t ?kind ORDER BY ?kind ?t"
)


def ontology_terms(path: Path) -> list[OntologyTerm]:
    """The named classes and properties declared in the Turtle file at ``path``.

    Definitions come from ``skos:definition``, else ``rdfs:comment``, else ``dct:description``.

    :raises SyntaxError: the file does not parse.
    """
    store = OxigraphStore()
    store.add(_quads(path), atomic=False)
    text = _TERMS.format(
        type=RDF.type,
        kinds=", ".join(str(k) for k, _ in _KINDS),
        label=RDFS.label,
        definitions=", ".join(str(p) for p in (SKOS.definition, RDFS.comment, DCT.description)),
        sub_class=RDFS.subClassOf,
        sub_property=RDFS.subPropertyOf,
    )
    names = {k.value: name for k, name in _KINDS}
    result = select(store, text)
    terms = []
    for row in result:
        iri = row["t"].value
        label = row["label"]
        definition = row["definition"]
        parents = row["parents"]
        terms.append(
            OntologyTerm(
                iri=iri,
                kind=names[row["kind"].value],
                label=label.value if isinstance(label, Literal) else local_name(iri),
                definition=definition.value if isinstance(definition, Literal) else "",
                parents=tuple(sorted(parents.value.split())) if parents is not None else (),
            )
        )
    return terms


def ontology_rdf(path: Path, *, format: RdfFormat) -> bytes:
    """The ontology at ``path`` (Turtle) in ``format``; Turtle is returned as written.

    :raises SyntaxError: the file does not parse.

    >>> from provml.ontology import path
    >>> ontology_rdf(path("provml.ttl"), format=RdfFormat.N_TRIPLES).startswith(b"<")
    True
    """
    data = Path(path).read_bytes()
    if format == RdfFormat.TURTLE:
        return data
    triples = [q.triple for q in _quads(path)]
    out = serialize(triples, format=format, prefixes=_prefixes(data))
    assert out is not None
    return out




def ontology_jsonld(path: Path, form: str) -> bytes:
    """The ontology at ``path`` as JSON-LD in ``form``: ``expanded`` as Oxigraph writes it
    (:func:`ontology_rdf`), or ``compacted`` with the context of the ontologies' prefixes
    (expanded where compaction cannot write it: ``serialize_quads``).

    >>> from provml.ontology import path
    >>> ontology_jsonld(path("provml.ttl"), "compacted").startswith(b"{")
    True
    """
    if form == "expanded":
        return ontology_rdf(path, format=RdfFormat.JSON_LD)
    from provml.query.serialization import serialize_quads

    return serialize_quads(_quads(path), "jsonld", profile=form, expand_unwritable=True)


def _quads(path: Path) -> list[Quad]:
    return list(parse(path=str(path), format=RdfFormat.TURTLE))


def _prefixes(turtle: bytes) -> dict[str, str]:
    """The ``@prefix`` declarations of a Turtle file (for a readable RDF/XML or JSON-LD)."""
    prefixes: dict[str, str] = {}
    for line in turtle.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].lower() in ("@prefix", "prefix") and parts[1].endswith(":"):
            iri = parts[2].strip("<>.").rstrip(">")
            if parts[1][:-1]:
                prefixes[parts[1][:-1]] = iri
    return prefixes

