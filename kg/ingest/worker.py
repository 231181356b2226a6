"""Ingest workers over a Redis Streams broker: parallel check, translate, enrich and validate.

The one writer is :mod:`provml.ingest.writer`; the streams' consumer groups, lag and heartbeats
:mod:`provml.ingest.streams`; the format of a quads entry and the write of a group of entries
into the store :mod:`provml.ingest.handover`.

Capture clients in broker mode (:mod:`provml.capture.broker`) append bags to the stream
``provml:events``. Workers read it in the consumer group ``provml-workers``, as many processes
and machines as wanted; each bag goes to one worker, which runs the ingest pipeline
(:class:`provml.knowledge.KnowledgeGraph`: schema check, translation, enrichment, SHACL
validation) and then:

* **embedded on-disk store** (one writer): hands the validated quads to the stream
  ``provml:quads`` (N-Quads, compressed; :func:`provml.ingest.handover.hand_over`). The one :class:`~provml.ingest.writer.Writer` (``provml ingest-worker --store DIR`` or
  ``provml serve --broker``) writes them, many bags per transaction, then acknowledges both the
  quads entry and the bag (``XACK`` on ``provml:events``). It also keeps the types of the nodes it
  wrote in the hash ``provml:types``, which workers read for the types of the nodes a bag refers
  to (what the in-process pipeline asks the store);
* **remote SPARQL store**: writes the quads itself (one ``INSERT DATA`` per bag), then
  acknowledges the bag.

A worker handing over to the writer takes no bags while ``max_backlog`` entries (or the
writer's next group, when larger) wait for the writer (backpressure: on one machine the
writer, the serial stage, gets the cores it needs).
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
fails alone (:meth:`provml.ingest.writer.Writer._write`), so it never stops on one.

Workflow specs seen by one worker are shared through the hash ``provml:specs`` so that every
worker gives captured values the same roles.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pyoxigraph import DefaultGraph, NamedNode, Quad

from provml.capture.broker import DEAD, EVENTS, QUADS, TYPES, WORKERS, connect
from provml.capture.encoding import expand
from provml.capture.redact import redact_name, redact_spec, redact_text
from provml.errors import Error, EventError, ValidationFailed
from provml.ingest.collector import paused
from provml.ingest.dead_letters import kept
from provml.ingest.handover import hand_over
from provml.ingest.plan_reads import Reads
from provml.ingest.spec import SpecError, spec_document, spec_of
from provml.ingest.streams import (
    GROUP_FIRST,
    SPECS,
    WRITTEN,
    Retrying,
    as_text,
    begin_step,
    unwritten,
    wait_for_broker,
    writer_group,
)
from provml.knowledge import IngestResult, KnowledgeGraph
from provml.store.base import Store
from provml.store.oxigraph import OxigraphStore
from provml.vocab import RDF

__all__ = ["Worker", "bag_events"]

log = logging.getLogger("provml.ingest.worker")


def bag_events(fields: Mapping[Any, Any]) -> list[Any]:
    """The events of a ``provml:events`` entry: its ``bag``, a JSON array, the capture client's
    compact cycle records expanded (:func:`provml.capture.encoding.expand`, as ``POST
    /api/events`` and the spool reader do).

    :raises ValueError: no ``bag`` field (the message names the fields there are), a bag that is
        no JSON array, or an element neither an object nor a compact record.
    """
    body = fields.get(b"bag", fields.get("bag"))
    if body is None:
        names = ", ".join(sorted(as_text(k) for k in fields)) or "none"
        raise ValueError(f"the entry has no 'bag' field (its fields: {names}); a bag is put as bag=<JSON array>")
    loaded = json.loads(body)
    if not isinstance(loaded, list):
        raise ValueError("a bag is a JSON array of events")
    events: list[Any] = loaded
    if any(isinstance(event, list) for event in events):
        events = expand(events)
    return events


def _outage(exc: BaseException, *, remote: bool) -> bool:
    """Whether a bag's failure is not the bag's (it stays pending, tried again): the store's or
    the network's (``OSError``, provml's own errors other than a rejection, an HTTP answer cut
    off, with a ``remote`` store an answer that does not parse) or memory's. A Redis error is
    raised on to :meth:`Worker.run`, which waits for the broker. Anything else rejects the bag."""
    import http.client

    import redis

    if isinstance(exc, redis.RedisError):
        raise exc
    if isinstance(exc, EventError | ValidationFailed | SpecError):
        return False
    return isinstance(exc, OSError | Error | http.client.HTTPException | MemoryError) or (
        remote and isinstance(exc, SyntaxError))


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
        # a spec that loads is shared before the bag is checked, so that the other workers give
        # its roles to the bags they take meanwhile, and taken back if the bag is not written
        # (a rejected bag's spec gave later bags roles; shared only after the check, bags taken
        # by another worker in those milliseconds got none: a review, twenty-sixth session)
        shared: list[tuple[str, Any]] = []
        try:
            for event in events:
                if isinstance(event, Mapping) and event.get("kind") == "spec" and isinstance(event.get("workflow"), str):
                    try:
                        spec_of(event)
                    except Exception:  # noqa: BLE001 - the check below rejects the bag, saying why
                        continue
                    # shared as ingest reads it: redacted (from a producer other than the capture
                    # client it may not be), under the workflow's name as recorded
                    name, spec = redact_name(event["workflow"]), event["spec"]
                    shared.append((name, self.redis.hget(SPECS, name)))
                    self.redis.hset(SPECS, name, json.dumps(redact_spec(spec) if isinstance(spec, Mapping) else spec))
            self.ingest_events(events)
        except BaseException:
            for name, before in reversed(shared):
                if before is None:
                    self.redis.hdel(SPECS, name)
                else:
                    self.redis.hset(SPECS, name, before)
            raise
        return self.prepared

    def _role(self, workflow: str, transformation: str, name: str) -> str | None:
        if workflow not in self.specs and self._ask_spec(workflow):  # (once a while, as the store)
            found = self.redis.hget(SPECS, workflow)
            if found is not None and (spec := spec_document(found, f"the shared spec of workflow {workflow!r}")):
                self.specs[workflow] = spec
        return super()._role(workflow, transformation, name)

    def _write(self, quads: list[Quad], *, events: int) -> IngestResult:
        if not self.local:
            self.prepared = quads
            return super()._write(quads, events=events)
        quads = self.prepare_batch(quads, links=False)  # the writer adds them: it holds the store
        self.prepared = quads
        return IngestResult(events=events, triples=len(quads), graphs=())  # not read: prepare returns the quads

    def _times_of(self, times: list[Quad], reads: Reads | None) -> list[Quad]:  # (a writer's: ingest.reruns)
        return [] if self.local else super()._times_of(times, reads)

    def _types_of(self, nodes: Iterable[NamedNode]) -> Iterable[Quad]:
        if not self.local:
            return super()._types_of(nodes)
        wanted = [n for n in nodes if n.value.startswith(self.base)]
        if not wanted:
            return []
        out = []
        for node, types in zip(wanted, self.redis.hmget(TYPES, [n.value for n in wanted]), strict=True):
            for cls in as_text(types).split() if types else ():
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
        backlog in Redis stays bounded; the captured bags wait in ``provml:events``. When the
        writer's next group is larger, that many (:meth:`backlog`). ``0``: no limit.
    """

    def __init__(self, url: str, *, store: Store | None = None, name: str | None = None, batch: int = 8,
                 claim_idle_s: float = 30.0, block_s: float = 1.0, max_backlog: int = GROUP_FIRST,
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
        self._group, self._group_at = 0, -1.0  # the writer's next group, and when it was asked

    def step(self) -> int:
        """Take up to ``batch`` bags (reclaimed ones first) and process them; returns how many
        (0 also while the writer is ``max_backlog`` entries behind: this step waited ``pause_s``)."""
        begin_step(self)
        if self.graph.local and self.max_backlog > 0 and unwritten(self.redis) >= self.backlog():
            time.sleep(self.pause_s)
            return 0
        messages: list[tuple[Any, dict[Any, Any]]] = []
        now = time.monotonic()
        if now - self._claimed_at >= min(self.claim_idle_ms / 1000, 5.0):
            self._claimed_at = now
            cursor, messages, _deleted = self.redis.xautoclaim(
                EVENTS, WORKERS, self.name, min_idle_time=self.claim_idle_ms, start_id=self._claim_from,
                count=self.batch)
            self._claim_from = as_text(cursor)
            messages = [(i, f) for i, f in messages if f]  # entries trimmed meanwhile come back empty
        if not messages:
            answer = self.redis.xreadgroup(WORKERS, self.name, {EVENTS: ">"}, count=self.batch, block=self.block_ms)
            messages = answer[0][1] if answer else []
        if len(messages) > 1 and self.together(messages):
            return len(messages)
        for message_id, fields in messages:
            self.handle(as_text(message_id), fields)
        return len(messages)

    def backlog(self) -> int:
        """The entries that may wait for the writer before this worker pauses: ``max_backlog``,
        or the writer's next group when larger (:func:`~provml.ingest.streams.writer_group`,
        asked at most once a second): its groups grow with the store, and a group can take only
        what waits."""
        now = time.monotonic()
        if now - self._group_at >= 1.0:
            self._group_at = now
            self._group = writer_group(self.redis)
        return max(self.max_backlog, self._group)

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
                bag = bag_events(message[1])
            except Exception:  # noqa: BLE001 - taken alone by handle, which says what is wrong
                return False
            if not segments or any(isinstance(e, dict) and e.get("kind") == "spec" for e in bag):
                segments.append(([], [], []))
            segments[-1][0].append(message)
            segments[-1][1].append(as_text(message[0]))
            segments[-1][2].extend(bag)
        for segment, ids, events in segments:
            if len(segment) == 1:
                self.handle(ids[0], segment[0][1])
                continue
            specs = dict(self.graph.specs)
            try:
                quads = self.graph.prepare(events)
            except Exception as exc:
                if _outage(exc, remote=not self.graph.local):  # the store is down: the bags stay pending
                    log.warning("bags %s not written (%s); they stay pending", ", ".join(ids), exc)
                    time.sleep(1.0)
                    continue
                self.graph.specs = specs  # a later bag's spec must not translate an earlier bag alone
                for message_id, fields in zip(ids, segment, strict=True):
                    self.handle(message_id, fields[1])
                continue
            self.processed += len(ids)
            self._hand_over(ids, events, quads)
        return True

    def handle(self, message_id: str, fields: Mapping[Any, Any]) -> None:
        """Run one bag through the pipeline: hand it over (or ack it when written remotely), or
        dead-letter it with its report. Whatever a bag holds, it is one or the other: a failure
        that is not the store's or Redis's (:func:`_outage`: the bag stays pending) rejects the
        bag, so that no bag stops a worker — or, reclaimed, every worker in turn."""
        specs = dict(self.graph.specs)
        try:
            events = bag_events(fields)
            quads = self.graph.prepare(events)
        except Exception as exc:
            if _outage(exc, remote=not self.graph.local):  # the store is down: pending, reclaimed later
                log.warning("bag %s not written (%s); it stays pending", message_id, exc)
                time.sleep(1.0)
                return
            self.graph.specs = specs  # a rejected bag's spec gives later bags no roles
            self._dead(message_id, fields, exc)
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

    def _dead(self, message_id: str, fields: Mapping[Any, Any], exc: Exception) -> None:
        body = fields.get(b"bag", fields.get("bag"))
        # an entry without a bag keeps its fields (as the writer keeps an entry it cannot read)
        others = {} if body is not None else {f"entry:{as_text(k)}": kept(v) for k, v in fields.items()}
        report: dict[str, Any] = {"error": type(exc).__name__, "message": redact_text(str(exc))}
        found = getattr(exc, "report", None)
        if found is not None and hasattr(found, "to_dict"):
            report["report"] = found.to_dict()
            report["text"] = found.describe()
        self.rejected += 1
        log.error("bag %s rejected: %s", message_id, exc)
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(DEAD, {"id": message_id, "bag": kept(body), "report": json.dumps(report), **others})
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
        retrying = Retrying(stop)
        while stop is None or not stop.is_set():
            try:
                self.step()
            except (redis_module.ConnectionError, redis_module.TimeoutError) as exc:  # Redis restarting
                retrying.failed(logging.WARNING, f"broker unreachable ({exc})")
            except redis_module.ResponseError as exc:
                retrying.answered(self, exc)
            else:
                retrying.succeeded()

    def close(self) -> None:
        self.graph.close()
        self.redis.close()


def _worker_process(url: str, remote: str | None, claim_idle_s: float, max_backlog: int = GROUP_FIRST) -> None:
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
        with paused():  # a process of its own: paused between batches too (provml.ingest.collector)
            worker.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        worker.close()
