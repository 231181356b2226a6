"""Loading event spools and RDF files into a knowledge graph, batch by batch.

Each batch goes through the full ingest pipeline and is stored or rejected whole; a rejected
batch is reported (with its validation report) and loading goes on with the next one.

Consecutive batches of events go through the pipeline *together*, up to :data:`TOGETHER`
events at a time at first and then more (half the events handed over so far, up to
:data:`TOGETHER_MAX`), as one batch and one write (:func:`ingest_bags`): what a bag costs per call
(the store's reads for shortcut links, context types and summaries, the validation engine's
call, the write) is paid once per group; an embedded on-disk store writes a group of that size
with its bulk loader (at a third of a transaction's cost; docs/benchmarks.md), a remote store
in one ``INSERT DATA`` request. A group is written on a thread of its own while the next one is
read and translated (:class:`_Group`). When
a group fails (it breaks the event format or the shapes, or anything else goes wrong), its
batches are taken one by one, so a batch is stored or rejected, with its own report, exactly as
alone (a batch with events the event format refuses: those events are rejected, each alone,
and the rest of the batch stored). A batch holding a spec starts a new group: a spec gives roles to its own batch and later
ones, never to earlier ones.

>>> from provml.knowledge import open_kg
>>> summary = load_paths(open_kg(), [])
>>> summary.events, summary.rejected
(0, ())

Why it is long: reading the files, grouping their batches with a write under way beside the
next group's translation, and taking a failed group batch by batch (and a batch event by event
where the event format refuses one) share the group's state: split, each would reach into it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyoxigraph import CanonicalizationAlgorithm, Dataset, NamedNode, Quad

from provml.capture.spool import SPOOL_SUFFIXES
from provml.errors import EventError, TermTooLong, ValidationFailed
from provml.ingest.spec import spec_of
from provml.knowledge import IngestResult, KnowledgeGraph, redacted
from provml.store.rdfio import RDF_SUFFIXES
from provml.store.term_bound import refuse_long_terms

__all__ = [
    "TOGETHER",
    "TOGETHER_MAX",
    "ingest_bags",
    "LoadSummary",
    "Rejected",
    "count_units",
    "load_paths",
    "RDF_SUFFIXES",
    "SPOOL_SUFFIXES",
]


#: how many events of consecutive batches the loader ingests together at first (≈ 100,000 quads
#: of learning runs: bulk-loader territory, see :data:`provml.store.oxigraph.BULK_MIN_QUADS`)
TOGETHER = 10_000

#: the most events a group grows to: later groups take half the events the load has handed over
#: so far (``max(together, sent // 2)``, up to this; after a failed group from ``together``
#: again, :meth:`_Group._restart`). Each bulk load adds files that overlap the
#: whole store, which RocksDB's compactions then merge into it again and again: 3×10^5 events in
#: groups of 10,000 spent 27–29 s of CPU compacting, in growing groups 11 s, for 1.3 GB more
#: memory at the peak (0.7 → 2.0 GB; docs/benchmarks.md, twenty-fifth session)
TOGETHER_MAX = 50_000


@dataclass(frozen=True)
class Rejected:
    """One batch that was not stored: where it came from, how many events, and why."""

    source: str
    events: int
    error: str
    report: dict[str, Any] | None = None


@dataclass(frozen=True)
class LoadSummary:
    files: int
    events: int
    triples: int
    graphs: tuple[str, ...]
    rejected: tuple[Rejected, ...] = field(default=())


def _report(exc: ValidationFailed) -> dict[str, Any]:
    return {**exc.report.to_dict(), "text": exc.report.describe()}


def _files(paths: Sequence[str | Path]) -> list[Path]:
    from provml.capture.spool import spool_files

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(spool_files(p))
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in RDF_SUFFIXES))
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or directory")
    return out


def _is_spool(file: Path, input_format: str | None) -> bool:
    """Whether ``file`` is read as a spool of events (by its suffix, unless an RDF format is named)."""
    return input_format is None and file.suffix.lower() in SPOOL_SUFFIXES


def count_units(paths: Sequence[str | Path], *, input_format: str | None = None) -> int:
    """How many units :func:`load_paths` will report to its ``progress`` callback: one per
    non-blank spool line (an event), one per RDF file. Reads the spools once, parses nothing.

    :raises FileNotFoundError: a path does not exist.
    """
    total = 0
    for file in _files(paths):
        if _is_spool(file, input_format):
            with file.open("rb") as handle:
                total += sum(1 for line in handle if line.strip())
        else:
            total += 1
    return total


def _same_graph(left: Sequence[Quad], right: Sequence[Quad]) -> bool:
    """Whether two graphs are isomorphic (equal once blank nodes are canonically renamed)."""
    if len(left) != len(right):
        return False
    a, b = Dataset(left), Dataset(right)
    a.canonicalize(CanonicalizationAlgorithm.RDFC_1_0)
    b.canonicalize(CanonicalizationAlgorithm.RDFC_1_0)
    return set(a) == set(b)


def _ontology_graphs(
    kg: KnowledgeGraph, quads: list[Quad]
) -> tuple[list[Quad], dict[NamedNode, list[Quad]]]:
    """``quads`` without those of the ontology graphs, and the ontology graphs that differ
    from the store's (to install as they are once the rest is stored).

    The store holds the ontologies already (``open_kg`` loads them): an ontology graph in a
    file (an export read back) that is the same graph up to blank-node names is left out, so
    its blank nodes are not stored twice; a different one replaces the store's graph, without
    enrichment or validation (an ontology is not instance data).
    """
    from provml.knowledge import ONTOLOGY_GRAPHS

    wanted = set(ONTOLOGY_GRAPHS)
    found: dict[NamedNode, list[Quad]] = {}
    rest: list[Quad] = []
    for quad in quads:
        if quad.graph_name in wanted:
            found.setdefault(quad.graph_name, []).append(quad)  # type: ignore[arg-type]
        else:
            rest.append(quad)
    changed = {graph: given for graph, given in found.items()
               if not _same_graph(given, list(kg.store.quads(graph=graph)))}
    return rest, changed


def load_paths(
    kg: KnowledgeGraph,
    paths: Sequence[str | Path],
    *,
    batch_size: int = 500,
    input_format: str | None = None,
    progress: Callable[[int], None] | None = None,
    together: int = TOGETHER,
    together_max: int = TOGETHER_MAX,
) -> LoadSummary:
    """Load spools (JSON lines of events) and RDF files (by suffix or ``input_format``).

    :param batch_size: events per batch: what is stored or rejected as one.
    :param together: consecutive batches are ingested together up to this many events at
        first, later groups up to half the events handed over so far and at most
        ``together_max`` (:func:`ingest_bags`); 0 ingests each batch alone.

    :param progress: called with the number of events (or 1 per RDF file) just processed.
    :raises FileNotFoundError: a path does not exist.
    :raises ValueError: the RDF format of a file is unknown, or it is a device (before anything
        is loaded).
    :raises OSError: a file cannot be read (the files before it are stored).
    A spool line that is not a JSON event (a crash or a full disk in the middle of a write) is
    reported in the summary's ``rejected`` with its file and line, and the rest loaded (it
    stopped the whole load: an audit, twenty-first session); a batch's numbers count events. So
    is an RDF file that does not parse or holds no RDF (PROV-JSON ...): nothing of it is stored.
    """
    from provml.capture.spool import read_events
    from provml.errors import RdfSyntaxError
    from provml.store.rdfio import file_format, parse_file, refuse_device

    files = _files(paths)
    for file in files:  # a file of no known format, or a device, stops the load before anything is written
        if not _is_spool(file, input_format):
            file_format(file, input_format)
            refuse_device(file)
    events = triples = 0
    graphs: set[str] = set()
    rejected: list[Rejected] = []

    def record(outcome: Outcome) -> None:
        nonlocal events, triples
        source, bag, result = outcome
        if isinstance(result, ValidationFailed):
            rejected.append(Rejected(source, len(bag), str(result), _report(result)))
        elif isinstance(result, EventError):
            rejected.append(Rejected(source, len(bag), str(result)))
        elif result is not None:
            events += result.events
            triples += result.triples
            graphs.update(result.graphs)
        if progress:
            progress(len(bag))

    group = _Group(kg, together, record, together_max)
    ingest = group.add

    try:
        for file in files:
            if _is_spool(file, input_format):
                bag: list[dict[str, Any]] = []
                first = 1

                def corrupt(number: int, _line: str, problem: str, file: Path = file) -> None:
                    # (how many events the line held is not known: 0, not 1 of a bag of 202)
                    rejected.append(Rejected(f"{file}:{number}", 0, f"a line that is not an event "
                                             f"({problem}); it stays in the file"))

                def truncated(number: int, _line: str, file: Path = file) -> None:
                    # (it was skipped with a warning, and the load ended with exit 0)
                    rejected.append(Rejected(f"{file}:{number}", 0, "the last line is cut off (its "
                                             "writer stopped in the middle of it): its events are "
                                             "not loaded; it stays in the file"))

                for n, event in enumerate(read_events(file, on_error=corrupt, on_truncated=truncated), 1):
                    bag.append(event)
                    if len(bag) >= batch_size:
                        ingest(f"{file}:{first}-{n}", bag)
                        bag, first = [], n + 1
                if bag:
                    ingest(f"{file}:{first}-{first + len(bag) - 1}", bag)
                continue
            group.flush()  # the batches before this file are stored before it, as they came
            try:
                parsed = parse_file(file, format=input_format)
            except (RdfSyntaxError, ValueError) as exc:  # (OSError: could not run, exit 2)
                # nothing of the file is stored (it is parsed whole first), the rest is loaded:
                # it stopped the load, the files before it stored and no summary (a probe, 26th session)
                rejected.append(Rejected(str(file), 0, f"not read, nothing of it stored: {exc}"))
                if progress:
                    progress(1)
                continue
            quads, ontologies = _ontology_graphs(kg, parsed)
            try:
                for given in ontologies.values():  # (written as they are, after the rest)
                    refuse_long_terms(given)
                result = kg.ingest_quads(quads)
            except ValidationFailed as exc:
                rejected.append(Rejected(str(file), 0, str(exc), _report(exc)))
            except TermTooLong as exc:
                rejected.append(Rejected(str(file), 0, f"nothing of it stored: {exc}"))
            else:
                triples += result.triples
                graphs.update(result.graphs)
                for graph, given in ontologies.items():  # only when the file was accepted
                    kg.store.clear_graph(graph)
                    kg.store.add(given)
                    triples += len(given)
                    graphs.add(graph.value)
            if progress:
                progress(1)
        group.flush()
    finally:
        group.abandon()  # (after flush: nothing left; else never a write left under way)
    return LoadSummary(len(files), events, triples, tuple(sorted(graphs)), tuple(rejected))


#: a batch's source, its events, and what became of it: the result for the group it was
#: stored in (on the group's last batch; ``None`` on the others), or the error that rejected it
Outcome = tuple[str, Sequence[Mapping[str, Any]], "IngestResult | EventError | ValidationFailed | None"]


class _Group:
    """Consecutive batches waiting to be ingested together (see the module's text).

    A full group is translated on the caller's thread (:meth:`KnowledgeGraph.translate_events`:
    nothing of the store read) and then written on a thread of its own
    (:meth:`KnowledgeGraph.ingest_translated`), while the caller reads and translates the next
    group: on disk most of a group's write is the store parsing and writing its N-Quads without
    the GIL (``provml.ingest.handover.write_passes``). The next group's stage links, validation
    and write wait for the group before it, written whole: they read the store. A group that
    fails is taken batch by batch once the group before it is done, as alone; the group
    translated beside a write that failed is translated again after that write's batches.
    Outcomes are reported in order, a group's once the next one is translated (or at
    :meth:`flush`). A group of one batch (a batch of ``together`` events or more, a batch alone
    before a spec) is ingested on the caller's thread, after the write under way. The write's
    thread pauses the cyclic garbage collector for the process while it runs
    (:mod:`provml.ingest.collector`), the caller's reading of the next group included."""

    def __init__(self, kg: KnowledgeGraph, together: int, done: Callable[[Outcome], None],
                 together_max: int = TOGETHER_MAX) -> None:
        self.kg, self.done = kg, done
        self.first, self.most = together, max(together, together_max) if together > 0 else together
        self.together = together  # the next group's size: grows with what was sent (TOGETHER_MAX)
        self.sent = 0  # events of the groups sent to be written since the start or a failure
        self.bags: list[tuple[str, Sequence[Mapping[str, Any]]]] = []
        self.events = 0
        self._writer: ThreadPoolExecutor | None = None
        #: the group being written: its batches, the specs before its translation, the write
        self._flight: tuple[list[tuple[str, Sequence[Mapping[str, Any]]]], dict[str, Any], Future[IngestResult]] | None = None

    def add(self, source: str, bag: Sequence[Mapping[str, Any]]) -> None:
        if self.bags and any(isinstance(e, Mapping) and e.get("kind") == "spec" for e in bag):
            # a batch's spec gives roles to the values of its whole batch (``ingest_events``), so
            # it must not reach the batches before it: they are translated first, without it
            self._send()
        self.bags.append((source, bag))
        self.events += len(bag)
        if self.events >= self.together:
            self._send()

    def flush(self) -> None:
        """Ingest the batches waiting, and wait until every batch sent is stored or rejected."""
        while self.bags:  # (a failed write puts the group translated beside it back: regrouped)
            self._send()
        self._land()
        self._stop_writer()

    def abandon(self) -> None:
        """Wait for a write under way (the caller is leaving on an error): its batches are
        reported when it ended well, and not taken one by one when it failed."""
        flight = self._flight
        if flight is not None:
            bags, _specs, write = flight
            wait([write])  # (a second Ctrl-C here leaves the flight for a later abandon)
            self._flight = None
            if write.exception() is None:
                self._report(bags, write.result())
        self._stop_writer()

    def _stop_writer(self) -> None:
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None

    def _send(self) -> None:
        from provml.ingest.collector import paused

        bags, self.bags, self.events = self.bags, [], 0
        if not bags:
            return
        if len(bags) == 1:
            self._land()
            self._one_by_one(bags)
            return
        specs = dict(self.kg.specs)  # a later bag's spec must not translate an earlier bag alone
        events = [e for _, bag in bags for e in bag]
        try:
            with paused():
                quads = self.kg.translate_events(events)  # beside the write under way
        except Exception:  # noqa: BLE001 - rejected or not, bag by bag: each gets what it gets alone
            self.kg.specs = specs
            self._land()
            self._restart()
            self._one_by_one(bags)
            return
        if not self._land():
            # the write before failed and restarted the growth: this group, of the size before,
            # is regrouped from ``together`` and translated again after that write's batches
            for source, bag in bags:
                self.add(source, bag)
            return
        self.sent += len(events)
        self.together = min(self.most, max(self.first, self.sent // 2))
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="provml-load")
        self._flight = (bags, specs, self._writer.submit(self.kg.ingest_translated, quads, events=len(events)))

    def _land(self) -> bool:
        """Wait for the group being written and report it; False: its write failed, and its
        batches were then taken one by one (the specs as before its translation)."""
        flight = self._flight
        if flight is None:
            return True
        bags, specs, write = flight
        try:
            result = write.result()  # (a Ctrl-C here leaves the flight to abandon(), which reports it)
        except Exception:  # noqa: BLE001 - as for a group that fails its translation
            self._flight = None
            self.kg.specs = specs
            self._restart()
            self._one_by_one(bags)
            return False
        self._flight = None
        self._report(bags, result)
        return True

    def _restart(self) -> None:
        """A group failed: the next ones start again at ``together`` events and grow again. A
        failed group is taken batch by batch, so the larger it was, the more a rejected batch
        costs (a group of 50,000 events is 100 batches of 500 ingested one by one)."""
        self.sent, self.together = 0, self.first

    def _report(self, bags: list[tuple[str, Sequence[Mapping[str, Any]]]], result: IngestResult) -> None:
        """The outcomes of a group stored whole: its result on its last batch."""
        for i, (source, bag) in enumerate(bags):
            self.done((source, bag, result if i == len(bags) - 1 else None))

    def _one_by_one(self, bags: list[tuple[str, Sequence[Mapping[str, Any]]]]) -> None:
        for source, bag in bags:
            try:
                self.done((source, bag, self.kg.ingest_events(bag)))
            except EventError as exc:
                self._without_broken(source, bag, exc)
            except ValidationFailed as exc:
                self.done((source, bag, exc))

    def _without_broken(self, source: str, bag: Sequence[Mapping[str, Any]], error: EventError) -> None:
        """A batch that breaks the event format: the events that break it alone are rejected,
        each with its error and its place (``source (event n)``), and the rest is ingested as the
        batch (``source (the rest)``). One value the format refuses (a tensor's list under an
        evaluation) rejected a whole batch of 500 events, where the capture client's own sink
        rejects that event alone (a review, twenty-first session). When no event breaks it
        alone, or all do, the batch is rejected whole, as before."""
        from provml.events import check

        kept: list[Mapping[str, Any]] = []
        broken: list[tuple[int, Mapping[str, Any], EventError]] = []
        for i, event in enumerate(bag):
            try:
                check([event])
                redacted(event)
                if event["kind"] == "spec":
                    spec_of(event)
            except EventError as exc:
                broken.append((i, event, exc))
            else:
                kept.append(event)
        if not broken or not kept:
            self.done((source, bag, error))
            return
        for i, event, refused in broken:
            self.done((f"{source} (event {i + 1})", [event], refused))
        rest = f"{source} (the rest)"
        try:
            self.done((rest, kept, self.kg.ingest_events(kept)))
        except (EventError, ValidationFailed) as exc:
            self.done((rest, kept, exc))


def ingest_bags(
    kg: KnowledgeGraph,
    bags: Iterable[tuple[str, Sequence[Mapping[str, Any]]]],
    *,
    together: int = TOGETHER,
    together_max: int = TOGETHER_MAX,
) -> Iterator[Outcome]:
    """Ingest ``(source, events)`` batches in order, consecutive ones together up to
    ``together`` events at first, then half the events handed over so far, up to
    ``together_max`` (see the module's text and :data:`TOGETHER_MAX`); yields each batch's
    :data:`Outcome`, in order.

    >>> from provml.knowledge import open_kg
    >>> bags = [("a", [{"v": 1, "kind": "workflow_begin", "t": 0, "run": "r1", "workflow": "wf"}]),
    ...         ("b", [{"v": 1, "kind": "workflow_end", "t": 1, "run": "r1", "workflow": "wf",
    ...                 "status": "finished"}])]
    >>> [(source, type(result).__name__) for source, _, result in ingest_bags(open_kg(), bags)]
    [('a', 'NoneType'), ('b', 'IngestResult')]
    """
    out: deque[Outcome] = deque()
    group = _Group(kg, together, out.append, together_max)
    try:
        for source, bag in bags:
            group.add(source, bag)
            while out:  # each taken off before it is yielded: an error thrown in repeats none
                yield out.popleft()
        group.flush()
    except GeneratorExit:
        group.abandon()  # (the caller stopped reading: never a write left under way)
        raise
    except BaseException:
        group.abandon()
        while out:  # what was stored before the error is reported before it
            yield out.popleft()
        raise
    while out:
        yield out.popleft()
