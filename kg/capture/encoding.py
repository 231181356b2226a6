"""Capture events as JSON text: one event (:func:`encode`) or a whole bag in one pass
(:func:`encode_bag`), with orjson when present and the standard library for what it cannot
take. Used by the flusher thread; kept apart so the thread's module holds only its state.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

from provml.capture.scopes import cycle_event, cycle_line

__all__ = ["as_event", "encode", "encode_bag"]


def _default(obj: Any) -> Any:
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return repr(obj)


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
        except (TypeError, ValueError) as exc:
            reject(event, str(exc))
    return lines, b"\n".join(lines)


def as_event(item: Any) -> dict[str, Any]:
    """A queued item as its event dict: a dict is one; a cycle's compact
    ``(is_begin, t, fields, used | generated)`` tuple is rendered."""
    if item.__class__ is tuple:
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
            return _ENCODER.encode(event)
        if "null" in line:
            return _ENCODER.encode(event)
        return line
    return _ENCODER.encode(event)
