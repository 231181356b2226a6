"""POST /api/events: the capture client's HTTP sink, over the real app and a real socket."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from endpoint_servers import AUTH, TOKEN, LiveServer
from flask import Flask
from flask.testing import FlaskClient

from provml.endpoint.app import create_app
from provml.knowledge import KnowledgeGraph

RUN_IRI = "https://w3id.org/provml/id/run/ev-1"


def batch(run: str = "ev-1") -> list[dict[str, Any]]:
    """A small learning workflow as capture events (docs/events.md)."""
    common = {"v": 1, "run": run, "workflow": "wf-events"}
    task = {**common, "task": "train", "name": "train", "type": "training"}
    return [
        {**common, "kind": "workflow_begin", "t": 1700000000.0, "type": "learning"},
        {**task, "kind": "task_begin", "t": 1700000001.0,
         "used": [{"name": "learning_rate", "role": "hyperparameter", "value": 0.01},
                  {"name": "train_set", "role": "learning_dataset",
                   "data": {"store": "local-fs", "location": "data/train.csv"}}]},
        {**task, "kind": "task_end", "t": 1700000002.0, "status": "finished",
         "generated": [{"name": "model", "role": "model",
                        "data": {"store": "local-fs", "location": f"models/{run}.pt"}}]},
        {**common, "kind": "workflow_end", "t": 1700000003.0, "status": "finished"},
    ]


@pytest.fixture
def app(kg: KnowledgeGraph) -> Iterator[Flask]:
    """The conftest's app, with a small body limit to test 413."""
    application = create_app({"TOKEN": TOKEN, "MAX_BODY_MB": 0.01}, kg=kg)
    yield application
    application.extensions["provml.close"]()


def quads(kg: KnowledgeGraph) -> set[Any]:
    return set(kg.store.quads())


def run_is_stored(kg: KnowledgeGraph, iri: str = RUN_IRI) -> bool:
    return bool(kg.store.query(f"ASK {{ <{iri}> ?p ?o }}"))


def assert_error_shape(body: Any, status: int) -> None:
    assert body["ok"] is False
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"]


def test_valid_batch_is_stored(client: FlaskClient, kg: KnowledgeGraph) -> None:
    response = client.post("/api/events", json={"events": batch()}, headers=AUTH)
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body["ok"] is True and body["events"] == 4 and body["triples"] > 20
    assert "https://w3id.org/provml/id/bundle/ev-1" in body["graphs"]
    assert run_is_stored(kg)


def test_a_plain_array_is_accepted_too(client: FlaskClient, kg: KnowledgeGraph) -> None:
    response = client.post("/api/events", json=batch("ev-2"), headers=AUTH)
    assert response.status_code == 202
    assert run_is_stored(kg, "https://w3id.org/provml/id/run/ev-2")


def test_resending_a_batch_adds_nothing(client: FlaskClient, kg: KnowledgeGraph) -> None:
    assert client.post("/api/events", json=batch(), headers=AUTH).status_code == 202
    before = quads(kg)
    assert client.post("/api/events", json=batch(), headers=AUTH).status_code == 202
    assert quads(kg) == before


def test_schema_error_is_422_and_nothing_is_stored(client: FlaskClient, kg: KnowledgeGraph) -> None:
    events = batch()
    del events[2]["status"]  # task_end needs a status
    before = quads(kg)
    response = client.post("/api/events", json={"events": events}, headers=AUTH)
    assert response.status_code == 422
    body = response.get_json()
    assert_error_shape(body, 422)
    assert body["event"] == 2 and body["kind"] == "task_end"
    assert "status" in (body["field"] + body["rule"] + body["error"])
    assert quads(kg) == before
    assert not run_is_stored(kg)


def test_a_malformed_spec_is_422_not_a_server_error(client: FlaskClient, kg: KnowledgeGraph) -> None:
    # a 5xx would make the capture client keep the bag and retry it forever
    spec = {"v": 1, "kind": "spec", "t": 1700000000.5, "run": "ev-1", "workflow": "wf-events",
            "spec": {"workflow": "wf-events", "transformations": [{"nam": "x"}]}}
    before = quads(kg)
    response = client.post("/api/events", json=[*batch()[:1], spec], headers=AUTH)
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert_error_shape(body, 422)
    assert "transformations[0] needs a 'name'" in body["error"]
    assert quads(kg) == before


def test_a_gzip_body_is_stored(client: FlaskClient, kg: KnowledgeGraph) -> None:
    body = gzip.compress(json.dumps({"events": batch("ev-gz")}).encode())
    response = client.post("/api/events", data=body, headers={
        **AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 202, response.get_data(as_text=True)
    assert run_is_stored(kg, "https://w3id.org/provml/id/run/ev-gz")


@pytest.mark.parametrize(
    ("body", "encoding", "status", "message"),
    [
        # 1 MiB of spaces gzips to ~1 KiB: under the 10 KiB limit sent, over it decompressed
        (gzip.compress(b'{"events": []' + b" " * (1 << 20) + b"}"), "gzip", 413, "decompressed body"),
        (b"\x1f\x8b not really gzip", "gzip", 400, "does not decompress"),
        (gzip.compress(b'{"events": []}')[:-12], "gzip", 400, "truncated"),
        (b'{"events": []}', "br", 415, "Content-Encoding 'br'"),
        # bytes after the gzip data were ignored (a probe, 22nd session)
        (gzip.compress(b'{"events": []}') + b"ANYTHING", "gzip", 400, "8 bytes after its gzip data"),
        # two members, each under the limit, more than it together
        (gzip.compress(b'{"events": []' + b" " * 6000) + gzip.compress(b" " * 6000 + b"}"), "gzip", 413,
         "decompressed body"),
    ],
)
def test_bad_compressed_bodies_are_refused(client: FlaskClient, kg: KnowledgeGraph, body: bytes,
                                           encoding: str, status: int, message: str) -> None:
    before = quads(kg)
    response = client.post("/api/events", data=body, headers={
        **AUTH, "Content-Type": "application/json", "Content-Encoding": encoding})
    assert response.status_code == status, response.get_data(as_text=True)
    payload = response.get_json()
    assert_error_shape(payload, status)
    assert message in payload["error"]
    assert quads(kg) == before


def test_shacl_violation_is_422_with_the_report(client: FlaskClient, kg: KnowledgeGraph) -> None:
    events = batch()
    events.append({**events[2], "t": 1700000009.0})  # a second, different end time: maxCount 1
    before = quads(kg)
    response = client.post("/api/events", json=events, headers=AUTH)
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert_error_shape(body, 422)
    assert body["report"]["conforms"] is False
    [result] = body["report"]["results"]
    assert result["focus_node"] == RUN_IRI + "/train"
    assert result["path"].endswith("#endedAtTime")
    assert quads(kg) == before
    assert not run_is_stored(kg)


def test_missing_token_is_401_and_nothing_is_stored(client: FlaskClient, kg: KnowledgeGraph) -> None:
    before = quads(kg)
    response = client.post("/api/events", json={"events": batch()})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error_shape(response.get_json(), 401)
    assert quads(kg) == before


def test_wrong_token_is_403(client: FlaskClient, kg: KnowledgeGraph) -> None:
    before = quads(kg)
    response = client.post("/api/events", json=batch(), headers={"Authorization": "Bearer nope"})
    assert response.status_code == 403
    assert_error_shape(response.get_json(), 403)
    assert quads(kg) == before


def test_malformed_json_says_where(client: FlaskClient) -> None:
    response = client.post("/api/events", data=b'{"events": [\n  {"v": 1,}\n]}',
                           content_type="application/json", headers=AUTH)
    assert response.status_code == 400
    body = response.get_json()
    assert_error_shape(body, 400)
    assert body["line"] == 2 and body["column"] == 11
    assert "line 2" in body["error"]


@pytest.mark.parametrize("payload", [b'{"events": 3}', b'"x"', b'{"other": []}'])
def test_wrong_json_shape_is_400(client: FlaskClient, payload: bytes) -> None:
    response = client.post("/api/events", data=payload, content_type="application/json",
                           headers=AUTH)
    assert response.status_code == 400
    assert_error_shape(response.get_json(), 400)


def test_not_json_is_415(client: FlaskClient) -> None:
    response = client.post("/api/events", data=json.dumps(batch()), content_type="text/plain",
                           headers=AUTH)
    assert response.status_code == 415
    assert_error_shape(response.get_json(), 415)


def test_over_the_body_limit_is_413(client: FlaskClient, kg: KnowledgeGraph) -> None:
    before = quads(kg)
    big = batch() * 200  # MAX_BODY_MB is 0.01 in this app
    response = client.post("/api/events", json=big, headers=AUTH)
    assert response.status_code == 413
    assert_error_shape(response.get_json(), 413)
    assert quads(kg) == before


def test_get_is_405(client: FlaskClient) -> None:
    response = client.get("/api/events", headers=AUTH)
    assert response.status_code == 405
    assert_error_shape(response.get_json(), 405)


def test_capture_over_http_then_query_over_http(live_server: LiveServer) -> None:
    """The HTTP sink's path end to end: POST a batch over a real socket, find the run by SPARQL."""
    response = live_server("POST", "/api/events", json={"events": batch("ev-live")}, headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.json()["events"] == 4
    query = "ASK { <https://w3id.org/provml/id/run/ev-live> a ?type }"
    answer = live_server("GET", "/sparql", params={"query": query},
                         headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200 and answer.json()["boolean"] is True
    refused = live_server("POST", "/api/events", json=batch("ev-refused"))
    assert refused.status_code == 401 and refused.json()["status"] == 401
    assert not bool(live_server.store.query("ASK { <https://w3id.org/provml/id/run/ev-refused> ?p ?o }"))


def test_a_compact_bag_is_expanded_and_stored(client: FlaskClient, kg: KnowledgeGraph) -> None:
    """The capture client's compact form: cycle records ``[is_begin, t, fields, values]``
    beside event objects (provml.capture.encoding)."""
    events = batch("ev-compact")
    fields = ["ev-compact", "wf-events", "train/epoch-0", "epoch", 0, "train", "train", "training"]
    loss = [{"name": "loss", "role": "evaluation", "value": 0.25}]
    body = [*events[:2], [True, 1700000001.5, fields, []], [False, 1700000001.7, fields, loss],
            *events[2:]]
    response = client.post("/api/events", json={"events": body}, headers=AUTH)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["events"] == 6
    assert bool(kg.store.query(
        "ASK { <https://w3id.org/provml/id/run/ev-compact/train/epoch-0> ?p ?o }"))


def test_a_malformed_compact_record_is_refused(client: FlaskClient, kg: KnowledgeGraph) -> None:
    before = quads(kg)
    response = client.post("/api/events", json={"events": [*batch("ev-bad")[:1], [True, 1.0]]},
                           headers=AUTH)
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert_error_shape(body, 422)
    assert "element 1 is neither an event object nor a compact cycle record" in body["error"]
    assert quads(kg) == before


def test_a_batch_takes_its_turn_with_the_other_writes(live_server: LiveServer) -> None:
    """While another write holds the store (an update, a Graph Store PUT), a batch waits for
    it, then is stored: their steps never interleave (a PUT of a graph a batch writes, such as
    the plans graph, left a mix of both before)."""
    import threading
    import time

    from provml.endpoint.context import RUNNER_KEY

    answers: list[int] = []

    def post() -> None:
        answers.append(live_server("POST", "/api/events", json=batch("turn"), headers=AUTH).status_code)

    with live_server.app.extensions[RUNNER_KEY].writing():
        sender = threading.Thread(target=post)
        sender.start()
        time.sleep(1.0)
        assert sender.is_alive() and answers == []  # waiting for the write before it
    sender.join(30)
    assert answers == [202]


@pytest.mark.parametrize("body", [
    b'{"events": [{"v": 1, "kind": "workflow_begin", "t": Infinity, "run": "r", "workflow": "w"}]}',
    b'{"events": [{"v": 1, "kind": "workflow_begin", "t": NaN, "run": "r", "workflow": "w"}]}',
    b'{"events": [{"v": 1, "kind": "workflow_begin", "t": 1e400, "run": "r", "workflow": "w"}]}',
    b'{"events": [{"v": 1, "kind": "workflow_begin", "t": 1e308, "run": "r", "workflow": "w"}]}',
    b'{"events": [{"v": 1, "kind": "workflow_begin", "t": 1, "run": "r", "workflow": "w", "x": ' + b"9" * 5000 + b"}]}",
])
def test_numbers_json_cannot_hold_or_no_clock_can_show_are_4xx(client: FlaskClient, kg: KnowledgeGraph,
                                                                 body: bytes) -> None:
    """NaN, infinities, an integer of 5,000 digits: 400, not JSON; a time past year 9999: 422
    (hostile probe, 17th session: each was a 500 with a traceback)."""
    before = quads(kg)
    response = client.post("/api/events", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:300]
    assert_error_shape(response.get_json(), response.status_code)
    assert quads(kg) == before


def test_a_time_late_in_year_9999_is_still_a_time(client: FlaskClient, kg: KnowledgeGraph) -> None:
    body = {"events": [{"v": 1, "kind": "workflow_begin", "t": 253402300799.5, "run": "late", "workflow": "w"}]}
    response = client.post("/api/events", json=body, headers=AUTH)
    assert response.status_code == 202, response.get_data(as_text=True)[:300]


def test_a_body_of_more_values_than_the_limit_is_refused_before_it_is_parsed(
        kg: KnowledgeGraph) -> None:
    """Each JSON value becomes a Python object: a 59 KB gzip body inflating to 60 MB of
    ``[],`` took the server 1.7 GB before its refusal (memory probe, 18th session). Past
    MAX_JSON_VALUES: 413, before the parse, the store unchanged."""
    from provml.endpoint.api.events import MAX_JSON_VALUES

    before = len(kg.store)
    body = gzip.compress(b"[" + b"[]," * MAX_JSON_VALUES + b"[]]")
    application = create_app({"TOKEN": TOKEN}, kg=kg)  # (the default body limit, 64 MiB)
    try:
        response = application.test_client().post("/api/events", data=body, headers={
            **AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    finally:
        application.extensions["provml.close"]()
    assert response.status_code == 413
    assert "smaller bags" in response.get_json()["error"]
    assert len(kg.store) == before


def _cycles(run: str, n: int, *, losses: bool = True) -> list[Any]:
    """A compact bag of ``n`` batch cycles (what the capture client sends), after its run's
    begin and its stage's; each with a loss, or none."""
    fields = lambda i: [run, "wf", "batch", i, "train", "train", "training"]  # noqa: E731
    return [{"v": 1, "kind": "workflow_begin", "t": 1764912000.0, "run": run, "workflow": "wf", "type": "learning"},
            {"v": 1, "kind": "task_begin", "t": 1764912001.0, "run": run, "workflow": "wf", "task": "train",
             "name": "train", "type": "training"}] + [
        [1764912002.0 + i * 1e-3, 1764912002.0005 + i * 1e-3, fields(i), [],
         [{"name": "loss", "role": "evaluation", "value": 1.0 / (i + 1)}] if losses else []]
        for i in range(n)]


def _spec_event(attributes: int) -> dict[str, Any]:
    """A spec event with 10 transformations holding ``attributes - 10`` attributes in all."""
    per = [(attributes - 10) // 10 + (1 if k < (attributes - 10) % 10 else 0) for k in range(10)]
    return {"v": 1, "kind": "spec", "t": 1764912000.0, "run": "spec", "workflow": "wide-spec", "spec": {
        "workflow": "wide-spec", "transformations": [
            {"name": f"t{k}", "used": [{"name": f"a{i}", "role": "hyperparameter"} for i in range(n)]}
            for k, n in enumerate(per)]}}


@pytest.mark.parametrize("shape", ["events", "values", "spec", "stores"])
def test_a_batch_past_the_events_or_values_limit_is_413_before_its_ingest(
        kg: KnowledgeGraph, monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    """A legal bag of 80,000 cycles (13 MiB) took the server 3.3 GB at its peak, and one event
    of 20,000 values held the store's write lock 79 s (a probe, 22nd session): past
    MAX_EVENTS events or MAX_VALUES values a request is refused with 413 (the capture client
    splits its bag on it), before anything is translated, the store unchanged."""
    from provml.endpoint.api import events
    from provml.knowledge import KnowledgeGraph as KG

    translated: list[int] = []
    real = KG.translate_events
    monkeypatch.setattr(KG, "translate_events", lambda self, evs, **kw: translated.append(len(evs)) or real(self, evs, **kw))
    before = len(kg.store)
    application = create_app({"TOKEN": TOKEN}, kg=kg)  # (the default body limit, 64 MiB)
    client = application.test_client()
    if shape == "events":
        body: list[Any] = _cycles("many", events.MAX_EVENTS // 2, losses=False)  # two events a cycle, +2
    elif shape == "spec":  # a spec of 20,000 attributes took 2.2 s (23rd session): counted as values
        body = [_spec_event(events.MAX_VALUES + 1)]
    elif shape == "stores":  # and one of 100,000 stores 3.4 s (a review, 23rd session)
        body = [_spec_event(10)]
        body[0]["spec"]["stores"] = [{"name": f"s{i}"} for i in range(events.MAX_VALUES - 9)]
    else:
        body = [{"v": 1, "kind": "workflow_begin", "t": 1764912000.0, "run": "wide", "workflow": "wf",
                 "used": [{"name": f"p{i}", "value": i} for i in range(events.MAX_VALUES + 1)]}]
    response = client.post("/api/events", json=body, headers=AUTH)
    assert response.status_code == 413, response.get_data(as_text=True)[:300]
    assert_error_shape(response.get_json(), 413)
    assert "smaller bags" in response.get_json()["error"] and translated == []
    assert len(kg.store) == before
    # at the limits, stored
    body = _cycles("fits", events.MAX_EVENTS // 2 - 1, losses=False) if shape == "events" else \
        [_spec_event(events.MAX_VALUES)] if shape in ("spec", "stores") else \
        _cycles("fits", events.MAX_VALUES)  # a loss a cycle: as many values as allowed
    response = client.post("/api/events", json=body, headers=AUTH)
    application.extensions["provml.close"]()
    assert response.status_code == 202, response.get_data(as_text=True)[:300]


def test_the_cheap_value_count_comes_before_the_nesting_check(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """60 MB of ``[],`` cost the nesting check ≈ 10 s of CPU before the value count refused it
    (a probe, 22nd session): the count, a few passes of ``bytes.count``, goes first."""
    from provml.endpoint.api import events

    checked: list[int] = []
    monkeypatch.setattr(events, "check_json_depth", lambda data, what: checked.append(len(data)))
    monkeypatch.setattr(events, "MAX_JSON_VALUES", 1_000)
    response = client.post("/api/events", data=b"[" + b"[]," * 2_000 + b"[]]",
                           headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413 and checked == []


def test_an_infinity_inside_a_list_value_is_spelled_as_xsd_in_valid_json(
        client: FlaskClient, kg: KnowledgeGraph) -> None:
    """``1e400`` is valid JSON that Python reads as infinity: inside a list or an object it was
    stored in an ``rdf:JSON`` literal as ``[Infinity,1]``, which is not JSON (a probe, 22nd
    session), then refused with 422; now it is written as XSD's spelling, the string ``"INF"``
    (what the capture library writes for a NaN or infinity inside a value: twenty-fourth
    session), and the literal is JSON. A plain ``1e400`` is the double it rounds to, ``INF``
    (XSD's lexical mapping)."""
    for run, value, stored in (("inf0", '[1e400, 1]', ["INF", 1]), ("inf1", '{"a": -1e400}', {"a": "-INF"})):
        body = (f'[{{"v":1,"kind":"workflow_begin","t":1764912000.0,"run":"{run}","workflow":"wf",'
                f'"used":[{{"name":"lr","value":0.1}},{{"name":"curve","value":{value}}}]}}]')
        response = client.post("/api/events", data=body, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code == 202, response.get_data(as_text=True)[:300]
        (row,) = kg.query(f"""SELECT ?v WHERE {{ <https://w3id.org/provml/id/run/{run}> ?p ?x .
            ?x <https://w3id.org/provml#attributeName> "curve" ; <http://www.w3.org/ns/prov#value> ?v }}""")
        assert row["v"].datatype.value == "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"
        assert json.loads(row["v"].value) == stored
    body = ('[{"v":1,"kind":"workflow_begin","t":1764912000.0,"run":"inf2","workflow":"wf",'
            '"used":[{"name":"lr","value":1e400}]}]')
    response = client.post("/api/events", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 202
    (row,) = kg.query("""SELECT ?v WHERE { <https://w3id.org/provml/id/run/inf2> ?p ?x .
        ?x <https://w3id.org/provml#attributeName> "lr" ; <http://www.w3.org/ns/prov#value> ?v }""")
    assert row["v"].value == "INF"


def test_an_integer_written_as_a_float_is_stored_as_that_integer(
        client: FlaskClient, kg: KnowledgeGraph, caplog: pytest.LogCaptureFixture) -> None:
    """JSON Schema's integer is any number with no fraction, so ``"iteration": 3.0`` passes the
    check; it was written as ``"3.0"^^xsd:integer``, refused by the shapes, and each refusal
    logged rdflib's tracebacks (a probe, 22nd session). It is stored as the integer 3."""
    import logging

    body = [{"v": 1, "kind": "workflow_begin", "t": 1764912000.0, "run": "f1", "workflow": "wf", "type": "learning"},
            {"v": 1, "kind": "task_begin", "t": 1764912001.0, "run": "f1", "workflow": "wf", "task": "train",
             "name": "train", "type": "training",
             "used": [{"name": "set", "role": "learning_dataset", "data": {"store": "fs", "location": "a.csv",
                                                                          "size": 5.0}}]},
            {"v": 1, "kind": "cycle_begin", "t": 1764912002.0, "run": "f1", "workflow": "wf", "task": "train/epoch-3",
             "name": "epoch", "iteration": 3.0, "parent": "train", "stage": "train", "stage_type": "training"}]
    with caplog.at_level(logging.WARNING):
        response = client.post("/api/events", json=body, headers=AUTH)
    assert response.status_code == 202, response.get_data(as_text=True)[:400]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    rows = kg.query("""SELECT ?i ?s WHERE { { ?e <https://w3id.org/provml#iteration> ?i }
                       UNION { ?d <https://w3id.org/provml#byteSize> ?s } }""")
    got = {(r["i"].value if r["i"] else None, r["s"].value if r["s"] else None) for r in rows}
    assert got == {("3", None), (None, "5")}, got


def test_a_gzip_body_of_several_members_is_read_whole(client: FlaskClient, kg: KnowledgeGraph) -> None:
    """RFC 1952 lets a gzip file hold several members (``cat a.gz b.gz``); only the first was
    read, and the body refused as "not valid JSON" (a probe, 22nd session)."""
    text = json.dumps({"events": batch("gz-2")}).encode()
    half = len(text) // 2
    response = client.post("/api/events", data=gzip.compress(text[:half]) + gzip.compress(text[half:]),
                           headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 202, response.get_data(as_text=True)[:300]
    assert run_is_stored(kg, RUN_IRI.replace("ev-1", "gz-2"))


@pytest.mark.parametrize("values", [0, False, "", {}])
def test_a_compact_record_whose_values_are_no_list_is_422(client: FlaskClient, kg: KnowledgeGraph,
                                                          values: Any) -> None:
    """A compact cycle record's values slot of ``0``, ``false`` or ``""`` was read as "no
    values", while ``5`` was refused (a probe, 22nd session): each is now refused alike."""
    before = quads(kg)
    fields = ["cv", "wf", "batch", 0, "train", "train", "training"]
    response = client.post("/api/events", json=[[1764912002.0, 1764912002.5, fields, values, []]],
                           headers=AUTH)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert "compact" in response.get_json()["error"] and quads(kg) == before


def test_batches_posted_at_once_are_written_together_each_with_its_own_verdict(
        make_live_server: Any, tmp_path: Any) -> None:
    """Requests that wait for the store together are one write (``batches`` in each answer);
    a batch that breaks the shapes among them is refused alone, with its own report, and the
    others are stored (twenty-fourth session: group commit)."""
    import threading
    import time

    import requests

    from provml.endpoint.api.events import COMMITS_KEY
    from provml.endpoint.context import RUNNER_KEY

    live = make_live_server({"TIMEOUT_S": 30}, path=tmp_path / "kg")
    commits = live.app.extensions[COMMITS_KEY]
    for broken in (False, True):
        runs = [f"group-{int(broken)}-{i}" for i in range(4)]  # the live server's 4 threads
        bodies = [batch(run) for run in runs]
        if broken:  # a second, different end time: maxCount 1
            bodies[2].append({**bodies[2][2], "t": 1700000009.0})
        answers: dict[int, Any] = {}

        def post(i: int, bodies: list[Any] = bodies, answers: dict[int, Any] = answers) -> None:
            response = requests.post(live.url + "/api/events", json=bodies[i], headers=AUTH, timeout=60)
            answers[i] = (response.status_code, response.json())

        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(runs))]
        with live.app.extensions[RUNNER_KEY].writing():  # the store held: the requests queue
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30
            while commits.waiting < len(runs):
                assert time.monotonic() < deadline, commits.waiting
                time.sleep(0.01)
        for thread in threads:
            thread.join(60)
        statuses = [answers[i][0] for i in range(len(runs))]
        if not broken:
            assert statuses == [202] * 4
            assert [answers[i][1]["batches"] for i in range(4)] == [4] * 4
            assert all(answers[i][1]["events"] == 4 for i in range(4))
        else:
            assert statuses == [202, 202, 422, 202]
            assert [answers[i][1]["batches"] for i in (0, 1, 3)] == [1] * 3  # after the group failed
            [result] = answers[2][1]["report"]["results"]
            assert result["focus_node"].endswith(f"/run/{runs[2]}/train")
        for i, run in enumerate(runs):
            ask = live("GET", "/sparql", params={"query": f"ASK {{ <https://w3id.org/provml/id/run/{run}> ?p ?o }}"},
                       headers={"Accept": "application/sparql-results+json"})
            assert ask.json()["boolean"] is (statuses[i] == 202), run


@pytest.mark.parametrize("body", [
    b'{"events": [], "events": [{"v": 1, "kind": "workflow_begin", "t": 0, "run": "dup", "workflow": "w"}]}',
    b'[{"v": 1, "kind": "workflow_begin", "t": 0, "run": "other", "run": "dup", "workflow": "w"}]',
    b'[{"v": 1, "kind": "task_begin", "t": 0, "run": "dup", "workflow": "w", "task": "t", "name": "t",'
    b' "used": [{"name": "lr", "value": 0.1, "value": 0.2}]}]',
])
def test_an_object_with_a_key_twice_is_400_and_nothing_is_stored(client: FlaskClient, kg: KnowledgeGraph,
                                                                   body: bytes) -> None:
    """JSON readers disagree on a repeated key (Python keeps the last, others the first): a
    proxy that checked one ``run`` and provml storing the other (a probe, 22nd session: the last
    won silently). Refused, naming the key (I-JSON, RFC 7493)."""
    before = quads(kg)
    response = client.post("/api/events", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    error = response.get_json()
    assert_error_shape(error, 400)
    assert error["key"] in ("events", "run", "value") and "twice" in error["error"]
    assert quads(kg) == before


def test_a_batch_the_event_format_refuses_is_answered_before_its_turn_and_joins_no_group(
        make_live_server: Any, tmp_path: Any) -> None:
    """The format is checked before a batch waits for the store: a broken one is refused at
    once (422, while another write holds the store) and the others stay one group (a review:
    it made its whole group fail and be written again batch by batch, +30-50 % for all)."""
    import threading
    import time

    import requests

    from provml.endpoint.api.events import COMMITS_KEY
    from provml.endpoint.context import RUNNER_KEY

    live = make_live_server({"TIMEOUT_S": 30}, path=tmp_path / "kg")
    commits = live.app.extensions[COMMITS_KEY]
    bodies = [batch(f"format-{i}") for i in range(3)]
    broken = batch("format-broken")
    del broken[2]["status"]  # task_end needs a status
    answers: dict[str, Any] = {}

    def post(name: str, body: list[Any]) -> None:
        response = requests.post(live.url + "/api/events", json=body, headers=AUTH, timeout=60)
        answers[name] = (response.status_code, response.json())

    threads = [threading.Thread(target=post, args=(str(i), body)) for i, body in enumerate(bodies)]
    with live.app.extensions[RUNNER_KEY].writing():
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while commits.waiting < 3:
            assert time.monotonic() < deadline, commits.waiting
            time.sleep(0.01)
        post("broken", broken)  # answered while the store is still held
        assert answers["broken"][0] == 422 and answers["broken"][1]["kind"] == "task_end"
        assert commits.waiting == 3
    for thread in threads:
        thread.join(60)
    assert [answers[str(i)][0] for i in range(3)] == [202] * 3
    assert [answers[str(i)][1]["batches"] for i in range(3)] == [3] * 3
