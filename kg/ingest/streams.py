"""The broker's streams as its workers and its one writer use them: the consumer groups, the
lag, who is alive, waiting for Redis (:mod:`provml.ingest.worker`, :mod:`provml.ingest.writer`).

The streams and groups themselves are named in :mod:`provml.capture.broker` (the capture side
appends to ``provml:events``); this module adds the hashes and counters the ingest side keeps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from provml.capture.broker import DEAD, EVENTS, QUADS, WORKERS, WRITERS, connect
from provml.capture.redact import safe_url

__all__ = ["ALIVE", "SPECS", "WRITTEN", "Lag", "alive", "answered", "as_text", "begin_step", "ensure_groups", "id_key",
           "lag", "unwritten", "wait_for_broker"]

log = logging.getLogger("provml.ingest.streams")

SPECS = "provml:specs"
ALIVE = "provml:alive"  # consumer name -> the time of its last step (workers and writers)
WRITTEN = "provml:written"  # events written (a counter; a redelivered bag counts again)


def ensure_groups(redis: Any) -> None:
    """Create the streams and consumer groups when missing (idempotent)."""
    import redis as redis_module

    for stream, group in ((EVENTS, WORKERS), (QUADS, WRITERS)):
        try:
            redis.xgroup_create(stream, group, id="0", mkstream=True)
        except redis_module.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


@dataclass(frozen=True)
class Lag:
    """How far ingest is behind: bags not yet read, bags read but not yet written, dead bags."""

    unread_bags: int
    pending_bags: int
    unwritten_quads: int
    dead_bags: int
    written_events: int
    workers: int = 0
    writers: int = 0

    @property
    def behind(self) -> int:
        """Bags captured but not yet written."""
        return self.unread_bags + self.pending_bags

    def to_dict(self) -> dict[str, int]:
        return {"unread_bags": self.unread_bags, "pending_bags": self.pending_bags,
                "unwritten_quads": self.unwritten_quads, "dead_bags": self.dead_bags,
                "written_events": self.written_events, "behind": self.behind,
                "workers": self.workers, "writers": self.writers}


def lag(redis: Any) -> Lag:
    """The ingest lag, from the consumer groups (``XINFO GROUPS``: ``lag`` and ``pending``)."""
    ensure_groups(redis)
    unread, pending = _group_lag(redis, EVENTS, WORKERS)
    quads_unread, quads_pending = _group_lag(redis, QUADS, WRITERS)
    written = redis.get(WRITTEN)
    live = alive(redis)
    return Lag(unread, pending, quads_unread + quads_pending, int(redis.xlen(DEAD)), int(written or 0),
               len(live["workers"]), len(live["writers"]))


def _group_lag(redis: Any, stream: str, name: str) -> tuple[int, int]:
    """A consumer group's entries not read yet, and read but not acknowledged."""
    for info in redis.xinfo_groups(stream):
        if as_text(info["name"]) == name:
            unread = info.get("lag")
            if unread is None:  # Redis < 7 or an unknown lag: count what is after last-delivered
                unread = len(redis.xrange(stream, min="(" + as_text(info["last-delivered-id"]), count=10_000))
            return int(unread), int(info["pending"])
    return 0, 0


def unwritten(redis: Any) -> int:
    """Entries of ``provml:quads`` the writer has not acknowledged, read or not (one small
    command: without Redis 7's ``lag``, the stream's length, which counts for at most a second
    what was acknowledged and not yet trimmed, instead of reading the entries)."""
    for info in redis.xinfo_groups(QUADS):
        if as_text(info["name"]) == WRITERS:
            unread = info.get("lag")
            return int(info["pending"]) + int(unread) if unread is not None else int(redis.xlen(QUADS))
    return 0


def as_text(value: Any) -> str:
    """A Redis answer's bytes as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def begin_step(consumer: Any) -> None:
    """Create the consumer groups on the first step of ``consumer`` (a worker or the writer: its
    ``redis``, ``name`` and ``_groups``; Redis may have been restarting when it started), then
    say it is alive."""
    if not consumer._groups:
        ensure_groups(consumer.redis)
        consumer._groups = True
    _heartbeat(consumer)


def _heartbeat(consumer: Any) -> None:
    now = time.time()
    if now - getattr(consumer, "_beat", 0.0) >= 2.0:
        consumer._beat = now
        consumer.redis.hset(ALIVE, consumer.name, repr(now))


def alive(redis: Any, *, within_s: float = 10.0) -> dict[str, list[str]]:
    """The workers and writers that stepped in the last ``within_s`` seconds, by role."""
    now = time.time()
    out: dict[str, list[str]] = {"workers": [], "writers": []}
    for name, beat in redis.hgetall(ALIVE).items():
        if now - float(beat) <= within_s:
            text = as_text(name)
            out["workers" if text.startswith("worker") else "writers"].append(text)
    return out


def answered(consumer: Any, exc: Exception) -> None:
    """A Redis error answer to a worker's or the writer's step (``consumer``: its ``_groups``):
    streams or groups gone (``NOGROUP``: Redis restarted without its data) are created again at
    the next step; any other is logged; both wait a moment and go on, never end the loop (the
    writer thread of ``provml serve --broker`` ended for good on ``NOGROUP``)."""
    if "NOGROUP" in str(exc):
        log.warning("the broker lost its streams or groups (restarted empty?): creating them again")
        consumer._groups = False
    else:
        log.error("the broker answered with an error (%s); retrying", exc)
    time.sleep(0.5)


def id_key(stream_id: str) -> tuple[int, int]:
    """A stream id's order (milliseconds, sequence)."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def wait_for_broker(url: str, *, timeout_s: float = 60.0) -> None:
    """Wait until Redis answers and has the consumer groups (a restart may be under way).

    :raises redis.RedisError: it did not answer within ``timeout_s``.
    """
    import redis as redis_module

    deadline = time.monotonic() + timeout_s
    while True:
        client = connect(url)
        try:
            client.ping()
            ensure_groups(client)
            return
        except (redis_module.ConnectionError, redis_module.TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("waiting for the broker %s: %s", safe_url(url), exc)
            time.sleep(0.5)
        finally:
            client.close()
