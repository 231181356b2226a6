"""The broker's streams as its workers and its one writer use them: the consumer groups, the
lag, who is alive, waiting for Redis (:mod:`provml.ingest.worker`, :mod:`provml.ingest.writer`).

The streams and groups themselves are named in :mod:`provml.capture.broker` (the capture side
appends to ``provml:events``); this module adds the hashes and counters the ingest side keeps.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from provml.capture.broker import DEAD, EVENTS, QUADS, WORKERS, WRITERS, connect
from provml.capture.redact import safe_url

__all__ = ["ALIVE", "GROUP", "GROUP_FIRST", "GROUP_MOST", "SPECS", "WRITER_LINGER_S", "WRITTEN", "Lag", "Retrying", "alive", "as_text",
           "begin_step", "ensure_groups", "id_key", "lag", "unwritten", "wait_for_broker", "writer_group"]

log = logging.getLogger("provml.ingest.streams")

SPECS = "provml:specs"
ALIVE = "provml:alive"  # consumer name -> the time of its last step (workers and writers)
WRITTEN = "provml:written"  # events written (a counter; a redelivered bag counts again)

#: the quads entries (a worker's validated batch each, ≈ 400–800 events) the writer takes at
#: once at first, and the most it grows to: each group takes half the entries written so far
#: (:class:`provml.ingest.writer.Writer`), as ``provml load``'s groups grow; it says how many in
#: :data:`GROUP`, and the workers let that many wait for it (``max_backlog``: at least). Every
#: group's bulk load adds files overlapping the whole store, which RocksDB merges into ever larger
#: levels; the larger the store, the more each merge rewrites, so the larger the group should be.
#: Draining 10^6 events, growing groups wrote 5,544 / 5,656 events/s against 4,706–5,544 with
#: groups of at most 64, half the compactions, for a writer's peak memory of ≈ 1.7 GB against
#: 0.7 (docs/benchmarks.md, twenty-sixth session).
GROUP_FIRST = 64
GROUP_MOST = 256
GROUP = "provml:group"  # the most entries the writer's next group takes (set by the writer)
#: how long the writer lets entries gather after a group that took fewer than it could (it is
#: ahead of the workers), counted from when it read that group: each group's bulk load adds
#: files that RocksDB merges again, so a writer that wrote whatever one entry brought paid its
#: compactions many times over (one worker: ≈ 75 µs an event in RocksDB's threads, two: ≈ 31;
#: docs/benchmarks.md, thirty-first session). It adds at most this much to an event's latency.
WRITER_LINGER_S = 0.5
#: the largest :data:`GROUP` a worker believes (anyone who can write to Redis can set it)
GROUP_BELIEVED = 65_536


def writer_group(redis: Any) -> int:
    """The most entries the writer's next group takes, as it said (:data:`GROUP`; 0: not said)."""
    found = redis.get(GROUP)
    try:
        return min(max(int(found), 0), GROUP_BELIEVED) if found is not None else 0
    except ValueError:
        return 0


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


class Retrying:
    """How a worker's or the writer's loop goes on after a step fails: it waits, logs, and
    never ends (the writer thread of ``provml serve --broker`` ended for good on ``NOGROUP``).

    - **The wait** is redis-py's exponential backoff with equal jitter: 0.25–0.5 s after the
      first failure, doubling up to 2.5–5 s (``CAP_S``); ``stop`` ends it at once.
    - **The log** has a failure once, then again only when its text changes or ``REPEAT_S``
      later (saying how many were not logged), and one line when a step succeeds again: a
      persistent error answer logged two lines a second, without end (hostile probe, 17th
      session).
    """

    CAP_S = 5.0
    BASE_S = 0.25
    REPEAT_S = 60.0

    def __init__(self, stop: threading.Event | None) -> None:
        from redis.backoff import EqualJitterBackoff

        self.stop = stop
        self.failures = 0
        self._delays = EqualJitterBackoff(cap=self.CAP_S, base=self.BASE_S)
        self._said = ""
        self._said_at = 0.0
        self._unsaid = 0

    def failed(self, level: int, text: str) -> None:
        """Log ``text`` (unless just logged) and wait before the next step."""
        self.failures += 1
        now = time.monotonic()
        if text != self._said or now - self._said_at >= self.REPEAT_S:
            if self._unsaid and text != self._said:  # the count belongs to the text before
                log.log(level, "%s: %d more times, not logged", self._said, self._unsaid)
                self._unsaid = 0
            unsaid = f" ({self._unsaid} more failures like it not logged)" if self._unsaid else ""
            log.log(level, "%s; retrying%s", text, unsaid)
            self._said, self._said_at, self._unsaid = text, now, 0
        else:
            self._unsaid += 1
        delay = self._delays.compute(min(self.failures, 32))  # (redis-py 5 overflowed at 1,024)
        if self.stop is None:
            time.sleep(delay)
        else:
            self.stop.wait(delay)

    def answered(self, consumer: Any, exc: Exception) -> None:
        """A Redis error answer to a step of ``consumer`` (a worker or the writer: its
        ``_groups``): streams or groups gone (``NOGROUP``: Redis restarted without its data)
        are created again at the next step."""
        if "NOGROUP" in str(exc):
            consumer._groups = False
            self.failed(logging.WARNING, "the broker lost its streams or groups (restarted "
                                         "empty?): creating them again")
        else:
            self.failed(logging.ERROR, f"the broker answered with an error ({exc})")

    def succeeded(self) -> None:
        """A step went through: the next failure waits from the start again."""
        if self.failures:
            if self._unsaid:
                log.warning("%s: %d more times, not logged", self._said, self._unsaid)
            log.warning("the step went through again after %d failures", self.failures)
            self.failures, self._said, self._unsaid = 0, "", 0


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
