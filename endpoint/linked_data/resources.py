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
from collections.abc import Callable, Iterable, Sequence
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
    VARY,
    NotAcceptable,
    Unwritable,
    best_match,
    negotiate,
)
from provml.endpoint.sparql.results import NOT_XML, XML_TYPES, xml_safe
from provml.query.describe import ResourceDescription, describe, resource_triples
from provml.query.serialization import serialize_quads
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


def rdf_response(triples: Callable[[], Iterable[Triple]], offers: Sequence[str], *,
                 headers: dict[str, str] | None = None, named: bool = False,
                 html: Callable[[], str] | None = None) -> Response:
    """The answer in the client's first choice among ``offers`` that it can be written in
    (:func:`~provml.endpoint.negotiation.negotiate`, the one chain of every route): ``triples()``
    with prefixes in an RDF format, or the page ``html()`` for ``text/html``. JSON-LD is
    compacted with the ontologies' prefixes as its context, or expanded where ``Accept`` prefers
    the ``http://www.w3.org/ns/json-ld#expanded`` profile; where compaction cannot write the
    triples, the client's next choice (expanded JSON-LD, another type, the page) or 406; its
    ``Content-Type`` names the profile sent. ``application/json`` is JSON-LD read as plain JSON:
    compacted, expanded where compaction cannot write it. ``named``: a URL suffix named the one
    offer (``Accept`` then only chooses the JSON-LD form)."""
    base = config().instance_base
    kept: list[list[Triple]] = []

    def written(media: str, form: str | None) -> bytes:
        if media == "text/html" and html is not None:
            return html().encode("utf-8")
        if not kept:
            kept.append(list(triples()))
        if media in (JSONLD, "application/json"):
            return serialize_quads(kept[0], "jsonld", profile=form or "compacted", base=base,
                                   expand_unwritable=True)
        fmt = RDF_FORMATS[media]
        body = bytes(serialize(kept[0], format=fmt, prefixes=prefixes() if _prefixed(fmt) else None) or b"")
        if not xml_safe(media, body):  # never broken XML
            raise Unwritable(f"{NOT_XML}; Turtle (.ttl), N-Triples (.nt) and JSON-LD (.jsonld) can",
                             XML_TYPES)
        return body

    try:
        sent = negotiate(request.headers.get("Accept"), offers, written, named=named)
    except NotAcceptable as error:
        abort_json(406, str(error), headers=VARY)
    return _answer(sent.body, sent.content_type, headers)


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
    offers, description, named = _resolve(rest)
    page = public_url("/id/" + description.iri[len(config().instance_base) :])

    def html() -> str:
        return render_template(
            "resource.html",
            d=description,
            page=page,
            twins=[(suffix, mt) for suffix, mt in SUFFIXES.items()],
            local_url=local_url,
        )

    return rdf_response(lambda: resource_triples(reader(), description.iri), offers,
                        headers={"Link": _links(description.iri, page)}, named=named, html=html)


def _resolve(rest: str) -> tuple[tuple[str, ...], ResourceDescription, bool]:
    """The media types to answer among, the description of the resource ``rest`` names, and
    whether a suffix named the media type (the only offer then)."""
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
            return ((fixed,) if fixed else PAGE_OFFERS), description, fixed is not None
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
    if best_match(request.headers.get("Accept"), RDF_OFFERS) is None:  # (before counting)
        abort_json(406, "no acceptable format; offered: " + ", ".join(RDF_OFFERS), headers=VARY)
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
    return rdf_response(lambda: [_rebased(t, base) for t in triples], RDF_OFFERS)


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
