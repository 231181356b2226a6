"""Linked data: instance IRIs dereference here, and the dataset describes itself (VoID).

- ``/id/<rest>`` — the resource ``{INSTANCE_BASE}<rest>``: an HTML page (its properties with
  labels, incoming links, lineage neighbours) or Turtle, JSON-LD, RDF/XML, N-Triples by ``Accept``
  or by suffix (``.ttl``, ``.jsonld``, ``.rdf``, ``.nt``; the suffix wins). ``Vary: Accept``, and
  PROV-AQ ``Link`` headers (``has_provenance``, ``has_query_service``).
- ``/.well-known/void`` — the VoID description (Turtle unless ``Accept`` asks otherwise).
- ``/dump.nq.gz`` — the whole store as gzipped N-Quads (made into a temporary file, then sent).
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from pyoxigraph import NamedNode, RdfFormat, Triple, serialize
from werkzeug.routing import PathConverter
from werkzeug.wsgi import wrap_file

from provml.endpoint.auth import require_read
from provml.endpoint.context import config, public_url, reader, runner, store
from provml.endpoint.errors import abort_json
from provml.endpoint.linked_data.void import void_description
from provml.endpoint.negotiation import (
    JSONLD,
    RDF_FORMATS,
    NotCompactable,
    best_match,
    jsonld_answer,
    jsonld_profile,
)
from provml.endpoint.sparql.results import NOT_XML, xml_safe
from provml.query.describe import ResourceDescription, describe, resource_triples
from provml.query.serialization import jsonld_context, serialize_quads
from provml.store.rdfio import FORMATS
from provml.vocab import DCT, MLS, OWL, PROV, PROVML, RDF, RDFS, SKOS, VOID, XSD

__all__ = ["SUFFIXES", "bp", "local_url", "rdf_response"]

bp = Blueprint("resources", __name__)


class _AnyPath(PathConverter):
    """Werkzeug's ``path`` with a line break allowed in it: an instance IRI holds ``%0A`` for a
    name with a newline (``slug()``), decoded before routing, and ``path``'s ``.`` matched no
    ``\n``, so such a resource's own page was a 404 (a probe, 22nd session)."""

    regex = "[^/](?s:.*?)"


@bp.record_once
def _converters(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("anypath", _AnyPath)  # before the routes below

#: suffix -> media type of the machine-readable twins of a resource page
SUFFIXES: dict[str, str] = {
    "." + entry.suffixes[0]: entry.media_type
    for name in ("turtle", "jsonld", "rdfxml", "ntriples")
    for entry in FORMATS if entry.name == name
}
#: what a resource page offers; a browser asks for HTML, ``*/*`` (curl) gets Turtle;
#: ``application/json`` gets the compacted JSON-LD (a JSON client reads it as plain JSON)
PAGE_OFFERS: tuple[str, ...] = (
    "text/turtle", "text/html", *tuple(SUFFIXES.values())[1:], "application/json",
)
#: what the VoID document offers
RDF_OFFERS: tuple[str, ...] = tuple(SUFFIXES.values())


def prefixes() -> dict[str, str]:
    """Turtle prefixes for the vocabularies provml writes (instance IRIs stay whole: their
    slashes would be escaped in prefixed names)."""
    spaces = (PROVML, PROV, MLS, RDF, RDFS, OWL, XSD, SKOS, DCT, VOID)
    names = ("provml", "prov", "mls", "rdf", "rdfs", "owl", "xsd", "skos", "dct", "void")
    return {n: ns.NS for n, ns in zip(names, spaces, strict=True)}


def rdf_response(triples: Iterable[Triple], media: str, *, headers: dict[str, str] | None = None,
                 offers: Sequence[str] = ()) -> Response:
    """Serialize ``triples`` as ``media`` (a key of ``negotiation.RDF_FORMATS``, or
    ``application/json``) with prefixes. JSON-LD is compacted with the ontologies' prefixes as
    its context, or expanded where ``Accept`` prefers the ``http://www.w3.org/ns/json-ld#expanded``
    profile or compaction cannot write the triples; its ``Content-Type`` names the profile sent
    (:func:`~provml.endpoint.negotiation.jsonld_answer`). ``offers``: the media types ``media``
    was negotiated among (none when a URL suffix named it), the client's next choice when it
    takes compacted JSON-LD only and compaction cannot write these triples (else 406)."""
    triples = list(triples)
    accept = request.headers.get("Accept")
    base = config().instance_base

    def jsonld(form: str) -> bytes:
        return serialize_quads(triples, "jsonld", profile=form, base=base, expand_unwritable=True)

    if media == JSONLD:
        others = tuple(o for o in offers if o not in (JSONLD, "text/html"))
        try:
            answer = jsonld_answer(accept, jsonld, others=others,
                                   context=[*jsonld_context(), "id"])
        except NotCompactable as error:
            abort_json(406, str(error))
        if answer is not None:
            return _answer(answer[1], answer[0], headers)
        media = best_match(accept, others) or others[0]  # (the client's next choice)
    if media == "application/json":  # JSON-LD read as plain JSON: compacted where it can be
        return _answer(jsonld(jsonld_profile(accept)), media, headers)
    fmt = RDF_FORMATS[media]
    body = serialize(triples, format=fmt, prefixes=prefixes() if _prefixed(fmt) else None)
    if not xml_safe(media, bytes(body or b"")):  # never broken XML (a page names one format)
        abort_json(406, f"{NOT_XML}; ask for Turtle (.ttl), N-Triples (.nt) or JSON-LD (.jsonld)")
    return _answer(body or b"", _content_type(media), headers)


def _answer(body: bytes, content_type: str, headers: dict[str, str] | None) -> Response:
    response = Response(body, content_type=content_type)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    response.vary.add("Accept")
    return response


def local_url(iri: str) -> str:
    """Where ``iri`` is browsed: its ``/id/...`` page when under the instance base, its entry in
    ``/ontology`` for a PROV-ML term, else the IRI itself."""
    instance_base = config().instance_base
    if iri.startswith(instance_base) and len(iri) > len(instance_base):
        # not url_for: it would quote the IRI's own %-escapes (slug()) a second time
        return f"{request.script_root}/id/{iri[len(instance_base) :]}"
    if iri.startswith(PROVML.NS) and len(iri) > len(PROVML.NS):
        return url_for("ontology_pages.provml_ontology") + "#" + iri[len(PROVML.NS) :]
    # only what a browser merely fetches: a `javascript:` IRI in the data (anyone with the write
    # token) became a link that ran a script on the reader's page (a hostile probe, 20th session)
    return iri if _BROWSABLE.match(iri) else ""


#: the IRI schemes a page links to as they are (others are shown, not linked)
_BROWSABLE = re.compile(r"(?i)(https?|ftp|mailto):")


@bp.get("/id/<anypath:rest>")
@require_read
def resource(rest: str) -> Response:
    """Dereference ``{INSTANCE_BASE}{rest}``."""
    media, description, negotiated = _resolve(rest)
    page = public_url("/id/" + description.iri[len(config().instance_base) :])
    links = _links(description.iri, page)
    if media != "text/html":
        triples = resource_triples(reader(), description.iri)
        return rdf_response(triples, media, headers={"Link": links},
                            offers=PAGE_OFFERS if negotiated else ())
    html = render_template(
        "resource.html",
        d=description,
        page=page,
        twins=[(suffix, mt) for suffix, mt in SUFFIXES.items()],
        local_url=local_url,
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Link"] = links
    response.vary.add("Accept")
    return response


def _resolve(rest: str) -> tuple[str, ResourceDescription, bool]:
    """The media type to answer with, the description of the resource ``rest`` names, and
    whether the media type was negotiated (not named by a suffix)."""
    instance_base = config().instance_base
    candidates: list[tuple[str, str | None]] = []
    for name in dict.fromkeys((_raw(rest), rest)):  # as sent (%-escapes kept), then decoded
        for suffix, media in SUFFIXES.items():
            if name.endswith(suffix) and len(name) > len(suffix):
                candidates.append((name[: -len(suffix)], media))  # the suffix wins ...
        candidates.append((name, None))  # ... unless only the full name is known
    for name, fixed in candidates:
        try:
            description = describe(reader(), instance_base + name)
        except ValueError:
            abort_json(400, f"not a valid IRI: {instance_base + name!r}")
        if description.exists:
            chosen = fixed or best_match(request.headers.get("Accept"), PAGE_OFFERS)
            if chosen is None:
                abort_json(406, "no acceptable format; offered: " + ", ".join(PAGE_OFFERS))
            return chosen, description, fixed is None
    abort_json(404, f"the knowledge graph knows nothing about <{instance_base + rest}>")


def _raw(rest: str) -> str:
    """``rest`` as the client sent it: instance IRIs hold %-escapes (``slug()``) that the
    routing has decoded (``%2F`` became ``/``); the server's ``REQUEST_URI`` still has them."""
    raw = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI")
    if not raw:
        return quote(rest, safe="/")
    path = urlsplit(raw).path if "://" in raw.split("?", 1)[0] else raw.split("?", 1)[0]
    prefix = request.script_root + "/id/"
    return path[len(prefix) :] if path.startswith(prefix) else quote(rest, safe="/")


def _links(iri: str, page: str) -> str:
    """PROV-AQ and alternate ``Link`` header values for a resource page."""
    parts = [
        f'<{page}>; rel="{PROV.has_provenance.value}"; anchor="{iri}"',
        f'<{public_url("/sparql")}>; rel="{PROV.has_query_service.value}"; anchor="{iri}"',
    ]
    parts += [f'<{page}{suffix}>; rel="alternate"; type="{media}"' for suffix, media in SUFFIXES.items()]
    return ", ".join(parts)


@bp.get("/.well-known/void")
@require_read
def void() -> Response:
    """The VoID description of the dataset."""
    media = best_match(request.headers.get("Accept"), RDF_OFFERS)
    if media is None:
        abort_json(406, "no acceptable format; offered: " + ", ".join(RDF_OFFERS))
    # counted once per version of the store (the runner's write counter), under the limits,
    # and written for each request's own URL: keyed by the URL too, clients alternating Host
    # headers had the store counted again on every request (a hostile probe, 20th session)
    key = (runner().sync(store()), config().instance_base)
    cache = current_app.extensions.setdefault("provml.void", {})
    triples = cache.get(key)
    if triples is None:
        triples = void_description(reader(), base_url=_VOID_BASE, instance_base=key[1])
        cache.clear()
        cache[key] = triples
    base = public_url("").rstrip("/")
    return rdf_response([_rebased(t, base) for t in triples], media, offers=RDF_OFFERS)


#: the URL the cached VoID description is written for, replaced by each request's own
_VOID_BASE = "urn:provml:void-base"


def _rebased(triple: Triple, base: str) -> Triple:
    """``triple`` with the IRIs under :data:`_VOID_BASE` moved under ``base``."""
    def moved(term: Any) -> Any:
        if isinstance(term, NamedNode) and term.value.startswith(_VOID_BASE):
            return NamedNode(base + term.value[len(_VOID_BASE):])
        return term

    return Triple(moved(triple.subject), triple.predicate, moved(triple.object))


#: dumps made or being sent at once: each is a temporary file of the whole store, gzipped,
#: kept until its client has taken it
MAX_DUMPS = 4
_DUMPS = threading.BoundedSemaphore(MAX_DUMPS)


class _DumpFile:
    """A dump's temporary file; closing it frees its place among :data:`MAX_DUMPS`."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._open = True

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def close(self) -> None:
        if self._open:
            self._open = False
            self.file.close()
            _DUMPS.release()


@bp.get("/dump.nq.gz")
@require_read
def dump() -> Response:
    """The whole store as gzipped N-Quads: a query worker writes it block by block, under the
    dump's time limits, into a temporary file, which is then sent at the client's pace (a
    slow client holds the file, neither a query worker nor a request thread; an answer taken
    straight from the worker held both for the whole download, and was cut at the dump's
    time limit). A dump that fails is an error, never a 200 cut short."""
    if request.method == "HEAD":  # its headers only (each HEAD made a whole dump for them)
        response = Response(b"", content_type="application/gzip")
        response.automatically_set_content_length = False  # (the length is the dump's, unknown)
        del response.headers["Content-Length"]
        response.headers["Content-Disposition"] = 'attachment; filename="provml.nq.gz"'
        return response
    if not _DUMPS.acquire(blocking=False):
        abort_json(503, f"{MAX_DUMPS} dumps are being made or taken; try again later",
                   headers={"Retry-After": "10"})
    spool = _DumpFile()
    try:
        blocks = runner().dump(store())
        try:
            for block in blocks:
                spool.file.write(block)
        finally:  # (at once if writing fails: a dump left unfinished kills its worker)
            close = getattr(blocks, "close", None)
            if close is not None:
                close()
        size = spool.file.tell()
        spool.file.seek(0)
    except BaseException:
        spool.close()
        raise
    response = Response(wrap_file(request.environ, spool, 64 * 1024),  # type: ignore[arg-type]
                        content_type="application/gzip", direct_passthrough=True)
    response.content_length = size
    response.headers["Content-Disposition"] = 'attachment; filename="provml.nq.gz"'
    return response


def _prefixed(fmt: RdfFormat) -> bool:
    return fmt in (RdfFormat.TURTLE, RdfFormat.RDF_XML, RdfFormat.TRIG, RdfFormat.N3)


def _content_type(media: str) -> str:
    return f"{media}; charset=utf-8" if media.startswith("text/") else media

