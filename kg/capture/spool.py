
"""Spools: capture events as JSON lines on disk, appended, read back and replayed.

A spool file holds one event (``docs/events.md``) per line, or a bag of them as one JSON array
in the compact form (:mod:`provml.capture.encoding`: event objects and compact cycle records,
written in one call); :func:`read_events` yields events either way. The capture client writes
four kinds, all in the spool directory:

* ``<client>.jsonl`` — diskful mode: every event, appended before it is sent;
* ``pending-<client>.jsonl`` — events not yet accepted by the sink (down, unreachable, or
  ``close()`` timed out); the same client replays them when the sink is back; what is left when
  it exits is not replayed by a later client, ``provml load <spool dir>`` loads it;
* ``spill-<client>.jsonl`` — events that overflowed the in-memory queue, written by the caller's
  thread and taken back in order by the flusher thread (renamed ``*.taking.jsonl`` while it reads
  them); ``provml load`` loads one left behind;
* ``rejected-<client>.jsonl`` — bags the sink refused (validation failed): one JSON object per
  line, ``{"rejected_at": t, "report": ..., "events": [...]}``; never loaded automatically.

Durability (fsync policy): each bag is written and flushed to the operating system at once
(it survives a crash of the Python process); ``os.fsync`` runs at most once per
``fsync_interval_s`` (default 1 s) and on every flush and close of the client, so a power
loss or kernel crash loses at most about one second of events.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "s.jsonl"
>>> with SpoolWriter(path) as w:
...     w.append(['{"v":1,"kind":"spec"}'])
>>> [e["kind"] for e in read_events(path)]
['spec']
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from provml.capture.encoding import expand
from provml.closing import Closing

__all__ = [
    "SpoolWriter",
    "default_spool_dir",
    "read_events",
    "replay",
    "spool_files",
]

log = logging.getLogger("provml.capture.scopes")


def default_spool_dir() -> Path:
    """Where events spill when no spool directory was given: ``$PROVML_HOME/spool``, else
    ``~/.provml/spool``."""
    home = os.environ.get("PROVML_HOME")
    base = Path(home) if home else Path.home() / ".provml"
    return base / "spool"


class SpoolWriter(Closing):
    """Append-only JSON-lines file; one writer thread at a time.

    :param path: the file (created with its parent directories, appended to if it exists).
    :param fsync_interval_s: fsync at most this often; 0 fsyncs after every append.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 (long-lived)
        self._size = os.fstat(self._file.fileno()).st_size  # where the next line starts
        self._fsync_interval_s = fsync_interval_s
        self._last_sync = time.monotonic()
        self.lines = 0

    def append(self, lines: Sequence[str] | Sequence[bytes], *, joined: bytes | None = None) -> None:
        """Write the lines (JSON texts without newline, ``str`` or UTF-8 ``bytes``) in one
        write and flush them to the OS.

        :param joined: the same lines already joined by newlines (saves the join).
        :raises OSError: the disk is full or the file is gone. What the write had put in the
            file is cut off again (:meth:`_cut`): the lines can be appended once more, and
            the file holds no half line (a full disk left one, the retried lines were
            appended to it, and ``provml load`` refused the file: an audit, twenty-first
            session).
        """
        if not lines:
            return
        if joined is None:
            text = isinstance(lines[0], str)
            joined = "\n".join(lines).encode() if text else b"\n".join(lines)  # type: ignore[arg-type]
        if self._file.closed:  # a write failed: open again (OSError while the disk refuses)
            self._file = open(self.path, "ab")  # noqa: SIM115 (long-lived)
            self._size = os.fstat(self._file.fileno()).st_size
        data = joined + b"\n"
        now = time.monotonic()
        try:
            self._file.write(data)
            self._file.flush()
            if now - self._last_sync >= self._fsync_interval_s:
                # (inside: a failed fsync cuts the lines off too, so the caller's retry
                # writes them once, not twice: a review, twenty-first session)
                os.fsync(self._file.fileno())
                self._last_sync = now
        except OSError:
            self._cut()
            raise
        self._size += len(data)
        self.lines += len(lines)

    def _cut(self) -> None:
        """Drop what a failed write left: close the file (its buffer with it) and cut it back
        to its size before the write."""
        with contextlib.suppress(OSError, ValueError):
            self._file.close()  # (flushes what it can: cut off below)
        if not self._file.closed:  # pragma: no cover - close() closes the file descriptor
            return
        with contextlib.suppress(OSError):
            os.truncate(self.path, self._size)

    def sync(self) -> None:
        """Flush and fsync now."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        """fsync and close (idempotent)."""
        if not self._file.closed:
            self.sync()
            self._file.close()



def read_events(
    path: str | os.PathLike[str],
    *,
    on_error: Callable[[int, str, str], object] | None = None,
    on_truncated: Callable[[int, str], object] | None = None,
) -> Iterator[dict[str, Any]]:
    """The events of one spool file, in order.

    A line is an event, or a bag of events in the compact form (a JSON array, expanded by
    :func:`provml.capture.encoding.expand`). A truncated last line (the process died
    mid-write: no newline after it) is skipped with a warning; a bad line anywhere else is an
    error — or, with ``on_error``, handed to it and skipped.

    :param on_error: called with the line number, the line and what is wrong with it, for each
        line that is not a JSON object (the capture client's flusher keeps such lines in its
        ``rejected-*`` file instead of stopping).
    :param on_truncated: called with the line number and the line for a truncated last line,
        instead of the warning (``provml load`` reports it; the flusher keeps its text).
    :raises ValueError: a line that is not a JSON object, naming the file and line number
        (without ``on_error``).
    """
    path = Path(path)
    with open(path, "rb") as handle:
        lines = handle.read().split(b"\n")
    last = len(lines) - 1
    while last >= 0 and not lines[last].strip():
        last -= 1
    # only a last line with no newline after it can have been cut off; one that ends with its
    # newline was written whole, and a bad one is a bad line (it was called cut off: a probe)
    cut = last == len(lines) - 1
    for number, raw in enumerate(lines[: last + 1], start=1):
        if not raw.strip():
            continue
        line = raw.decode("utf-8", "replace")
        try:
            event = json.loads(raw)  # strict UTF-8: a corrupt byte is a bad line
        except (ValueError, RecursionError) as exc:  # (JSONDecodeError, UnicodeDecodeError, an
            # integer past Python's digits, nesting past its recursion limit: a bad line each)
            if number == last + 1 and cut:
                if on_truncated is None:
                    log.warning("%s:%d: skipping a truncated last line", path, number)
                else:
                    on_truncated(number, line)
                return
            reason = _unreadable(exc)
            if on_error is None:
                raise ValueError(f"{path}:{number}: not a JSON event: {reason}") from exc
            on_error(number, line, f"not a JSON event: {reason}")
            continue
        if isinstance(event, list):  # a bag in the compact form
            try:
                events = expand(event)
            except ValueError as exc:
                if on_error is None:
                    raise ValueError(f"{path}:{number}: not a bag of events: {exc}") from exc
                on_error(number, line, f"not a bag of events: {exc}")
                continue
            yield from events
            continue
        if not isinstance(event, dict):
            if on_error is None:
                raise ValueError(f"{path}:{number}: not a JSON object")
            on_error(number, line, "not a JSON object")
            continue
        yield event


def _unreadable(exc: Exception) -> str:
    """Why a line is no JSON, in the words of the data rather than of Python's limits."""
    if isinstance(exc, RecursionError):
        return "nested too deep to read (arrays or objects past Python's recursion limit)"
    if "integer string conversion" in str(exc):
        return "a number of more than 4,300 digits (write it as a string)"
    return str(exc)


#: the suffixes of spool files (JSON lines), found in a directory whatever their case
SPOOL_SUFFIXES = (".jsonl", ".ndjson")


def spool_files(path: str | os.PathLike[str]) -> list[Path]:
    """The loadable spool files under ``path`` (a file, or a directory searched recursively);
    ``rejected-*`` files are left out (they are reports, not events)."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*") if p.suffix.lower() in SPOOL_SUFFIXES and p.is_file()
        and not p.name.startswith("rejected-")
    )


def replay(
    path: str | os.PathLike[str],
    send: Callable[[list[dict[str, Any]]], object],
    *,
    bag_size: int = 500,
) -> int:
    """Send every event of the spool file(s) at ``path`` through ``send`` in bags.

    Re-sending is idempotent (IRIs are deterministic), so replaying a spool twice stores
    nothing twice.

    :param path: a spool file or a directory of them.
    :param send: called with each bag, e.g. ``open_kg(store).ingest_events``.
    :param bag_size: events per call.
    :returns: the number of events sent.
    """
    count = 0
    for file in spool_files(path):
        bag: list[dict[str, Any]] = []
        for event in read_events(file):
            bag.append(event)
            if len(bag) >= bag_size:
                send(bag)
                count += len(bag)
                bag = []
        if bag:
            send(bag)
            count += len(bag)
    return count
