"""Capture options asked for by the FORCE 2020 case: a spec sent with the workflow, evaluations
about a domain resource, and hashing a local file recorded under a store-relative location."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyoxigraph import NamedNode

import provml
from provml.capture.spool import read_events, spool_files
from provml.capture.values import file_digest
from provml.ingest.spec import SpecError
from provml.knowledge import KnowledgeGraph
from provml.store.oxigraph import OxigraphStore
from provml.vocab import PROVML, RDF

SPEC = {"workflow": "wf", "type": "learning", "transformations": [
    {"name": "train", "type": "training", "used": [{"name": "lr", "role": "hyperparameter",
                                                     "description": "learning rate"}]}]}


def capture(tmp_path: Path, **workflow_options: object) -> list[dict[str, object]]:
    with (
        provml.Client(spool_dir=tmp_path, online=False) as client,
        client.workflow("wf", type="learning", meta=False, **workflow_options) as wf,  # type: ignore[arg-type]
        wf.stage("train", kind="training", used={"lr": 0.1}) as st,
    ):
        st.generated(provml.evaluation("f1_sandstone", 0.5, domain="https://example.org/Sandstone"))
    return list(read_events(spool_files(tmp_path)[0]))


@pytest.mark.parametrize("form", ["dict", "yaml"])
def test_workflow_sends_its_spec_and_roles_apply(tmp_path: Path, form: str) -> None:
    spec: object = SPEC
    if form == "yaml":
        import yaml

        spec = tmp_path / "wf.yaml"
        Path(spec).write_text(yaml.safe_dump(SPEC))  # type: ignore[arg-type]
    events = capture(tmp_path / "spool", spec=spec)
    assert [e["kind"] for e in events][:2] == ["workflow_begin", "spec"]
    kg = KnowledgeGraph(OxigraphStore())
    kg.load_ontologies()
    kg.ingest_events(events)
    value = kg.iris.value(kg.iris.execution(str(events[0]["run"]), "train"), "used", "lr")
    types = {q.object for q in kg.store.quads() if q.subject == value and q.predicate == RDF.type}
    assert PROVML.LearningHyperparameterValue in types  # the role came from the spec


def test_bad_spec_fails_at_the_call(tmp_path: Path) -> None:
    with provml.Client(spool_dir=tmp_path, online=False) as client, pytest.raises(SpecError):
        client.workflow("wf", spec={"transformations": []})


def test_evaluation_about_a_domain_resource(tmp_path: Path) -> None:
    events = capture(tmp_path)
    kg = KnowledgeGraph(OxigraphStore())
    kg.load_ontologies()
    kg.ingest_events(events)
    refs = {q.object for q in kg.store.quads() if q.predicate == PROVML.kgReference}
    assert refs == {NamedNode("https://example.org/Sandstone")}


def test_hash_a_local_file_under_a_store_relative_location(tmp_path: Path) -> None:
    local = tmp_path / "copy.bin"
    local.write_bytes(b"provml" * 100)
    ref = provml.data("d", "bucket/key.bin", store="s3", hash_file=True, path=local)["data"]
    assert ref["location"] == "bucket/key.bin"
    assert (ref["sha256"], ref["size"]) == file_digest(local)


def test_option_types_and_an_endless_interval_are_refused_or_read_as_meant(tmp_path: Path) -> None:
    """``flush_interval_s=inf`` was taken: the flusher's every wait raised, nothing was written
    and ``close()`` waited 70 s; ``bag_size="50"`` failed with "'<' not supported";
    ``env_allowlist="HOME"`` was read letter by letter and recorded nothing (a probe,
    twenty-seventh session)."""
    import math

    for interval in (math.inf, 1e10, 0, -1.0, math.nan):
        with pytest.raises(ValueError, match="flush_interval_s must be a number of seconds above 0 and at most 86,400"):
            provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False, flush_interval_s=interval)
    with pytest.raises(TypeError, match="bag_size must be an integer, not '50'"):
        provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False, bag_size="50")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="flush_interval_s must be a number of seconds, not '1'"):
        provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False, flush_interval_s="1")  # type: ignore[arg-type]
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False, env_allowlist="HOME")
    assert client.env_allowlist == ("HOME",)
    client.close()
    np = pytest.importorskip("numpy")
    provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False, bag_size=np.int64(50)).close()
