"""Ingest workers over a Redis Streams broker: parallel check, translate, enrich and validate.

Why it is long: the workers and the one writer speak one protocol over the same streams
(claims, acknowledgements, the types hash); kept in one module so both sides change together.
The format of a quads entry and the write of a group of entries into the store are
:mod:`provml.ingest.handover`.

Capture clients in broker mode (:mod:`provml.capture.broker`) append bags to the stream
``provml:events``. Workers read it in the consumer group ``provml-workers``, as many processes
and machines as wanted; each bag goes to one worker, which runs the ingest pipeline
(:class:`provml.knowledge.KnowledgeGraph`: schema check, translation, enrichment, SHACL
validation) and then:

* **embedded on-disk store** (one writer): hands the validated quads to the stream
  ``provml:quads`` (N-Quads, compressed; :func:`provml.ingest.handover.hand_over`). The one :class:`Writer` (``provml ingest-worker --store DIR`` or
  ``provml serve --broker``) writes them, many bags per transaction, then acknowledges both the
  quads entry and the bag (``XACK`` on ``provml:events``). It also keeps the types of the nodes it
  wrote in the hash ``provml:types``, which workers read for the types of the nodes a bag refers
  to (what the in-process pipeline asks the store);
* **remote SPARQL store**: writes the quads itself (one ``INSERT DATA`` per bag), then
  acknowledges the bag.

A worker handing over to the writer takes no bags while ``max_backlog`` entries wait for the
writer (backpressure: on one machine the writer, the serial stage, gets the cores it needs).
A worker reads up to ``batch`` bags at once and runs them through the pipeline together, as one
batch (the validation engine's cost per call is paid once; a bag holding a spec starts a new
batch, as in ``provml load --together``); when that batch breaks the format or
the shapes, it takes the bags one by one, so only the offending bags are rejected, each with its
own report. A bag is acknowledged only once written (at least once). Translation gives every node a
deterministic IRI and provml writes no blank nodes, so writing a bag twice stores nothing twice.
A worker that dies leaves its bags pending; after ``claim_idle_s`` another worker takes them over
(``XAUTOCLAIM``), as the writer does with quads a dead writer left. A bag that breaks the event
format or the shapes goes to the stream ``provml:dead`` with its error and report, and is
acknowledged. The writer trims what all consumers acknowledged from both streams, so Redis holds
only the backlog. A quads entry the writer cannot read (not zlib, N-Quads that do not parse, a
missing field: an earlier or faulty worker, or anyone who can write to Redis) fails its group;
the writer then writes the group entry by entry and dead-letters, with its bags, the entry that
fails alone (:meth:`Writer._write`), so it never stops on one.

Workflow specs seen by one worker are shared through the hash ``provml:specs`` so that every
worker gives captured values the same roles.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyoxigraph import DefaultGraph, NamedNode, Quad

from provml.capture.broker import DEAD, EVENTS, QUADS, TYPES, WORKERS, WRITERS, connect
from provml.errors import Error, EventError, ValidationFailed
from provml.ingest.handover import Group, check_entry, entry_bags, hand_over, write_group
from provml.ingest.spec import WorkflowSpec
from provml.knowledge import IngestResult, KnowledgeGraph
from provml.store.base import Store
from provml.store.oxigraph import OxigraphStore
from provml.vocab import RDF

__all__ = ["Lag", "Worker", "Writer", "alive", "ensure_groups", "lag", "run", "wait_for_broker"]

log = logging.getLogger("provml.ingest.worker")

SPECS = "provml:specs"
ALIVE = "provml:alive"  # consumer name -> the time of its last step (workers and writers)
WRITTEN = "provml:written"  # events written (a counter; a redelivered bag counts again)
_Entry = tuple[Any, dict[Any, Any], list[str]]  # a quads entry's id, fields and bag ids


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
        if _text(info["name"]) == name:
            unread = info.get("lag")
            if unread is None:  # Redis < 7 or an unknown lag: count what is after last-delivered
                unread = len(redis.xrange(stream, min="(" + _text(info["last-delivered-id"]), count=10_000))
            return int(unread), int(info["pending"])
    return 0, 0


def _unwritten(redis: Any) -> int:
    """Entries of ``provml:quads`` the writer has not acknowledged, read or not (one small
    command: without Redis 7's ``lag``, the stream's length, which counts for at most a second
    what was acknowledged and not yet trimmed, instead of reading the entries)."""
    for info in redis.xinfo_groups(QUADS):
        if _text(info["name"]) == WRITERS:
            unread = info.get("lag")
            return int(info["pending"]) + int(unread) if unread is not None else int(redis.xlen(QUADS))
    return 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _BrokerGraph(KnowledgeGraph):
    """The ingest pipeline of a worker: specs shared through Redis; for a local writer, no store
    of its own (``prepare`` returns the validated quads) and the referenced nodes' types from
    ``provml:types``."""

    def __init__(self, redis: Any, store: Store | None) -> None:
        super().__init__(store if store is not None else OxigraphStore())
        self.redis = redis
        self.local = store is None
        self.prepared: list[Quad] = []

    def prepare(self, events: Sequence[Mapping[str, Any]]) -> list[Quad]:
        for event in events:
            if event.get("kind") == "spec" and isinstance(event.get("workflow"), str):
                self.redis.hset(SPECS, event["workflow"], json.dumps(event.get("spec")))
        self.ingest_events(events)
        return self.prepared

    def _role(self, workflow: str, transformation: str, name: str) -> str | None:
        if workflow not in self.specs:
            found = self.redis.hget(SPECS, workflow)
            if found is not None:
                try:
                    self.specs[workflow] = WorkflowSpec.from_dict(json.loads(found))
                except Exception:  # noqa: BLE001 - a spec that does not load gives no roles
                    log.warning("the shared spec of workflow %r does not load", workflow)
        return super()._role(workflow, transformation, name)

    def _write(self, quads: list[Quad], *, events: int) -> IngestResult:
        if not self.local:
            self.prepared = quads
            return super()._write(quads, events=events)
        quads = self.prepare_batch(quads, links=False)  # the writer adds them: it holds the store
        self.prepared = quads
        return IngestResult(events=events, triples=len(quads), graphs=())  # not read: prepare returns the quads

    def _types_of(self, nodes: Iterable[NamedNode]) -> Iterable[Quad]:
        if not self.local:
            return super()._types_of(nodes)
        wanted = [n for n in nodes if n.value.startswith(self.base)]
        if not wanted:
            return []
        out = []
        for node, types in zip(wanted, self.redis.hmget(TYPES, [n.value for n in wanted]), strict=True):
            for cls in _text(types).split() if types else ():
                out.append(Quad(node, RDF.type, NamedNode(cls), DefaultGraph()))
        return out


class Worker:
    """One consumer of ``provml:events`` (see the module's text).

    :param url: the Redis URL.
    :param store: a remote store to write to; ``None``: hand the quads to the writer.
    :param name: the consumer name (unique per worker; default host-pid).
    :param batch: most bags read at once.
    :param claim_idle_s: take over bags another worker has held this long without acknowledging.
    :param max_backlog: handing over to the writer, take no bags while this many entries of
        ``provml:quads`` (a batch each) wait for the writer, read or not; check again after
        ``pause_s``. On one machine the writer, the serial stage, then gets the cores it needs
        instead of workers running ahead of it (sustained input: docs/benchmarks.md), and the
        backlog in Redis stays bounded; the captured bags wait in ``provml:events``. ``0``: no
        limit.
    """

    def __init__(self, url: str, *, store: Store | None = None, name: str | None = None, batch: int = 8,
                 claim_idle_s: float = 30.0, block_s: float = 1.0, max_backlog: int = 64,
                 pause_s: float = 0.05) -> None:
        self.redis = connect(url)
        self._groups = False  # created on the first step (Redis may be restarting now)
        self.name = name or f"worker-{socket.gethostname()}-{os.getpid()}"
        self.graph = _BrokerGraph(self.redis, store)
        self.batch = batch
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self.block_ms = max(1, int(block_s * 1000))
        self.max_backlog = max_backlog
        self.pause_s = pause_s
        self._claim_from = "0-0"
        self._claimed_at = 0.0
        self.processed = self.rejected = 0

    def step(self) -> int:
        """Take up to ``batch`` bags (reclaimed ones first) and process them; returns how many
        (0 also while the writer is ``max_backlog`` entries behind: this step waited ``pause_s``)."""
        _begin_step(self)
        if self.graph.local and self.max_backlog > 0 and _unwritten(self.redis) >= self.max_backlog:
            time.sleep(self.pause_s)
            return 0
        messages: list[tuple[Any, dict[Any, Any]]] = []
        now = time.monotonic()
        if now - self._claimed_at >= min(self.claim_idle_ms / 1000, 5.0):
            self._claimed_at = now
            cursor, messages, _deleted = self.redis.xautoclaim(
                EVENTS, WORKERS, self.name, min_idle_time=self.claim_idle_ms, start_id=self._claim_from,
                count=self.batch)
            self._claim_from = _text(cursor)
            messages = [(i, f) for i, f in messages if f]  # entries trimmed meanwhile come back empty
        if not messages:
            answer = self.redis.xreadgroup(WORKERS, self.name, {EVENTS: ">"}, count=self.batch, block=self.block_ms)
            messages = answer[0][1] if answer else []
        if len(messages) > 1 and self.together(messages):
            return len(messages)
        for message_id, fields in messages:
            self.handle(_text(message_id), fields)
        return len(messages)

    def together(self, messages: Sequence[tuple[Any, Mapping[Any, Any]]]) -> bool:
        """Run the bags through the pipeline as few batches (one validation, one hand-over each:
        the engine's cost per call is paid once), as if the client had sent larger bags; a bag
        holding a spec starts a new batch (a spec gives roles to its own bag and later ones, never
        to earlier ones: as :func:`provml.ingest.loader.ingest_bags`). False — nothing done —
        when a bag is not a JSON array; a batch that breaks the format or the shapes is taken
        bag by bag, so each rejected bag is dead-lettered with its own report."""
        segments: list[tuple[list[tuple[Any, Mapping[Any, Any]]], list[str], list[Any]]] = []
        for message in messages:
            try:
                bag = json.loads(message[1].get(b"bag", message[1].get("bag")))
            except (ValueError, TypeError):
                return False
            if not isinstance(bag, list):
                return False
            if not segments or any(isinstance(e, dict) and e.get("kind") == "spec" for e in bag):
                segments.append(([], [], []))
            segments[-1][0].append(message)
            segments[-1][1].append(_text(message[0]))
            segments[-1][2].extend(bag)
        for segment, ids, events in segments:
            if len(segment) == 1:
                self.handle(ids[0], segment[0][1])
                continue
            specs = dict(self.graph.specs)
            try:
                quads = self.graph.prepare(events)
            except (EventError, ValidationFailed, ValueError, KeyError, TypeError):
                self.graph.specs = specs  # a later bag's spec must not translate an earlier bag alone
                for message_id, fields in zip(ids, segment, strict=True):
                    self.handle(message_id, fields[1])
                continue
            except (OSError, Error) as exc:  # the remote store is down: the bags stay pending
                log.warning("bags %s not written (%s); they stay pending", ", ".join(ids), exc)
                time.sleep(1.0)
                continue
            self.processed += len(ids)
            self._hand_over(ids, events, quads)
        return True

    def handle(self, message_id: str, fields: Mapping[Any, Any]) -> None:
        """Run one bag through the pipeline: hand it over (or ack it when written remotely), or
        dead-letter it with its report."""
        body = fields.get(b"bag", fields.get("bag"))
        try:
            events = json.loads(body)
            if not isinstance(events, list):
                raise ValueError("a bag is a JSON array of events")
            quads = self.graph.prepare(events)
        except (EventError, ValidationFailed, ValueError, KeyError, TypeError) as exc:
            self._dead(message_id, body, exc)
            return
        except (OSError, Error) as exc:  # the remote store is down: the bag stays pending, reclaimed later
            log.warning("bag %s not written (%s); it stays pending", message_id, exc)
            time.sleep(1.0)
            return
        self.processed += 1
        self._hand_over([message_id], events, quads)

    def _hand_over(self, ids: list[str], events: list[Any], quads: list[Quad]) -> None:
        stamps = [e.get("t") for e in events if isinstance(e, dict) and isinstance(e.get("t"), int | float)]
        if self.graph.local:
            self.redis.xadd(QUADS, {"ids": json.dumps(ids), "n": len(events), "ts": json.dumps(stamps),
                                    **hand_over(quads)})
        else:  # written by the remote store's update above: done
            pipe = self.redis.pipeline(transaction=True)
            pipe.xack(EVENTS, WORKERS, *ids)
            pipe.incrby(WRITTEN, len(events))
            pipe.execute()

    def _dead(self, message_id: str, body: Any, exc: Exception) -> None:
        report: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
        found = getattr(exc, "report", None)
        if found is not None and hasattr(found, "to_dict"):
            report["report"] = found.to_dict()
            report["text"] = found.describe()
        self.rejected += 1
        log.error("bag %s rejected: %s", message_id, exc)
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(DEAD, {"id": message_id, "bag": body if body is not None else b"", "report": json.dumps(report)})
        pipe.xack(EVENTS, WORKERS, message_id)
        pipe.execute()

    def warm(self) -> None:
        """Compile the event schema's validators, load the class closure and compile the shapes
        now, so that the first bag does not wait for them (about a second of CPU); :meth:`run`
        starts with it, before the first heartbeat."""
        from provml.events import warm_up as warm_events
        from provml.ingest.validation import warm_up

        warm_events()
        self.graph.closure()
        if self.graph.validate:
            warm_up()

    def run(self, stop: threading.Event | None = None) -> None:
        """Process bags until ``stop`` is set (or forever)."""
        import redis as redis_module

        self.warm()
        while stop is None or not stop.is_set():
            try:
                self.step()
            except (redis_module.ConnectionError, redis_module.TimeoutError) as exc:  # Redis restarting
                log.warning("broker unreachable (%s); retrying", exc)
                time.sleep(0.5)

    def close(self) -> None:
        self.graph.close()
        self.redis.close()


class Writer:
    """The one writer of an embedded store: quads from ``provml:quads`` into the store.

    :param url: the Redis URL.
    :param kg: the knowledge graph over the on-disk store (this process owns it).
    :param batch: most bags per transaction.
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
    """

    def __init__(self, url: str, kg: KnowledgeGraph, *, name: str = "writer", batch: int = 64,
                 claim_idle_s: float = 30.0, block_s: float = 0.2, latency_key: str | None = None,
                 atomic: bool = False, on_write: Callable[[], None] | None = None,
                 compaction_niceness: int = 10) -> None:
        self.on_write = on_write
        self.compaction_niceness = compaction_niceness
        self._yielded = -math.inf
        self.redis = connect(url)
        self._groups = False
        self.kg = kg
        self.name = name
        self.batch = batch
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self.block_ms = max(1, int(block_s * 1000))
        self.latency_key = latency_key
        self.atomic = atomic
        self._own_pending = True  # after a restart: first what this writer had read, unacknowledged
        self._trimmed = 0.0
        self.bags = self.events = self.rejected = 0

    def step(self) -> int:
        """Write up to ``batch`` bags in one transaction; returns how many."""
        _begin_step(self)
        messages: list[tuple[Any, dict[Any, Any]]] = []
        if self._own_pending:
            answer = self.redis.xreadgroup(WRITERS, self.name, {QUADS: "0"}, count=self.batch)
            messages = [(i, f) for i, f in (answer[0][1] if answer else []) if f]
            self._own_pending = bool(messages)
        if not messages:
            _cursor, messages, _deleted = self.redis.xautoclaim(
                QUADS, WRITERS, self.name, min_idle_time=self.claim_idle_ms, start_id="0-0", count=self.batch)
            messages = [(i, f) for i, f in messages if f]
        if not messages:
            answer = self.redis.xreadgroup(WRITERS, self.name, {QUADS: ">"}, count=self.batch, block=self.block_ms)
            messages = answer[0][1] if answer else []
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
            group = write_group(self.kg.store, entries, atomic=self.atomic, stamps=bool(self.latency_key))
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
        self.bags += len(entries)
        self.events += group.events

    def _reject(self, message_id: Any, fields: Mapping[Any, Any], bags: list[str] | None, exc: Exception) -> None:
        """Dead-letter an entry the writer cannot write: each of its bags, as a worker
        dead-letters a bag (``id``, ``bag`` — its body, read back from ``provml:events`` — and
        ``report``: the error, ``stage: writer``, the entry's id), acknowledged in both streams;
        without readable ``ids`` the entry itself (its fields as ``entry:<field>``), its bags left
        pending in ``provml:events``, where a worker reclaims them. The log names the error's type
        and the ids, never what the entry or its bags hold."""
        entry = _text(message_id)
        name = type(exc).__name__ if type(exc).__name__ != "error" else f"{type(exc).__module__}.error"  # zlib.error
        report = {"error": name, "message": str(exc)[:2000], "stage": "writer", "entry": entry}
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
                pipe.xadd(DEAD, {"id": bag, "bag": body if body is not None else b"", "report": json.dumps(
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
                if _text(info["name"]) != group:
                    continue
                keep = _text(info["last-delivered-id"])
                if int(info["pending"]):
                    oldest = self.redis.xpending(stream, group)["min"]
                    if oldest is not None:  # (acknowledged meanwhile: None)
                        keep = min(keep, _text(oldest), key=_id_key)
                if keep != "0-0":
                    self.redis.xtrim(stream, minid=keep, approximate=False)

    def run(self, stop: threading.Event | None = None) -> None:
        """Write until ``stop`` is set (or forever); Redis restarts are waited out."""
        import redis as redis_module

        while stop is None or not stop.is_set():
            try:
                self.step()
            except (redis_module.ConnectionError, redis_module.TimeoutError) as exc:
                log.warning("broker unreachable (%s); retrying", exc)
                self._own_pending = True
                time.sleep(0.5)
            except (OSError, Error) as exc:  # the store could not write: nothing acknowledged, try again
                log.error("the writer could not write (%s); retrying", exc)
                self._own_pending = True
                time.sleep(1.0)

    def close(self) -> None:
        self.redis.close()


def _begin_step(consumer: Worker | Writer) -> None:
    """Create the consumer groups on the first step (Redis may have been restarting when the
    consumer started), then say this consumer is alive."""
    if not consumer._groups:
        ensure_groups(consumer.redis)
        consumer._groups = True
    _heartbeat(consumer)


def _heartbeat(consumer: Worker | Writer) -> None:
    now = time.time()
    if now - getattr(consumer, "_beat", 0.0) >= 2.0:
        consumer._beat = now  # type: ignore[union-attr]
        consumer.redis.hset(ALIVE, consumer.name, repr(now))


def alive(redis: Any, *, within_s: float = 10.0) -> dict[str, list[str]]:
    """The workers and writers that stepped in the last ``within_s`` seconds, by role."""
    now = time.time()
    out: dict[str, list[str]] = {"workers": [], "writers": []}
    for name, beat in redis.hgetall(ALIVE).items():
        if now - float(beat) <= within_s:
            text = _text(name)
            out["workers" if text.startswith("worker") else "writers"].append(text)
    return out


def _id_key(stream_id: str) -> tuple[int, int]:
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
            log.warning("waiting for the broker %s: %s", url, exc)
            time.sleep(0.5)
        finally:
            client.close()


def _worker_process(url: str, remote: str | None, claim_idle_s: float, max_backlog: int = 64) -> None:
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    store = None
    if remote is not None:
        from provml.store import open_store

        store = open_store(remote=remote)
    wait_for_broker(url)
    worker = Worker(url, store=store, claim_idle_s=claim_idle_s, max_backlog=max_backlog)
    try:
        worker.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        worker.close()


def run(url: str, *, store: str | Path | None = None, remote: str | None = None, workers: int = 1,
        writer: bool = True, claim_idle_s: float = 30.0, stop: threading.Event | None = None,
        connect_timeout_s: float = 60.0, max_backlog: int = 64) -> None:
    """``provml ingest-worker``: ``workers`` worker processes and, for an on-disk ``store``, the
    writer in this process; until ``stop`` is set, SIGTERM or Ctrl-C.

    :raises ValueError: neither or both of ``store`` and ``remote``.
    """
    import multiprocessing
    import signal

    if (store is None) == (remote is None):
        raise ValueError("give a store directory or a remote SPARQL store URL (one of them)")
    wait_for_broker(url, timeout_s=connect_timeout_s)  # a clear error when Redis is not there
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_worker_process, args=(url, remote, claim_idle_s, max_backlog), daemon=True)
                for _ in range(workers)]
    for child in children:
        child.start()
    kg: KnowledgeGraph | None = None
    try:
        if store is not None and writer:
            from provml.knowledge import open_kg

            kg = open_kg(store)
            Writer(url, kg, claim_idle_s=claim_idle_s).run(stop)
        else:
            while not stop.wait(0.5):
                if not any(c.is_alive() for c in children):
                    break
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
        for child in children:
            child.join(timeout=10)
        if kg is not None:
            kg.close()


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

    def start(self) -> WriterThread:
        self.thread.start()
        return self

    def lag(self) -> dict[str, Any]:
        """The ingest lag as a dictionary, or ``{"error": ...}`` when Redis cannot be asked."""
        import redis as redis_module

        with self._lock:
            try:
                if self._lag_redis is None:
                    self._lag_redis = connect(self.url, timeout_s=2.0)
                return {**lag(self._lag_redis).to_dict(), "writer_alive": self.thread.is_alive()}
            except redis_module.RedisError as exc:
                self._lag_redis = None
                return {"error": f"the broker cannot be reached: {exc}", "writer_alive": self.thread.is_alive()}

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.writer.close()
        if self._lag_redis is not None:
            self._lag_redis.close()
