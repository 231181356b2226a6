"""Capture events as JSON text: a whole bag in one orjson call (:func:`encode_items`, the
compact form), one event (:func:`encode`) or a bag as one line per event (:func:`encode_bag`,
for sinks that take events one by one and for what the compact form cannot hold), with orjson
when present and the standard library for what it cannot take. Used by the flusher thread;
kept apart so the thread's module holds only its state.

**The compact form** (a spool line, a body of ``POST /api/events``): a JSON array whose
elements are event objects or *compact cycle records* — ``[t_begin, t_end, [run, workflow,
name, iteration, parent, stage, stage_type], used, generated]`` for a cycle's begin and
end at once (a batch: :class:`provml.capture.scopes.Cycle`), ``[is_begin, t, [...], used |
generated]`` for one of them (a cycle with others nested in it) — the tuples the capture calls
queue, written as they are in one call (≈ 0.4 µs an event with redaction, 99 bytes a batch's
event; two records a batch with the cycle's id, as before: ≈ 0.5–0.7 µs and 183 bytes;
≈ 2.6 µs for a line per event). The cycle's id is not written: readers make it
(:func:`provml.capture.scopes.cycle_id`). :func:`expand` turns such an array back into events;
:func:`provml.capture.spool.read_events` and the endpoint do so, so every reader sees events
of ``docs/events.md``.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from typing import Any

from provml.capture.redact import _names as _known_names
from provml.capture.redact import redact_values
from provml.capture.scopes import CYCLE_FIELDS, cycle_event, cycle_line
from provml.events import double_spelling, spelled

__all__ = ["as_event", "encode", "encode_bag", "encode_items", "expand", "non_finite_as_double",
           "redact_items", "reject_line", "split_items"]


def _default(obj: Any) -> Any:
    """What JSON writes for a value it cannot take: a scalar's number (numpy, torch), an
    array's list, a path's text, else its ``repr``. Never raises: a value that fails every way
    (a torch tensor of several elements raised ``RuntimeError`` from ``item()``, and the
    flusher lost the events it had taken: an audit, twenty-first session) is written as its
    type's name."""
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return item()
        except Exception:  # noqa: BLE001 - not a scalar (several elements): its list below
            pass
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        try:
            return tolist()
        except Exception:  # noqa: BLE001 - its repr below
            pass
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, os.PathLike):
        try:
            return os.fspath(obj)
        except Exception:  # noqa: BLE001
            pass
    try:
        return repr(obj)
    except Exception:  # noqa: BLE001 - a repr that raises
        return f"<{type(obj).__name__} that cannot be written>"


def reject_line(event: Any) -> str:
    """``event`` as JSON text for the rejected file, whatever it holds: NaN as ``NaN``, what
    JSON cannot take as :func:`_default` writes it, and an event that cannot be written at all
    (a value that refers to itself) as its ``repr``. Never raises.

    >>> loop: list[Any] = []
    >>> loop.append(loop)
    >>> reject_line({"v": float("nan")}), json.loads(reject_line({"v": loop}))
    ('{"v": NaN}', {'unwritable': "{'v': [[...]]}"})
    """
    try:
        return json.dumps(event, default=_default)
    except Exception:  # noqa: BLE001 - a circular reference, a key JSON cannot take
        try:
            text = repr(event)
        except Exception:  # noqa: BLE001
            text = f"<{type(event).__name__} that cannot be written>"
        return json.dumps({"unwritable": text})


_ENCODER = json.JSONEncoder(default=_default, separators=(",", ":"), allow_nan=False)
_fast: Any = None  # orjson.dumps once imported (on first use: `import provml` stays light)


_fast_bytes: Any = None


def _orjson() -> Any:
    global _fast, _fast_bytes
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib still works
        _fast = _fast_bytes = False
        return False
    # no options: OPT_NON_STR_KEYS doubles the cost of every call; the rare event with a
    # non-string key raises TypeError and goes through the standard library instead
    _fast_bytes = functools.partial(orjson.dumps, default=_default)

    def dumps(event: dict[str, Any]) -> str:
        return _fast_bytes(event).decode()  # type: ignore[no-any-return]

    _fast = dumps
    return dumps


def warm() -> None:
    """Import the fast encoder now (it is imported on the flusher thread's first bag)."""
    if _fast is None:
        _orjson()


_NUMBERS = (float, int, bool)


def redact_items(items: list[Any]) -> int:
    """Redact the values of queued cycle records (a batch's ``generated`` is redacted here,
    on the flusher thread, not at the call; a cycle's ``used`` was at the call, by
    :func:`provml.capture.values.to_values`; :func:`provml.capture.redact.redact_values` is
    idempotent, so values redacted already pass unchanged).

    :returns: the number of events the items stand for (a one-record cycle is two).
    """
    known = _known_names
    merged = 0
    for i, item in enumerate(items):
        if item.__class__ is tuple:
            if len(item) == 5:  # (t_begin, t_end, fields, used, generated)
                merged += 1
            values = item[-1]
            if values:
                for value in values:  # the common case inlined: a number under a harmless name
                    if not (value.__class__ is dict and len(value) == 3 and "role" in value
                            and value.get("value").__class__ in _NUMBERS
                            and known.get(value.get("name")) is False):  # type: ignore[arg-type]
                        # a batch's generated values are the call's own tuple: a list replaces it
                        items[i] = (*item[:-1], redact_values(list(values)))
                        break
    return len(items) + merged


def split_items(items: list[Any]) -> list[Any]:
    """``items`` with each one-record cycle ``(t_begin, t_end, fields, used, generated)`` as
    its two records ``(True, t_begin, fields, used)`` and ``(False, t_end, fields,
    generated)`` — for what handles events one by one (lines, the spill and pending files)."""
    out = []
    for item in items:
        if item.__class__ is tuple and len(item) == 5:
            out.append((True, item[0], item[2], item[3]))
            out.append((False, item[1], item[2], item[4]))
        else:
            out.append(item)
    return out


def encode_items(items: list[Any]) -> tuple[bytes, int] | None:
    """A bag in the compact form (see the module): one JSON array, one orjson call, with the
    secrets in cycle values redacted first, and the number of events it holds. ``None`` when
    it cannot be written so — no orjson, a value orjson cannot take, or a ``null`` anywhere
    (orjson writes NaN and infinity as null): then :func:`encode_bag` renders the bag event by
    event and rejects what JSON cannot hold."""
    dumps = _fast_bytes if _fast is not None else (_orjson() and _fast_bytes)
    if not dumps:
        return None
    count = redact_items(items)
    try:
        blob: bytes = dumps(items)
    except TypeError:
        return None
    if b"null" in blob:
        return None
    return blob, count


def expand(items: list[Any]) -> list[dict[str, Any]]:
    """The events of a compact array (see the module): event objects as they are, compact
    cycle records rendered as ``cycle_begin`` and ``cycle_end`` events (the cycle's id, the
    events' ``task``, made from its parent, name and iteration: :func:`cycle_id`). Records
    whose fields hold the id too (eight fields, as written before) are read as well.

    :raises ValueError: an element that is neither an object nor a compact cycle record.

    >>> fields = ["r", "w", "epoch", 0, "s", "s", "training"]
    >>> [(e["kind"], e["task"]) for e in expand([[True, 1.5, fields, []], [False, 1.7, fields, []]])]
    [('cycle_begin', 's/epoch-0'), ('cycle_end', 's/epoch-0')]
    >>> [(e["kind"], e["t"]) for e in expand([[1.5, 1.7, fields, [], []]])]
    [('cycle_begin', 1.5), ('cycle_end', 1.7)]
    """
    out = []
    for number, item in enumerate(items):
        if isinstance(item, dict):
            out.append(item)
            continue
        key = _record_key(item)
        if key is not None:
            if len(item) == 4 and isinstance(item[0], bool):
                out.append(cycle_event((item[0], item[1], key, list(item[3] or ()))))
                continue
            if len(item) == 5 and all(isinstance(t, int | float) and not isinstance(t, bool)
                                      for t in item[:2]):
                out.append(cycle_event((True, item[0], key, list(item[3] or ()))))
                out.append(cycle_event((False, item[1], key, list(item[4] or ()))))
                continue
        raise ValueError(f"element {number} is neither an event object nor a compact cycle "
                         f"record [is_begin, t, [{', '.join(CYCLE_FIELDS)}], values] or "
                         "[t_begin, t_end, [...], used, generated]")
    return out


def _record_key(item: Any) -> tuple[Any, ...] | None:
    """The fields of a compact cycle record (``None``: not one), without the id."""
    if not (isinstance(item, list | tuple) and len(item) in (4, 5)
            and isinstance(item[2], list | tuple)
            and all(values is None or isinstance(values, list | tuple) for values in item[3:])):
        return None
    key = tuple(item[2])
    if len(key) == len(CYCLE_FIELDS) + 1:  # written with the id (before the fourth session)
        key = key[:2] + key[3:]
    if len(key) != len(CYCLE_FIELDS) or not isinstance(key[2], str) \
            or not isinstance(key[4], str):
        return None
    return key


def encode_bag(
    events: list[Any],
    reject: Callable[[dict[str, Any], str], None],
    heads: dict[Any, bytes] | None = None,
) -> tuple[list[bytes], bytes]:
    """A bag of events as JSON lines: each event's UTF-8 JSON text, and those lines joined by
    newlines (what the spool appends in one write). One orjson call per event, no other
    per-event Python work; an event that cannot be encoded (NaN, infinity, a value no encoder
    takes) is handed to ``reject`` with the reason and left out."""
    if _fast is None:
        _orjson()
    dumps = _fast_bytes
    if heads is None:
        heads = {}
    redact_items(events)
    events = split_items(events)
    if dumps:
        try:
            lines: list[bytes] = [
                cycle_line(item, dumps, heads) if item.__class__ is tuple else dumps(item)
                for item in events
            ]
        except TypeError:
            pass
        else:
            blob = b"\n".join(lines)
            if b"null" not in blob:  # orjson writes NaN as null: look closer only then
                return lines, blob
    lines = []
    for item in events:
        event = as_event(item)
        try:
            lines.append(encode(event).encode())
        except Exception as exc:  # noqa: BLE001 - NaN, a circular value ...: that event only
            reject(event, f"{type(exc).__name__}: {exc}" if not isinstance(
                exc, TypeError | ValueError) else str(exc))
    return lines, b"\n".join(lines)


def as_event(item: Any) -> dict[str, Any]:
    """A queued item as its event dict: a dict is one; a cycle's compact
    ``(is_begin, t, fields, used | generated)`` tuple is rendered (a one-record cycle stands
    for two events: :func:`split_items` first).

    :raises ValueError: a one-record cycle.
    """
    if item.__class__ is tuple:
        if len(item) != 4:
            raise ValueError("a one-record cycle is two events: split_items() first")
        if item[3]:  # a batch's generated values may be the call's own tuple: a new list
            item = (*item[:3], redact_values(list(item[3])))
        return cycle_event(item)
    return item  # type: ignore[no-any-return]


def encode(event: dict[str, Any]) -> str:
    """One event as compact JSON text (numpy/torch scalars become numbers, others ``repr``).

    orjson does the work (≈ 0.3 µs an event, 15× the standard library); what it cannot
    encode (integers beyond 64 bits) and any event holding ``null`` — orjson writes NaN and
    infinity as null, JSON cannot hold them — go through the standard library, which raises
    ``ValueError`` for NaN.

    :raises ValueError: a NaN or infinite number.
    :raises TypeError: a value neither encoder can take.

    >>> encode({"v": 1, "t": 1.5, "kind": "spec"})
    '{"v":1,"t":1.5,"kind":"spec"}'
    """
    event = as_event(event)
    dumps = _fast if _fast is not None else _orjson()
    if dumps:
        try:
            line: str = dumps(event)
        except TypeError:
            return _standard(event)
        if "null" in line:
            return _standard(event)
        return line
    return _standard(event)


def _standard(event: dict[str, Any]) -> str:
    """``event`` through the standard library's encoder; a value that is NaN or infinite (a
    diverged loss) written as ``"double"`` (:func:`non_finite_as_double`).

    :raises ValueError: a NaN or infinite number elsewhere (inside a list, a field of its own).
    """
    try:
        return _ENCODER.encode(event)
    except ValueError:
        fixed = non_finite_as_double(event)
        if fixed is None:
            raise
        return _ENCODER.encode(fixed)


def _scalar(value: Any) -> Any:
    """``value`` as the number JSON would be given for it (a numpy or torch scalar's
    ``item()``), or ``value``."""
    if value.__class__ is float or isinstance(value, int | str | bool | dict | list | None):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except Exception:  # noqa: BLE001 - not a scalar: the encoder writes it as a list
            return value
    return value


def non_finite_as_double(event: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of ``event`` whose used and generated values that are NaN or infinite (a float,
    numpy or torch scalar) carry it as ``"double": "NaN" | "INF" | "-INF"`` instead of
    ``"value"`` (the event format's spelling, as XSD writes it: JSON has no such numbers), and
    whose list and object values write such numbers inside them as those strings
    (:func:`provml.events.spelled`: a metric per class with a NaN is kept; the list or object
    values are copies even without one); None when it has no such value, nor any list, object
    or array value. The event is not changed.

    >>> non_finite_as_double({"generated": [{"name": "loss", "value": float("nan")}]})
    {'generated': [{'name': 'loss', 'double': 'NaN'}]}
    >>> non_finite_as_double({"generated": [{"name": "f1", "value": [0.5, float("inf")]}]})
    {'generated': [{'name': 'f1', 'value': [0.5, 'INF']}]}
    >>> non_finite_as_double({"generated": [{"name": "loss", "value": 0.5}]}) is None
    True
    """
    out: dict[str, Any] | None = None
    for field in ("used", "generated"):
        values = event.get(field)
        if not isinstance(values, list):
            continue
        fixed: list[Any] | None = None
        for i, value in enumerate(values):
            if not isinstance(value, dict) or "value" not in value:
                continue
            number = _scalar(value["value"])
            if isinstance(number, float):
                if math.isfinite(number):
                    continue
                entry = {k: v for k, v in value.items() if k != "value"}
                entry["double"] = double_spelling(number)
            elif isinstance(number, str | int | bool) or number is None:
                continue
            else:  # a list, an object, an array: NaN and infinities inside it spelled out (the
                # rest written as the encoder writes it: this event's encoding already failed)
                entry = {**value, "value": spelled(number, _default)}
            if fixed is None:
                fixed = list(values)
            fixed[i] = entry
        if fixed is not None:
            out = dict(event) if out is None else out
            out[field] = fixed
    return out
