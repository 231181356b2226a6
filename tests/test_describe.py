"""provml.query.describe, provml.endpoint.linked_data.void and provml.endpoint.linked_data.ontology_docs: the library behind the linked-data
routes (their docstrings run here, through the imported package)."""

from __future__ import annotations

import doctest
import gzip
from types import ModuleType

import pytest
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, parse

import provml.endpoint.linked_data.ontology_docs
import provml.endpoint.linked_data.void
import provml.query.describe
from provml.query.describe import describe, local_name, resource_triples
from provml.store import Store, open_store
from provml.vocab import PROV, RDFS

E = "https://w3id.org/provml/id/"
G = NamedNode(E + "bundle/r")


@pytest.mark.parametrize("module", [provml.query.describe, provml.endpoint.linked_data.void, provml.endpoint.linked_data.ontology_docs])
def test_docstrings_run(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_lineage_both_ways_and_labels() -> None:
    store = open_store()
    data, run, model = (NamedNode(E + n) for n in ("data/d", "run/r/train", "data/m"))
    store.add([
        Quad(run, PROV.used, data, G),
        Quad(model, PROV.wasGeneratedBy, run, G),
        Quad(run, RDFS.label, Literal("entraînement", language="fr"), G),
        Quad(run, RDFS.label, Literal("train", language="en"), G),
        Quad(run, RDFS.comment, Literal("not lineage"), G),
    ])
    d = describe(store, run.value)
    assert [(n.iri, n.predicate) for n in d.backward] == [(data.value, PROV.used.value)]
    assert [(n.iri, n.predicate) for n in d.forward] == [(model.value, PROV.wasGeneratedBy.value)]
    assert d.label_of(run.value) == "train"  # English before other languages
    assert d.graphs == (G.value,)
    assert d.exists and not describe(store, E + "nothing").exists
    assert len(resource_triples(store, run.value)) == 5  # 4 outgoing + 1 incoming


def test_incoming_links_are_limited() -> None:
    store = open_store()
    plan = NamedNode(E + "plan/wf")
    store.add([Quad(NamedNode(f"{E}run/r{i}"), PROV.wasInfluencedBy, plan, G) for i in range(12)])
    d = describe(store, plan.value, limit=10)
    assert len(d.incoming) == 10 and d.incoming_truncated
    assert not describe(store, plan.value).incoming_truncated


def test_invalid_iri_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        describe(open_store(), "not an iri with spaces")


def test_local_name() -> None:
    assert local_name("https://w3id.org/provml#Model") == "Model"
    assert local_name(E + "run/r1") == "r1"


def test_every_backend(store: Store) -> None:
    """describe, VoID and the dump read through the Store interface: embedded and remote alike."""
    data, run = NamedNode(E + "data/d"), NamedNode(E + "run/r/train")
    store.add([Quad(run, PROV.used, data, G), Quad(data, RDFS.label, Literal("d.csv"), G)])
    d = describe(store, run.value)
    assert [n.iri for n in d.backward] == [data.value] and d.label_of(data.value) == "d.csv"
    assert d.graphs == (G.value,) and describe(store, G.value).graph_size == 2
    void = provml.endpoint.linked_data.void.void_description(store, base_url="http://x.org")
    assert any(t.predicate.value.endswith("#triples") and t.object.value == "2" for t in void)
    dumped = gzip.decompress(b"".join(provml.endpoint.linked_data.void.dump_nquads_gz(store)))
    assert set(parse(dumped, format=RdfFormat.N_QUADS)) == set(store.quads())
