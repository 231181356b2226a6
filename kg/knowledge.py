"""The knowledge graph: the ingest pipeline over a store.

events → check (JSON Schema) → translate (PROV-ML quads) → enrich (types entailed by the
ontology's class hierarchy) → validate (SHACL, the batch plus the types of the nodes it
references) → write (a transaction; on disk, a batch of
:data:`~provml.store.oxigraph.BULK_MIN_QUADS` quads or more through the bulk loader), then the late
stage links and the summaries the batch changes. A batch that fails its checks (the event format,
the shapes) is rejected whole; the store is unchanged. On disk a bulk-loaded batch is written
beside the planning of its late links and summaries, which follow its write; a smaller batch, or
one holding a blank node, is written with its late links in one write, and its summaries
follow. A failure after validation (of the store, or of that planning) raises and may leave the
batch stored without its late links or summaries; ingesting the batch again completes it
(deterministic IRIs: nothing is stored twice).

>>> kg = open_kg()
>>> result = kg.ingest_events([{"v": 1, "kind": "workflow_begin", "t": 0, "run": "r1", "workflow": "wf"},
...                            {"v": 1, "kind": "workflow_end", "t": 1, "run": "r1", "workflow": "wf",
...                             "status": "finished"}])
>>> result.events, result.graphs[0]
(2, 'https://w3id.org/provml/id/bundle/r1')
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyoxigraph import DefaultGraph, NamedNode, Quad, RdfFormat, parse

from provml.capture.redact import redact_event
from provml.closing import Closing
from provml.errors import EventError, ValidationFailed
from provml.events import check, text_too_long, too_long
from provml.ingest.enrichment import Closure, class_closure, with_entailed_types
from provml.ingest.iris import Iris
from provml.ingest.reruns import TIMES, stored_times
from provml.ingest.spec import WorkflowSpec, retire_versions, spec_of, stored_spec
from provml.ingest.translation import translate
from provml.store import QueryResult, Store, open_store, select
from provml.store.rdfio import refuse_unsafe
from provml.store.term_bound import refuse_long_terms
from provml.vocab import DEFAULT_BASE, OILGAS_ONTOLOGY_IRI, ONTOLOGY_IRI, RDF

if TYPE_CHECKING:
    from provml.ingest.plan_reads import Reads

__all__ = ["IngestResult", "KnowledgeGraph", "open_kg", "ONTOLOGY_GRAPHS", "default_store_path", "redacted"]


def _ontology_files() -> list[tuple[NamedNode, Path]]:
    from provml.ontology import path

    return [(ONTOLOGY_IRI, path("provml.ttl")), (OILGAS_ONTOLOGY_IRI, path("domains/oil-gas.ttl"))]


#: graph names the ontologies are loaded into (the provml ontology, each domain ontology)
ONTOLOGY_GRAPHS = (ONTOLOGY_IRI, OILGAS_ONTOLOGY_IRI)
#: the most workflow names remembered as having no stored spec (then forgotten together), and for
#: how many seconds each is (another process on the same store may store its spec)
_UNSPECIFIED_MAX = 10_000
UNSPECIFIED_S = 60.0


@dataclass(frozen=True)
class IngestResult:
    """What one ingest wrote: events translated, quads written (after enrichment), graphs touched."""
    events: int
    triples: int
    graphs: tuple[str, ...]


def redacted(event: Mapping[str, Any], index: int = 0) -> Mapping[str, Any]:
    """An event with its secrets redacted as the capture client redacts them (:func:`provml.capture.
    redact.redact_event`), its texts held to their bound again if that changed it (``[redacted]``
    is longer). :raises provml.errors.EventError: a value nested too deep to read (Python's
    recursion limit), or a text redaction made too long (:func:`provml.events.lengths.too_long`)."""
    try:
        out = redact_event(event)
    except RecursionError:
        raise EventError(index=index, kind=str(event.get("kind", "?")), field="(event)",
                         rule="nested too deep to read: flatten its values") from None
    if out is not event and (found := too_long(out)) is not None:
        raise text_too_long(index, str(event.get("kind", "?")), *found)
    return out


class KnowledgeGraph(Closing):
    """A PROV-ML knowledge graph over a :class:`provml.store.base.Store`.

    :param store: where quads live (embedded Oxigraph or a remote SPARQL store).
    :param base: the base IRI of instance data.
    :param validate: SHACL-validate every batch before writing (default on).
    :param enrich: add the types entailed by the ontology before validating and writing.
    :param atomic_writes: passed to the store's ``add`` (a backend may take a faster,
        non-transactional path when False). The embedded store writes a batch in one
        transaction or, on disk from :data:`provml.store.oxigraph.BULK_MIN_QUADS` quads, one
        bulk load, whose files RocksDB ingests into every index at once. Such a batch (unless it
        holds a blank node, which the N-Quads loaders would rename) reaches the
        store as N-Quads, parsed and written by the store on a thread of its own (without the
        GIL) while the ingesting thread plans its late links and summaries
        (:func:`provml.ingest.handover.write_passes`, as the broker's writer); the late links
        follow in a small write of their own once the batch is written, then the summaries. So
        a failure after validation (of the store, or of the planning beside the write) raises
        and may leave the batch stored without its late links or summaries; ingesting it again
        completes it (deterministic IRIs: nothing is stored twice).
    """

    def __init__(self, store: Store, *, base: str = DEFAULT_BASE, validate: bool = True,
                 enrich: bool = True, atomic_writes: bool = True) -> None:
        self.store = store
        self.iris = Iris(base)
        self.base = self.iris.base
        self.validate = validate
        self.enrich = enrich
        self.atomic_writes = atomic_writes
        self.specs: dict[str, WorkflowSpec] = {}
        #: workflows whose spec the store was asked for and did not hold, and when (monotonic)
        self._unspecified: dict[str, float] = {}
        self._closure: Closure | None = None
        #: one batch written at a time (the endpoint ingests on many threads): the shortcut links
        #: and summaries a batch gets read what the store holds, so each batch must see every
        #: batch before it whole, as if they came one after the other
        self._writing = threading.RLock()  # (re-entrant: close() from a signal handler that
        # interrupted a write on the same thread closes at once instead of waiting for itself)
        self._reads: Reads | None = None  # what the plans read, kept from batch to batch

    # -- ontology ---------------------------------------------------------------------------------
    def load_ontologies(self, *, force: bool = False) -> int:
        """Load the provml ontology and the shipped domain ontologies, each into its own graph.

        Graphs already present are left alone unless ``force``. Returns the number of graphs loaded.
        """
        loaded = 0
        # a domain ontology re-declares some of provml's terms (annotation properties, imports):
        # each triple is kept in the first ontology graph that has it, so the union counts it once
        earlier: set[tuple[Any, Any, Any]] = set()
        for graph, file in _ontology_files():
            # the shipped file, not the stored graph, says what an ontology graph holds: reading
            # it back would cost a round trip on a remote store, whose blank node labels
            # (Virtuoso's nodeID://…) pyoxigraph cannot even parse; blank nodes are never shared
            triples = [
                q for q in parse(file.read_bytes(), format=RdfFormat.TURTLE, base_iri=graph.value)
                if (q.subject, q.predicate, q.object) not in earlier
            ]
            if not force and self.store.contains_graph(graph):
                earlier.update((q.subject, q.predicate, q.object) for q in triples)
                continue
            if force:
                self.store.clear_graph(graph)
            self.store.add(Quad(q.subject, q.predicate, q.object, graph) for q in triples)
            earlier.update((q.subject, q.predicate, q.object) for q in triples)
            loaded += 1
        return loaded

    def closure(self) -> Closure:
        """Class → its named super-classes, itself included (:mod:`provml.ingest.enrichment`: the
        shipped ontologies' SPARQL closure, equal to HermiT's, computed without Java)."""
        if self._closure is None:
            self._closure = class_closure()
        return self._closure

    # -- specs ------------------------------------------------------------------------------------
    def register_spec(self, spec: WorkflowSpec) -> IngestResult:
        """Store a prospective spec's nodes and use its roles for values captured without one."""
        self.specs[spec.workflow] = spec
        return self.ingest_events([{"v": 1, "kind": "spec", "t": 0, "run": "spec", "workflow": spec.workflow,
                                    "spec": spec.to_dict()}])

    def _role(self, workflow: str, transformation: str, name: str) -> str | None:
        spec = self.specs.get(workflow)
        if spec is None and self._ask_spec(workflow):
            # a process that has not seen its spec event (a restart) reads it from the store
            spec = stored_spec(self.store, self.iris, workflow)
            if spec is not None:  # (one another thread registered during the read is newer)
                spec = self.specs.setdefault(workflow, spec)
                self._unspecified.pop(workflow, None)
            else:
                if len(self._unspecified) >= _UNSPECIFIED_MAX:
                    self._unspecified.clear()
                self._unspecified[workflow] = time.monotonic()
        return spec.role(transformation, name) if spec else None

    def _ask_spec(self, workflow: str) -> bool:  # (not found, asked again after UNSPECIFIED_S)
        asked = self._unspecified.get(workflow)
        return asked is None or time.monotonic() - asked > UNSPECIFIED_S

    # -- ingest -----------------------------------------------------------------------------------
    def ingest_events(self, events: Sequence[Mapping[str, Any]], *, checked: bool = False) -> IngestResult:
        """Check, translate, enrich, validate and write one batch of capture events (a batch that
        fails its checks is rejected whole; see the class's text for a failure after them).
        ``checked``: the events passed :func:`provml.events.check` already.

        :raises provml.errors.EventError: an event breaks the wire format (nothing written).
        :raises provml.errors.ValidationFailed: the batch breaks the shapes (nothing written).
        """
        from provml.ingest.collector import paused

        registered: list[tuple[str, WorkflowSpec | None, WorkflowSpec]] = []
        try:
            with paused():  # the batch's objects are short-lived: no collection in the middle of it
                return self._write(self.translate_events(events, registered=registered, checked=checked),
                                   events=len(events))
        except BaseException:
            # a refused batch's specs are not kept: they typed later batches' values (a probe,
            # 22nd session), while the batch that brought them was never stored
            for workflow, previous, spec in reversed(registered):
                if self.specs.get(workflow) is spec:
                    if previous is None:
                        self.specs.pop(workflow, None)
                    else:
                        self.specs[workflow] = previous
            raise

    def translate_events(self, events: Sequence[Mapping[str, Any]], *, checked: bool = False,
                         registered: list[tuple[str, WorkflowSpec | None, WorkflowSpec]] | None = None) -> list[Quad]:
        """The first stages of :meth:`ingest_events`, which read nothing of the store but, once a
        workflow, its stored spec: check the events, take the roles of their specs, translate them. :meth:`ingest_translated` does
        the rest (a loader translates the next batch while the store writes this one).

        :param registered: where to note each spec registered, as ``(workflow, the spec it
            replaced or None, the spec)``, for :meth:`ingest_events` to take back if the batch
            is refused.
        :param checked: the events passed :func:`provml.events.check` already.
        :raises provml.errors.EventError: an event breaks the wire format: also a spec event
            whose spec does not load, and an event nested too deep to read.
        """
        if not checked:
            check(events)
        # secrets redacted as the capture client does, for events that did not come through it
        events = [redacted(event, index) for index, event in enumerate(events)]
        for index, event in enumerate(events):
            if event["kind"] == "spec":
                spec = spec_of(event, index)
                if registered is not None:
                    registered.append((event["workflow"], self.specs.get(event["workflow"]), spec))
                self.specs[event["workflow"]] = spec
        return translate(events, iris=self.iris, roles=self._role)

    def ingest_translated(self, quads: list[Quad], *, events: int) -> IngestResult:
        """The stages of :meth:`ingest_events` after translation (stage links, enrichment, validation,
        the write, late links and summaries) for the quads of :meth:`translate_events`.

        :raises provml.errors.ValidationFailed: the batch breaks the shapes (nothing written).
        """
        from provml.ingest.collector import paused

        with paused():
            return self._write(quads, events=events)

    def ingest_rdf(self, data: bytes, *, format: RdfFormat, graph: NamedNode | None = None,
                   base_iri: str | None = None) -> IngestResult:
        """Ingest RDF (any format pyoxigraph parses) through the same enrichment and validation.

        Triples of the default graph go to ``graph`` (default: ``{base}graph/imported``).

        :raises SyntaxError: the data does not parse (pyoxigraph's error, with its position).
        :raises provml.errors.RdfSyntaxError: RDF/XML with a DTD, JSON-LD nested too deep (:func:`~provml.store.rdfio.refuse_unsafe`).
        :raises provml.errors.ValidationFailed: the data breaks the shapes; ``TermTooLong``: a
            term is past :mod:`~provml.store.term_bound` (either way nothing is written).
        """
        refuse_unsafe(data, format)
        return self.ingest_quads(parse(data, format=format, base_iri=base_iri), graph=graph)

    def ingest_quads(self, quads: Iterable[Quad], *, graph: NamedNode | None = None) -> IngestResult:
        """Ingest parsed quads (default-graph ones into ``graph``) through enrichment and validation.

        :raises provml.errors.ValidationFailed: the data breaks the shapes; ``TermTooLong``: a
            term is past :mod:`~provml.store.term_bound` (either way nothing is written).
        """
        target = graph or NamedNode(self.base + "graph/imported")
        moved = [q if not isinstance(q.graph_name, DefaultGraph) else Quad(q.subject, q.predicate, q.object, target)
                 for q in quads]
        refuse_long_terms(moved)
        return self._write(moved, events=0)

    def prepare_batch(self, quads: list[Quad], *, links: bool = True, reads: Reads | None = None) -> list[Quad]:
        """A translated batch as it will be stored: shortcut links, entailed types, checked
        against the shapes (the pipeline's stages after translation, before the write).

        :param links: add the ``provml:stageExecution`` links, which look into this store; a
            broker worker that does not hold the store leaves them to the writer that does.
        :param reads: the one writer's, begun for this batch (its filters skip new executions).
        :raises provml.errors.ValidationFailed: the batch breaks the shapes.
        """
        from provml.ingest.shortcuts import stage_links, store_lookup

        if links:
            quads = quads + stage_links(quads, store_lookup(self.store))
        if self.enrich:
            quads = with_entailed_types(quads, self.closure())
        if self.validate:
            self._check_shapes(quads, reads)
        return quads

    def _write(self, quads: list[Quad], *, events: int) -> IngestResult:
        from provml.ingest.handover import nquads, overlaps, write_passes
        from provml.ingest.plan_reads import Reads
        from provml.ingest.summary_plan import store_batch
        from provml.store.oxigraph import BULK_MIN_QUADS

        with self._writing:
            # the batch, its late links and the summaries it changes, the last two planned before
            # the write (the batch from memory), reading what the batches before read from memory
            if self._reads is None:
                self._reads = Reads()
            self._reads.begin(self.store)
            quads = self.prepare_batch(quads, reads=self._reads)
            data = nquads(quads) if overlaps(self.store) and len(quads) >= BULK_MIN_QUADS else None
            if data is not None and b"_:" not in data:
                # on disk the store bulk-loads the batch's N-Quads on a thread of its own, without
                # the GIL, while this one plans the late links and summaries over the store and
                # the batch (docs/benchmarks.md, sixteenth session); a smaller batch, whose
                # transaction is short, gained nothing that way (bags of 50 events: 1-5 % slower).
                # The bulk loader renames blank nodes: a batch that may hold one is written as quads
                write_passes(self.store, data, quads, atomic=self.atomic_writes, complete=True, reads=self._reads)
            else:
                store_batch(self.store, quads, atomic=self.atomic_writes, reads=self._reads)
            retire_versions(self.store, self.iris, quads, data)  # a spec's document: the new one alone
        graphs = sorted(g.value for g in {q.graph_name for q in quads} if isinstance(g, NamedNode))
        return IngestResult(events=events, triples=len(quads), graphs=tuple(graphs))

    def _check_shapes(self, quads: list[Quad], reads: Reads | None = None) -> None:
        from provml.ingest.validation import validate_triples

        subjects = set()
        objects = set()
        times = []
        for q in quads:  # one pass, each term read once
            subjects.add(q.subject)
            if isinstance(o := q.object, NamedNode):
                objects.add(o)
            elif q.predicate in TIMES:
                times.append(q)
        context = list(self._types_of((objects - subjects).difference(ONTOLOGY_GRAPHS)))
        # context nodes were validated when written; the store's other times meet the maxCount
        report = validate_triples([*quads, *self._times_of(times, reads), *context], context={q.subject for q in context})
        if report.violations:  # warnings and infos alone do not reject a batch
            raise ValidationFailed(results=len(report.results), report=report)

    def _times_of(self, times: list[Quad], reads: Reads | None) -> list[Quad]:  # (a run id used twice;
        if reads is not None:  # ``reads`` begun: its filters are the store's now)
            reads.timed({q.subject for q in times})
        return stored_times(self.store, times, lacks=reads.lacks_times if reads is not None else None)

    def _types_of(self, nodes: Iterable[NamedNode]) -> Iterable[Quad]:
        nodes = [n for n in nodes if n.value.startswith(self.base)]
        if not nodes:
            return []
        values = " ".join(str(n) for n in nodes)
        result = select(self.store, f"SELECT DISTINCT ?s ?t WHERE {{ VALUES ?s {{ {values} }} ?s a ?t }}")
        return [Quad(row["s"], RDF.type, row["t"], DefaultGraph()) for row in result]

    # -- reading ----------------------------------------------------------------------------------
    def query(self, sparql: str) -> QueryResult:
        """Run SPARQL over the union of all graphs."""
        return self.store.query(sparql, use_default_graph_as_union=True)

    def close(self) -> None:
        """Close the store, once a batch being written (on another thread: the loader's, an
        endpoint request's) is written whole, its late links and summaries included."""
        with self._writing:
            if self._reads is not None:
                self._reads.close()  # (a scan under way holds the store open)
            self.store.close()



def default_store_path() -> Path:
    """Where the CLI keeps its store unless told otherwise: ``$PROVML_STORE``, else ``.provml/store``
    in the current directory."""
    import os

    return Path(os.environ.get("PROVML_STORE") or Path(".provml") / "store")


def open_kg(
    path: str | Path | None = None,
    *,
    remote: str | Any | None = None,
    base: str = DEFAULT_BASE,
    validate: bool = True,
    load_ontologies: bool = True,
) -> KnowledgeGraph:
    """Open (or create) a knowledge graph: in memory, in an on-disk directory, or on a remote store.

    :raises provml.errors.StoreLocked: another process holds the on-disk store.
    """
    kg = KnowledgeGraph(open_store(path, remote=remote), base=base, validate=validate)
    if load_ontologies:
        kg.load_ontologies()
    return kg
