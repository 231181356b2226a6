"""A text of an event longer than an export of the store can be read back with is refused at
ingest (``provml.events.MAX_WRITTEN``, 7 MiB as written; an IRI part ``MAX_TEXT``, 1 MiB), on
every path in: the check every batch goes
through, the capture client's store sink, ``provml load`` of a spool and the broker's workers
(``POST /api/events``: ``tests/endpoint/test_events_text_bound.py``). Before, a value of 17 MiB
was stored, and no export of that store (N-Quads, TriG, JSON-LD) could be loaded again: Oxigraph's
parsers buffer a term of at most 16 MiB as written (N-Quads, TriG), 8 MiB (a JSON-LD string).
A text at the bound, of the characters written longest (control characters: six bytes each),
reads back from the exports through ``provml load``, and so does a numeric matrix of 1000 × 1000
(4 MB of JSON text, refused by a first version of the bound that counted 1 MiB of characters).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import provml
from provml.cli import main
from provml.errors import EventError
from provml.events import MAX_TEXT, MAX_WRITTEN, check, json_text, written_size
from provml.knowledge import open_kg
from provml.vocab import PROV

LONG = 17 << 20  # 17 MiB: past every parser's buffer
C = {"v": 1, "run": "r1", "workflow": "wf"}


def run(used: list[dict[str, Any]] | None = None, **begin: Any) -> list[dict[str, Any]]:
    """A workflow with one task that uses ``used``; ``begin``: more fields of its begin."""
    task = {**C, "task": "t", "name": "t"}
    return [{**C, "kind": "workflow_begin", "t": 1.0, **begin},
            {**task, "kind": "task_begin", "t": 2.0, "used": used or []},
            {**task, "kind": "task_end", "t": 3.0, "status": "finished"},
            {**C, "kind": "workflow_end", "t": 4.0, "status": "finished"}]


def refusal(events: list[dict[str, Any]]) -> EventError:
    with pytest.raises(EventError) as caught:
        check(events)
    return caught.value


def test_a_value_longer_than_the_bound_is_refused_naming_the_field_the_size_and_what_to_do() -> None:
    error = refusal(run([{"name": "report", "value": "x" * LONG}]))
    assert error.fields["index"] == 1 and error.fields["kind"] == "task_begin"
    assert error.fields["field"] == "used/0/value"
    assert error.fields["size"] == LONG and error.fields["limit"] == MAX_WRITTEN == 7 << 20
    assert f"{LONG:,}" in str(error) and f"{MAX_WRITTEN:,}" in str(error)
    assert "data reference" in str(error) and "file" in str(error)


def test_a_value_is_measured_as_written_and_one_byte_more_than_the_bound_is_refused() -> None:
    """Control characters are written in six bytes each, a newline in two, ASCII in one."""
    check(run([{"name": "report", "value": "\x01" * MAX_TEXT}]))  # 6 MiB written
    at = "\x01" * (MAX_WRITTEN // 6) + "a" * (MAX_WRITTEN % 6)
    assert written_size(at) == MAX_WRITTEN
    check(run([{"name": "report", "value": at}]))
    assert refusal(run([{"name": "report", "value": at + "a"}])).fields["size"] == MAX_WRITTEN + 1
    assert refusal(run([{"name": "report", "value": "\n" * (MAX_WRITTEN // 2 + 1)}])).fields["size"] == MAX_WRITTEN + 2
    check(run([{"name": "log", "value": "x" * MAX_WRITTEN}]))  # 7 MiB of ASCII


def test_a_list_or_object_value_is_held_to_the_bound_as_its_json_text_written() -> None:
    """A list of short strings (its JSON text, an rdf:JSON literal, each quote written \\");
    a confusion matrix of 1000 × 1000 counts passes (3.9 MB: a first version of the bound refused it)."""
    words = ["abcdefgh"] * (MAX_WRITTEN // 13 + 1)  # "abcdefgh", = 13 bytes each written
    assert written_size(json_text(words)) > MAX_WRITTEN
    error = refusal(run([{"name": "vocabulary", "value": words}]))
    assert error.fields["field"] == "used/0/value" and error.fields["size"] == written_size(json_text(words))
    fits = words[: (MAX_WRITTEN - 2) // 13]
    check(run([{"name": "vocabulary", "value": fits}]))
    matrix = [[(i * 7 + j) % 1000 for j in range(1000)] for i in range(1000)]  # counts of a confusion matrix
    assert len(json_text(matrix)) > 3 * MAX_TEXT
    check(run([{"name": "confusion", "value": matrix}]))
    check(run([{"name": "grid", "value": {"lr": [0.1] * 100_000, "nan": float("nan")}}]))


def test_a_text_redaction_makes_longer_than_the_bound_is_refused_after_it() -> None:
    """Redaction replaces a secret by [redacted] after the check: a text within the bound at the
    door may be past it once redacted; ingest checks it again (a review of the first version)."""
    from provml.knowledge import redacted

    secret = "password=x " * (MAX_WRITTEN // 11)  # 11 bytes each, 19 once redacted
    events = run([{"name": "notes", "value": secret}])
    check(events)
    with pytest.raises(EventError) as caught:
        redacted(events[1], 1)
    assert caught.value.fields["field"] == "used/0/value" and caught.value.fields["size"] > MAX_WRITTEN


@pytest.mark.parametrize(("field", "events"), [
    ("used/0/data/location", run([{"name": "d", "role": "data", "data": {"location": "\x01" * (MAX_WRITTEN // 6 + 1)}}])),
    ("used/0/tag", run([{"name": "v", "value": 1, "tag": "x" * (MAX_WRITTEN + 1)}])),
    ("used/0/domain", run([{"name": "v", "domain": "https://example.org/" + "x" * MAX_TEXT}])),
    # a characteristic's name is an IRI segment, percent-encoded: 😀 is 12 characters there
    ("used/0/characteristics", run([{"name": "d", "role": "data", "data": {"location": "x.csv"},
                                     "characteristics": {"😀" * (MAX_TEXT // 12 + 1): 1}}])),
    ("used/0/characteristics/rows", run([{"name": "d", "role": "data", "data": {"location": "x.csv"},
                                          "characteristics": {"rows": "\x01" * (MAX_WRITTEN // 6 + 1)}}])),
    ("tags/1", run(tags=["ok", "\n" * (MAX_WRITTEN // 2 + 1)])),
    ("persona/name", run(persona={"id": "alice", "name": "x" * (MAX_WRITTEN + 1)})),
    ("meta/env/A", run(meta={"env": {"A": "x" * (MAX_WRITTEN - 1)}})),  # stored as one literal, A=...
    ("meta/packages/numpy", run(meta={"packages": {"numpy": "é" * (MAX_TEXT // 6)}})),
    ("spec/transformations/0/name", [{**C, "kind": "spec", "t": 1.0,
                                      "spec": {"workflow": "wf", "transformations": [{"name": "é" * (MAX_TEXT // 6 + 1)}]}}]),
    ("spec", [{**C, "kind": "spec", "t": 1.0, "spec": {"workflow": "wf", "description": "x" * MAX_TEXT}}]),
])
def test_every_text_an_event_stores_is_held_to_the_bound(field: str, events: list[dict[str, Any]]) -> None:
    assert refusal(events).fields["field"] == field


def test_an_error_message_past_the_bound_refuses_its_end_event() -> None:
    events = run()
    events[2] = {**events[2], "status": "errored", "error": {"type": "E", "message": "x" * LONG}}
    error = refusal(events)
    assert (error.fields["index"], error.fields["field"]) == (2, "error/message")


def _texts(store: Path, predicate: str) -> list[str]:
    with open_kg(store) as kg:
        return [row["v"].value for row in kg.query(f"SELECT ?v WHERE {{ ?s <{predicate}> ?v }}")]


def test_the_client_store_sink_rejects_that_event_alone_with_the_report(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with provml.Client(store=store, spool_dir=tmp_path / "spool", bag_size=50,
                       install_signal_handler=False) as client, client.workflow("wf", meta=False) as wf:
        with wf.task("ok") as ok:
            ok.generated(provml.value("summary", "short"))
        with wf.task("big") as big:
            big.generated(provml.value("report", "x" * LONG))
    assert client.stats().rejected == 1
    [record] = [json.loads(line) for line in client.rejected_path.read_text().splitlines()]
    [event] = record["events"]
    assert event["kind"] == "task_end" and event["task"] == "big"
    report = record["report"]
    assert report["error"] == "EventError" and report["fields"]["field"] == "generated/0/value"
    assert report["fields"]["size"] == LONG and report["fields"]["limit"] == MAX_WRITTEN
    assert "data reference" in report["message"]
    # the others of the bag are stored: the workflow, both tasks begun, "ok" ended with its value
    assert _texts(store, PROV.value.value) == ["short"]


def test_provml_load_rejects_the_event_and_stores_the_rest_of_its_batch(tmp_path: Path) -> None:
    events = run([{"name": "report", "value": "x" * LONG}, {"name": "lr", "value": 0.1}])
    events.insert(1, {**C, "kind": "task_begin", "t": 1.5, "task": "u", "name": "u",
                      "used": [{"name": "summary", "value": "short"}]})
    spool = tmp_path / "spool.jsonl"
    spool.write_text("".join(json.dumps(e) + "\n" for e in events))
    load = CliRunner().invoke(main, ["load", str(spool), "--store", str(tmp_path / "store"), "--format", "json"])
    assert load.exit_code == 1, load.output
    summary = json.loads(load.stdout)
    [rejected] = summary["rejected"]
    assert rejected["events"] == 1 and rejected["source"].endswith("(event 3)")
    assert "used/0/value" in rejected["error"] and f"{LONG:,}" in rejected["error"]
    assert summary["events"] == len(events) - 1
    assert _texts(tmp_path / "store", PROV.value.value) == ["short"]


def test_a_broker_worker_dead_letters_the_bag_with_the_report(tmp_path: Path) -> None:
    from redis_server import RedisServer
    from test_broker import _sent_and_drained

    from provml.capture.broker import DEAD, connect

    with RedisServer(tmp_path / "redis") as server:
        bags = (run([{"name": "report", "value": "x" * LONG}]), run([{"name": "summary", "value": "short"}]))
        kg = _sent_and_drained(server.url, bags, tmp_path / "store")
        redis = connect(server.url)
        [(_id, dead)] = redis.xrange(DEAD)
        report = json.loads(dead[b"report"])
        assert report["error"] == "EventError" and "used/0/value" in report["message"]
        assert f"{MAX_WRITTEN:,}" in report["message"]
        assert [q.object.value for q in kg.store.quads() if q.predicate == PROV.value] == ["short"]
        kg.close()
        redis.close()


@pytest.mark.parametrize("fmt", ["nquads", "trig", "jsonld"])
def test_a_value_at_the_bound_reads_back_from_an_export_through_provml_load(tmp_path: Path, fmt: str) -> None:
    """A text of MAX_WRITTEN bytes as written, of control characters (\\u0001, six bytes each),
    and a list value whose JSON text is as long written: JSON-LD's reader takes 8 MiB."""
    text = "\x01" * (MAX_WRITTEN // 6) + "a" * (MAX_WRITTEN % 6)
    words = ["\\x"] * ((MAX_WRITTEN - 2) // 10)  # each is "\\\\x", in its JSON text: 10 bytes written
    assert written_size(text) == MAX_WRITTEN and MAX_WRITTEN - 10 < written_size(json_text(words)) <= MAX_WRITTEN
    with open_kg(tmp_path / "store") as kg:
        kg.ingest_events(run([{"name": "report", "value": text}, {"name": "words", "value": words}]))
    suffix = {"nquads": "nq", "trig": "trig", "jsonld": "jsonld"}[fmt]
    out = tmp_path / f"export.{suffix}"
    export = CliRunner().invoke(main, ["export", "--store", str(tmp_path / "store"), "--format", fmt, "-o", str(out)])
    assert export.exit_code == 0, export.output
    load = CliRunner().invoke(main, ["load", str(out), "--store", str(tmp_path / "again"), "--format", "json"])
    assert load.exit_code == 0, load.output
    assert sorted(_texts(tmp_path / "again", PROV.value.value), key=len) == sorted([json_text(words), text], key=len)


def test_the_bound_is_under_what_the_json_ld_reader_takes() -> None:
    """Why MAX_WRITTEN is 7 MiB: a JSON-LD string of 8 MiB (quotes included) is the most
    pyoxigraph's reader takes (N-Quads and TriG: a statement of 16 MiB); and a text of MAX_TEXT
    characters, measured with len() alone, is at most 6 bytes a character written. Should
    pyoxigraph's buffer change, this says so."""
    from pyoxigraph import RdfFormat, parse

    def reads(n: int) -> bool:
        doc = b'[{"@id": "http://e/s", "http://e/p": [{"@value": "' + b"a" * n + b'"}]}]'
        try:
            list(parse(doc, format=RdfFormat.JSON_LD))
        except MemoryError:
            return False
        return True

    assert reads((8 << 20) - 2) and not reads((8 << 20) - 1)
    assert 6 * MAX_TEXT <= MAX_WRITTEN and MAX_WRITTEN + 2 <= 8 << 20


def test_written_size_is_what_the_exports_write_of_a_literal() -> None:
    """Checked against pyoxigraph's own writers (N-Quads, TriG, JSON-LD) on random texts of
    every kind of character: never less than any of them writes, and as much as the longest."""
    import random

    from pyoxigraph import DefaultGraph, Literal, NamedNode, Quad, RdfFormat, serialize

    rng = random.Random(28)
    pool = [chr(c) for c in range(0x80)] + ["é", "😀", "\u2028", "\ufeff", "中"]

    def written(text: str, fmt: RdfFormat) -> int:
        quad = Quad(NamedNode("http://e/s"), NamedNode("http://e/p"), Literal(text), DefaultGraph())
        empty = Quad(NamedNode("http://e/s"), NamedNode("http://e/p"), Literal(""), DefaultGraph())
        return len(serialize([quad], format=fmt)) - len(serialize([empty], format=fmt))

    for _ in range(300):
        text = "".join(rng.choice(pool) for _ in range(rng.randrange(0, 60)))
        sizes = [written(text, fmt) for fmt in (RdfFormat.N_QUADS, RdfFormat.TRIG, RdfFormat.JSON_LD)]
        assert written_size(text) == max(sizes), (text, sizes)
