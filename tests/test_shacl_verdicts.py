"""Views found clean are remembered across batches (provml.ingest.representatives.Verdicts): a
later node of a remembered view is not sent to the engine. That is sound only when two nodes of
one view get the same verdict from the engine; these cases are literals whose verdict depends on
more than the view used to capture — a timezone out of range, an integer past 64 bits, a date the
view's own parser rejects but the engine accepts, a number whose comparison with a bound depends
on the precision the engine compares at — each first in a clean batch, then in a batch of its own
whose node must still be reported, through the real ingest path (an on-disk store) and
``validate_triples``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyoxigraph import RdfFormat

from provml.errors import ValidationFailed
from provml.ingest.validation import validate_triples
from provml.knowledge import KnowledgeGraph
from provml.store.oxigraph import OxigraphStore

HEAD = """@base <https://w3id.org/provml/id/> .
@prefix provml: <https://w3id.org/provml#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
"""
PLANS = """
<plan/exp> a provml:LearningExperiment ; rdfs:label "exp" ; provml:hadMember <plan/exp/train> .
<plan/exp/train> a provml:Training ; rdfs:label "train" ; provml:hadMember <plan/exp/train/epoch> .
<plan/exp/train/epoch> a provml:LearningStageSection ; rdfs:label "epoch" .
<run/r1> a provml:LearningProcessExecution ; rdfs:label "r1" ; prov:wasInfluencedBy <plan/exp> ;
    prov:startedAtTime "2024-05-01T10:00:00Z"^^xsd:dateTime .
<run/r1/train> a provml:TrainingExecution ; rdfs:label "train" ;
    prov:wasInfluencedBy <plan/exp/train> ; prov:wasInformedBy <run/r1> ;
    prov:startedAtTime "2024-05-01T10:00:01Z"^^xsd:dateTime .
"""


def epoch(n: int, start: str, iteration: str) -> str:
    """The begin record of epoch ``n``, with the lexical forms of its start time and iteration."""
    return f"""
<run/r1/train/epoch-{n}> a provml:TrainingSectionExecution ; rdfs:label "train/epoch-{n}" ;
    prov:wasInfluencedBy <plan/exp/train/epoch> ; prov:wasInformedBy <run/r1/train> ;
    provml:iteration "{iteration}"^^xsd:integer ; prov:startedAtTime "{start}"^^xsd:dateTime .
"""


T = "2024-05-01T10:00:02Z"
#: (start, iteration) of a clean epoch, then of one the engine (pyshacl-turbo) finds a violation in
CASES = {
    "timezone out of range": (("2024-05-01T10:00:02+02:00", "1"), ("2024-05-01T10:00:02+15:00", "1")),
    "timezone past 14:00": (("2024-05-01T10:00:02+14:00", "1"), ("2024-05-01T10:00:02+14:30", "1")),
    "integer past 64 bits": ((T, "9223372036854775807"), (T, "9223372036854775808")),
    "hour 24 then 25": (("2024-05-01T24:00:00Z", "1"), ("2024-05-01T25:00:00Z", "1")),
    "year 0 then 30 February": (("0000-05-01T10:00:02Z", "1"), ("2024-02-30T10:00:02Z", "1")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_later_batch_breaking_a_remembered_view_is_still_rejected(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVML_SHACL_ENGINE", "turbo")  # the verdicts differ from the view's for this engine
    (clean_start, clean_it), (bad_start, bad_it) = CASES[case]
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"))
    kg.load_ontologies()
    kg.ingest_rdf((HEAD + PLANS + epoch(0, clean_start, clean_it)).encode(), format=RdfFormat.TURTLE)
    before = set(kg.store.quads())
    with pytest.raises(ValidationFailed) as failed:
        kg.ingest_rdf((HEAD + epoch(1, bad_start, bad_it)).encode(), format=RdfFormat.TURTLE)
    focus = {r.focus_node for r in failed.value.report.results}
    assert focus == {"https://w3id.org/provml/id/run/r1/train/epoch-1"}
    assert set(kg.store.quads()) == before  # nothing of the rejected batch was written
    kg.close()


SHAPES = """@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <http://e/> .
ex:S a sh:NodeShape ; sh:targetClass ex:C ;
    sh:property [ sh:path ex:v ; sh:minExclusive 0.1 ] ; sh:property [ sh:path ex:w ; sh:maxInclusive 100 ] .
"""
BOUNDS = {  # a value, then one of the same digit skeleton that compares differently at another precision
    "double near an exclusive bound": (("v", "0.20000000000000001", "double"), ("v", "0.10000000000000001", "double")),
    "float rounded to the bound": (("w", "100.000001", "float"), ("w", "200.000001", "float")),
    "float rounded to the bound, reversed": (("w", "200.000001", "float"), ("w", "100.000001", "float")),
}


@pytest.mark.parametrize("engine", ["turbo", "pyshacl"])
@pytest.mark.parametrize("case", list(BOUNDS))
def test_bound_comparisons_at_the_engines_precision_keep_groups_exact(case: str, engine: str, tmp_path: Path) -> None:
    from pyoxigraph import parse

    shapes = tmp_path / "shapes.ttl"  # a file of its own: verdicts remembered for it alone
    shapes.write_text(SHAPES)
    first, second = BOUNDS[case]
    for n, (path, value, datatype) in enumerate((first, second)):
        text = f'<http://e/n{n}> a <http://e/C> ; <http://e/{path}> "{value}"^^<http://www.w3.org/2001/XMLSchema#{datatype}> .'
        data = list(parse(text.encode(), format=RdfFormat.TURTLE))
        grouped = validate_triples(data, shapes=[shapes], engine=engine, representatives=True)
        whole = validate_triples(data, shapes=[shapes], engine=engine, representatives=False)
        assert (grouped.conforms, grouped.results) == (whole.conforms, whole.results), (n, value)


def test_verdicts_are_kept_per_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pySHACL accepts a timezone of +15:00, pyshacl-turbo does not: a switch of engine in one
    # process must not carry pySHACL's clean verdict over
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"))
    kg.load_ontologies()
    monkeypatch.setenv("PROVML_SHACL_ENGINE", "pyshacl")
    kg.ingest_rdf((HEAD + PLANS + epoch(0, "2024-05-01T10:00:02+15:00", "1")).encode(), format=RdfFormat.TURTLE)
    monkeypatch.setenv("PROVML_SHACL_ENGINE", "turbo")
    with pytest.raises(ValidationFailed):
        kg.ingest_rdf((HEAD + epoch(1, "2024-05-01T10:00:02+15:00", "1")).encode(), format=RdfFormat.TURTLE)
    kg.close()


def test_verdicts_are_kept_per_shapes(tmp_path: Path) -> None:
    from pyoxigraph import parse

    lax, strict = tmp_path / "lax.ttl", tmp_path / "strict.ttl"
    lax.write_text(SHAPES)
    strict.write_text(SHAPES.replace("sh:minExclusive 0.1", "sh:minExclusive 0.5"))
    for n, shapes in enumerate((lax, strict)):
        text = f'<http://e/n{n}> a <http://e/C> ; <http://e/v> "0.2"^^<http://www.w3.org/2001/XMLSchema#double> .'
        report = validate_triples(list(parse(text.encode(), format=RdfFormat.TURTLE)), shapes=[shapes])
        assert report.conforms is (shapes is lax)


def test_a_link_to_a_stored_node_of_the_wrong_class_is_rejected_after_a_clean_batch(tmp_path: Path) -> None:
    # the class of a node the batch links to comes from the store (its types are added as
    # context): an epoch informed by a stored model is a violation, though an epoch informed by
    # its stage was remembered clean
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"))
    kg.load_ontologies()
    model = """
<plan/exp/train/epoch/attribute/model> a provml:ModelProspection ; rdfs:label "model" .
<data/m> a provml:Model ; rdfs:label "m" ; provml:location "m.pt" ; prov:wasGeneratedBy <run/r1/train> ;
    prov:wasDerivedFrom <plan/exp/train/epoch/attribute/model> .
"""
    kg.ingest_rdf((HEAD + PLANS + model + epoch(0, T, "1")).encode(), format=RdfFormat.TURTLE)
    kg.ingest_rdf((HEAD + epoch(1, T, "1")).encode(), format=RdfFormat.TURTLE)  # same view: accepted
    wrong = epoch(2, T, "1").replace("prov:wasInformedBy <run/r1/train>", "prov:wasInformedBy <data/m>")
    with pytest.raises(ValidationFailed) as failed:
        kg.ingest_rdf((HEAD + wrong).encode(), format=RdfFormat.TURTLE)
    assert {r.focus_node for r in failed.value.report.results} == {"https://w3id.org/provml/id/run/r1/train/epoch-2"}
    kg.close()


def test_a_decimal_past_what_the_engine_reads_is_validated_on_its_own(tmp_path: Path) -> None:
    from pyoxigraph import parse

    shapes = tmp_path / "shapes.ttl"
    shapes.write_text(SHAPES)
    for n, value in enumerate(("170141183460469231731", "170141183460469231732")):  # about 2**127 / 10**18
        text = f'<http://e/n{n}> a <http://e/C> ; <http://e/v> "{value}"^^<http://www.w3.org/2001/XMLSchema#decimal> .'
        data = list(parse(text.encode(), format=RdfFormat.TURTLE))
        for engine in ("turbo", "pyshacl"):
            grouped = validate_triples(data, shapes=[shapes], engine=engine, representatives=True)
            whole = validate_triples(data, shapes=[shapes], engine=engine, representatives=False)
            assert (grouped.conforms, grouped.results) == (whole.conforms, whole.results), (value, engine)


def test_a_refused_batchs_long_texts_are_not_kept_across_batches(tmp_path: Path) -> None:
    """The process's memo of literal abstractions kept every distinct literal it saw, a refused
    batch's too: 8 refused batches of 3 MiB strings left 530 MB in the server (a probe, 22nd
    session). A literal longer than MEMO_TEXT is numbered for its own batch only; shorter ones
    are still remembered, and a batch with a long text is judged as before."""
    import gc

    from provml.ingest import representatives, validation

    validation._verdicts.cache_clear()  # this test's interner: a fresh one, for its own profile
    kg = KnowledgeGraph(OxigraphStore(tmp_path / "store"))
    kg.load_ontologies()
    long_text = "x" * (representatives.MEMO_TEXT + 1)

    def run(r: str, note: str, t_end: float) -> list[dict[str, object]]:
        return [{"v": 1, "kind": "workflow_begin", "t": 10, "run": r, "workflow": "wf",
                 "used": [{"name": "note", "value": note}, {"name": "short", "value": f"short {r}"}]},
                {"v": 1, "kind": "workflow_end", "t": t_end, "run": r, "workflow": "wf", "status": "finished"}]

    with pytest.raises(ValidationFailed):
        kg.ingest_events(run("refused", long_text, 1))  # ends before it begins
    kg.ingest_events(run("kept", long_text + "y", 20))
    memos = [o.literals for o in gc.get_objects() if type(o) is representatives.Interner]  # (no isinstance: it asks lazy modules)
    texts = {literal.value for memo in memos for literal in memo}
    assert "short kept" in texts and "short refused" in texts  # short ones are remembered
    assert not any(len(text) > representatives.MEMO_TEXT for text in texts)
    kg.close()

