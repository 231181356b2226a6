"""The broker's dead letters (the stream ``provml:dead``): what was rejected, and sending a bag
back to ``provml:events`` once what rejected it is fixed (``provml dead-letters``).

Three kinds of entries land there (docs/deployment.md):

* a bag a worker rejected: it breaks the event format or the shapes (``stage`` ``worker``; the
  report holds the error and, for the shapes, the SHACL report);
* a bag whose validated quads the writer could not read (``stage`` ``writer``: a faulty worker,
  or anyone who can write to Redis, put a bad entry in ``provml:quads``); the bag itself is
  usually sound, and sending it back writes it;
* a ``provml:quads`` entry whose bag ids do not read, kept whole (its fields as
  ``entry:<field>``, no bag): its bags stayed pending in ``provml:events`` and were reclaimed.
  It holds no bag to send back; once looked at, it can be dropped.

Sending back (:func:`retry`) moves each entry in one Lua script, atomic in Redis: the bag is
appended to ``provml:events`` (a new id; a worker takes it as any other bag) and only then is the
dead letter deleted, so no failure in between loses a bag; an entry already gone (another
operator sent it back or dropped it meanwhile) is skipped. A bag that is still bad is rejected
again, under a new id. Nodes have deterministic IRIs: a bag written twice stores nothing twice.

>>> DeadLetter.of("1-0", {b"id": b"5-0", b"bag": b'[{"v": 1}]', b"report": b'{"error": "EventError", "message": "no kind"}'}).events
1
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provml.capture.broker import DEAD, EVENTS

__all__ = ["DeadLetter", "NotFound", "NotRetryable", "drop", "find", "kept", "pages", "read",
           "retry"]

#: a stream id (``1733480000000-0``); anything else names no entry
_STREAM_ID = re.compile(r"(?P<ms>[0-9]{1,20})(-(?P<seq>[0-9]{1,20}))?")
#: entries read from Redis at a time
_PAGE = 500
#: the most bag bytes one script moves (Redis runs a script alone: a few ms at a time)
_SCRIPT_BYTES = 4 * 1024 * 1024
#: bags up to this size are parsed to count their events (a larger one: its size only)
_COUNTED_BYTES = 1024 * 1024

# KEYS: the dead stream, the events stream; ARGV: the send time, then (dead id, bag, events) triples.
# Each bag is appended before its dead letter is deleted (a failure in between leaves both: a bag
# sent twice writes nothing twice), and only while the dead letter is still there.
_MOVE = """
local moved = {}
for i = 2, #ARGV, 3 do
  if #redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i], 'COUNT', 1) == 1 then
    redis.call('XADD', KEYS[2], '*', 'bag', ARGV[i + 1], 'n', ARGV[i + 2], 't', ARGV[1])
    redis.call('XDEL', KEYS[1], ARGV[i])
    moved[#moved + 1] = ARGV[i]
  end
end
return moved
"""


def kept(body: Any) -> bytes:
    """A bag as a dead letter keeps it: its events redacted as the pipeline redacts what it
    stores (:func:`provml.capture.redact.redact_event`), or, when it is no JSON array, its
    text redacted (:func:`~provml.capture.redact.redact_text`). A bag rejected before it was
    stored may not have come through the capture client: its secrets stayed in Redis, and
    ``provml dead-letters show`` printed them (an audit, twenty-first session).

    >>> kept(b'[{"kind": "task_end", "error": {"type": "E", "message": "password=hunter2"}}]')
    b'[{"kind": "task_end", "error": {"type": "E", "message": "password=[redacted]"}}]'
    >>> kept(b'not json, token=ghp_abc')
    b'not json, token=[redacted]'
    """
    from provml.capture.redact import redact_event, redact_text

    if body is None:
        return b""
    raw = body if isinstance(body, bytes) else str(body).encode()
    try:
        events = json.loads(raw)
        if not isinstance(events, list):
            raise ValueError("not a bag")
        redacted = [redact_event(e) if isinstance(e, Mapping) else e for e in events]
    except (ValueError, RecursionError):  # (UnicodeDecodeError is one; RecursionError: nested too deep)
        # bytes that are no UTF-8 kept as \\xNN escapes, not replaced: a retry is refused again
        # rather than storing altered text (a probe, twenty-sixth session)
        return redact_text(raw.decode("utf-8", "backslashreplace")).encode()
    if all(a is b for a, b in zip(redacted, events, strict=True)):
        return raw
    return json.dumps(redacted).encode()


class NotFound(LookupError):
    """Ids that are not in ``provml:dead``."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(f"no dead letter {', '.join(ids)} in {DEAD} (`provml dead-letters list` shows them)")
        self.ids = tuple(ids)


class NotRetryable(ValueError):
    """Dead letters that hold no bag to send back."""

    def __init__(self, letters: Sequence[DeadLetter]) -> None:
        super().__init__(
            f"{', '.join(d.dead_id for d in letters)} hold{'s' if len(letters) == 1 else ''} no bag to send back "
            f"(a quads entry kept whole, or a bag no longer in {EVENTS} when it was rejected): "
            "nothing to retry; look at it with `provml dead-letters show`, then drop it")
        self.letters = tuple(letters)


@dataclass(frozen=True)
class DeadLetter:
    """One entry of ``provml:dead``.

    ``dead_id``: its id in ``provml:dead``; ``source_id``: the id the bag had in
    ``provml:events`` (for an entry kept whole: its id in ``provml:quads``); ``stage``: who
    rejected it (``worker`` or ``writer``); ``events``: how many events the bag holds (``None``:
    no bag, a body that is not a JSON array, or one over 1 MiB, not parsed to count them);
    ``bag``: the body as the client sent it
    (``b""``: none); ``report``: the error, its message and, for the shapes, the SHACL report;
    ``entry_fields``: the fields of a ``provml:quads`` entry kept whole.
    """

    dead_id: str
    source_id: str
    stage: str
    error: str
    message: str
    events: int | None
    bag: bytes
    report: Mapping[str, Any] = field(repr=False)
    entry_fields: tuple[str, ...] = ()

    @classmethod
    def of(cls, dead_id: Any, fields: Mapping[Any, Any]) -> DeadLetter:
        """The dead letter of a ``provml:dead`` entry as Redis gives it (bytes or text)."""
        text = {_text(k): v for k, v in fields.items()}
        raw = text.get("report", b"{}")
        try:
            report = json.loads(raw)
        except (ValueError, RecursionError):  # (nested too deep: every command on the stream failed)
            report = {"error": "unreadable report", "message": _text(raw)[:200]}
        if not isinstance(report, dict):
            report = {"error": "unreadable report", "message": _text(raw)[:200]}
        bag = text.get("bag", b"")
        bag = bag if isinstance(bag, bytes) else str(bag).encode()
        try:
            parsed = json.loads(bag) if bag and len(bag) <= _COUNTED_BYTES else None
        except (ValueError, RecursionError):  # a bag nested past the recursion limit: not JSON here
            parsed = None
        return cls(
            dead_id=_text(dead_id), source_id=_text(text.get("id", b"")),
            stage=str(report.get("stage", "worker")), error=str(report.get("error", "")),
            message=str(report.get("message", "")), events=len(parsed) if isinstance(parsed, list) else None,
            bag=bag, report=report,
            entry_fields=tuple(sorted(k.removeprefix("entry:") for k in text if k.startswith("entry:"))))

    @property
    def retryable(self) -> bool:
        """Whether it holds a bag to send back."""
        return bool(self.bag)

    def summary(self) -> dict[str, Any]:
        """Its line of ``provml dead-letters list --format json``: everything but the bag and
        the SHACL report."""
        return {"dead_id": self.dead_id, "source_id": self.source_id, "stage": self.stage,
                "error": self.error, "message": self.message, "events": self.events, "bytes": len(self.bag),
                "retryable": self.retryable, **({"entry_fields": list(self.entry_fields)} if self.entry_fields else {})}

    def to_dict(self) -> dict[str, Any]:
        """All of it (``provml dead-letters show``): the bag as JSON when it is JSON, else as text."""
        try:
            bag: Any = json.loads(self.bag) if self.bag else None
        except (ValueError, RecursionError):
            bag = self.bag.decode("utf-8", "replace")
        return {**self.summary(), "report": dict(self.report), "bag": bag}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def pages(redis: Any, *, limit: int | None = None) -> Iterator[list[DeadLetter]]:
    """The dead letters, oldest first (at most ``limit``), a page at a time: a long stream of
    large bags is never in memory whole."""
    start, seen = "-", 0
    while limit is None or seen < limit:
        page = redis.xrange(DEAD, min=start, max="+", count=_PAGE if limit is None else min(_PAGE, limit - seen))
        if page:
            yield [DeadLetter.of(i, f) for i, f in page]
        seen += len(page)
        if len(page) < _PAGE:
            break
        start = "(" + _text(page[-1][0])


def read(redis: Any, *, limit: int | None = None) -> list[DeadLetter]:
    """The dead letters, oldest first (at most ``limit``)."""
    return [d for page in pages(redis, limit=limit) for d in page]


def find(redis: Any, ids: Iterable[str]) -> list[DeadLetter]:
    """The dead letters of ``ids``, in that order.

    :raises NotFound: some are not in ``provml:dead`` (none is returned then).
    """
    found: dict[str, DeadLetter] = {}  # (one letter once, however its id is spelt: 5 and 5-0)
    missing = []
    for dead_id in dict.fromkeys(ids):
        entry = redis.xrange(DEAD, min=dead_id, max=dead_id, count=1) if _stream_id(dead_id) else []
        if entry:
            letter = DeadLetter.of(*entry[0])
            found.setdefault(letter.dead_id, letter)
        else:
            missing.append(dead_id)
    if missing:
        raise NotFound(missing)
    return list(found.values())


def _stream_id(text: str) -> bool:
    """Whether ``text`` is a stream id Redis takes (each part below 2^64)."""
    m = _STREAM_ID.fullmatch(text)
    return m is not None and int(m["ms"]) < 2**64 and int(m["seq"] or 0) < 2**64


def retry(redis: Any, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
    """Send the bags of ``letters`` back to ``provml:events`` and delete their dead letters
    (see the module's text), in scripts of up to 4 MiB of bags each (Redis runs a script alone);
    returns those moved (one already gone is not). A failure part-way (Redis gone) leaves the
    scripts before it done: their bags are back, their dead letters gone.

    :raises NotRetryable: some hold no bag (nothing is moved then).
    """
    empty = [d for d in letters if not d.retryable]
    if empty:
        raise NotRetryable(empty)
    move = redis.register_script(_MOVE)
    moved: set[str] = set()
    chunk: list[DeadLetter] = []
    size = 0
    for d in [*letters, None]:  # (None: the last chunk)
        if chunk and (d is None or size + len(d.bag) > _SCRIPT_BYTES or len(chunk) >= _PAGE):
            args: list[Any] = [repr(time.time())]
            for each in chunk:
                args += [each.dead_id, each.bag, each.events or 0]
            moved.update(_text(x) for x in move(keys=[DEAD, EVENTS], args=args))
            chunk, size = [], 0
        if d is not None:
            chunk.append(d)
            size += len(d.bag)
    return [d for d in letters if d.dead_id in moved]


def drop(redis: Any, letters: Sequence[DeadLetter]) -> int:
    """Delete ``letters`` from ``provml:dead``; returns how many were still there."""
    ids = [d.dead_id for d in letters]
    return sum(int(redis.xdel(DEAD, *ids[i : i + _PAGE])) for i in range(0, len(ids), _PAGE))
