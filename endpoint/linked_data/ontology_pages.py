"""The ontologies at their own IRIs: HTML documentation for people, RDF for tools.

- ``/ontology`` — PROV-ML (``provml.ttl``); ``/ontology/oil-gas`` — the Oil & Gas domain ontology.
  HTML (pyLODE, generated once per ontology version and kept in memory; a plain list of the terms
  when pyLODE fails), Turtle, RDF/XML, JSON-LD or N-Triples by ``Accept``; ``Vary: Accept``.
  JSON-LD is expanded unless the client prefers the compacted profile; its ``Content-Type``
  names the profile sent.
- Suffix forms choose the format: ``/ontology.ttl``, ``/ontology/provml.ttl``,
  ``/ontology/oil-gas.jsonld`` ...
- The version IRI ``/provml/0.1.0`` and the domain ontologies' IRIs (``/provml/oil-gas``) are
  served in place, with the same negotiation (and suffix forms, ``/provml/oil-gas.ttl``).
- Paths under the ontology IRI redirect here (303): ``/provml``, ``/provml.ttl``,
  ``/ontology/provml``, and a term's local name, ``/ontology/Model``, to ``/ontology#Model``.
"""

from __future__ import annotations

import functools
import logging
from typing import cast

from flask import Blueprint, Response, current_app, render_template, request, url_for
from pyoxigraph import RdfFormat

from provml import ontology
from provml.endpoint.auth import require_read
from provml.endpoint.errors import abort_json
from provml.endpoint.linked_data.ontology_docs import (
    digest,
    ontology_jsonld,
    ontology_rdf,
    ontology_terms,
    pylode_html,
)
from provml.endpoint.negotiation import (
    EXPANDED_FIRST,
    JSONLD,
    VARY,
    NotAcceptable,
    negotiate,
)
from provml.errors import Error
from provml.store.rdfio import FORMATS as RDF_TABLE

__all__ = ["ONTOLOGIES", "bp"]

bp = Blueprint("ontology_pages", __name__)
log = logging.getLogger("provml.endpoint")

#: name in the URL -> file in ``provml.ontology``
ONTOLOGIES: dict[str, str] = {"provml": "provml.ttl", "oil-gas": "domains/oil-gas.ttl"}
#: suffix -> media type
_SERVED = (RdfFormat.TURTLE, RdfFormat.RDF_XML, RdfFormat.JSON_LD, RdfFormat.N_TRIPLES)
SUFFIXES: dict[str, str] = {
    **{"." + s: e.media_type for f in _SERVED for e in RDF_TABLE if e.format == f
       for s in e.suffixes if s != "xml"},
    ".html": "text/html",
}
FORMATS: dict[str, RdfFormat] = {e.media_type: f for f in _SERVED for e in RDF_TABLE if e.format == f}
#: browsers get HTML; ``*/*`` and no ``Accept`` get HTML too (the IRI is opened by people first)
OFFERS: tuple[str, ...] = ("text/html", *FORMATS)
_CACHE_KEY = "provml.ontology_pages"


@bp.get("/ontology")
@bp.get("/ontology.<suffix>")
@require_read
def provml_ontology(suffix: str | None = None) -> Response:
    """PROV-ML itself."""
    return _serve("provml", suffix)


@bp.get("/ontology/<name>")
@require_read
def named(name: str) -> Response:
    """A domain ontology (``oil-gas``), a file-name form (``provml.ttl``), or a term."""
    stem, dot, suffix = name.partition(".")
    if stem in ONTOLOGIES and stem != "provml":
        return _serve(stem, suffix if dot else None)
    if stem == "provml":
        return _serve("provml", suffix if dot else None) if dot else _see("/ontology")
    if not dot and stem.isidentifier():
        return _see(url_for("ontology_pages.provml_ontology") + "#" + stem)
    abort_json(404, f"no ontology {name!r}; try /ontology or /ontology/oil-gas")


@bp.get("/provml")
@bp.get("/provml.<suffix>")
@require_read
def ontology_iri(suffix: str | None = None) -> Response:
    """The ontology IRI's path, when w3id forwards it unchanged."""
    target = url_for("ontology_pages.provml_ontology", suffix=suffix) if suffix else "/ontology"
    return _see(target)


@bp.get("/provml/<path:rest>")
@require_read
def under_ontology_iri(rest: str) -> Response:
    """The other IRIs of the shipped ontologies, with content negotiation (or a suffix): the
    version IRI ``/provml/0.1.0`` (the version shipped; others are 404) and each domain ontology's
    IRI, ``/provml/oil-gas``."""
    for name, iri_path in _iri_paths().items():
        if rest == iri_path:
            return _serve(name, None)
        if rest.startswith(iri_path + ".") and "." + rest[len(iri_path) + 1:] in SUFFIXES:
            return _serve(name, rest[len(iri_path) + 1:])
    abort_json(404, f"no ontology at /provml/{rest}; the shipped ones are at "
                    + ", ".join(f"/provml/{p}" for p in _iri_paths().values()) + " and /provml")


@functools.lru_cache(maxsize=1)
def _iri_paths() -> dict[str, str]:
    """Ontology name -> its IRI path below ``https://w3id.org/provml/``: the version IRI for
    PROV-ML, the ontology IRI for the domain ontologies."""
    from provml.ontology_info import ontology_info

    paths: dict[str, str] = {}
    for name, file in ONTOLOGIES.items():
        info = ontology_info(ontology.path(file))
        iri = info.version_iri if name == "provml" else info.iri
        if iri and iri.startswith("https://w3id.org/provml/"):
            paths[name] = iri[len("https://w3id.org/provml/"):]
    return paths


def _see(location: str) -> Response:
    response = Response(status=303, headers={"Location": location})
    response.vary.add("Accept")
    return response


def _serve(name: str, suffix: str | None) -> Response:
    offers = OFFERS
    if suffix is not None:
        media = SUFFIXES.get("." + suffix)
        if media is None:
            abort_json(404, f"unknown suffix .{suffix}; use one of {', '.join(SUFFIXES)}")
        offers = (media,)
    file = ontology.path(ONTOLOGIES[name])

    def write(media: str, form: str | None) -> bytes:
        if media == "text/html":
            return _html(name).encode("utf-8")
        if media == JSONLD:  # expanded as Oxigraph writes it, or compacted when the client prefers
            return ontology_jsonld(file, form or "expanded")
        return ontology_rdf(file, format=FORMATS[media])

    try:
        sent = negotiate(request.headers.get("Accept"), offers, write, prefer=EXPANDED_FIRST,
                         named=suffix is not None)
    except NotAcceptable as error:
        abort_json(406, str(error), headers=VARY)
    response = Response(sent.body, content_type=sent.content_type)
    response.vary.add("Accept")
    return response


def _html(name: str) -> str:
    """The HTML documentation, made once per ontology version (its SHA-256)."""
    file = ontology.path(ONTOLOGIES[name])
    cache = cast(dict[tuple[str, str], str], current_app.extensions.setdefault(_CACHE_KEY, {}))
    key = (name, digest(file))
    if key not in cache:
        base = "/ontology" if name == "provml" else f"/ontology/{name}"
        twins = [(s, m) for s, m in SUFFIXES.items() if m != "text/html" and s != ".owl"]
        try:
            page = pylode_html(file)
            links = "".join(f'<link rel="alternate" type="{m}" href="{base}{s}">' for s, m in twins)
            cache[key] = page.replace("</head>", links + "</head>", 1)
        except Error as exc:
            log.warning("%s; serving the plain term list instead", exc)
            cache[key] = render_template(
                "ontology.html", name=name, terms=ontology_terms(file), reason=str(exc),
                base=base, twins=twins,
            )
    return cache[key]
