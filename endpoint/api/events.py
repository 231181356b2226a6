"""``POST /api/events``: the capture client's HTTP sink.

The body is a JSON array of events or ``{"events": [...]}`` (``docs/events.md``; an element
may be a compact cycle record, the form the capture client sends, see
:mod:`provml.capture.encoding`), sent with
``Content-Type: application/json`` and the write token, optionally with ``Content-Encoding:
gzip`` (the capture client compresses bodies over 1 KiB). Answers:

- 202 ``{"ok": true, "events": n, "triples": m, "graphs": [...], "batches": k}`` — the batch
  is stored. Batches that wait for the store at once are written together
  (:mod:`provml.ingest.commits`): ``triples`` and ``graphs`` are then those of the write that
  stored this batch with ``k - 1`` others (``k`` = 1: alone); each batch keeps its own verdict;
- 400 — the body is not JSON (with the line and column), not an array / ``{"events": [...]}``,
  or an object in it has a key twice (``key``);
- 401 / 403 — no token / a wrong one (nothing read, nothing stored);
- 503 with ``Retry-After`` — another write held the store for a whole time limit (a batch
  takes its turn with SPARQL updates and Graph Store writes: their steps never interleave);
- 413 — larger than ``MAX_BODY_MB`` (a gzip body: before or after decompression); 415 — not
  ``application/json``, or a ``Content-Encoding`` other than ``gzip``;
- 422 — an event breaks the wire format (``event``, ``kind``, ``field``, ``rule``), a ``spec``
  event's specification is malformed, or the batch breaks the SHACL shapes (``report``);
  nothing is stored.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

from provml.capture.encoding import expand
from provml.endpoint.auth import require_write
from provml.endpoint.context import KG_KEY, runner
from provml.endpoint.errors import abort_json
from provml.endpoint.limits import InputRefused, check_json_depth
from provml.endpoint.negotiation import media_type
from provml.endpoint.sparql.outcomes import QueryRejected
from provml.errors import EventError, ValidationFailed
from provml.events import check
from provml.ingest.commits import Committer, Expired
from provml.ingest.spec import SpecError

__all__ = ["bp", "parse_batch"]

bp = Blueprint("events_api", __name__)

#: where the app keeps its :class:`~provml.ingest.commits.Committer`
COMMITS_KEY = "provml.commits"


@bp.record_once
def _committer(state: BlueprintSetupState) -> None:
    state.app.extensions[COMMITS_KEY] = Committer(state.app.extensions[KG_KEY], max_weight=MAX_VALUES)


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


@bp.post("/api/events")
@require_write
def post_events() -> tuple[Response, int]:
    """Ingest one batch of capture events: stored, or rejected whole (4xx, the store unchanged);
    see ``KnowledgeGraph.ingest_events`` for a failure of the store after validation."""
    kind, params = media_type(request.headers.get("Content-Type"))
    if kind != "application/json" and not kind.endswith("+json"):
        abort_json(415, f"send the events as application/json, not {kind or 'no Content-Type'}")
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        abort_json(415, f"events must be UTF-8, not {params['charset']}")
    events, values = _parse(_body())
    commits: Committer = current_app.extensions[COMMITS_KEY]
    writes = runner()
    try:
        check(events)  # (before its turn: a batch the format refuses never joins a group)
        # the store held as for updates and Graph Store writes: their steps never interleave
        result = commits.ingest(events, hold=writes.writing, limit_s=writes.timeout_s,
                                weight=values, checked=True)
    except Expired:
        raise QueryRejected from None
    except EventError as exc:
        abort_json(422, str(exc), event=exc.fields.get("index"), kind=exc.fields.get("kind"),
                   field=exc.fields.get("field"), rule=exc.fields.get("rule"),
                   **{k: exc.fields[k] for k in ("size", "limit") if k in exc.fields})
    except SpecError as exc:
        abort_json(422, str(exc))
    except ValidationFailed as exc:
        report = getattr(exc, "report", None)
        abort_json(422, str(exc), report=report.to_dict() if report is not None else None)
    body = {"ok": True, "events": result.events, "triples": result.triples,
            "graphs": list(result.graphs), "batches": result.batches}
    return jsonify(body), 202


def _body() -> bytes:
    """The request body, gunzipped when sent with ``Content-Encoding: gzip`` (what the capture
    client sends); the decompressed body is bounded by the same ``MAX_BODY_MB`` (413)."""
    data = request.get_data(cache=False)
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding == "identity":
        return data
    if encoding != "gzip":
        abort_json(415, f"Content-Encoding {encoding!r} is not supported; send gzip or none")
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 64 * 1024 * 1024
    parts: list[bytes] = []
    size = 0
    while True:  # gzip members one after another (RFC 1952), as `cat a.gz b.gz` makes them
        inflater = zlib.decompressobj(wbits=31)  # gzip framing
        try:
            out = inflater.decompress(data, limit + 1 - size)
        except zlib.error as exc:
            abort_json(400, f"the gzip body does not decompress: {exc}")
        size += len(out)
        if size > limit or inflater.unconsumed_tail:
            abort_json(413, f"the decompressed body is larger than the limit ({limit} bytes, MAX_BODY_MB)")
        if not inflater.eof:
            abort_json(400, "the gzip body is truncated")
        parts.append(out)
        data = inflater.unused_data
        if not data:
            return b"".join(parts)
        if not data.startswith(b"\x1f\x8b"):  # (they were ignored: a probe, 22nd session)
            abort_json(400, f"the gzip body has {len(data)} bytes after its gzip data that are no "
                            "gzip member; send the gzip data only")


#: the most JSON values (counted as their ``,``, ``[`` and ``{``, strings' too) a body may hold:
#: each parsed value is a Python object (64 MiB of ``[],`` took the server 1.7 GB; memory
#: probe, 18th session); the capture client's bags hold one such value every ≈ 20 bytes
MAX_JSON_VALUES = 4_000_000
#: the most events (a compact cycle record is two) a request may hold: a bag's ingest takes
#: ≈ 250 times its JSON in memory at its peak (80,000 cycles, 13 MiB, took 3.3 GB; a probe,
#: 22nd session); the capture client sends bags of 50 records and splits a bag on 413
MAX_EVENTS = 20_000
#: the most used and generated values a request's events may hold together, a spec event's
#: transformations, their attributes and its stores counted as values: each costs its ingest ≈ 0.2–0.3 ms
#: when every name is new (≈ 1.1 ms before the 23rd session; one event with 20,000 values held
#: the store's write lock 79 s on a loaded machine, and a SIGTERM waited for it: a probe, 22nd
#: session; a spec of 20,000 attributes took 2.2 s, and a 64 MiB body holds ≈ 600,000); a
#: capture client's bag of 50 records holds about a hundred
MAX_VALUES = 5_000


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (the capture client never sends one)")


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key[:100]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members, refusing a key given twice: ``json.loads`` keeps the last, another
    reader (a proxy that checked the first) may keep the first (a probe, 22nd session). ≈ 0.8 µs
    an event of a learning run's plain events (1.3 MB parsed in 11.9 ms, 8.3 without)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return members


def parse_batch(data: bytes) -> Sequence[Mapping[str, Any]]:
    """The events of a request body: a JSON array, or an object with an ``events`` array.

    :raises ApiError: 400 when the body is not UTF-8 JSON of one of those two shapes.

    >>> parse_batch(b'{"events": [{"v": 1}]}')
    [{'v': 1}]
    """
    return _parse(data)[0]


def _parse(data: bytes) -> tuple[Sequence[Mapping[str, Any]], int]:
    """:func:`parse_batch`'s events, and the values they hold (counted once: the limit's and
    the group commit's weight)."""
    values = data.count(b",") + data.count(b"[") + data.count(b"{")  # (first: it is cheap)
    if values > MAX_JSON_VALUES:
        abort_json(413, f"the events body holds {values:,} JSON values or more; this endpoint "
                        f"takes at most {MAX_JSON_VALUES:,} a request: send smaller bags")
    try:
        check_json_depth(data, what="events body")
    except InputRefused as exc:
        abort_json(400, str(exc))
    try:
        body = json.loads(data.decode("utf-8"), parse_constant=_not_json, object_pairs_hook=_unique_keys)
    except _RepeatedKey as exc:
        abort_json(400, f"the body has an object with the key {exc.key!r} twice; send each key of an "
                        "object once (I-JSON, RFC 7493: which of the two a reader keeps is not defined)",
                   key=exc.key)
    except UnicodeDecodeError as exc:
        abort_json(400, f"the body is not UTF-8 (byte {exc.start})")
    except json.JSONDecodeError as exc:
        abort_json(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column "
                        f"{exc.colno}", line=exc.lineno, column=exc.colno)
    except ValueError as exc:  # NaN / Infinity, an integer of more than 4,300 digits
        abort_json(400, f"the body is not valid JSON: {str(exc)[:200]}")
    if _SURROGATE.search(data):
        try:  # json.loads pairs surrogates; a lone one stays and cannot be stored
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            abort_json(400, "the body has a lone UTF-16 surrogate escape (\\ud800-\\udfff) in "
                            "a string: that is not a Unicode character; send valid text")
    events = body.get("events") if isinstance(body, dict) else body
    if not isinstance(events, list):
        abort_json(400, 'expected a JSON array of events or {"events": [...]}')
    if any(isinstance(event, list) for event in events):  # the capture client's compact form
        try:
            events = expand(events)
        except ValueError as exc:
            abort_json(422, f"a compact bag: {exc}")
    return events, _check_size(events)


def _check_size(events: Sequence[Any]) -> int:
    """413 for a batch past :data:`MAX_EVENTS` events or :data:`MAX_VALUES` values; else its
    values."""
    if len(events) > MAX_EVENTS:
        abort_json(413, f"the batch holds {len(events):,} events; this endpoint takes at most "
                        f"{MAX_EVENTS:,} a request: send smaller bags")
    values = _values(events)
    if values > MAX_VALUES:
        abort_json(413, f"the batch's events hold {values:,} used and generated values (a spec's "
                        "transformations, attributes and stores counted as values); this endpoint takes "
                        f"at most {MAX_VALUES:,} a request: send smaller bags (or fewer values an "
                        "event, a smaller spec)")
    return values


def _values(events: Sequence[Any]) -> int:
    """The used and generated values of ``events``, a spec's transformations, their attributes
    and its stores counted as values (what :data:`MAX_VALUES` bounds)."""
    values = 0
    for event in events:
        if isinstance(event, Mapping):
            values += _values_in(event)
            spec = event.get("spec")
            if isinstance(spec, Mapping):
                if isinstance(steps := spec.get("transformations"), list):
                    values += len(steps) + sum(_values_in(t) for t in steps if isinstance(t, Mapping))
                if isinstance(stores := spec.get("stores"), list):
                    values += len(stores)  # (100,000 stores, 3.4 MB, took 3.4 s: a review)
    return values


def _values_in(owner: Mapping[str, Any]) -> int:
    """How many entries ``owner``'s ``used`` and ``generated`` lists hold."""
    return sum(len(items) for field in ("used", "generated") if isinstance(items := owner.get(field), list))
