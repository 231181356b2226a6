"""What an ontology file declares, and where its imports are: the facts ``provml ontology info`` prints.

Imports resolve through the OASIS XML catalog (``catalog-v001.xml``) that sits next to the
ontology or one folder above it, as Protégé and the ODK tools resolve them, so nothing is fetched
from the network.

>>> info = ontology_info()
>>> info.iri
'https://w3id.org/provml'
>>> info.imports[0][0]
'http://www.w3.org/ns/prov-o#'
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from provml.vocab import DCT, OWL, RDF

__all__ = [
    "CATALOG_NAME",
    "OntologyInfo",
    "find_catalog",
    "import_closure",
    "ontology_info",
    "read_catalog",
    "resolve_imports",
]

#: the file name Protégé gives its catalog
CATALOG_NAME = "catalog-v001.xml"
_CATALOG_NS = "{urn:oasis:names:tc:entity:xmlns:xml:catalog}"


@dataclass(frozen=True)
class OntologyInfo:
    """Facts about one ontology file; counts are of the named entities the file itself declares
    (imports are listed, not counted)."""

    path: str
    iri: str
    version_iri: str | None
    version: str | None
    title: str | None
    n_classes: int
    n_object_properties: int
    n_datatype_properties: int
    n_annotation_properties: int
    #: (imported IRI, local file it resolves to through the catalog, or None)
    imports: tuple[tuple[str, str | None], ...]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (imports as a list of ``{"iri", "path"}`` objects)."""
        data = asdict(self)
        data["imports"] = [{"iri": iri, "path": path} for iri, path in self.imports]
        return data

    def text(self) -> str:
        """The human-readable form ``provml ontology info`` prints."""
        lines = [
            f"ontology   {self.iri}",
            f"version    {self.version or '-'} ({self.version_iri or 'no version IRI'})",
            f"title      {self.title or '-'}",
            f"file       {self.path}",
            f"classes    {self.n_classes}",
            f"object properties      {self.n_object_properties}",
            f"datatype properties    {self.n_datatype_properties}",
            f"annotation properties  {self.n_annotation_properties}",
        ]
        for iri, path in self.imports:
            lines.append(f"imports    {iri} -> {path or 'NOT RESOLVED (no catalog entry or file)'}")
        return "\n".join(lines)


def find_catalog(ontology: Path) -> Path | None:
    """The catalog that serves ``ontology``: ``catalog-v001.xml`` in its folder or the one above.

    >>> from provml.ontology import path
    >>> find_catalog(path("domains/oil-gas.ttl")).name
    'catalog-v001.xml'
    """
    for folder in (ontology.parent, ontology.parent.parent):
        candidate = folder / CATALOG_NAME
        if candidate.is_file():
            return candidate
    return None


def read_catalog(catalog: Path) -> dict[str, Path]:
    """The ``<uri name=... uri=...>`` entries of an OASIS XML catalog, as IRI → absolute path.

    :param catalog: the catalog file; relative ``uri`` attributes resolve against its folder.
    :raises OSError: when the file cannot be read.
    :raises xml.etree.ElementTree.ParseError: when it is not XML.
    """
    root = ET.parse(catalog).getroot()
    entries: dict[str, Path] = {}
    for element in root.iter(f"{_CATALOG_NS}uri"):
        name, target = element.get("name"), element.get("uri")
        if name and target:
            entries[name] = (catalog.parent / target).resolve()
    return entries


def _graph(path: Path) -> list[ox.Triple]:
    """The triples of an RDF file, its format guessed from the suffix (named graphs flattened)."""
    rdf_format = ox.RdfFormat.from_extension(path.suffix.lstrip("."))
    if rdf_format is None:
        raise ValueError(f"{path}: cannot tell the RDF format from the suffix {path.suffix!r}")
    return [q.triple for q in ox.parse(path=path, format=rdf_format)]


def _ontology_iri(triples: Sequence[ox.Triple]) -> ox.NamedNode | None:
    """The first ``owl:Ontology`` subject (PROV-O has two headers; the first is its main one)."""
    for t in triples:
        if t.predicate == RDF.type and t.object == OWL.Ontology and isinstance(t.subject, ox.NamedNode):
            return t.subject
    return None


def resolve_imports(ontology: Path, *, catalog: Path | None = None) -> tuple[tuple[str, Path | None], ...]:
    """The direct ``owl:imports`` of ``ontology``, each with the local file the catalog maps it to
    (``None`` when no entry exists or its file is missing).

    :param catalog: defaults to :func:`find_catalog`.
    :raises SyntaxError: when the ontology does not parse.
    """
    catalog = catalog if catalog is not None else find_catalog(ontology)
    entries = read_catalog(catalog) if catalog is not None else {}
    resolved: list[tuple[str, Path | None]] = []
    for t in _graph(ontology):
        if t.predicate == OWL.imports and isinstance(t.object, ox.NamedNode):
            target = entries.get(t.object.value)
            resolved.append((t.object.value, target if target is not None and target.is_file() else None))
    return tuple(sorted(set(resolved), key=lambda pair: pair[0]))


def import_closure(ontologies: Sequence[Path]) -> list[Path]:
    """``ontologies`` followed by every file their imports resolve to, transitively, each once.

    :raises FileNotFoundError: when an import does not resolve to a local file (provml never
        fetches ontologies from the network).
    """
    seen: list[Path] = []
    queue = [p.resolve() for p in ontologies]
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.append(current)
        for iri, target in resolve_imports(current):
            if target is None:
                raise FileNotFoundError(
                    f"{current} imports {iri}, which no catalog-v001.xml next to it maps to a "
                    "local file; add a <uri name=... uri=...> entry"
                )
            queue.append(target)
    return seen


def _literal(triples: Sequence[ox.Triple], subject: ox.NamedNode, predicate: ox.NamedNode) -> str | None:
    for t in triples:
        if t.subject == subject and t.predicate == predicate and isinstance(t.object, ox.Literal):
            return t.object.value
    return None


def ontology_info(path: Path | None = None) -> OntologyInfo:
    """Read an ontology file (default: the shipped ``provml.ttl``) and describe it.

    :param path: a Turtle (or other RDF) ontology file.
    :raises SyntaxError: when it does not parse.
    :raises ValueError: when it declares no ``owl:Ontology``.
    """
    if path is None:
        from provml.ontology import path as packaged

        path = packaged("provml.ttl")
    triples = _graph(path)
    iri = _ontology_iri(triples)
    if iri is None:
        raise ValueError(f"{path} declares no owl:Ontology")
    version_iri = next(
        (t.object.value for t in triples
         if t.subject == iri and t.predicate == OWL.versionIRI and isinstance(t.object, ox.NamedNode)),
        None,
    )

    def count(kind: ox.NamedNode) -> int:
        return len(
            {t.subject for t in triples
             if t.predicate == RDF.type and t.object == kind and isinstance(t.subject, ox.NamedNode)}
        )

    imports = tuple((i, str(p) if p is not None else None) for i, p in resolve_imports(path))
    return OntologyInfo(
        path=str(path),
        iri=iri.value,
        version_iri=version_iri,
        version=_literal(triples, iri, OWL.versionInfo),
        title=_literal(triples, iri, DCT.title),
        n_classes=count(OWL.Class),
        n_object_properties=count(OWL.ObjectProperty),
        n_datatype_properties=count(OWL.DatatypeProperty),
        n_annotation_properties=count(OWL.AnnotationProperty),
        imports=imports,
    )
