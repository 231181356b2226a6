"""RDF/XML twins of the shipped Turtle ontologies, for tools that read only RDF/XML (owlready2,
older Protégé plug-ins, many OWL tools).

The Turtle files are the sources; each twin (same name, ``.owl``) holds the same triples, written
by pyoxigraph with the Turtle file's prefixes. ``python -m provml.ontology_twins`` rewrites them
after an edit; a test fails when a twin no longer matches its Turtle.

>>> [p.name for p, _ in TWINS][:2]
['provml.ttl', 'oil-gas.ttl']
"""

from __future__ import annotations

from pathlib import Path

from pyoxigraph import RdfFormat, parse, serialize

from provml.ontology import path

__all__ = ["TWINS", "rdfxml", "write_twins"]

#: (Turtle source, RDF/XML twin) in ``provml.ontology``
TWINS: tuple[tuple[Path, Path], ...] = tuple(
    (path(name), path(name).with_suffix(".owl"))
    for name in ("provml.ttl", "domains/oil-gas.ttl", "imports/prov-o.ttl")
)


def rdfxml(turtle: Path) -> bytes:
    """The triples of the Turtle file ``turtle`` as RDF/XML, with its prefixes."""
    parser = parse(path=str(turtle), format=RdfFormat.TURTLE)
    triples = [q.triple for q in parser]
    prefixes = {p: ns for p, ns in parser.prefixes.items() if p and p != "xml"}
    return bytes(serialize(triples, format=RdfFormat.RDF_XML, prefixes=prefixes) or b"")


def write_twins() -> list[Path]:
    """Rewrite every twin from its Turtle source; returns the twins written."""
    for turtle, twin in TWINS:
        twin.write_bytes(rdfxml(turtle))
    return [twin for _, twin in TWINS]


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    for written in write_twins():
        print(written)
