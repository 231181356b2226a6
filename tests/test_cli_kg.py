"""The knowledge-graph commands: load, queries, query, export, stats — exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import paper_fixture as pf
import pytest
from click.testing import CliRunner

from provml.cli import main


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "spool.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in pf.all_events()))
    (tmp_path / "domain.ttl").write_text(pf.DOMAIN_TTL)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_load_then_query_then_stats(spool: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    code, out, err = run("load", str(spool), str(tmp_path / "domain.ttl"), "--store", store)
    assert code == 0, (out, err)
    assert f"{len(pf.all_events())} events" in out and "0 batch(es) rejected" in out
    code, out, _ = run("query", "q4", "--store", store, "--format", "json")
    assert code == 0
    bindings = json.loads(out)["results"]["bindings"]
    assert len(bindings) == sum(len(s["epochs"]) for s in pf.RUNS.values())
    code, out, _ = run("stats", "--store", store, "--format", "json")
    stats = json.loads(out)
    assert stats["runs"] == 4 and stats["classes"]["Model"] == 4


def test_load_reports_rejected_batches_and_exits_1(tmp_path: Path) -> None:
    events = pf.training_events("train-a")
    events.insert(3, {"v": 1, "kind": "task_begin", "t": pf.T0, "run": "train-a", "workflow": "seismic-training",
                      "task": "bad", "name": "v", "type": "validation", "parent": "train/epoch-187"})
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    code, out, err = run("load", str(path), "--store", str(tmp_path / "s"))
    assert code == 1
    assert "rejected" in err and "run/train-a/bad" in err


@pytest.mark.parametrize("content", ["not json at all\n{}\n", '{"v": 1}\n'])
def test_load_could_not_run_or_rejects(tmp_path: Path, content: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(content)
    code, _, err = run("load", str(path), "--store", str(tmp_path / "s"))
    assert code in (1, 2)
    assert "Traceback" not in err


def test_load_unparseable_rdf_exits_1_naming_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.ttl"
    path.write_text("@prefix ex: <http://e/> .\nex:a ex:b .\n")
    code, _, err = run("load", str(path), "--store", str(tmp_path / "s"))
    assert code == 1  # (rejected, the rest of a load goes on: see below)
    assert "rejected" in err and "broken.ttl:2" in err


def test_queries_json_lists_parameters() -> None:
    code, out, _ = run("queries", "--format", "json")
    listed = {q["name"]: q for q in json.loads(out)}
    assert code == 0 and listed["q3"]["paper"] == "Q3"
    assert {p["name"] for p in listed["q3"]["parameters"]} == {"training_set", "metric", "higher_is_better", "metric_stage"}


def test_query_errors_exit_2(spool: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    run("load", str(spool), "--store", store)
    assert run("query", "nope", "--store", store)[0] == 2
    code, _, err = run("query", "q3", "--param", "higher_is_better=perhaps", "--store", store)
    assert code == 2 and "higher_is_better" in err
    assert run("query", "q1", "--store", str(tmp_path / "missing"))[0] == 2


def test_query_file_and_csv(spool: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    run("load", str(spool), "--store", store)
    rq = tmp_path / "runs.rq"
    rq.write_text("PREFIX provml: <https://w3id.org/provml#>\nSELECT ?r WHERE { ?r a provml:LearningProcessExecution } ORDER BY ?r")
    code, out, _ = run("query", str(rq), "--format", "csv", "--store", store)
    assert code == 0
    assert out.splitlines()[1:] == [f"https://w3id.org/provml/id/run/{r}" for r in sorted(pf.RUNS)]


def test_export_formats_round_trip(spool: Path, tmp_path: Path) -> None:
    from pyoxigraph import RdfFormat, parse

    store = str(tmp_path / "store")
    run("load", str(spool), "--store", store)
    out = tmp_path / "all.nq"
    assert run("export", "--format", "nquads", "-o", str(out), "--store", store)[0] == 0
    quads = list(parse(out.read_bytes(), format=RdfFormat.N_QUADS))
    graph = "https://w3id.org/provml/id/bundle/train-a"
    one = tmp_path / "one.ttl"
    assert run("export", "--graph", graph, "--format", "turtle", "-o", str(one), "--store", store)[0] == 0
    triples = list(parse(one.read_bytes(), format=RdfFormat.TURTLE))
    assert len(triples) == sum(1 for q in quads if q.graph_name.value == graph)


def test_console_script_runs_in_a_subprocess(spool: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "provml"
    proc = subprocess.run([str(exe), "load", str(spool), "--store", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([str(exe), "query", "q6", "--store", str(tmp_path / "s")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "netherlands.sgy" in proc.stdout


def test_load_refuses_json_that_is_not_json_ld(tmp_path: Path) -> None:
    """PROV-JSON read as JSON-LD gives no triple: refused with exit 2, naming the importer;
    `validate` refuses it the same way instead of saying it conforms."""
    import prov.model

    document = prov.model.ProvDocument()
    document.add_namespace("ex", "http://example.org/")
    document.entity("ex:e1")
    document.activity("ex:a1")
    path = tmp_path / "provdoc.json"
    document.serialize(str(path), format="json")
    store = tmp_path / "s"
    code, _, err = run("load", str(path), "--store", str(store))
    assert code == 1  # (the file rejected, as a bad spool line is; the rest of a load goes on)
    assert "PROV-JSON, not JSON-LD" in err and "provml import prov-json" in err
    code, out, err = run("validate", str(path))
    assert code == 2 and "provml import prov-json" in err


def test_an_rdf_file_that_does_not_parse_is_rejected_and_the_rest_loaded(tmp_path: Path) -> None:
    """A Turtle file with a syntax error between two spools stopped the load (exit 2, "could not
    run") after the first spool was stored, the second never loaded, no summary (a probe,
    twenty-sixth session): it is rejected as a bad spool line is, the rest loaded, exit 1."""
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(e) + "\n" for e in pf.training_events("train-a")))
    (tmp_path / "b.ttl").write_text('@prefix ex: <http://e.org/> .\nex:s ex:p "unterminated .\n')
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(e) + "\n" for e in pf.training_events("train-b")))
    store = tmp_path / "s"
    code, out, err = run("load", *(str(tmp_path / f) for f in ("a.jsonl", "b.ttl", "c.jsonl")), "--store", str(store),
                         "--format", "json")
    assert code == 1, (out, err)
    summary = json.loads(out)
    assert summary["files"] == 3 and summary["events"] == 2 * len(pf.training_events("train-a"))
    [rejected] = summary["rejected"]
    assert rejected["source"].endswith("b.ttl") and "b.ttl:2:" in rejected["error"], rejected
    assert _stored_runs(store) == {"train-a", "train-b"}


def test_a_file_of_no_known_format_stops_the_load_before_anything_is_stored(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(e) + "\n" for e in pf.training_events("train-a")))
    (tmp_path / "x.foo").write_text("?")
    code, _, err = run("load", str(tmp_path / "a.jsonl"), str(tmp_path / "x.foo"), "--store", str(tmp_path / "s"))
    assert code == 2 and "cannot tell the RDF format of 'x.foo'" in err
    assert _stored_runs(tmp_path / "s") == set()


def test_provml_events_saved_as_json_are_named_so(tmp_path: Path) -> None:
    """A JSON array of capture events in a .json file was called PROV-JSON (a task's "used"),
    and the import it suggested failed; JSON lines saved as .json got the parser's words alone
    (a probe, twenty-sixth session): both are told to be a .jsonl spool for `provml load`."""
    events = pf.training_events("train-a")
    (tmp_path / "array.json").write_text(json.dumps(events))
    (tmp_path / "body.json").write_text(json.dumps({"events": events}))
    (tmp_path / "lines.json").write_text("".join(json.dumps(e) + "\n" for e in events))
    for name in ("array.json", "body.json", "lines.json"):
        code, _, err = run("load", str(tmp_path / name), "--store", str(tmp_path / "s"))
        assert code == 1 and ".jsonl" in err and "provml load" in err and "PROV-JSON" not in err, (name, err)


def test_load_progress_counts_every_event_and_file(spool: Path, tmp_path: Path) -> None:
    """The progress bar's length is what the loader reports, unit by unit."""
    from provml.ingest.loader import count_units, load_paths
    from provml.knowledge import open_kg

    paths = [spool, tmp_path / "domain.ttl"]
    total = count_units(paths)
    assert total == len(pf.all_events()) + 1
    seen: list[int] = []
    with open_kg() as kg:
        load_paths(kg, paths, batch_size=7, progress=seen.append)
    assert sum(seen) == total and len(seen) > 2


def test_cli_compact(tmp_path: Path) -> None:
    """``provml compact`` compacts an on-disk store in place (the data unchanged, the ontologies
    written first when missing, as every command that opens a store does) and exits 2 without
    one."""
    from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, serialize

    from provml.store import OxigraphStore

    path = tmp_path / "store"
    data = [Quad(NamedNode(f"http://example.org/s{i}"), NamedNode("http://example.org/p"), Literal(i),
                 NamedNode("http://example.org/g")) for i in range(3_000)]
    with OxigraphStore(path) as store:
        store.raw.bulk_load(serialize(data, format=RdfFormat.N_QUADS), format=RdfFormat.N_QUADS)
    runner = CliRunner()
    done = runner.invoke(main, ["compact", "--store", str(path)])
    assert done.exit_code == 0 and "compacted in" in done.output and " MB" in done.output, done.output
    with OxigraphStore(path, read_only=True) as store:
        assert set(store.quads(graph=NamedNode("http://example.org/g"))) == set(data)
        assert store.contains_graph(NamedNode("https://w3id.org/provml"))
    missing = runner.invoke(main, ["compact", "--store", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no store" in missing.output


@pytest.mark.parametrize("args", [[], ["--remote", "http://127.0.0.1:9"]])
def test_serve_reads_provml_remote_like_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       args: list[str]) -> None:
    """``$PROVML_REMOTE`` names the store for ``provml serve`` as for ``stats`` or ``query``:
    before, serve ignored it and quietly created and served ``.provml/store`` instead."""
    import provml.endpoint.server as server

    seen: list[dict[str, object]] = []
    monkeypatch.setattr(server, "serve", lambda config, **_: seen.append(config))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROVML_STORE", raising=False)
    result = CliRunner().invoke(main, ["serve", *args], env={"PROVML_REMOTE": "http://127.0.0.1:9"})
    assert result.exit_code == 0, result.output
    assert seen[0]["REMOTE"] == "http://127.0.0.1:9" and seen[0]["STORE"] is None
    assert not (tmp_path / ".provml").exists()
    # a --store given with it: both named, refused as the other commands refuse it
    result = CliRunner().invoke(main, ["serve", "--store", str(tmp_path / "s")], env={"PROVML_REMOTE": "http://127.0.0.1:9"})
    assert result.exit_code == 2 and "not both" in result.output


def _run_events(run_id: str) -> list[dict[str, object]]:
    return [{"v": 1, "kind": "workflow_begin", "t": 1700000000, "run": run_id, "workflow": "wf", "type": "learning"},
            {"v": 1, "kind": "workflow_end", "t": 1700000003, "run": run_id, "workflow": "wf", "status": "finished"}]


def _stored_runs(store: Path) -> set[str]:
    from provml.knowledge import open_kg

    kg = open_kg(store)
    try:
        return {q.subject.value.rsplit("/", 1)[-1] for q in kg.store.quads()
                if q.subject.value.startswith("https://w3id.org/provml/id/run/") and q.subject.value.count("/") == 6}
    finally:
        kg.close()


@pytest.mark.parametrize("bad", [
    "[" * 1000 + "]" * 1000,  # a line nested past Python's recursion limit
    json.dumps({"v": 1, "kind": "workflow_begin", "t": 1700000000, "run": "deep", "workflow": "wf",
                "used": [{"name": "x", "value": "PH"}]}).replace('"PH"', "[" * 500 + "]" * 500),  # a value
    '{"v": 1, "kind": "workflow_begin", "t": 1700000000, "run": "big", "workflow": "wf", "used": '
    '[{"name": "x", "value": ' + "9" * 5000 + "}]}",  # an integer past Python's 4,300 digits
    *(json.dumps({"v": 1, "kind": "spec", "t": 1700000000, "run": "s1", "workflow": "wf", "spec": spec}) for spec in (
        {},  # no spec
        {"workflow": "wf", "type": []},  # parts of the wrong type, a store without its name, a domain
        {"workflow": "wf", "transformations": [{"name": "t", "used": [{"name": "a", "role": []}]}]},  # concept
        {"workflow": "wf", "stores": [{"type": "s3"}]},  # that is no IRI (each a traceback or exit 2:
        {"workflow": "wf", "transformations": [{"name": "t", "used": [{"name": "a", "domain_concept": "no iri"}]}]},
    )),  # a review)
])
def test_load_rejects_a_bad_line_or_event_and_loads_the_rest(tmp_path: Path, bad: str) -> None:
    """Lines that made ``provml load`` stop whole (a traceback, or exit 2 naming no file or line,
    its advice a Python internal; a probe, twenty-sixth session): each is now rejected where it
    is — the line, or the event alone — and every other event of the spool is loaded (exit 1)."""
    path = tmp_path / "spool.jsonl"
    lines = [json.dumps(e) for e in _run_events("a")] + [bad] + [json.dumps(e) for e in _run_events("b")]
    path.write_text("\n".join(lines) + "\n")
    store = tmp_path / "s"
    code, out, err = run("load", str(path), "--store", str(store), "--batch-size", "2", "--format", "json")
    assert code == 1, (out, err)
    assert "Traceback" not in err and "set_int_max_str_digits" not in err
    summary = json.loads(out)
    assert summary["events"] == 4 and sum(r["events"] for r in summary["rejected"]) <= 1, summary
    assert all("spool.jsonl" in r["source"] for r in summary["rejected"])  # where it is
    assert {"a", "b"} <= _stored_runs(store)


def test_load_a_damaged_store_or_rdf_xml_with_entities_is_refused_saying_why(tmp_path: Path) -> None:
    """A store whose files are damaged gave a RocksDB traceback (exit 1), and 700 bytes of RDF/XML
    with nested entities asked for gigabytes (a probe, twenty-sixth session)."""
    spool = tmp_path / "a.jsonl"
    spool.write_text("".join(json.dumps(e) + "\n" for e in _run_events("a")))
    store = tmp_path / "s"
    assert run("load", str(spool), "--store", str(store))[0] == 0
    (store / "CURRENT").write_text("garbage\n")
    code, _, err = run("load", str(spool), "--store", str(store))
    assert code == 2 and "Traceback" not in err and "cannot be opened" in err and "damaged" in err
    entities = ['<!ENTITY e0 "aaaaaaaaaa">'] + [f'<!ENTITY e{i} "' + f"&e{i - 1};" * 10 + '">' for i in range(1, 10)]
    bomb = tmp_path / "lol.rdf"
    bomb.write_text('<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n' + "\n".join(entities) + "\n]>\n"
                    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://e.org/">\n'
                    '<rdf:Description rdf:about="http://e.org/s"><ex:p>&e9;</ex:p></rdf:Description>\n</rdf:RDF>\n')
    for args, exit_code in ((["load", str(bomb), "--store", str(tmp_path / "t")], 1), (["validate", str(bomb)], 2)):
        code, _, err = run(*args)  # (load: the file rejected, the rest of a load would go on)
        assert code == exit_code and "lol.rdf:2" in err and "<!ENTITY" in err, (args, err)


def test_load_finds_every_spool_suffix_in_a_directory_and_refuses_bad_sizes(tmp_path: Path) -> None:
    """A directory's ``.ndjson`` (and ``.JSONL``) spools were skipped, though loaded when named;
    a zero or negative batch or group size was taken silently."""
    folder = tmp_path / "spools"
    folder.mkdir()
    (folder / "a.ndjson").write_text("".join(json.dumps(e) + "\n" for e in _run_events("a")))
    (folder / "b.JSONL").write_text("".join(json.dumps(e) + "\n" for e in _run_events("b")))
    store = tmp_path / "s"
    code, out, err = run("load", str(folder), "--store", str(store))
    assert code == 0 and out.startswith("2 file(s)"), (out, err)
    assert {"a", "b"} <= _stored_runs(store)
    for option, value in (("--batch-size", "0"), ("--together", "-1"), ("--together-max", "-5")):
        code, _, err = run("load", str(folder), "--store", str(store), option, value)
        assert code == 2 and option in err, (option, err)


def test_a_bad_last_line_that_ends_with_its_newline_is_a_bad_line_not_a_cut_off_one(tmp_path: Path) -> None:
    """Only a last line with no newline after it can have been cut off by a writer that stopped;
    one that ends with its newline was written whole and is a bad line (it was called cut off:
    a probe, twenty-sixth session). The line without its newline still is."""
    good = [json.dumps(e) for e in _run_events("a")]
    whole = tmp_path / "whole.jsonl"
    whole.write_text("\n".join([*good, '{"v": 1, "kind": "workflow_end",}']) + "\n")
    code, _, err = run("load", str(whole), "--store", str(tmp_path / "s"))
    assert code == 1 and "not a JSON event" in err and "cut off" not in err, err
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join([*good, '{"v": 1, "kind": "workflow_e']))
    code, _, err = run("load", str(cut), "--store", str(tmp_path / "t"))
    assert code == 1 and "cut off" in err, err
