"""SHACL validation of PROV-ML data against provml's shapes.

Why it is long: one stage of the pipeline — the engines, the report, the grouping by
representatives and the rdflib conversion it needs — each part used only here.

Two entry points: :func:`validate_triples` for data already enriched with the types the ontology
entails (the ingest fast path, pyshacl with ``inference="none"``), and :func:`validate_files` for
RDF files as users write them (parsed, enriched with the ontology's ``rdfs:subClassOf*`` closure,
then validated), which ``provml validate`` uses. Both return a :class:`Report`.

pyshacl and rdflib are imported inside the functions that need them, so ``import provml`` stays
light. The shapes graph is parsed once per process and reused.

>>> from pyoxigraph import Literal, NamedNode, Triple
>>> from provml.vocab import PROV, PROVML, RDF
>>> run = NamedNode("https://w3id.org/provml/id/run/r1")
>>> report = validate_triples([
...     Triple(run, RDF.type, PROVML.WorkflowExecution),
...     Triple(run, RDF.type, PROV.Activity),
...     Triple(run, PROV.startedAtTime, Literal("2022-03-01T10:15:00")),
... ])
>>> report.conforms
False
>>> sorted({r.shape.split("#")[1] for r in report.results})
['ExecutionShape']
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, Triple

from provml.vocab import OWL, PROV, PROVML, PROVML_SHAPES_NS, RDF, RDFS, SH, XSD

if TYPE_CHECKING:
    import rdflib

__all__ = [
    "Report",
    "Result",
    "default_shapes",
    "validate_files",
    "validate_triples",
    "warm_up",
]

_SH = SH.NS
#: pyshacl is not thread-safe around a shared shapes graph (it patches rdflib while loading and
#: adds its system triples to the graph on every call): one validation at a time per process.
_PYSHACL_LOCK = threading.Lock()
_PREFIXES = (
    ("provml-shapes:", PROVML_SHAPES_NS),
    ("provml:", PROVML.NS),
    ("prov:", PROV.NS),
    ("sh:", SH.NS),
    ("xsd:", XSD.NS),
    ("rdfs:", RDFS.NS),
    ("rdf:", RDF.NS),
)


@dataclass(frozen=True)
class Result:
    """One SHACL validation result.

    ``shape`` is the node shape the failed constraint belongs to (for a property shape, the node
    shape that holds it); ``constraint`` the SHACL constraint component, e.g.
    ``http://www.w3.org/ns/shacl#MinCountConstraintComponent``; ``severity`` ``Violation``,
    ``Warning`` or ``Info``.
    """

    focus_node: str
    path: str | None
    constraint: str
    shape: str
    value: str | None
    message: str
    severity: str


@dataclass(frozen=True)
class Report:
    """The verdict of a validation: ``conforms``, the results and pyshacl's text report.

    As in SHACL (§3.1), the data conforms only when there is no result at all, whatever its
    severity: a report with warnings only does not conform. :attr:`violations` says whether any
    result is a ``Violation``: the ingest rejects a batch on that, and stores batches whose
    results are warnings or infos.

    >>> warning = Result("urn:x", None, "c", "s", None, "m", "Warning")
    >>> report = Report(False, (warning,), "")
    >>> report.conforms, report.violations
    (False, False)
    """

    conforms: bool
    results: tuple[Result, ...]
    text: str

    @property
    def violations(self) -> bool:
        """Whether any result has severity ``Violation``."""
        return any(r.severity == "Violation" for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: ``{"conforms": bool, "results": [{...}, ...]}``."""
        return {"conforms": self.conforms, "results": [asdict(r) for r in self.results]}

    def summary(self) -> str:
        """One line: the verdict and the count of results by severity.

        >>> Report(conforms=True, results=(), text="").summary()
        'conforms: no results'
        """
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.severity] = counts.get(result.severity, 0) + 1
        tally = ", ".join(f"{n} {sev.lower()}{'s' if n > 1 else ''}" for sev, n in counts.items())
        return f"{'conforms' if self.conforms else 'does not conform'}: {tally or 'no results'}"

    def describe(self) -> str:
        """A readable report: the summary, then each result with its focus node, path,
        constraint, value and message (IRIs shortened with the usual prefixes)."""
        lines = [self.summary()]
        for number, r in enumerate(self.results, start=1):
            lines += [
                "",
                f"{r.severity} {number}: {_short(r.shape)}",
                f"  focus node: {_short(r.focus_node)}",
                f"  path:       {_short(r.path) if r.path else '-'}",
                f"  constraint: {_short(r.constraint)}",
                f"  value:      {_short(r.value) if r.value else '-'}",
                f"  message:    {r.message}",
            ]
        return "\n".join(lines)


def default_shapes() -> tuple[Path, ...]:
    """The shapes provml ships (``provml/shapes/*.ttl``)."""
    from provml.shapes import path

    return (path("provml-shapes.ttl"),)


#: the SHACL engines: pySHACL is the reference; pyshacl-turbo (a Rust engine with pySHACL's API)
#: is about 10x faster and is checked against pySHACL by the tests on every shapes test file
ENGINES = ("turbo", "pyshacl")


def default_engine() -> str:
    """``$PROVML_SHACL_ENGINE`` when set, else ``turbo`` when pyshacl-turbo is installed."""
    import importlib.util
    import os

    wanted = os.environ.get("PROVML_SHACL_ENGINE")
    if wanted:
        if wanted not in ENGINES:
            raise ValueError(f"PROVML_SHACL_ENGINE={wanted!r}: choose one of {', '.join(ENGINES)}")
        return wanted
    return "turbo" if importlib.util.find_spec("pyshacl_turbo") else "pyshacl"


@functools.lru_cache(maxsize=8)
def _shape_classes(paths: tuple[str, ...]) -> frozenset[NamedNode]:
    """The classes the shapes look at: targets, ``sh:class`` values, implicit class targets."""
    from provml.store.rdfio import parse_file

    quads = [q for p in paths for q in parse_file(p)]
    wanted = {NamedNode(SH.NS + "targetClass"), NamedNode(SH.NS + "class")}
    classes = {q.object for q in quads if q.predicate in wanted and isinstance(q.object, NamedNode)}
    shapes = {q.subject for q in quads if q.predicate == RDF.type and q.object in (SH.NodeShape, SH.PropertyShape)}
    implicit = {q.subject for q in quads if q.predicate == RDF.type and q.object in (RDFS.Class, OWL.Class)}
    return frozenset(classes | {c for c in implicit & shapes if isinstance(c, NamedNode)})


def lean(triples: Iterable[Triple | Quad], classes: frozenset[NamedNode]) -> list[Triple | Quad]:
    """The triples without the ``rdf:type`` statements no shape can see.

    Shapes consult types only through their targets and ``sh:class`` (``classes``), and whether a
    node is typed at all (``provml-shapes:Untyped``): a node keeps its types in ``classes`` and,
    when it has none of those, one other type. Enriched data carries every super-class, so this
    halves a typical batch without changing any verdict (tested against the full data).
    """
    out: list[Triple | Quad] = []
    kept: set[Any] = set()
    spare: dict[Any, Triple | Quad] = {}
    rdf_type = RDF.type
    for t in triples:
        if t.predicate != rdf_type:
            out.append(t)
        elif t.object in classes:
            out.append(t)
            kept.add(t.subject)
        else:
            spare.setdefault(t.subject, t)
    out.extend(t for subject, t in spare.items() if subject not in kept)
    return out


def validate_triples(
    triples: Iterable[Triple | Quad],
    *,
    shapes: Sequence[Path] | None = None,
    engine: str | None = None,
    leaner: bool = True,
    representatives: bool | None = None,
    context: Collection[Any] = (),
) -> Report:
    """Validate triples (or quads: graph names are ignored) against the SHACL shapes.

    The data must already hold the super-classes the ontology entails for each typed node
    (see :func:`provml.ingest.enrichment.with_entailed_types`): the engine runs with ``inference="none"``.

    :param triples: the data.
    :param shapes: shapes files (Turtle or another RDF format, by suffix); default the shipped ones.
    :param engine: ``"turbo"`` (pyshacl-turbo) or ``"pyshacl"``; default :func:`default_engine`.
    :param leaner: leave out the ``rdf:type`` statements no shape can see (:func:`lean`).
    :param representatives: validate one node of each group of nodes the shapes see alike, and
        every node of a group whose representative has results
        (:mod:`provml.ingest.representatives`); default on unless ``$PROVML_SHACL_GROUPS=0``.
    :param context: nodes the data holds only for the others' sake (their types, which shapes
        read at the end of a path; validated when they were written): no result about them is
        reported, and with the grouping they are no focus node at all. Without this, a batch
        that points at a stored workflow run ran the engine twice for nothing in every batch: the
        run's view, types without the statements that make it valid, had results, so it was never
        remembered as clean (docs/benchmarks.md, "Ninth session").
    :raises provml.errors.RdfSyntaxError: when a shapes file does not parse.
    :raises ValueError: when the shapes are not valid SHACL.
    """
    engine = engine or default_engine()
    if engine not in ENGINES:
        raise ValueError(f"unknown SHACL engine {engine!r}: choose one of {', '.join(ENGINES)}")
    unusable = _shape_errors(engine)

    shape_files = tuple(str(p) for p in (shapes or default_shapes()))
    shapes_graph = _shapes_graph(shape_files)

    def run(
        data: Iterable[Triple | Quad], focus: Sequence[Any] = ()
    ) -> tuple[bool, tuple[Result, ...], str]:
        with _converting():
            return engine_run(data, focus)

    def engine_run(data: Iterable[Triple | Quad], focus: Sequence[Any]) -> tuple[bool, tuple[Result, ...], str]:
        graph = _to_rdflib(data)
        # only these focus nodes, with pyshacl-turbo, when they are IRIs it takes as they are:
        # the neighbours' types, there for sh:class, made every neighbour a focus node whose
        # results were computed, decoded and thrown away (23rd session). Not with pySHACL: it
        # filters the value nodes of nested shapes (sh:or, sh:node) by the focus nodes too,
        # which changes verdicts (tests/test_shacl_engines.py)
        wanted = engine == "turbo" and focus and all(map(_plain_iri, focus))
        focus_nodes = [node.value for node in focus] if wanted else None
        try:
            with _PYSHACL_LOCK:  # pyshacl patches rdflib and adds to the shared shapes graph per call
                if engine == "turbo":  # shapes compiled once per process (≈ 13 ms a call otherwise)
                    # the report's blank shapes are named as in the graph they were compiled from
                    source, compiled = _compiled(shape_files)
                    conforms, report_graph, text = compiled.validate(
                        graph,
                        inference="none",
                        inplace=True,  # the graph is ours, built for this call: no defensive copy
                        abort_on_first=False,
                        allow_warnings=True,
                        allow_infos=True,
                        focus_nodes=focus_nodes,
                        _normalize_report_literals=True,  # as pyshacl_turbo.validate does
                    )
                else:
                    from pyshacl import validate

                    source = shapes_graph
                    conforms, report_graph, text = validate(
                        graph,
                        shacl_graph=shapes_graph,
                        inference="none",
                        inplace=True,
                        abort_on_first=False,
                        allow_warnings=True,
                        allow_infos=True,
                        advanced=False,
                        meta_shacl=False,
                        do_owl_imports=False,
                    )
                results = _results(report_graph, source)
                # pySHACL's allow_warnings keeps conforms true with warnings; SHACL says any result breaks it
                return bool(conforms) and not results, results, str(text)
        except unusable as error:
            raise ValueError(f"the shapes cannot be used: {error}") from error

    data = lean(triples, _shape_classes(shape_files)) if leaner else list(triples)
    grouped = _groups(data, shape_files, engine) if _grouping(representatives) else None
    if grouped is None:
        conforms, results, text = run(data)
    else:
        neighbourhood, by_view, interner = grouped
        if context:
            by_view = {view: kept for view, members in by_view.items()
                       if (kept := [m for m in members if m not in context])}
        conforms, results, text = _by_representatives(run, neighbourhood, by_view, interner)
    if context:
        outside = {_name(node) for node in context}
        if any(r.focus_node in outside for r in results):
            results = tuple(r for r in results if r.focus_node not in outside)
            conforms = not results
            text = _text(results)
    return Report(conforms=conforms, results=results, text=text)


def warm_up(shapes: Sequence[Path] | None = None) -> None:
    """Do now what the first validation of a process would: parse the shapes, compile them for
    the default engine and analyse them for grouping (a long-running worker calls this before it
    takes its first bag, so that bag does not wait for it)."""
    from provml.ingest.representatives import cached_profile

    shape_files = tuple(str(p) for p in (shapes or default_shapes()))
    _shapes_graph(shape_files)
    if default_engine() == "turbo":
        _compiled(shape_files)
    cached_profile(shape_files)


@functools.lru_cache(maxsize=8)
def _compiled(paths: tuple[str, ...]) -> tuple[rdflib.Graph, Any]:
    """pyshacl-turbo's compiled form of the shapes files (parsed and compiled once per process),
    with the shapes graph it was compiled from: a report names the blank property shapes as
    that graph does, and :func:`_shapes_graph`'s own cache may have parsed the files again
    since (evicted by other shapes), with other blank node labels: results then named a blank
    property shape instead of the shape that owns it (23rd session)."""
    from pyshacl_turbo import compile_shapes

    graph = _shapes_graph(paths)
    try:
        return graph, compile_shapes(graph)  # type: ignore[no-untyped-call]
    except _shape_errors("turbo") as error:
        raise ValueError(f"the shapes cannot be used: {error}") from error


def _shape_errors(engine: str) -> tuple[type[Exception], ...]:
    """What ``engine`` raises for shapes it cannot use. pyshacl-turbo has its own errors and
    never imports pySHACL, so its path does not either: importing pySHACL (its entry points pull in
    rdflib's SPARQL parser) cost a process ≈ 0.1–0.2 s at its first validation."""
    if engine == "turbo":
        from pyshacl_turbo import ReportableRuntimeError, ValidationFailure

        return (ReportableRuntimeError, ValidationFailure)
    from pyshacl.errors import ReportableRuntimeError as PyshaclRuntimeError
    from pyshacl.errors import ShapeLoadError

    return (PyshaclRuntimeError, ShapeLoadError)


def _grouping(wanted: bool | None) -> bool:
    import os

    return wanted if wanted is not None else os.environ.get("PROVML_SHACL_GROUPS", "1") != "0"


def _groups(
    data: list[Triple | Quad], shape_files: tuple[str, ...], engine: str
) -> tuple[Any, dict[Any, list[Any]], Any] | None:
    """What validating some nodes needs (:func:`~provml.ingest.representatives.grouped`), the
    focus nodes by view and the process's verdicts for these shapes, or ``None`` when grouping
    is not sound (the shapes look further, the data states subclasses or holds a triple term
    under a predicate no path follows)."""
    from provml.ingest.representatives import cached_profile, grouped

    profile = cached_profile(shape_files)
    if profile is None:
        return None
    interner = _verdicts(shape_files, engine).current()
    found = grouped(profile, data, interner)
    return None if found is None else (found[1], found[0], interner)


@functools.lru_cache(maxsize=8)
def _verdicts(paths: tuple[str, ...], engine: str) -> Any:
    """The views found clean, per shapes and engine (each engine's verdicts stand on their own)."""
    from provml.ingest.representatives import Verdicts

    return Verdicts()


def _by_representatives(
    run: Any, neighbourhood: Any, by_view: dict[Any, list[Any]], interner: Any
) -> tuple[bool, tuple[Result, ...], str]:
    """Validate one node per group whose view was not found clean before, then every node of the
    groups whose representative has results; remember the views found clean. ``neighbourhood``:
    what validating some nodes needs (:func:`~provml.ingest.representatives.grouped`)."""
    clean = interner.clean
    fresh = [(view, members) for view, members in by_view.items() if view not in clean]
    results: tuple[Result, ...] = ()
    if fresh:
        reps = {_name(members[0]): view for view, members in fresh}
        firsts = [members[0] for _, members in fresh]
        _, first, _ = run(neighbourhood(firsts), firsts)
        flagged = {reps[r.focus_node] for r in first if r.focus_node in reps}
        clean.update(view for view, _ in fresh if view not in flagged)
        if flagged:
            nodes = [n for view in flagged for n in by_view[view]]
            wanted = {_name(n) for n in nodes}
            _, second, _ = run(neighbourhood(nodes), nodes)
            results = tuple(r for r in second if r.focus_node in wanted)
    return not results, results, _text(results)  # SHACL: any result, warnings included, breaks it


def _plain_iri(node: Any) -> bool:
    """Whether pyshacl-turbo takes ``node`` as a focus node as it is: it expands a string that
    starts with a ``prefix:`` the data binds, and a blank node's label is no name across calls."""
    return isinstance(node, NamedNode) and node.value[:6].lower().startswith(("http:", "https:", "urn:", "file:"))


def _name(node: Any) -> str:
    """A node as a result names its focus node."""
    return f"_:{node.value}" if isinstance(node, BlankNode) else str(node.value)


def _text(results: Sequence[Result]) -> str:
    """The text report of these results, in the form of pyshacl's first lines."""
    lines = [f"Validation Report\nConforms: {not results}", f"Results ({len(results)}):"]
    lines += [f"{r.severity}: {r.constraint} on {r.focus_node} ({r.path or '-'}): {r.message}" for r in results]
    return "\n".join(lines)


def validate_files(
    paths: Sequence[Path],
    *,
    shapes: Sequence[Path] | None = None,
    input_format: str | None = None,
    ontology: Sequence[Path] | None = None,
) -> Report:
    """Parse RDF files, add the types their classes entail, and validate the union.

    :param paths: the data files (format by suffix unless ``input_format`` is given).
    :param shapes: shapes files; default the shipped ones.
    :param input_format: a format name for every data file (``"turtle"``, ``"nt"``, ``"jsonld"`` ...).
    :param ontology: ontology files giving the class hierarchy; default PROV-ML, the oil & gas domain ontology and PROV-O.
    :raises provml.errors.RdfSyntaxError: when a file does not parse.
    :raises OSError: when a file cannot be read.
    :raises ValueError: when a file's format is unknown.
    """
    from provml.store.rdfio import parse_file

    quads: list[Quad] = []
    for path in paths:
        quads.extend(parse_file(path, format=input_format))
    from provml.ingest.enrichment import class_closure, with_entailed_types

    closure = class_closure(ontology or None)
    return validate_triples(with_entailed_types(quads, closure), shapes=shapes)


@functools.lru_cache(maxsize=8)
def _shapes_graph(paths: tuple[str, ...]) -> rdflib.Graph:
    from provml.store.rdfio import parse_file

    quads: list[Quad] = []
    for path in paths:
        quads.extend(parse_file(path))
    graph = _to_rdflib(quads)
    graph.bind("sh", _SH)
    return graph


def _to_rdflib(triples: Iterable[Triple | Quad]) -> rdflib.Graph:
    """An rdflib Graph of the triples (graph names dropped), built term by term.

    Measured faster than a round trip through N-Triples bytes (about 1.5x on a 500-triple batch).
    ``xsd:string`` literals become plain rdflib literals, as rdflib's own parsers make them.
    """
    import rdflib

    graph = rdflib.Graph()
    cache: dict[Any, Any] = {}

    def convert(term: Any) -> Any:
        found = cache.get(term)
        if found is not None:
            return found
        if isinstance(term, NamedNode):
            made: Any = rdflib.URIRef(term.value)
        elif isinstance(term, BlankNode):
            made = rdflib.BNode(term.value)
        elif isinstance(term, Literal):
            if term.language:
                made = rdflib.Literal(term.value, lang=term.language)
            elif term.datatype == XSD.string:
                made = rdflib.Literal(term.value)
            else:
                made = rdflib.Literal(term.value, datatype=rdflib.URIRef(term.datatype.value))
        else:
            raise ValueError(f"SHACL validation cannot take the quoted triple {term}")
        cache[term] = made
        return made

    add = graph.add
    for statement in triples:
        add((convert(statement.subject), convert(statement.predicate), convert(statement.object)))
    return graph



#: set on a thread while it validates (:func:`_converting`)
_VALIDATING = threading.local()


class _ConversionNoise(logging.Filter):
    """Drops rdflib's warning, with its traceback, for a literal it cannot read into a Python
    value while a thread validates (the data's conversion and the engine's report): an
    ill-typed literal ("yesterday" as an ``xsd:dateTime``), which the shapes' ``sh:datatype``
    reports by itself, or a valid one Python cannot read (XSD's end of a day, ``T24:00:00``).
    Each printed seven lines on stderr (``provml load``; a server's log, which one request of
    many such literals could fill). rdflib's warning elsewhere is left as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(_VALIDATING, "active", False)
                    and str(record.msg).startswith("Failed to convert Literal lexical form"))


@functools.cache
def _noise_filter() -> None:
    logging.getLogger("rdflib.term").addFilter(_ConversionNoise())


@contextlib.contextmanager
def _converting() -> Iterator[None]:
    """rdflib's conversion warnings dropped on this thread for the block (:class:`_ConversionNoise`)."""
    _noise_filter()
    outer = getattr(_VALIDATING, "active", False)
    _VALIDATING.active = True
    try:
        yield
    finally:
        _VALIDATING.active = outer


def _results(report_graph: Any, shapes_graph: rdflib.Graph) -> tuple[Result, ...]:
    import rdflib

    sh = rdflib.Namespace(_SH)
    results: list[Result] = []
    for node in report_graph.objects(None, sh.result):
        source = report_graph.value(node, sh.sourceShape)
        value = report_graph.value(node, sh.value)
        path = report_graph.value(node, sh.resultPath)
        severity = report_graph.value(node, sh.resultSeverity)
        messages = [str(m) for m in report_graph.objects(node, sh.resultMessage)]
        results.append(
            Result(
                focus_node=_term(report_graph.value(node, sh.focusNode)) or "",
                path=_path_text(report_graph, path),
                constraint=str(report_graph.value(node, sh.sourceConstraintComponent)),
                shape=_owning_shape(shapes_graph, source),
                value=_term(value),
                message=" ".join(messages),
                severity=str(severity).rsplit("#", 1)[-1] if severity is not None else "Violation",
            )
        )
    results.sort(key=lambda r: (r.focus_node, r.shape, r.path or "", r.constraint))
    return tuple(results)


def _owning_shape(shapes_graph: rdflib.Graph, source: Any) -> str:
    """The named shape that ``source`` is or belongs to (via ``sh:property``)."""
    import rdflib

    sh = rdflib.Namespace(_SH)
    seen = set()
    node = source
    while isinstance(node, rdflib.BNode) and node not in seen:
        seen.add(node)
        parent = shapes_graph.value(None, sh.property, node)
        if parent is None:
            break
        node = parent
    return str(node) if not isinstance(node, rdflib.BNode) else f"_:{node}"


def _path_text(graph: Any, path: Any) -> str | None:
    import rdflib

    if path is None:
        return None
    if isinstance(path, rdflib.BNode):
        sh = rdflib.Namespace(_SH)
        inverse = graph.value(path, sh.inversePath)
        if inverse is not None:
            return f"^{inverse}"
        alternatives = graph.value(path, sh.alternativePath)
        if alternatives is not None:
            items = rdflib.collection.Collection(graph, alternatives)
            return "|".join(_path_text(graph, item) or "?" for item in items)
    return str(path)


def _short(text: str) -> str:
    """``text`` with known namespace IRIs (bare or in ``<...>``) replaced by their prefixes."""
    for prefix, namespace in _PREFIXES:
        if namespace in text:
            text = re.sub(
                "<?" + re.escape(namespace) + r"([A-Za-z0-9_.-]*)>?",
                lambda m, p=prefix: p + m[1],  # type: ignore[misc]
                text,
            )
    return text


def _term(term: Any) -> str | None:
    import rdflib

    if term is None:
        return None
    if isinstance(term, rdflib.Literal):
        return term.n3()
    if isinstance(term, rdflib.BNode):
        return f"_:{term}"
    return str(term)
