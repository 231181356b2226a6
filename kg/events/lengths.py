"""How long a text of a capture event may be: what every RDF export of the store reads back.

pyoxigraph's parsers (``provml load``, ``provml validate``, the endpoint's Graph Store, any
Oxigraph) buffer the text of a term, as written, up to a fixed size and refuse a longer one
("Reached the buffer maximal size"). Before, ingest stored an event whose value was longer, and
every export of that store (N-Quads, TriG, JSON-LD) failed to load, long after. Measured with
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

A character of a literal's text is written in at most 6 bytes in each of them (a control
character as ``\\u0001``; outside the BMP, 4 bytes of UTF-8). So a literal's text is bounded by
:data:`MAX_TEXT`, 1 MiB (1,048,576 characters): at most 6 MiB written, under JSON-LD's 8 MiB,
with room for what ingest's redaction adds (``key=[redacted]``: at most ≈ 3 bytes a character it
replaces, measured on its patterns). A list or object value is stored as its JSON text
(:func:`json_text`, an ``rdf:JSON`` literal), bounded the same; a text that becomes part of an
IRI (a characteristic's or a package's name, a version, a spec's names) is bounded as the IRI
segment it is written as (percent-encoded: up to 12 characters a character), and a ``domain``
IRI as it is, so that a statement's subject and object together stay well under 16 MiB. A
``spec`` event's spec is stored as one JSON literal (its document, with defaults each part
adds, at most ≈ 5.5 bytes a character of the spec's JSON written): its JSON text is bounded too.

The bound is checked with ``len()`` on strings; a list or object value is walked for an upper
bound of its JSON text's length, and written out only when that bound passes the limit: ≈ 0.45
µs an event of a learning run (:func:`provml.events.check`: 6.0 → 6.5 µs). At the bound, the
longest each is written reads back from every export format through ``provml load``, measured
for a value, a location and an environment variable of 1 MiB of control characters, a list
value's JSON text, a ``domain`` IRI, a package's name and version, and a characteristic's name
of 😀 as long as it may be with such a value (in one N-Quads statement: 19 MB of export read
back); ``tests/test_event_text_bound.py`` keeps the value's and the list's (N-Quads, TriG,
JSON-LD).

>>> too_long({"kind": "task_end", "generated": [{"name": "report", "value": "x" * (MAX_TEXT + 1)}]})
('generated/0/value', 1048577, 'text')
>>> too_long({"kind": "task_end", "generated": [{"name": "loss", "value": 0.5}]}) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provml.events.spelling import json_text

__all__ = ["MAX_TEXT", "too_long"]

#: the longest text, in characters, of one literal an event may give (a string value, a list or
#: object value's JSON text, a message, a tag, a location ...) and of one IRI part made of an
#: event's text, as written: longer, an export of the store could not be read back (see above)
MAX_TEXT = 1 << 20


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


def _json_over(value: Any) -> int | None:
    """The length of ``value``'s JSON text when it is longer than :data:`MAX_TEXT`, else None
    (also when it cannot be written or is nested too deep: translation and redaction say so)."""
    try:
        if _bound(value, MAX_TEXT) <= MAX_TEXT:
            return None
        size = len(json_text(value))
    except (TypeError, ValueError, RecursionError):
        return None
    return size if size > MAX_TEXT else None


def _segment(text: str) -> int:
    """The length of ``text`` as an IRI segment (percent-encoded, :func:`provml.ingest.iris.slug`),
    counted only when it could pass :data:`MAX_TEXT` (a character takes up to 12)."""
    if 12 * len(text) <= MAX_TEXT:
        return len(text)
    from urllib.parse import quote

    return len(quote(text, safe="", errors="surrogatepass"))


def _literal(value: Any) -> tuple[int, str] | None:
    """``(length, what)`` of a value stored as a literal (``literal()`` of the translation)
    when longer than :data:`MAX_TEXT`."""
    if isinstance(value, str):
        return (len(value), "text") if len(value) > MAX_TEXT else None
    cls = value.__class__
    if cls is float or cls is int or cls is bool or value is None:
        return None
    size = _json_over(value)
    return None if size is None else (size, "JSON text")


def _text(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0


def _item(item: Mapping[str, Any]) -> tuple[str, int, str] | None:
    """The first text of one ``used`` or ``generated`` value past its bound."""
    if "value" in item and (found := _literal(item["value"])) is not None:
        return ("value", *found)
    data = item.get("data")
    if data is not None:
        for key in ("location", "media_type", "store_type"):
            if _text(data.get(key)) > MAX_TEXT:
                return (f"data/{key}", len(data[key]), "text")
    if _text(item.get("domain")) > MAX_TEXT:
        return ("domain", len(item["domain"]), "IRI")
    if _text(item.get("tag")) > MAX_TEXT:
        return ("tag", len(item["tag"]), "text")
    for key, value in (item.get("characteristics") or {}).items():
        if isinstance(key, str) and (size := _segment(key)) > MAX_TEXT:
            return ("characteristics", size, "IRI segment")
        if (found := _literal(value)) is not None:
            return (f"characteristics/{key}", *found)
    return None


def _spec(spec: Mapping[str, Any]) -> tuple[str, int, str] | None:
    """A spec past its bounds: its JSON text (stored whole) or a name that becomes an IRI
    segment. Parts of the wrong shape are left to :func:`provml.ingest.spec.spec_of`."""
    written = _json_over(spec)
    if written is not None:
        return ("spec", written, "JSON text")
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
    length, what)``: ``what`` says what is counted, ``"text"`` (characters), ``"JSON text"``
    (a list or object value's, or a spec's), ``"IRI"`` or ``"IRI segment"`` (percent-encoded);
    None when every text is within :data:`MAX_TEXT`. Names and ids the schema bounds (200
    characters, a task's path 1,000) are not looked at."""
    for direction in ("used", "generated"):
        items = event.get(direction)
        if items:
            for i, item in enumerate(items):
                if (found := _item(item)) is not None:
                    return (f"{direction}/{i}/{found[0]}", found[1], found[2])
    for i, tag in enumerate(event.get("tags") or ()):
        if len(tag) > MAX_TEXT:
            return (f"tags/{i}", len(tag), "text")
    error = event.get("error")
    if error is not None:
        for key in ("type", "message"):
            if _text(error.get(key)) > MAX_TEXT:
                return (f"error/{key}", len(error[key]), "text")
    persona = event.get("persona")
    if persona is not None and _text(persona.get("name")) > MAX_TEXT:
        return ("persona/name", len(persona["name"]), "text")
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
        if _text(meta.get(key)) > MAX_TEXT:
            return (f"meta/{key}", len(meta[key]), "text")
    if _text((meta.get("job") or {}).get("id")) > MAX_TEXT:
        return ("meta/job/id", len(meta["job"]["id"]), "text")
    for name, value in (meta.get("env") or {}).items():  # stored as one literal, NAME=value
        if len(name) + 1 + len(value) > MAX_TEXT:
            return (f"meta/env/{name[:100]}", len(name) + 1 + len(value), "text")
    for name, version in (meta.get("packages") or {}).items():  # IRI segments: software/NAME/VERSION
        if (size := _segment(name) + _segment(version)) > MAX_TEXT:
            return (f"meta/packages/{name[:100]}", size, "IRI segment")
    return None
