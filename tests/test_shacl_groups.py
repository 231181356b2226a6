"""Validating one representative per group of alike nodes (provml.ingest.representatives) reports
exactly what validating every node reports: on every shapes test file, on translated capture
events, and on capture events with one node broken in each way the shapes check."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pyoxigraph import Literal, NamedNode, Quad

from provml.ingest.enrichment import class_closure, default_ontology, with_entailed_types
from provml.ingest.representatives import groups, profile
from provml.ingest.translation import translate
from provml.ingest.validation import Report, default_shapes, validate_triples
from provml.knowledge import KnowledgeGraph
from provml.ontology import path as ontology_path
from provml.store.oxigraph import OxigraphStore
from provml.store.rdfio import parse_file
from provml.vocab import PROV, PROVML, RDF, RDFS, XSD

HERE = Path(__file__).parent / "shapes"
CASES = sorted(HERE.glob("*/*.ttl")) + [ontology_path("examples/fig8.ttl")]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def both(data: list[Quad]) -> tuple[Report, Report]:
    return validate_triples(data, representatives=True), validate_triples(data, representatives=False)


@pytest.mark.parametrize("file", [pytest.param(f, id=f"{f.parent.name}/{f.name}") for f in CASES])
def test_groups_change_no_result_on_shape_cases(file: Path) -> None:
    data = with_entailed_types(parse_file(file), class_closure(tuple(str(p) for p in default_ontology())))
    grouped, full = both(data)
    assert (grouped.conforms, grouped.results) == (full.conforms, full.results)


@pytest.fixture(scope="module")
def bag() -> list[Quad]:
    import workload

    kg = KnowledgeGraph(OxigraphStore())
    return with_entailed_types(translate(workload.events(1500)[:500], iris=kg.iris), kg.closure())


def test_the_shipped_shapes_allow_grouping_and_a_bag_groups_well(bag: list[Quad]) -> None:
    prof = profile([q for p in default_shapes() for q in parse_file(p)])
    assert prof is not None
    grouped = groups(prof, bag)
    assert grouped is not None
    nodes = sum(len(g) for g in grouped)
    assert nodes > 400 and len(grouped) < nodes / 10  # hundreds of alike batch executions


def test_groups_change_no_result_on_capture_events(bag: list[Quad]) -> None:
    grouped, full = both(bag)
    assert grouped.conforms and full.conforms
    assert grouped.results == full.results


def _with_both_times(bag: list[Quad]) -> NamedNode:
    starts = {q.subject for q in bag if q.predicate == PROV.startedAtTime}
    ends = [q.subject for q in bag if q.predicate == PROV.endedAtTime and q.subject in starts]
    assert isinstance(ends[5], NamedNode)
    return ends[5]


def _replace(bag: list[Quad], node: NamedNode, predicate: NamedNode, value: object) -> list[Quad]:
    out = [q for q in bag if not (q.subject == node and q.predicate == predicate)]
    graph = next(q.graph_name for q in bag if q.subject == node)
    if value is not None:
        out.append(Quad(node, predicate, value, graph))  # type: ignore[arg-type]
    return out


def _status(bag: list[Quad], node: NamedNode) -> list[Quad]:
    return _replace(bag, node, PROVML.status, Literal("done"))


def _iteration(bag: list[Quad], node: NamedNode) -> list[Quad]:
    return _replace(bag, node, PROVML.iteration, Literal("-1", datatype=XSD.integer))


def _ill_formed(bag: list[Quad], node: NamedNode) -> list[Quad]:
    return _replace(bag, node, PROVML.iteration, Literal("3.5", datatype=XSD.integer))


def _ends_before_start(bag: list[Quad], node: NamedNode) -> list[Quad]:
    return _replace(bag, node, PROV.endedAtTime, Literal("2000-01-01T00:00:00Z", datatype=XSD.dateTime))


def _no_timezone(bag: list[Quad], node: NamedNode) -> list[Quad]:
    return _replace(bag, node, PROV.endedAtTime, Literal("2099-01-01T00:00:00", datatype=XSD.dateTime))


def _no_label(bag: list[Quad], node: NamedNode) -> list[Quad]:
    return _replace(bag, node, RDFS.label, None)


def _two_starts(bag: list[Quad], node: NamedNode) -> list[Quad]:
    graph = next(q.graph_name for q in bag if q.subject == node)
    return [*bag, Quad(node, PROV.startedAtTime, Literal("2020-01-01T00:00:00Z", datatype=XSD.dateTime), graph)]


def _wrong_parent(bag: list[Quad], node: NamedNode) -> list[Quad]:
    parent = next(q.object for q in bag if q.subject == node and q.predicate == PROV.wasInformedBy)
    graph = next(q.graph_name for q in bag if q.subject == node)
    model = NamedNode("https://w3id.org/provml/id/a-model")
    out = [q for q in bag if not (q.subject == node and q.predicate == PROV.wasInformedBy and q.object == parent)]
    return [*out, Quad(node, PROV.wasInformedBy, model, graph), Quad(model, RDF.type, PROVML.Model, graph)]


@pytest.mark.parametrize(
    "breaks",
    [_status, _iteration, _ill_formed, _ends_before_start, _no_timezone, _no_label, _two_starts, _wrong_parent],
)
def test_one_broken_node_among_alike_ones_is_reported_exactly_as_without_groups(
    bag: list[Quad], breaks: Callable[[list[Quad], NamedNode], list[Quad]]
) -> None:
    node = _with_both_times(bag)
    data = breaks(bag, node)
    grouped, full = both(data)
    assert full.results, "the mutation must break a shape"
    assert node.value in {r.focus_node for r in full.results}
    assert (grouped.conforms, grouped.results) == (full.conforms, full.results)


SHAPES_HEAD = """@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <http://e/> .
ex:S a sh:NodeShape ; sh:targetClass ex:C ; """


@pytest.mark.parametrize(
    "body",
    [
        "sh:sparql [ sh:select \"SELECT $this WHERE { }\" ] .",
        "sh:property [ sh:path ( ex:p ex:q ) ; sh:minCount 1 ] .",  # a sequence path: two hops
        "sh:property [ sh:path ex:p ; sh:node [ sh:property [ sh:path ex:q ; sh:minCount 1 ] ] ] .",
        "sh:closed true .",
        "sh:property [ sh:path [ sh:zeroOrMorePath ex:p ] ; sh:minCount 1 ] .",
    ],
)
def test_shapes_that_look_further_than_one_hop_are_validated_whole(body: str, tmp_path: Path) -> None:
    from pyoxigraph import RdfFormat, parse

    shapes = list(parse((SHAPES_HEAD + body).encode(), format=RdfFormat.TURTLE))
    assert profile(shapes) is None


def test_data_stating_subclasses_is_validated_whole(bag: list[Quad]) -> None:
    prof = profile([q for p in default_shapes() for q in parse_file(p)])
    assert prof is not None
    extra = Quad(PROVML.Model, RDFS.subClassOf, PROV.Entity)
    assert groups(prof, [*bag, extra]) is None


def test_views_found_clean_are_remembered_and_a_broken_node_is_still_reported(bag: list[Quad]) -> None:
    from provml.ingest.representatives import Verdicts
    from provml.ingest.validation import _verdicts, default_engine

    verdicts = _verdicts(tuple(str(p) for p in default_shapes()), default_engine())
    assert isinstance(verdicts, Verdicts)
    validate_triples(bag, representatives=True)
    clean = set(verdicts.current().clean)
    assert clean, "the clean bag's views are remembered"
    validate_triples(bag, representatives=True)
    assert verdicts.current().clean == clean  # nothing new to remember: no view was validated again
    node = _with_both_times(bag)
    for breaks in (_status, _ends_before_start, _wrong_parent):
        grouped, full = both(breaks(bag, node))
        assert full.results and (grouped.conforms, grouped.results) == (full.conforms, full.results)


def test_verdicts_forget_everything_together_when_full() -> None:
    from provml.ingest.representatives import Verdicts

    verdicts = Verdicts(limit=2)
    first = verdicts.current()
    assert first(("a",)) == 1 and first(("b",)) == 2 and first(("a",)) == 1
    first.clean.add((1, (), (), ()))
    assert verdicts.current() is first  # at the limit, not past it
    first(("c",))
    second = verdicts.current()
    assert second is not first and not second.clean and second(("c",)) == 1


def test_abstractions_remembered_across_data_sets_group_as_fresh_ones(bag: list[Quad]) -> None:
    """The literals and IRI answers an interner remembers from an earlier data set give a later
    one the same groups as a fresh interner; another profile does not use them; past the limit
    they are forgotten and the numbers stay."""
    from provml.ingest import representatives
    from provml.ingest.representatives import Interner, views

    prof = profile([q for p in default_shapes() for q in parse_file(p)])
    assert prof is not None
    half = len(bag) // 2
    earlier, later = bag[:half], bag[half:]
    shared = Interner()
    views(prof, earlier, shared)
    assert shared.literals and shared.iri_text
    remembered = dict(shared.literals)
    with_memo = sorted(sorted(n.value for n in g) for g in views(prof, later, shared).values())
    fresh = sorted(sorted(n.value for n in g) for g in views(prof, later, Interner()).values())
    assert with_memo == fresh
    assert any(term in remembered for q in later if isinstance(term := q.object, Literal))  # hits
    other = profile([q for p in default_shapes() for q in parse_file(p)])
    assert other is not None and other is not prof
    assert shared.memos(other) == ({}, {})  # not the profile the memos were made with
    limit = representatives.MEMO_LIMIT
    try:
        representatives.MEMO_LIMIT = 1
        ids = dict(shared.ids)
        literals, iris = shared.memos(prof)
        assert not literals and not iris and shared.ids == ids
    finally:
        representatives.MEMO_LIMIT = limit


def test_a_representative_is_validated_alone_not_the_typed_neighbours_beside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A representative's neighbourhood holds its neighbours' types (for ``sh:class``), which
    made every neighbour a focus node of the engine: one event of 300 values with new names had
    ≈ 900 results about them computed, decoded and thrown away (≈ 0.6 ms a value at ingest; 23rd
    session). pyshacl-turbo is now given the representatives as its only focus nodes (pySHACL
    is not: it would filter nested shapes' value nodes by them too)."""
    from provml.ingest import validation

    kg = KnowledgeGraph(OxigraphStore())
    event = {"v": 1, "kind": "workflow_begin", "t": 1764912000.0, "run": "wide", "workflow": "wf",
             "used": [{"name": f"p{i}", "value": i} for i in range(300)]}
    data = with_entailed_types(translate([event], iris=kg.iris), kg.closure())
    decoded: list[int] = []
    real = validation._results
    monkeypatch.setattr(validation, "_results", lambda *a: decoded.append(len(out := real(*a))) or out)
    validation._verdicts.cache_clear()  # no view remembered clean: every group's representative runs
    grouped = validate_triples(data, engine="turbo", representatives=True)
    assert grouped.conforms and decoded and sum(decoded) == 0, decoded
    for engine in ("turbo", "pyshacl"):
        full = validate_triples(data, engine=engine, representatives=False)
        assert full.conforms and full.results == ()


SHAPES_BNODES = SHAPES_HEAD + """sh:property [ sh:path ex:p ; sh:class ex:D ; sh:minCount 1 ] .
ex:T a sh:NodeShape ; sh:targetClass ex:D ; sh:property [ sh:path ex:name ; sh:minCount 1 ] ."""


@pytest.mark.parametrize("engine", ["turbo", "pyshacl"])
@pytest.mark.parametrize("subject", ["_:b", "<tag:x,2026:c>", "<http://e/c>"])
def test_representatives_that_are_not_plain_iris_are_validated_as_before(
    engine: str, subject: str, tmp_path: Path
) -> None:
    """A group whose representative is a blank node or an IRI of another scheme than ``http``,
    ``https``, ``urn``, ``file`` is validated with every node a focus node, as before (a blank
    node given to pyshacl-turbo as a focus node lost its results); results are the same as
    without groups, with either engine."""
    from provml.ingest import validation

    shapes = tmp_path / "shapes.ttl"
    shapes.write_text(SHAPES_BNODES)
    data_ttl = tmp_path / "data.ttl"
    alike = " ".join(f"<http://e/c{i}> a ex:C ; ex:p ex:d{i} . ex:d{i} a ex:D ; ex:name 'd' ." for i in range(5))
    broken = f"{subject} a ex:C . ex:h a ex:C ; ex:p ex:e . ex:e a ex:D . ex:f a ex:C ; ex:p ex:g . ex:g a ex:C ."
    data_ttl.write_text(f"@prefix ex: <http://e/> . {alike} {broken}")
    data = parse_file(data_ttl)
    validation._verdicts.cache_clear()
    grouped = validate_triples(data, shapes=[shapes], engine=engine, representatives=True)
    full = validate_triples(data, shapes=[shapes], engine=engine, representatives=False)
    assert not full.conforms
    focus = {r.focus_node for r in full.results}
    assert {"http://e/e", "http://e/f"} <= focus  # no name; a value of the wrong class
    assert len(focus) == 4  # and ex:g and the subject, which have no ex:p
    assert (grouped.conforms, grouped.results) == (full.conforms, full.results)


@pytest.mark.parametrize(("shapes", "data"), [
    pytest.param("sh:or ( [ sh:path ex:p ; sh:minCount 1 ] [ sh:path ex:r ; sh:minCount 1 ] ) .",
                 "ex:x1 a ex:C ; ex:p 1 . ex:x2 a ex:C . ex:x3 a ex:C ; ex:q 2 .", id="or-of-property-shapes"),
    pytest.param("sh:not [ sh:path ex:bad ; sh:minCount 1 ] .",
                 "ex:x1 a ex:C ; ex:p 1 . ex:x2 a ex:C ; ex:bad 1 .", id="not-a-property-shape"),
    pytest.param(None, "ex:x1 a ex:C ; ex:p 1 . ex:x2 a ex:C . ex:x3 a ex:C ; ex:q 2 .", id="root-property-shape"),
])
@pytest.mark.parametrize("engine", ["turbo", "pyshacl"])
def test_property_shapes_reached_as_node_shapes_are_read_with_their_path(
    shapes: str | None, data: str, engine: str, tmp_path: Path
) -> None:
    """A property shape reached where a node shape is expected (a root ``sh:PropertyShape``, a
    member of ``sh:or``, ``sh:not``) had its ``sh:path`` never read: nodes with and without the
    property were one group, and a representative that had it made the group clean — the
    violations were lost, with either engine and in ``provml validate --shapes`` (a review,
    23rd session)."""
    from provml.ingest import validation

    text = (SHAPES_HEAD + shapes) if shapes else (
        "@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <http://e/> .\n"
        "ex:PS a sh:PropertyShape ; sh:targetClass ex:C ; sh:path ex:p ; sh:minCount 1 .")
    shapes_file = tmp_path / "shapes.ttl"
    shapes_file.write_text(text)
    data_file = tmp_path / "data.ttl"
    data_file.write_text("@prefix ex: <http://e/> . " + data)
    quads = parse_file(data_file)
    validation._verdicts.cache_clear()
    grouped = validate_triples(quads, shapes=[shapes_file], engine=engine, representatives=True)
    full = validate_triples(quads, shapes=[shapes_file], engine=engine, representatives=False)
    assert not full.conforms
    assert (grouped.conforms, grouped.results) == (full.conforms, full.results)


def test_results_name_their_shape_after_the_shapes_are_parsed_again() -> None:
    """pyshacl-turbo's compiled shapes and the shapes graph that names a result's owning shape
    were two caches of 8 entries each: once other shapes had evicted the graph alone (this
    file's custom shapes, then the full suite), it was parsed again with other blank node
    labels, and results named a blank property shape instead of their shape (43 shape cases
    failed in one `make test`, 23rd session)."""
    from provml.ingest import validation

    file = HERE / "invalid" / "attribute-without-label.ttl"
    data = with_entailed_types(parse_file(file), class_closure(tuple(str(p) for p in default_ontology())))
    first = validate_triples(data, engine="turbo", representatives=False)
    validation._shapes_graph.cache_clear()  # what other shapes' entries did to it
    again = validate_triples(data, engine="turbo", representatives=False)
    assert first.results and again.results == first.results
    assert not any(r.shape.startswith("_:") for r in again.results)
