"""The one writer of an embedded store in broker mode: the quads the workers validated
(``provml:quads``, :mod:`provml.ingest.handover`) into the store, a group at a time, then
acknowledged with their bags (see :mod:`provml.ingest.worker` for the streams). A group that
fails for its contents is written entry by entry, and an entry that fails alone is
dead-lettered with its bags (:meth:`Writer._write`), so the writer never stops on one.
:class:`WriterThread` runs it inside another process (``provml serve --broker``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from provml.capture.broker import DEAD, EVENTS, QUADS, TYPES, WORKERS, WRITERS, connect
from provml.capture.redact import redact_text
from provml.errors import Error
from provml.ingest.dead_letters import kept
from provml.ingest.handover import Group, check_entry, entry_bags, write_group
from provml.ingest.plan_reads import Reads
from provml.ingest.streams import (
    GROUP,
    GROUP_FIRST,
    GROUP_MOST,
    WRITER_LINGER_S,
    WRITTEN,
    Retrying,
    as_text,
    begin_step,
    id_key,
    lag,
    writer_group,
)
from provml.knowledge import KnowledgeGraph
from provml.store.oxigraph import OxigraphStore

__all__ = ["Writer", "WriterThread"]

log = logging.getLogger("provml.ingest.writer")

#: how long ``WriterThread.lag`` answers from its last look at Redis (``/health``)
LAG_TTL_S = 0.5

_Entry = tuple[Any, dict[Any, Any], list[str]]  # a quads entry's id, fields and bag ids


class Writer:
    """The one writer of an embedded store: quads from ``provml:quads`` into the store.

    :param url: the Redis URL.
    :param kg: the knowledge graph over the on-disk store (this process owns it).
    :param batch: most quads entries (a worker's batch each) in a group at first.
    :param batch_most: most entries in a group once grown: each group takes up to half the entries
        this writer has written so far, between ``batch`` and ``batch_most``
        (:data:`~provml.ingest.streams.GROUP_MOST`; the writer's memory grows with it: ≈ 1.8 GB
        at 256 entries of ≈ 700 events). Below ``batch``: groups of ``batch``. Groups are as
        large only as what waits: the workers' ``max_backlog`` bounds that.
    :param latency_key: a Redis list that gets, per written event, the seconds from its capture
        time to its commit (for benchmarks); ``None``: not recorded.
    :param atomic: passed to the store's ``add``. A group of bags is not written all or
        nothing: a large group goes through the bulk loader, which is not atomic (see
        :meth:`provml.store.oxigraph.OxigraphStore.add`), and on disk its links follow in a
        second write (:func:`provml.ingest.handover.write_passes`). The bags are acknowledged only after every write
        returned, so a crash or a failure part-way leaves them pending and they are written
        again, whole (deterministic IRIs: nothing twice).
    :param on_write: called after each group of bags is in the store (``provml serve
        --broker``: the endpoint's query workers and result cache see the new data).
    :param compaction_niceness: run the store's compactions this much nicer than the process
        (:meth:`provml.store.oxigraph.OxigraphStore.yield_compactions`; Linux); ``0``: as they are.
    :param linger_s: after a group that took fewer entries than it could, read the next no
        sooner than this long after it (:data:`~provml.ingest.streams.WRITER_LINGER_S`); ``0``:
        whatever waits, at once.
    """

    def __init__(self, url: str, kg: KnowledgeGraph, *, name: str = "writer", batch: int = GROUP_FIRST,
                 batch_most: int = GROUP_MOST,
                 claim_idle_s: float = 30.0, block_s: float = 0.2, latency_key: str | None = None,
                 atomic: bool = False, on_write: Callable[[], None] | None = None,
                 compaction_niceness: int = 10, linger_s: float = WRITER_LINGER_S) -> None:
        self.on_write = on_write
        self.compaction_niceness = compaction_niceness
        self.linger_s = linger_s
        self._short_at: float | None = None  # when the last group that took fewer than it could was read
        self._stop: threading.Event | None = None  # run's: a linger ends when it is set
        self._yielded = -math.inf
        self.redis = connect(url)
        self._groups = False
        self.kg = kg
        self.name = name
        self.batch = batch
        self.batch_most = max(batch, batch_most)
        self._said, self._said_at = 0, 0.0  # the group size last said in Redis (GROUP), and when
        self._resumed: int | None = None  # entries counted for the group a writer before said
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self.block_ms = max(1, int(block_s * 1000))
        self.latency_key = latency_key
        self.atomic = atomic
        self._own_pending = True  # after a restart: first what this writer had read, unacknowledged
        self._trimmed = 0.0
        self.entries = self.events = self.rejected = 0  # quads entries and events written, entries rejected
        #: what the plans read of the store, kept from group to group (this is its one writer)
        self.reads = Reads()

    @staticmethod
    def for_memory(most: int) -> tuple[int, int]:
        """The group sizes (``batch``, ``batch_most``) of a writer whose groups take at most
        ``most`` entries: from :data:`~provml.ingest.streams.GROUP_FIRST` (or ``most`` when
        smaller) up to ``most`` (``--writer-group-most``; the writer's memory follows its
        largest group).

        >>> Writer.for_memory(256), Writer.for_memory(16)
        ((64, 256), (16, 16))
        """
        if most < 1:
            raise ValueError(f"a writer's groups take at least one entry (got {most})")
        return min(GROUP_FIRST, most), most

    def group_size(self) -> int:
        """The most entries the next group takes: half the entries written so far, between
        ``batch`` and ``batch_most``; a writer that starts where one said its group
        (:data:`~provml.ingest.streams.GROUP`: a restart on a grown store) goes on from there."""
        if self._resumed is None:
            self._resumed = 2 * writer_group(self.redis)
        return min(max(self.batch, (self._resumed + self.entries) // 2), self.batch_most)

    def step(self) -> int:
        """Write up to :meth:`group_size` quads entries as one group; returns how many."""
        begin_step(self)
        count = self.group_size()
        now = time.monotonic()
        if count != self._said or now - self._said_at > 10.0:  # (again: Redis may have restarted empty)
            self.redis.set(GROUP, count)  # the workers let as many entries wait (Worker.backlog)
            self._said, self._said_at = count, now
        messages: list[tuple[Any, dict[Any, Any]]] = []
        if self._own_pending:
            answer = self.redis.xreadgroup(WRITERS, self.name, {QUADS: "0"}, count=count)
            messages = [(i, f) for i, f in (answer[0][1] if answer else []) if f]
            self._own_pending = bool(messages)
        if not messages:
            _cursor, messages, _deleted = self.redis.xautoclaim(
                QUADS, WRITERS, self.name, min_idle_time=self.claim_idle_ms, start_id="0-0", count=count)
            messages = [(i, f) for i, f in messages if f]
        if not messages:
            if self._short_at is not None and (wait := self._short_at + self.linger_s - time.monotonic()) > 0:
                # ahead of the workers: let their entries gather into a group (a stop ends the
                # wait, and nothing more is read: a server's close waits for this thread)
                if self._stop is None:
                    time.sleep(wait)
                elif self._stop.wait(wait):
                    return 0
            read_at = time.monotonic()
            answer = self.redis.xreadgroup(WRITERS, self.name, {QUADS: ">"}, count=count, block=self.block_ms)
            messages = answer[0][1] if answer else []
            self._short_at = read_at if messages and len(messages) < count else None
        if messages:
            self._write(messages)
        now = time.monotonic()
        if now - self._trimmed > 1.0:
            self._trimmed = now
            self.trim()
        return len(messages)

    def _write(self, messages: list[tuple[Any, dict[Any, Any]]]) -> None:
        """Write a group of entries (:func:`provml.ingest.handover.write_group`), then record it
        in Redis in one transaction (:meth:`_record`). A group that fails for its contents — not
        for the store (``OSError``, :class:`provml.errors.Error`: nothing acknowledged, the
        group is tried again) — is written entry by entry (:meth:`_alone`), so that only the
        entries that fail alone are rejected (:meth:`_reject`)."""
        entries: list[_Entry] = []
        for message_id, fields in messages:
            try:
                entries.append((message_id, fields, entry_bags(fields)))
            except (KeyError, ValueError) as exc:  # which bags it holds is unknown: kept whole
                self._reject(message_id, fields, None, exc)
        if not entries:
            return
        try:
            group = self._group([fields for _id, fields, _bags in entries])
        except (OSError, Error):
            raise
        except Exception as exc:  # noqa: BLE001 - an entry the writer cannot read: see _alone
            log.warning("a group of %d quads entries failed (%s); writing them one by one",
                        len(entries), type(exc).__name__)
            for entry in entries:
                self._alone(entry)
            return
        self._record(entries, group)

    def _group(self, entries: list[dict[Any, Any]]) -> Group:
        from provml.ingest.collector import paused

        store = self.kg.store
        if self.compaction_niceness > 0 and isinstance(store, OxigraphStore) and time.monotonic() - self._yielded > 10:
            self._yielded = time.monotonic()  # (threads RocksDB starts later: looked for again in 10 s)
            store.yield_compactions(self.compaction_niceness)
        with paused():  # as for a batch in the pipeline (provml.ingest.collector)
            group = write_group(self.kg.store, entries, atomic=self.atomic, stamps=bool(self.latency_key),
                                reads=self.reads)
        if self.on_write is not None:
            self.on_write()
        return group

    def _alone(self, entry: _Entry) -> None:
        """Write one entry of a group that failed, or reject it when it fails alone. It is read
        whole first (:func:`provml.ingest.handover.check_entry`), so that a rejected entry
        leaves the store unchanged; store failures raise (nothing more acknowledged)."""
        message_id, fields, bags = entry
        try:
            check_entry(fields, stamps=bool(self.latency_key))
            group = self._group([fields])
        except (OSError, Error):
            raise
        except Exception as exc:  # noqa: BLE001 - rejected, with its error in the report
            self._reject(message_id, fields, bags, exc)
            return
        self._record([entry], group)

    def _record(self, entries: list[_Entry], group: Group) -> None:
        """Record a written group in Redis in one transaction: the nodes' types, the
        acknowledgements of the entries and of their bags, the count of written events."""
        done = time.time()
        pipe = self.redis.pipeline(transaction=True)
        if group.types:
            pipe.hset(TYPES, mapping=group.types)
        pipe.xack(QUADS, WRITERS, *[entry[0] for entry in entries])
        bags = [i for entry in entries for i in entry[2]]
        if bags:
            pipe.xack(EVENTS, WORKERS, *bags)
        pipe.incrby(WRITTEN, group.events)
        if self.latency_key and group.stamps:
            pipe.rpush(self.latency_key, *[f"{done - t:.4f}" for t in group.stamps])
        pipe.execute()
        self.entries += len(entries)
        self.events += group.events

    def _reject(self, message_id: Any, fields: Mapping[Any, Any], bags: list[str] | None, exc: Exception) -> None:
        """Dead-letter an entry the writer cannot write: each of its bags, as a worker
        dead-letters a bag (``id``, ``bag`` — its body, read back from ``provml:events`` — and
        ``report``: the error, ``stage: writer``, the entry's id), acknowledged in both streams;
        without readable ``ids`` the entry itself (its fields as ``entry:<field>``), its bags left
        pending in ``provml:events``, where a worker reclaims them. The log names the error's type
        and the ids, never what the entry or its bags hold."""
        entry = as_text(message_id)
        name = type(exc).__name__ if type(exc).__name__ != "error" else f"{type(exc).__module__}.error"  # zlib.error
        report = {"error": name, "message": redact_text(str(exc))[:2000], "stage": "writer",
                  "entry": entry}
        pipe = self.redis.pipeline(transaction=True)
        if bags is None:
            raw = {b"entry:" + (k if isinstance(k, bytes) else str(k).encode()): v for k, v in fields.items()}
            pipe.xadd(DEAD, {b"id": entry, b"bag": b"", b"report": json.dumps(report), **raw})
            log.error("quads entry %s rejected (%s; its bag ids do not read): kept whole in %s; its bags "
                      "stay pending in %s", entry, name, DEAD, EVENTS)
        else:
            for bag in bags:
                found = self.redis.xrange(EVENTS, min=bag, max=bag, count=1)
                body = found[0][1].get(b"bag") if found else None
                pipe.xadd(DEAD, {"id": bag, "bag": kept(body), "report": json.dumps(
                    report if body is not None else {**report, "missing": f"the bag is no longer in {EVENTS}"})})
            if bags:
                pipe.xack(EVENTS, WORKERS, *bags)
            log.error("quads entry %s rejected (%s): its bags %s are in %s", entry, name,
                      ", ".join(bags) or "(none)", DEAD)
        pipe.xack(QUADS, WRITERS, message_id)
        pipe.execute()
        self.rejected += 1

    def trim(self) -> None:
        """Drop from both streams the entries every consumer has acknowledged."""
        for stream, group in ((EVENTS, WORKERS), (QUADS, WRITERS)):
            for info in self.redis.xinfo_groups(stream):
                if as_text(info["name"]) != group:
                    continue
                keep = as_text(info["last-delivered-id"])
                if int(info["pending"]):
                    oldest = self.redis.xpending(stream, group)["min"]
                    if oldest is not None:  # (acknowledged meanwhile: None)
                        keep = min(keep, as_text(oldest), key=id_key)
                if keep != "0-0":
                    self.redis.xtrim(stream, minid=keep, approximate=False)

    def run(self, stop: threading.Event | None = None) -> None:
        """Write until ``stop`` is set (or forever); Redis restarts are waited out."""
        import redis as redis_module

        retrying = Retrying(stop)
        self._stop = stop
        while stop is None or not stop.is_set():
            try:
                self.step()
            except (redis_module.ConnectionError, redis_module.TimeoutError) as exc:
                self._own_pending = True
                retrying.failed(logging.WARNING, f"broker unreachable ({exc})")
            except redis_module.ResponseError as exc:
                self._own_pending = True
                retrying.answered(self, exc)
            except (OSError, Error) as exc:  # the store could not write: nothing acknowledged, try again
                self._own_pending = True
                retrying.failed(logging.ERROR, f"the writer could not write ({exc})")
            else:
                retrying.succeeded()

    def close(self) -> None:
        self.reads.close()  # (a scan under way holds the store open)
        self.redis.close()


class WriterThread:
    """The writer on a background thread of another process (``provml serve --broker``).

    >>> WriterThread.__name__
    'WriterThread'
    """

    def __init__(self, url: str, kg: KnowledgeGraph, **options: Any) -> None:
        self.url = url
        self.writer = Writer(url, kg, **options)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.writer.run, args=(self.stop,), name="provml-writer", daemon=True)
        self._lag_redis: Any = None
        self._lock = threading.Lock()
        self._last: tuple[float, dict[str, Any]] | None = None  # (when, the lag) last asked

    def start(self) -> WriterThread:
        self.thread.start()
        return self

    def lag(self) -> dict[str, Any]:
        """The ingest lag as a dictionary, or ``{"error": ...}`` when Redis cannot be asked.

        One caller at a time asks Redis (each of its few commands at most 1 s), and at most every
        :data:`LAG_TTL_S`; the others get the last answer at once, with its age (``age_s``): a
        Redis that stops answering holds one request thread for a few seconds, never all of
        them (hostile probe, 17th session: 40 ``/health`` requests queued on it, 2 s each, and
        held every thread)."""
        import redis as redis_module

        last = self._last  # (read before the clock: a later answer is never older than now)
        now = time.monotonic()
        if last is not None and now - last[0] < LAG_TTL_S or not self._lock.acquire(blocking=False):
            alive = self.thread.is_alive()
            if last is None:
                return {"error": "the broker is being asked (no answer yet)", "writer_alive": alive}
            return {**last[1], "age_s": round(now - last[0], 3), "writer_alive": alive}
        try:
            try:
                if self._lag_redis is None:
                    self._lag_redis = connect(self.url, timeout_s=1.0)
                found: dict[str, Any] = lag(self._lag_redis).to_dict()
            except redis_module.RedisError as exc:
                self._lag_redis = None
                found = {"error": f"the broker cannot be reached: {exc}"}
            self._last = (time.monotonic(), found)
            return {**found, "age_s": 0.0, "writer_alive": self.thread.is_alive()}
        finally:
            self._lock.release()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.writer.close()
        if self._lag_redis is not None:
            self._lag_redis.close()
