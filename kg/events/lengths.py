"""How long a text of a capture event may be: what every RDF export of the store reads back.

pyoxigraph's parsers (``provml load``, ``provml validate``, the endpoint's Graph Store, any
Oxigraph) buffer the text of a term, as written, up to a fixed size and refuse a longer one
("Reached the buffer maximal size"). Before, ingest stored an event whose value was longer, and
an export of that store holding it failed to load, long after (JSON-LD past 8 MiB, N-Quads and
TriG past 16 MiB). Measured with
pyoxigraph 0.5.13, a literal's text written with its escapes (``\\n`` 2 bytes, ``\\u0001`` 6):

- N-Quads, N-Triples, Turtle, TriG: a statement's subject, predicate and object, as written from
  the subject's first byte to the object's closing quote, up to 16 MiB (16,777,216 bytes): a
  literal of 16,777,188 bytes after ``<http://e/s> <http://e/p> `` reads back, one byte more does
  not; a 100,000-byte subject takes 100,000 bytes off the literal (TriG and Turtle write a
  subject once for its statements, and the buffer does not add them up: five 5 MiB literals of
  one subject read back);
- JSON-LD: one JSON string (a literal, an ``@id``), quotes and escapes included, up to 8 MiB:
  8,388,606 bytes between its quotes read back, 8,388,607 do not, whatever the subject;
- RDF/XML: none met (a 40 MiB literal reads back).

A literal's text (a string value, a list or object value's JSON text, a message, a tag, a
location ...) may take :data:`MAX_WRITTEN`, 7 MiB, as written (:func:`written_size`: its UTF-8,
and 2 bytes for ``\\n`` or ``"``, 6 for ``\\u0001``), under JSON-LD's 8 MiB: a numeric matrix of
1000 × 1000 (4 MB of JSON text, a byte a character) is stored and reads back. A text is measured
so only past :data:`MAX_TEXT`, 1 MiB (1,048,576 characters, at most 6 MiB written): below it,
``len()`` is all it costs. Ingest's redaction may lengthen a text after the check (a secret
replaced by ``[redacted]``): ``provml.knowledge.redacted`` checks an event again when redaction
changed it, so what is stored is what was measured. A text that becomes part of an IRI (a
characteristic's or a package's name, a version, a spec's names) is bounded as the IRI segment
it is written as (percent-encoded: up to 12 characters a character) by :data:`MAX_TEXT`, and a
``domain`` IRI as it is, so that a statement's subject and object together stay well under
16 MiB. A ``spec`` event's spec is stored as one JSON literal (its document, with defaults each
part adds, at most ≈ 5.5 bytes a character of the spec's JSON written): its JSON text is bounded
by :data:`MAX_TEXT` characters.

The bound costs ``len()`` of each string an event stores; a list or object value is walked for
an upper bound of its JSON text's length, and written out only when that bound passes
:data:`MAX_TEXT`: ≈ 0.45 µs an event of a learning run (:func:`provml.events.check`, best of 7
passes: 6.0 → 6.5 µs). At the bound, the longest each is written reads back from every export format through
``provml load``; ``tests/test_event_text_bound.py`` keeps a value's and a list's (N-Quads, TriG,
JSON-LD).

>>> too_long({"kind": "task_end", "generated": [{"name": "report", "value": "\\n" * MAX_TEXT * 4}]})
('generated/0/value', 8388608, 'written')
>>> too_long({"kind": "task_end", "generated": [{"name": "loss", "value": 0.5}]}) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provml.events.spelling import json_text

__all__ = ["MAX_TEXT", "MAX_WRITTEN", "too_long", "written_over", "written_size"]

#: the longest text, in characters, of one IRI part made of an event's text (percent-encoded),
#: and of a spec's JSON text; a literal's text of at most this many characters is at most 6 MiB
#: written, so only a longer one is measured as written (:func:`written_size`)
MAX_TEXT = 1 << 20
#: the most bytes a literal's text (a string value, a list or object value's JSON text, a
#: message, a tag, a location ...) may take as the exports write it (:func:`written_size`):
#: under the 8 MiB of a JSON-LD string pyoxigraph's reader takes, with 1 MiB to spare
MAX_WRITTEN = 7 << 20

#: bytes (ASCII: in UTF-8 never part of another character) that N-Quads, TriG, Turtle and
#: JSON-LD write as a two-character escape (``\n``) ...
_SHORT_ESCAPES = b'\b\t\n\f\r"\\'
#: ... and as six (``\u0001``: the other control characters; DEL in all but JSON-LD)
_LONG_ESCAPES = bytes(c for c in (*range(0x20), 0x7F) if c not in _SHORT_ESCAPES)


def written_size(text: str) -> int:
    """The most bytes ``text`` takes as a literal's text in the exports (N-Quads, TriG, Turtle,
    JSON-LD; measured with pyoxigraph 0.5.13): its UTF-8, one byte more for each character
    written as a two-character escape, five more for each written as ``\\uXXXX``. Counted on
    the UTF-8 bytes (``bytes.translate``): ≈ 1–2 ms a MiB, whatever the text holds.

    >>> written_size("a\\n\\x01é"), written_size("[1,2]")
    (11, 5)
    """
    data = text.encode("utf-8", "surrogatepass")
    shorter = data.translate(None, _LONG_ESCAPES)
    return len(data) + 5 * (len(data) - len(shorter)) + len(shorter) - len(shorter.translate(None, _SHORT_ESCAPES))


def written_over(text: Any) -> int | None:
    """The bytes a literal's text ``text`` takes written when past :data:`MAX_WRITTEN`, else
    None (and for no string). ``len()`` alone up to :data:`MAX_TEXT` characters: the one rule
    for a literal's text, of an event (:func:`too_long`) or of RDF written directly
    (:mod:`provml.store.term_bound`, an update's strings)."""
    if not isinstance(text, str) or len(text) <= MAX_TEXT:
        return None
    size = written_size(text)
    return size if size > MAX_WRITTEN else None


def _bound(value: Any, room: int) -> int:
    """An upper bound of ``len(json_text(value))``; past ``room``, the walk stops and returns
    what it has counted (more than ``room``). Another type than JSON's counts as ``room + 1``
    (its length is only known written out)."""
    cls = value.__class__
    if cls is str:
        return 6 * len(value) + 2  # (a control character is \u0001 in JSON)
    if cls is float:
        return 24  # repr: "-2.2250738585072014e-308"; "-INF", "NaN" as strings
    if cls is int:
        return int(value.bit_length()) // 3 + 2  # (digits: bits × log10 2 < bits / 3)
    if cls is bool or value is None:
        return 5
    if cls is list or cls is tuple:
        size = 2 + len(value)  # the brackets and the commas
        for item in value:
            size += _bound(item, room - size)
            if size > room:
                break
        return size
    if cls is dict:
        size = 2 + len(value)  # the braces and the commas
        for key, item in value.items():  # (a key that is no string is written as its text, quoted)
            size += _bound(key, room - size) + (3 if key.__class__ is str else 5) + _bound(item, room - size)
            if size > room:
                break
        return size
    return room + 1


def _json_text(value: Any) -> str | None:
    """``value``'s JSON text when it may be longer than :data:`MAX_TEXT` characters, else None
    (also when it cannot be written or is nested too deep: translation and redaction say so)."""
    try:
        return None if _bound(value, MAX_TEXT) <= MAX_TEXT else json_text(value)
    except (TypeError, ValueError, RecursionError):
        return None


def _segment(text: str) -> int:
    """The length of ``text`` as an IRI segment (percent-encoded, :func:`provml.ingest.iris.slug`),
    counted only when it could pass :data:`MAX_TEXT` (a character takes up to 12)."""
    if 12 * len(text) <= MAX_TEXT:
        return len(text)
    from urllib.parse import quote

    return len(quote(text, safe="", errors="surrogatepass"))


def _literal(value: Any) -> tuple[int, str] | None:
    """``(bytes written, what)`` of a value stored as a literal (``literal()`` of the
    translation) when past :data:`MAX_WRITTEN`."""
    if isinstance(value, str):
        return None if (size := written_over(value)) is None else (size, "written")
    cls = value.__class__
    if cls is float or cls is int or cls is bool or value is None:
        return None
    size = written_over(_json_text(value))
    return None if size is None else (size, "JSON written")


def _text(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0


def _item(item: Mapping[str, Any]) -> tuple[str, int, str] | None:
    """The first text of one ``used`` or ``generated`` value past its bound."""
    if "value" in item and (found := _literal(item["value"])) is not None:
        return ("value", *found)
    data = item.get("data")
    if data is not None:
        for key in ("location", "media_type", "store_type"):
            if (size := written_over(data.get(key))) is not None:
                return (f"data/{key}", size, "written")
    if _text(item.get("domain")) > MAX_TEXT:
        return ("domain", len(item["domain"]), "IRI")
    if (size := written_over(item.get("tag"))) is not None:
        return ("tag", size, "written")
    for key, value in (item.get("characteristics") or {}).items():
        if isinstance(key, str) and (segment := _segment(key)) > MAX_TEXT:
            return ("characteristics", segment, "IRI segment")
        if (found := _literal(value)) is not None:
            return (f"characteristics/{key}", *found)
    return None


def _spec(spec: Mapping[str, Any]) -> tuple[str, int, str] | None:
    """A spec past its bounds: its JSON text (stored whole) or a name that becomes an IRI
    segment. Parts of the wrong shape are left to :func:`provml.ingest.spec.spec_of`."""
    text = _json_text(spec)
    if text is not None and len(text) > MAX_TEXT:  # (stored with defaults: up to ≈ 5.5 bytes a character)
        return ("spec", len(text), "JSON text")
    names: list[tuple[str, Any]] = [("spec/workflow", spec.get("workflow")), ("spec/study", spec.get("study"))]
    stores = spec.get("stores")
    if isinstance(stores, list):
        names += [(f"spec/stores/{k}/name", s.get("name")) for k, s in enumerate(stores) if isinstance(s, Mapping)]
    transformations = spec.get("transformations")
    for i, t in enumerate(transformations if isinstance(transformations, list) else ()):
        if not isinstance(t, Mapping):
            continue
        names.append((f"spec/transformations/{i}/name", t.get("name")))
        for direction in ("used", "generated"):
            attributes = t.get(direction)
            for j, a in enumerate(attributes if isinstance(attributes, list) else ()):
                if isinstance(a, Mapping):
                    names.append((f"spec/transformations/{i}/{direction}/{j}/name", a.get("name")))
    for field, name in names:
        if isinstance(name, str) and (size := _segment(name)) > MAX_TEXT:
            return (field, size, "IRI segment")
    return None


def too_long(event: Mapping[str, Any]) -> tuple[str, int, str] | None:
    """The first text of ``event`` (an event the schema passed) past its bound, as ``(field,
    length, what)``: ``what`` says what is counted, ``"written"`` (a literal's text, bytes as
    written: :data:`MAX_WRITTEN`), ``"JSON written"`` (a list or object value's JSON text, so),
    ``"JSON text"`` (a spec's, characters), ``"IRI"`` or ``"IRI segment"`` (characters,
    percent-encoded: :data:`MAX_TEXT`); None when every text is within its bound. Names and ids the schema bounds (200
    characters, a task's path 1,000) are not looked at."""
    for direction in ("used", "generated"):
        items = event.get(direction)
        if items:
            for i, item in enumerate(items):
                if (found := _item(item)) is not None:
                    return (f"{direction}/{i}/{found[0]}", found[1], found[2])
    for i, tag in enumerate(event.get("tags") or ()):
        if (size := written_over(tag)) is not None:
            return (f"tags/{i}", size, "written")
    error = event.get("error")
    if error is not None:
        for key in ("type", "message"):
            if (size := written_over(error.get(key))) is not None:
                return (f"error/{key}", size, "written")
    persona = event.get("persona")
    if persona is not None and (size := written_over(persona.get("name"))) is not None:
        return ("persona/name", size, "written")
    implementation = event.get("implementation")
    if implementation is not None and _segment(implementation.get("version") or "") > MAX_TEXT:
        return ("implementation/version", _segment(implementation["version"]), "IRI segment")
    meta = event.get("meta")
    if meta is not None:
        found = _meta(meta)
        if found is not None:
            return found
    spec = event.get("spec")
    if spec is not None:
        return _spec(spec)
    return None


def _meta(meta: Mapping[str, Any]) -> tuple[str, int, str] | None:
    for key in ("hostname", "platform", "python"):
        if (size := written_over(meta.get(key))) is not None:
            return (f"meta/{key}", size, "written")
    if (size := written_over((meta.get("job") or {}).get("id"))) is not None:
        return ("meta/job/id", size, "written")
    for name, value in (meta.get("env") or {}).items():  # stored as one literal, NAME=value
        if len(name) + 1 + len(value) > MAX_TEXT and (size := written_over(f"{name}={value}")) is not None:
            return (f"meta/env/{name[:100]}", size, "written")
    for name, version in (meta.get("packages") or {}).items():  # IRI segments: software/NAME/VERSION
        if (size := _segment(name) + _segment(version)) > MAX_TEXT:
            return (f"meta/packages/{name[:100]}", size, "IRI segment")
    return None
