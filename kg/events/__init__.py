"""The capture-event wire format: its JSON Schema and the check every batch goes through.

>>> check([{"v": 1, "kind": "workflow_begin", "t": 1.0, "run": "r1", "workflow": "wf"}])
>>> check([{"v": 1, "kind": "task_begin", "t": 1.0, "run": "r1", "workflow": "wf"}])
Traceback (most recent call last):
...
provml.errors.EventError: event 0 (task_begin): field '(event)': must contain ['name', 'task'] properties
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from provml.errors import EventError
from provml.events.lengths import MAX_TEXT, MAX_WRITTEN, too_long, written_size
from provml.events.spelling import double_spelling, json_text, spelled

__all__ = ["MAX_TEXT", "MAX_WRITTEN", "SCHEMA_VERSION", "schema", "check", "double_spelling", "domain_iri_rule", "json_text",
           "spelled", "text_too_long", "too_long", "warm_up", "written_size"]

SCHEMA_VERSION = 1


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of version 1 events (``provml/events/schemas/events-v1.json``)."""
    from importlib.resources import files  # (here: the capture library imports this module)

    text = files("provml.events").joinpath("schemas/events-v1.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


@cache
def _validator() -> Any:
    import fastjsonschema

    return fastjsonschema.compile(schema())


def domain_iri_rule(text: Any) -> str | None:
    """What is wrong with ``text`` as the IRI of a domain concept (the schema's ``iri``: what a
    value's ``domain`` and a spec's ``domain_concept`` take), or ``None`` when it is one.

    >>> domain_iri_rule("https://w3id.org/provml/oil-gas#Well"), domain_iri_rule("oilgas:Well") is not None
    (None, True)
    """
    import re

    if isinstance(text, str) and re.search(schema()["$defs"]["iri"]["pattern"], text):
        return None
    return _ID_RULES["domain"]


@cache
def _by_kind() -> dict[str, Any]:
    """A validator per ``kind``: the schema with the clauses that depend on the kind alone
    (``allOf`` of ``if kind … then required …``) resolved for it. Equivalent to the whole
    schema for an event of that kind, and about half its cost: fastjsonschema evaluates each
    ``if`` that does not hold by raising and catching an exception (13 → 7.5 µs an event of a
    learning run). Empty when the schema has clauses of another form."""
    import copy

    import fastjsonschema

    whole = schema()
    clauses = whole.get("allOf", [])
    for clause in clauses:
        condition = clause.get("if", {})
        if set(clause) != {"if", "then"} or set(condition) != {"properties"} \
                or set(condition["properties"]) != {"kind"} or set(clause["then"]) != {"required"} \
                or not set(condition["properties"]["kind"]) <= {"const", "enum"}:
            return {}
    out = {}
    for kind in whole["properties"]["kind"]["enum"]:
        resolved = copy.deepcopy(whole)
        del resolved["allOf"]
        required = list(resolved["required"])
        for clause in clauses:
            test = clause["if"]["properties"]["kind"]
            if kind in test.get("enum", ()) or ("const" in test and kind == test["const"]):
                required += [name for name in clause["then"]["required"] if name not in required]
        resolved["required"] = required
        resolved["properties"]["kind"] = {"const": kind}
        out[kind] = fastjsonschema.compile(resolved)
    return out


def warm_up() -> None:
    """Compile the validators :func:`check` uses now (≈ 0.25 s of CPU, once per process) rather
    than on the first batch: a long-running consumer calls it at start-up."""
    _validator()
    _by_kind()


#: the schema's rules for a value (``used``, ``generated``) that fastjsonschema words as
#: "must NOT match a disallowed definition" and "cannot be validated by any definition"
_VALUE_RULES = {
    "not": "holds both 'value' and 'double'; send one: 'double' is for NaN, INF and -INF only",
    "anyOf": "needs 'value' (or 'double' for NaN, INF, -INF), 'data' or 'domain'; an evaluation "
             "needs 'value' or 'double'",
}


#: the ids' patterns in words
_ID_RULES = {
    "domain": "must be an absolute IRI (https://...); a prefixed name such as oilgas:Well_16_2 is "
              "not expanded (it was stored as an IRI of scheme oilgas, linked to nothing): write the "
              "whole IRI, https://w3id.org/provml/oil-gas#Well_16_2",
    "run": "must be 1-200 characters of A-Z a-z 0-9 . _ ~ -, and not . or .. (it is part of IRIs)",
    **dict.fromkeys(("task", "parent"), "must be segments of A-Z a-z 0-9 . _ ~ - joined by /, none "
                    "of them . or .. (it is part of IRIs, where a browser resolves those)"),
}


def _is_value(path: Sequence[Any]) -> bool:
    """Whether a schema error's path (``data``, field, ...) names one value of a list."""
    return len(path) == 3 and path[1] in ("used", "generated") and str(path[2]).isdigit()


def check(events: Sequence[Mapping[str, Any]]) -> None:
    """Check a batch against the schema; the first broken event raises.

    Uses compiled validators (fastjsonschema), one per kind of event (:func:`_by_kind`); an
    event they refuse, or of no known kind, goes through the whole schema, whose error is the
    one reported. About 7.5 µs an event of a learning run. Then each text the event stores (a
    value, a message, a tag, a location, a name made part of an IRI) is held to its bound
    (:func:`provml.events.lengths.too_long`: ``len()`` of its strings, ≈ 0.45 µs an event).

    :raises EventError: naming the event (index and kind), the field and the rule it breaks; a
        text past its bound also gives ``size`` and ``limit``.
    """
    import fastjsonschema

    validator = _validator()
    by_kind = _by_kind()
    for index, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise EventError(index=index, kind="?", field="(event)", rule="an event is a JSON object")
        kind = event.get("kind")
        if kind is None:  # (the schema's own words named the fields of some kinds instead: a probe)
            raise EventError(index=index, kind="?", field="kind",
                             rule="every event names its kind (workflow_begin, task_end, ...: docs/events.md)")
        fast = by_kind.get(kind) if isinstance(kind, str) else None
        t = event.get("t")
        if t != t:  # NaN: no JSON Schema bound refuses it (a JSON line read by Python may hold one)
            raise EventError(index=index, kind=str(kind), field="t", rule="must be a number of seconds, not NaN")
        if fast is not None:
            try:
                fast(event)
            except fastjsonschema.JsonSchemaValueException:
                fast = None  # the whole schema says why, in its words
        if fast is None:
            try:
                validator(event)
            except fastjsonschema.JsonSchemaValueException as exc:
                field = "/".join(str(p) for p in exc.path[1:]) or "(event)"
                rule = _VALUE_RULES.get(str(exc.rule), "") if _is_value(exc.path) else \
                    _ID_RULES.get(field.rsplit("/", 1)[-1] if field.endswith("/domain") else field, "") \
                    if exc.rule == "pattern" else ""
                rule = rule or exc.message.removeprefix("data").lstrip(". ")
                raise EventError(index=index, kind=str(event.get("kind", "?")), field=field, rule=rule) from None
        if (found := too_long(event)) is not None:
            raise text_too_long(index, str(kind), *found)


def text_too_long(index: int, kind: str, field: str, size: int, what: str) -> EventError:
    """The error of a text past its bound (:func:`provml.events.lengths.too_long`): a literal's
    text past :data:`MAX_WRITTEN` bytes as written, an IRI part or a spec past :data:`MAX_TEXT`
    characters."""
    written = what in ("written", "JSON written")
    counted = {"written": "bytes as written", "JSON written": "bytes of JSON text as written",
               "JSON text": "characters of JSON text", "IRI": "characters of IRI",
               "IRI segment": "characters as an IRI segment (percent-encoded)"}[what]
    limit, unit = (MAX_WRITTEN, "7 MiB as written: UTF-8, escapes included") if written else (MAX_TEXT, "1 MiB")
    return EventError(
        index=index, kind=kind, field=field, size=size, limit=limit,
        rule=f"holds {size:,} {counted}, more than the {limit:,} ({unit}) an event's text may take: "
             "an export of the store holding it could not be read back (RDF parsers buffer a term of "
             "at most 8 MiB as written, in JSON-LD). Keep such data as a file and capture its location "
             "(a data reference: a value's \"data\"; docs/events.md), or send a shorter text")
