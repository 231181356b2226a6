"""The hand-over between the broker's workers and its one writer: the format of a
``provml:quads`` entry, and the write of a group of entries into the store.

A worker (:mod:`provml.ingest.worker`) ends its pipeline with :func:`hand_over`: a validated
batch's quads as compressed N-Quads, apart from them the few quads the writer's passes read (the
*keys*) and the classes of its nodes. The one writer reads a group of such entries and
:func:`write_group` stores them: the N-Quads go to the store as they are, parsed by the store
itself (:func:`load`, on a thread of its own for a store on disk: :class:`_Loading`), while the
writer follows the stage links and plans the late links and the summaries over the keys
(:func:`write_passes`). The Redis side — reading, acknowledging, the types hash — stays with the
:class:`~provml.ingest.writer.Writer`. In-process ingest into a store on disk writes each batch
of :data:`~provml.store.oxigraph.BULK_MIN_QUADS` quads or more through :func:`write_passes` too
(``KnowledgeGraph.ingest_events``: the batch's N-Quads loaded beside its planning).
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyoxigraph import NamedNode, Quad, RdfFormat, parse, serialize

from provml.ingest.plan_reads import Reads
from provml.ingest.reruns import TIMES, refuse_reruns
from provml.ingest.shortcuts import late_links, stage_links, store_lookup
from provml.ingest.summaries import update_summaries
from provml.store.base import Store
from provml.store.oxigraph import OxigraphStore, as_stored
from provml.vocab import PROV, PROVML, RDF

__all__ = ["STORED_KEYS", "TIMED", "Group", "check_entry", "entry_bags", "entry_keys", "entry_nquads", "hand_over", "load", "nquads", "write_group",
           "write_passes"]


@dataclass
class Group:
    """What a written group of entries gives the writer to record: the classes of its nodes
    (node -> classes, sorted, space-separated: for ``provml:types``), its events, and their
    capture times (when asked for)."""

    types: dict[str, str] = field(default_factory=dict)
    events: int = 0
    stamps: list[float] = field(default_factory=list)


def write_group(store: Store, entries: Sequence[Mapping[bytes, Any]], *, atomic: bool, stamps: bool = False,
                reads: Reads | None = None) -> Group:
    """Write a group of ``provml:quads`` entries into ``store``, with their stage links, late
    links and summaries (:func:`write_passes`); ``stamps``: gather the events' capture times;
    ``reads``: what the plans read, kept from group to group (the writer's own).
    A failure raises; the caller then acknowledges nothing (the entries are delivered again). A
    group that begins or ends an execution at another time than the store holds, or at two
    times, raises ``ValueError`` before anything is written (a run id used twice:
    :func:`provml.ingest.reruns.refuse_reruns`)."""
    if reads is not None:
        reads.begin(store)
    complete = all(b"plan" in fields or b"nq" in fields for fields in entries)
    stored = all(fields.get(b"plan") == STORED_KEYS for fields in entries)
    group = Group()
    quads: list[Quad] = []  # the quads the passes below read (see hand_over)
    times: list[Quad] = []  # the executions' start and end times (provml.ingest.reruns)
    types = group.types
    for fields in entries:
        read, named = entry_keys(fields)
        for q in read:
            (times if q.predicate in TIMES else quads).append(q)
        for node, classes in named.items():
            known = types.get(node)
            if known is None:
                types[node] = classes
            elif known != classes:  # (a node typed in two entries: nearly always alike)
                types[node] = " ".join(sorted({*known.split(), *classes.split()}))
        group.events += int(fields[b"n"])
        if stamps:
            group.stamps.extend(_stamps(fields))
    # the workers validated their bags without the store: a run id used twice is seen here,
    # before anything of the group is written
    refuse_reruns(store, times, lacks=reads.lacks_times if reads is not None else None)
    if reads is not None:
        reads.timed({q.subject for q in times})
    # on disk the group's N-Quads go to the store on a thread of their own from now on, while
    # this thread plans the passes (see write_passes)
    loading = _Loading(lambda: load(store, b"".join([entry_nquads(fields) for fields in entries]),
                                    atomic=atomic)) if complete and overlaps(store) else None
    try:
        parts = [entry_nquads(fields) for fields in entries] if loading is None else []
        # the stage shortcuts follow chains through the store, which only the writer holds
        # (the chain ends they ask for are outside the group — translation states a section's
        # provml:iteration and its prov:wasInformedBy in the same event, so a section in the
        # group is never an end to look up — and what is being written does not change
        # their answer)
        links = stage_links(quads, store_lookup(store))
        quads += links
        if loading is not None:
            write_passes(store, b"", quads, atomic=atomic, complete=complete, stored=stored,
                         loading=loading, links=links, reads=reads)
        else:
            if links:
                parts.append(nquads(links))
            write_passes(store, b"".join(parts), quads, atomic=atomic, complete=complete, stored=stored, reads=reads)
    finally:
        if loading is not None:
            loading.wait(raising=False)  # never leave a write under way behind an error
    return group


#: the predicates the writer's passes read (stage links, late links, summaries); the other quads
#: of a bag reach the store as N-Quads bytes, never as Python objects in the writer
_PASSES = frozenset({PROV.wasInformedBy, PROVML.iteration, PROVML.stageExecution, PROV.wasGeneratedBy,
                     PROVML.attributeName, PROV.value, PROVML.summary, PROVML.minimumValue,
                     PROVML.maximumValue, PROVML.meanValue, PROVML.valueCount})


def write_passes(store: Store, data: bytes, quads: list[Quad], *, atomic: bool, complete: bool,
                 stored: bool = False, loading: _Loading | None = None, links: Sequence[Quad] = (),
                 reads: Reads | None = None) -> None:
    """Write a group's N-Quads ``data`` with its late stage links, then its summaries.

    On an embedded store, when ``quads`` hold every quad of the group the passes read
    (``complete``: entries of this version's :func:`hand_over`, or whole N-Quads), both are
    planned before the write over one view of the store and the group
    (:func:`provml.ingest.summary_plan.store_batch`, as in-process ingest: the group's nodes read from memory, the store's by
    pattern), the links written with the group and the summaries replaced in one update after
    it; else, as before, :func:`~provml.ingest.shortcuts.late_links` and
    :func:`~provml.ingest.summaries.update_summaries` read the store back through SPARQL after
    the write, at a cost per event that grows with the store (docs/benchmarks.md, "Ingest as the
    store grows"). Both write the same quads; each reads what is stored, so a redelivered group
    (even one the bulk loader cut in the middle) gets the same links and summaries. ``stored``:
    the literals of ``quads`` are already in the form the store gives back (keys of entries marked
    :data:`STORED_KEYS`), the planners need not convert them. ``reads``: see
    :class:`~provml.ingest.plan_reads.Reads` (its ``begin`` called before ``data`` is written).

    On disk the planning overlaps the write: the store loads ``data`` on a thread of its own
    (pyoxigraph lets go of the GIL while it parses and writes) while this thread plans over the
    store and the group. The plan reads the store as it will be, the store's quads merged with
    the group's (:class:`provml.ingest.plan_reads.Future`), so what it reads of the group
    while part of it is stored is the same; the group's quads are the only writes under way (one
    writer, one group at a time). Once the plan has read the store, ``links`` (the writer's stage
    links, one a section) and the late links are written in a small write on a second thread
    (written before, each section's stored link would cost the plan a read that decodes it), once
    the group's write has ended well — a group whose N-Quads do not parse leaves the store
    unchanged, links included (the store parses before it writes); then the summaries. As with
    the bulk loader, which is not atomic, a failure or a crash can leave part of the group and
    its links written: the group is not acknowledged, so it is delivered again and written whole,
    links and summaries included (deterministic IRIs: nothing twice). ``loading``: the write of
    ``data`` already under way (the writer starts it before it reads the keys)."""
    from provml.ingest.summary_plan import store_batch

    if complete and overlaps(store):
        under_way = [loading or _Loading(lambda: load(store, data, atomic=atomic))]

        def write(late: Sequence[Quad]) -> int:
            # the links (the stage links: one a section) once the plan has read the store (a
            # node with a stored link costs the plan a read that decodes it), on a thread of
            # their own, once the group's write has ended well (N-Quads that do not parse: the
            # store has none of the group, and gets none of its links)
            if links or late:
                extra = nquads([*links, *late])
                under_way.append(_Loading(lambda: load(store, extra, atomic=atomic), after=under_way[0]))
            for each in under_way:
                each.wait()
            return len(under_way)  # (one write each)

        try:
            store_batch(store, quads, atomic=atomic, as_stored=stored, write=write, reads=reads)
        except BaseException:
            for each in under_way:
                each.wait(raising=False)  # never leave a write under way behind an error
            raise
        for each in under_way:  # (``write`` waited for them; were it not called, a failed
            each.wait()         # write must still fail the group, never be acknowledged)
        return
    assert loading is None and not links, "a write under way, and links beside it, are for an embedded store on disk"
    if complete and isinstance(store, OxigraphStore):
        def write_one(late: Sequence[Quad]) -> int:
            load(store, data + nquads(late) if late else data, atomic=atomic)
            return 1

        store_batch(store, quads, atomic=atomic, as_stored=stored, write=write_one, reads=reads)
        return
    if reads is not None:
        reads.forget()  # (written and read back through SPARQL: not planned)
    load(store, data, atomic=atomic)
    late_links(store, quads)
    update_summaries(store, quads)  # from what is stored: right in any order, on redelivery


class _Loading:
    """A write running on a thread of its own; :meth:`wait` joins it and raises what it raised.
    ``after``: a write that must end well first (else this one writes nothing)."""

    def __init__(self, write: Callable[[], None], *, after: _Loading | None = None) -> None:
        self.error: BaseException | None = None
        self.failed = False
        self.thread = threading.Thread(target=self._run, args=(write, after), name="provml-writer-load", daemon=True)
        self.thread.start()

    def _run(self, write: Callable[[], None], after: _Loading | None) -> None:
        if after is not None:
            after.thread.join()
            if after.failed:
                return  # (its error is raised by its own wait)
        try:
            write()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            self.error = exc
            self.failed = True

    def wait(self, *, raising: bool = True) -> None:
        self.thread.join()
        error, self.error = self.error, None
        if error is not None and raising:
            raise error


def _split(quads: Iterable[Quad]) -> tuple[list[Quad], list[Quad], dict[str, list[str]]]:
    """The quads the writer's passes read, the executions' start and end times (its check of a
    run id used twice), and the ``rdf:type`` classes of the named nodes."""
    read: list[Quad] = []
    times: list[Quad] = []
    types: dict[str, list[str]] = {}
    rdf_type = RDF.type
    for q in quads:
        predicate = q.predicate
        if predicate == rdf_type:
            if isinstance(q.subject, NamedNode) and isinstance(q.object, NamedNode):
                types.setdefault(q.subject.value, []).append(q.object.value)
        elif predicate in _PASSES:
            read.append(q)
        elif predicate in TIMES:
            times.append(q)
    return read, times, types


#: the ``plan`` mark of an entry whose keys hold their literals as the store gives them back
#: (``"1"^^xsd:double`` for ``"1.0"``); entries marked ``1`` (earlier workers) are converted by the writer
STORED_KEYS = b"2"
#: the ``timed`` mark of an entry whose keys hold its executions' start and end times (the
#: writer's check of a run id used twice, :mod:`provml.ingest.reruns`); an entry without it
#: (a worker of an earlier version) has its times read from its N-Quads
TIMED = b"1"


def hand_over(quads: Sequence[Quad]) -> dict[str, bytes]:
    """The fields of a ``provml:quads`` entry for a validated batch: all its quads as N-Quads
    (``nqz``), which the writer loads into the store as they are (parsed by the store, never
    turned into Python objects there); the few the writer's passes read (``keys``, N-Quads,
    their literals as the store gives them back: written out by an in-memory store, so the one
    writer need not convert them, :func:`provml.ingest.summary_plan.store_batch`), with the
    executions' start and end times its check reads (:mod:`provml.ingest.reruns`); the
    classes of its nodes (``types``, JSON), for the hash ``provml:types``. Each is compressed
    with zlib at level 1: N-Quads of provml's long IRIs shrink ≈ 25× (≈ 2.2 kB an event become
    ≈ 0.1 kB in Redis, its append-only file and on the wire) for ≈ 3.5 µs of CPU an event."""
    read, times, types = _split(quads)  # (times compare as instants: not converted)
    return {"nqz": zlib.compress(nquads(quads), 1), "keys": zlib.compress(nquads([*as_stored(read), *times]), 1), "plan": STORED_KEYS,
            "timed": TIMED,
            "types": zlib.compress(json.dumps({node: " ".join(sorted(set(classes))) for node, classes in types.items()}).encode(), 1)}


def nquads(quads: Iterable[Quad]) -> bytes:
    data = serialize(quads, format=RdfFormat.N_QUADS)
    assert data is not None  # no output given: the bytes
    return data


def entry_nquads(fields: Mapping[bytes, Any]) -> bytes:
    """The N-Quads bytes of an entry (an earlier worker's ``nq``: as they are)."""
    return zlib.decompress(fields[b"nqz"]) if b"nqz" in fields else bytes(fields[b"nq"])


def entry_keys(fields: Mapping[bytes, Any]) -> tuple[list[Quad], dict[str, str]]:
    """The quads of an entry the passes read (``lenient``, as :func:`load`: written by a worker
    from checked quads), with its executions' start and end times, and the classes of each node
    (sorted, space-separated); an entry of an earlier worker (``nq``: the N-Quads alone; or
    keys without the times, not marked :data:`TIMED`) is parsed whole for what it lacks."""
    if b"nqz" in fields:
        read = list(parse(zlib.decompress(fields[b"keys"]), format=RdfFormat.N_QUADS, lenient=True))
        if fields.get(b"timed") != TIMED and not any(q.predicate in TIMES for q in read):
            # a worker before the check of a run id used twice (one of the version before the
            # mark put the times in the keys already)
            read += _split(parse(zlib.decompress(fields[b"nqz"]), format=RdfFormat.N_QUADS, lenient=True))[1]
        types: dict[str, str] = json.loads(zlib.decompress(fields[b"types"]))
        if not isinstance(types, dict) or not all(isinstance(classes, str) for classes in types.values()):
            raise ValueError("the entry's types are not a JSON object of node -> classes (text)")
        if fields.get(b"plan") != STORED_KEYS:  # an earlier worker's: in the order of its quads
            types = {node: " ".join(sorted(set(classes.split()))) for node, classes in types.items()}
        return read, types
    read, times, named = _split(parse(fields[b"nq"], format=RdfFormat.N_QUADS))
    return read + times, {node: " ".join(sorted(set(classes))) for node, classes in named.items()}


def _stamps(fields: Mapping[bytes, Any]) -> list[float]:
    """The capture times of an entry's events (``ts``: a JSON array of numbers)."""
    stamps = json.loads(fields[b"ts"])
    if not isinstance(stamps, list) or not all(isinstance(t, int | float) for t in stamps):
        raise ValueError("the entry's ts is not a JSON array of numbers")
    return stamps


def check_entry(fields: Mapping[bytes, Any], *, stamps: bool = False) -> None:
    """Read all of an entry in memory — its N-Quads parsed, its keys, classes and count of
    events, with ``stamps`` its capture times — and write nothing: raises what :func:`write_group`
    would raise for the entry's contents (``zlib.error``, ``SyntaxError``, ``ValueError``,
    ``KeyError``, ...). The broker's writer checks an entry so only after a group holding it
    failed (:meth:`provml.ingest.writer.Writer.step`), so that an entry it rejects leaves the
    store unchanged."""
    for _quad in parse(entry_nquads(fields), format=RdfFormat.N_QUADS, lenient=True):
        pass
    entry_keys(fields)
    int(fields[b"n"])
    if stamps:
        _stamps(fields)


_STREAM_ID = re.compile(r"[0-9]+(-[0-9]+)?")


def entry_bags(fields: Mapping[bytes, Any]) -> list[str]:
    """The ids of the bags an entry holds (``ids``: a JSON array of ``provml:events`` stream ids).

    :raises ValueError: they do not read (:class:`KeyError`: no ``ids``).
    """
    ids = json.loads(fields[b"ids"])
    if not isinstance(ids, list) or not all(isinstance(i, str) and _STREAM_ID.fullmatch(i) for i in ids):
        raise ValueError("the entry's ids are not a JSON array of stream ids")
    return ids


def overlaps(store: Store) -> bool:
    """Whether a group's write runs beside its planning: an embedded store on disk (where the
    write is long: RocksDB's files; in memory it is short and not worth a thread)."""
    return isinstance(store, OxigraphStore) and store.path is not None


def load(store: Store, data: bytes, *, atomic: bool) -> None:
    """Write N-Quads ``data`` to ``store``: an Oxigraph store parses them itself, no Python
    objects (:meth:`~provml.store.oxigraph.OxigraphStore.load_nquads`; ``lenient``: the IRIs
    were checked when the worker built the quads); another store gets the parsed quads."""
    if isinstance(store, OxigraphStore):
        store.load_nquads(data, lenient=True)
        return
    store.add(parse(data, format=RdfFormat.N_QUADS), atomic=atomic)
