"""Enrichment, the ingest stage between translation and validation: every ``rdf:type`` statement
gets the super-classes the ontology entails, so queries and shapes that ask for a ``prov:Activity``
match a ``TrainingSectionExecution``.

The class closure is computed with SPARQL (``rdfs:subClassOf`` and ``owl:equivalentClass``, both
ways, transitively) over an in-memory Oxigraph store: no Java at run time. It equals what the HermiT
reasoner infers for every class of the shipped ontologies (:mod:`provml.ingest.reasoner`;
``tests/test_closures.py`` checks it). Ingest (:class:`provml.knowledge.KnowledgeGraph`) and
``provml validate`` both entail types here, with the same ontology files by default.

>>> closure = class_closure()
>>> from provml.vocab import PROV, PROVML, RDF
>>> PROV.Activity in closure[PROVML.TrainingSectionExecution]
True
>>> me = NamedNode("https://w3id.org/provml/id/persona/me")
>>> [q.object.value for q in with_entailed_types([Quad(me, RDF.type, PROVML.Persona)], closure)]
['https://w3id.org/provml#Persona', 'http://www.w3.org/ns/prov#Agent']
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

from pyoxigraph import NamedNode, Quad, Store, Triple

from provml.ontology_info import import_closure
from provml.vocab import OWL, RDF, RDFS

__all__ = ["Closure", "class_closure", "default_ontology", "ontology_files", "with_entailed_types"]

#: class -> all its named super-classes, itself included
Closure = dict[NamedNode, frozenset[NamedNode]]


def ontology_files(ontologies: Sequence[Path] | None = None) -> list[Path]:
    """The shipped ``provml.ttl``, the given (domain) ontologies, and their import closure.

    :raises FileNotFoundError: when an import resolves to no local file.
    """
    from provml.ontology import path

    files: list[Path] = import_closure([path("provml.ttl"), *(ontologies or ())])
    return files


def default_ontology() -> tuple[Path, ...]:
    """The ontology files whose class hierarchy enriches data by default: PROV-ML, the shipped
    domain ontology (oil & gas) and their imports (PROV-O)."""
    from provml.ontology import path

    return tuple(ontology_files([path("domains/oil-gas.ttl")]))


def class_closure(ontology: Sequence[str | Path] | None = None) -> Closure:
    """Each named class of the ontology files mapped to all its named super-classes (itself too;
    ``owl:Thing`` left out, as a reasoner does).

    :param ontology: paths of ontology files (any RDF format, by suffix); default
        :func:`default_ontology`. Cached per tuple of paths.
    :raises provml.errors.RdfSyntaxError: when a file does not parse.
    """
    files = ontology if ontology is not None else default_ontology()
    return _closure(tuple(str(p) for p in files))


@functools.lru_cache(maxsize=8)
def _closure(ontology: tuple[str, ...]) -> Closure:
    from provml.store.rdfio import parse_file

    store = Store()
    for path in ontology:
        store.extend(parse_file(path))
    query = (
        f"SELECT ?c ?sup WHERE {{ ?c a ?kind . VALUES ?kind {{ <{OWL.Class.value}> <{RDFS.Class.value}> }} "
        f"?c (<{RDFS.subClassOf.value}>|<{OWL.equivalentClass.value}>"
        f"|^<{OWL.equivalentClass.value}>)* ?sup . FILTER(isIRI(?c) && isIRI(?sup)) }}"
    )
    found: dict[NamedNode, set[NamedNode]] = {}
    for row in store.query(query):  # type: ignore[union-attr]
        cls, sup = row[0], row[1]
        if isinstance(cls, NamedNode) and isinstance(sup, NamedNode) and cls != OWL.Thing:
            found.setdefault(cls, set()).add(sup)
    return {cls: frozenset(sups - {OWL.Thing}) for cls, sups in found.items()}


def with_entailed_types(quads: Iterable[Triple | Quad], closure: Closure) -> list[Quad]:
    """The quads plus, for each ``rdf:type`` statement, the super-classes ``closure`` gives.

    Added types go in the same graph as the statement that entails them; nothing is duplicated
    (a repeated input quad is kept once).

    >>> from provml.vocab import PROV, PROVML
    >>> closure = {PROVML.Persona: frozenset({PROVML.Persona, PROV.Agent})}
    >>> me = NamedNode("https://w3id.org/provml/id/persona/me")
    >>> len(with_entailed_types([Quad(me, RDF.type, PROVML.Persona)], closure))
    2
    """
    out: list[Quad] = []
    seen: set[Quad] = set()
    rdf_type = RDF.type
    add = seen.add
    for statement in quads:
        quad = statement if isinstance(statement, Quad) else Quad(*statement)
        size = len(seen)
        add(quad)  # one hash of the quad, not two (a membership test, then the add)
        if len(seen) != size:
            out.append(quad)
        if quad.predicate == rdf_type and isinstance(obj := quad.object, NamedNode):
            supers = closure.get(obj)
            if not supers:
                continue
            subject, graph = quad.subject, quad.graph_name
            for sup in supers:
                if sup == obj:  # (a class's closure holds the class: the statement itself)
                    continue
                extra = Quad(subject, rdf_type, sup, graph)
                size = len(seen)
                add(extra)
                if len(seen) != size:
                    out.append(extra)
    return out
