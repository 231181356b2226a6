"""Safety: tokens for writes (and optionally reads), read-only mode, the time limit that really
stops a query, the row limit, the body limit, CORS, and tokens kept out of the logs."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from endpoint_servers import TOKEN, LiveServer
from flask.testing import FlaskClient
from pyoxigraph import Literal, NamedNode, Quad

from provml.endpoint.app import create_app
from provml.knowledge import KnowledgeGraph

INSERT = 'INSERT DATA { <http://example.org/s> <http://example.org/p> "x" }'
UPDATE = {"Content-Type": "application/sparql-update"}
TTL = {"Content-Type": "text/turtle"}
G = "http://example.org/g"


def _writes(client: FlaskClient, headers: dict[str, str]) -> list[int]:
    """Every kind of write, with ``headers``; their statuses."""
    return [
        client.post("/sparql", data=INSERT, headers={**headers, **UPDATE}).status_code,
        client.post("/sparql", data={"update": INSERT}, headers=headers).status_code,
        client.put("/store", query_string={"graph": G}, data=b"<http://a> <http://b> 1 .",
                   headers={**headers, **TTL}).status_code,
        client.post("/store", query_string={"graph": G}, data=b"<http://a> <http://b> 1 .",
                    headers={**headers, **TTL}).status_code,
        client.post("/store", data=b"<http://a> <http://b> 1 .", headers={**headers, **TTL}
                    ).status_code,
        client.delete("/store", query_string={"graph": G}, headers=headers).status_code,
        client.delete("/store?default", headers=headers).status_code,
    ]


@pytest.fixture
def guarded(kg: KnowledgeGraph) -> KnowledgeGraph:
    kg.store.add([Quad(NamedNode("http://example.org/keep"), NamedNode("http://example.org/p"),
                       Literal("kept"), NamedNode(G)),
                  Quad(NamedNode("http://example.org/keep"), NamedNode("http://example.org/p"),
                       Literal("default"))])
    return kg


def test_writes_without_token_are_401_and_change_nothing(client: FlaskClient,
                                                         guarded: KnowledgeGraph) -> None:
    before = set(guarded.store.quads())
    assert _writes(client, {}) == [401] * 7
    assert set(guarded.store.quads()) == before
    response = client.post("/sparql", data=INSERT, headers=UPDATE)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic dXNlcjpwYXNz", "Bearer", TOKEN])
def test_writes_with_a_wrong_token_are_403_and_change_nothing(
        client: FlaskClient, guarded: KnowledgeGraph, header: str) -> None:
    before = set(guarded.store.quads())
    assert _writes(client, {"Authorization": header}) == [403] * 7
    assert set(guarded.store.quads()) == before


def test_writes_with_the_token_succeed(client: FlaskClient, auth: dict[str, str],
                                       guarded: KnowledgeGraph) -> None:
    assert _writes(client, auth) == [204, 204, 204, 204, 201, 204, 204]


@pytest.mark.parametrize("config", [{}, {"TOKEN": TOKEN, "READ_ONLY": True}])
def test_no_token_configured_or_read_only_refuses_writes(
        guarded: KnowledgeGraph, config: dict[str, Any], auth: dict[str, str]) -> None:
    client = create_app(config, kg=guarded).test_client()
    before = set(guarded.store.quads())
    assert _writes(client, auth) == [403] * 7
    assert set(guarded.store.quads()) == before
    assert client.get("/sparql", query_string={"query": "ASK {}"}).status_code == 200


def test_read_token(guarded: KnowledgeGraph) -> None:
    client = create_app({"TOKEN": TOKEN, "READ_TOKEN": "reader"}, kg=guarded).test_client()
    ask = {"query": "ASK { ?s ?p 'kept' }"}
    assert client.get("/sparql", query_string=ask).status_code == 401
    assert client.get("/sparql", query_string=ask,
                      headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.get("/sparql", query_string=ask,
                      headers={"Authorization": "Bearer reader"}).get_json()["boolean"] is True
    assert client.get("/sparql", query_string=ask,
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/store", query_string={"graph": G}).status_code == 401
    assert client.get("/sparql").status_code == 401  # the service description too
    # the read token does not write
    assert _writes(client, {"Authorization": "Bearer reader"}) == [403] * 7
    assert client.get("/health").status_code == 200  # process managers need no token


# -- time limit --------------------------------------------------------------------------------


def _fill(live: LiveServer, n: int) -> None:
    live.store.add([Quad(NamedNode(f"http://example.org/s{i}"), NamedNode("http://example.org/p"),
                         Literal(i)) for i in range(n)])


def _busy_cpu_over(seconds: float) -> float:
    start = time.process_time()
    time.sleep(seconds)
    return time.process_time() - start


def test_a_streaming_query_past_the_limit_is_503_and_really_stops(
        make_live_server: Callable[..., LiveServer]) -> None:
    live = make_live_server({"TIMEOUT_S": 0.5, "MAX_ROWS": 0})
    _fill(live, 300)  # 300^3 = 27 million solutions, produced lazily
    started = time.monotonic()
    response = live("GET", "/sparql", params={
        "query": "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"})
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["error"].startswith("the query ran past the time limit (0.5 s)")
    assert elapsed < 3
    time.sleep(0.2)
    assert _busy_cpu_over(1.0) < 0.3, "the evaluation kept running after the 503"
    # the server is still responsive
    assert live("GET", "/sparql", params={"query": "ASK {}"}).json()["boolean"] is True


def test_a_blocking_query_past_the_limit_is_answered_on_time(
        make_live_server: Callable[..., LiveServer]) -> None:
    live = make_live_server({"TIMEOUT_S": 0.3})
    _fill(live, 600)  # ORDER BY over 360,000 solutions (~1.5 s): one uninterruptible call
    started = time.monotonic()
    response = live("GET", "/sparql", params={
        "query": "SELECT ?c ?f WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY DESC(?c) ?f LIMIT 1"})
    assert response.status_code == 503
    assert time.monotonic() - started < 1.0
    # the documented limit: the sort finishes in the background, then the worker stops
    deadline = time.monotonic() + 10
    while _busy_cpu_over(0.3) > 0.1:
        assert time.monotonic() < deadline, "the evaluation never stopped"


@pytest.mark.slow
def test_process_isolation_kills_a_blocking_query_at_the_limit(tmp_path: Path) -> None:
    from provml.store import open_store

    kg = KnowledgeGraph(open_store(tmp_path / "kg"))
    kg.store.add([Quad(NamedNode(f"http://example.org/s{i}"), NamedNode("http://example.org/p"),
                       Literal(i)) for i in range(1500)])
    app = create_app({"TIMEOUT_S": 1.5, "QUERY_ISOLATION": "process"}, kg=kg)
    try:
        client = app.test_client()
        count = client.get("/sparql", query_string={  # a blocking query, in a worker process
            "query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"})
        assert count.get_json()["results"]["bindings"][0]["n"]["value"] == "1500", count.get_json()
        started = time.monotonic()
        response = client.get("/sparql", query_string={  # ~9 s of sorting in a thread
            "query": "SELECT ?c ?f WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY DESC(?c) ?f LIMIT 1"})
        assert response.status_code == 503
        assert time.monotonic() - started < 3
        time.sleep(2)  # the replacement worker starts meanwhile
        assert _busy_cpu_over(1.0) < 0.3, "the evaluation kept running after the 503"
        again = client.get("/sparql", query_string={"query": "ASK { ?s ?p 7 }"})
        assert again.get_json()["boolean"] is True
    finally:
        app.extensions["provml.close"]()
        kg.close()


def test_process_isolation_needs_an_on_disk_store(kg: KnowledgeGraph) -> None:
    with pytest.raises(ValueError, match="on-disk"):
        create_app({"QUERY_ISOLATION": "process"}, kg=kg)


def test_blocking_queries_beyond_the_workers_are_refused_at_once(
        make_live_server: Callable[..., LiveServer]) -> None:
    # a time limit of a second, not 0.2 s: under load the last request's thread started after
    # the first query had already been stopped, and found the worker free (a make test, 23rd
    # session); more triples, so that the query still runs past it
    live = make_live_server({"TIMEOUT_S": 1.0})
    _fill(live, 1000)
    query = "SELECT ?c ?f WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?c DESC(?f) LIMIT 1"
    workers = live.app.extensions["provml.runner"].workers
    answers: list[tuple[int, str]] = []

    def ask() -> None:
        response = requests.get(live.url + "/sparql", params={"query": query}, timeout=30)
        answers.append((response.status_code, response.json()["error"]))

    threads = [threading.Thread(target=ask) for _ in range(workers + 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [503] * (workers + 2)
    busy = [error for _, error in answers if "busy" in error]
    assert len(busy) >= 2, answers
    deadline = time.monotonic() + 20
    while _busy_cpu_over(0.3) > 0.1:  # the evaluations end by themselves
        assert time.monotonic() < deadline


# -- row limit ---------------------------------------------------------------------------------


def test_rows_beyond_max_rows_are_cut_and_flagged(guarded: KnowledgeGraph) -> None:
    guarded.store.add([Quad(NamedNode(f"http://example.org/r{i}"), NamedNode("http://example.org/p"),
                            Literal(i)) for i in range(5)])
    client = create_app({"MAX_ROWS": 3}, kg=guarded).test_client()
    select = client.get("/sparql", query_string={"query": "SELECT * WHERE { ?s ?p ?o }"})
    assert len(select.get_json()["results"]["bindings"]) == 3
    assert select.headers["X-Provml-Truncated"] == "true"
    construct = client.get("/sparql", query_string={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
                           headers={"Accept": "application/n-triples"})
    assert len(construct.data.splitlines()) == 3
    assert construct.headers["X-Provml-Truncated"] == "true"
    small = client.get("/sparql", query_string={"query": "SELECT * WHERE { ?s ?p 'kept' }"})
    assert "X-Provml-Truncated" not in small.headers


# -- body limit --------------------------------------------------------------------------------


def test_bodies_over_the_limit_are_413_and_change_nothing(
        make_live_server: Callable[..., LiveServer], auth: dict[str, str]) -> None:
    live = make_live_server({"MAX_BODY_MB": 0.001})  # ~1 KiB
    big = "INSERT DATA { " + " ".join(
        f'<http://example.org/s{i}> <http://example.org/p> "{i}" .' for i in range(100)) + " }"
    for kwargs in (
        {"data": big.encode(), "headers": {**auth, **UPDATE}},
        {"data": {"update": big}, "headers": auth},
    ):
        response = live("POST", "/sparql", **kwargs)
        assert response.status_code == 413
        assert response.json()["status"] == 413
    response = live("PUT", "/store?default", data=big.encode(), headers={**auth, **TTL})
    assert response.status_code == 413

    def chunked() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        yield from (big[i:i + 100].encode() for i in range(0, len(big), 100))

    response = live("POST", "/sparql", data=chunked(), headers={**auth, **UPDATE})
    assert response.status_code == 413
    assert len(live.store) == 0


# -- CORS --------------------------------------------------------------------------------------


def test_cors_is_off_by_default(client: FlaskClient) -> None:
    response = client.get("/sparql", query_string={"query": "ASK {}"},
                          headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_allows_configured_origins_only(kg: KnowledgeGraph) -> None:
    client = create_app({"CORS_ORIGINS": "https://ui.example"}, kg=kg).test_client()
    ok = client.get("/sparql", query_string={"query": "ASK {}"},
                    headers={"Origin": "https://ui.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    assert "Origin" in ok.headers["Vary"]
    other = client.get("/sparql", query_string={"query": "ASK {}"},
                       headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options("/sparql", headers={
        "Origin": "https://ui.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert preflight.status_code == 200
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


# -- logs --------------------------------------------------------------------------------------


def test_logs_never_contain_tokens(make_live_server: Callable[..., LiveServer],
                                   caplog: pytest.LogCaptureFixture,
                                   capfd: pytest.CaptureFixture[str]) -> None:
    secret = "tok-" + "9f3c2a71e5d84b06"
    live = make_live_server({"TOKEN": secret, "READ_TOKEN": "read-" + secret})
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": f"Bearer {secret}"}
    assert live("POST", "/sparql", data=INSERT, headers={**headers, **UPDATE}).status_code == 204
    assert live("GET", "/sparql", params={"query": "ASK {}"}, headers=headers).status_code == 200
    assert live("POST", "/sparql", data=INSERT,
                headers={"Authorization": f"Bearer {secret}x", **UPDATE}).status_code == 403
    assert live("POST", "/sparql", data="CLEAR XYZ", headers={**headers, **UPDATE}
                ).status_code == 400
    assert "POST /sparql 204" in caplog.text  # the access log did run
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err):
        assert secret not in text


def test_the_xml_depth_check_takes_linear_time() -> None:
    """Each ``<`` that opened no tag was read on to the text's end: 20 KB of ``<`` took the
    check 11 s (regex audit, 18th session). Refused or passed at once now."""
    from provml.endpoint.limits import InputRefused, check_xml_depth

    started = time.monotonic()
    with contextlib.suppress(InputRefused):
        check_xml_depth(b"<" * 20_000, max_depth=4)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("text", [
    "SELECT * WHERE { ?s ?p ?o FILTER(?o<'>') }",
    "SELECT * WHERE { ?s ?p 'it\\u0027s' }",
    "SELECT * WHERE { ?s ?p 'line1\\u000Aline2' }",
    "PREFIX : <http://e.org/> INSERT { ?s :it\\'s 1 } WHERE { ?s ?p ?o }",
])
def test_queries_the_scan_reads_otherwise_than_oxigraph_still_pass(text: str) -> None:
    """A quote the scan cannot pair (a ``<`` operand that looks like an IRI, a ``\\u0027``
    the scan unescapes first) is passed over, as before the linear-time scan refused it (a
    review, 18th session); Oxigraph parses each of these."""
    import pyoxigraph

    from provml.endpoint.limits import scan_sparql
    from provml.store.update_dataset import restrict_update

    update = text.startswith("PREFIX")
    scan_sparql(text, what="update" if update else "query")
    if update:
        pyoxigraph.Store().update(text)
        restrict_update(text, using=[pyoxigraph.NamedNode("http://e.org/g")])
    else:
        pyoxigraph.Store().query(text)


def test_chained_relative_bases_and_escaped_dot_segments_do_not_pass_the_scan() -> None:
    """Relative BASEs resolve against the one before: fifteen of 4 KB made a 60 KB base that
    the 4,096-character limit never saw (a 100 KB update took the server 348 MB); a prefixed
    name's ``\\.`` escapes spelt ``../`` past an allowed SERVICE prefix (a review, 18th
    session)."""
    from provml.endpoint.limits import InputRefused, scan_sparql

    chain = " ".join("BASE <" + "a" * 4_000 + "/>" for _ in range(15))
    with pytest.raises(InputRefused, match="once resolved"):
        scan_sparql(chain + " INSERT DATA { <s> <p> <o> }", what="update")
    scan_sparql("BASE <http://e.org/> BASE <x/> PREFIX ex: <y/> INSERT DATA { ex:a <p> <o> }",
                what="update")
    allowed = ["http://h.example/sparql/"]
    escaped = "PREFIX ex: <http://h.example/sparql/> SELECT * { SERVICE ex:\\.\\.\\/admin { } }"
    with pytest.raises(InputRefused, match="not allowed"):
        scan_sparql(escaped, allowed=allowed)
    assert scan_sparql(escaped.replace("\\.\\.\\/", ""), allowed=allowed).services == [
        "http://h.example/sparql/admin"]


def test_a_graph_store_writes_bounds_hold_for_all_its_parts(
        client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each multipart part was counted alone: two parts of 600,001 quads were stored as 1.2
    million (a review, 18th session)."""
    import io

    from provml.endpoint.sparql import graph_store

    monkeypatch.setattr(graph_store, "MAX_WRITE_QUADS", 5)
    part = "".join(f"<http://e.org/s{i}> <http://e.org/p> \"{i}\" .\n" for i in range(3)).encode()
    files = {"a": (io.BytesIO(part), "a.nt"), "b": (io.BytesIO(part), "b.nt")}
    response = client.post("/store?graph=http://e.org/parts", data=files,
                           headers={"Authorization": f"Bearer {TOKEN}"},
                           content_type="multipart/form-data")
    assert response.status_code == 413, response.get_data(as_text=True)
    files = {"a": (io.BytesIO(part), "a.nt")}
    response = client.post("/store?graph=http://e.org/parts", data=files,
                           headers={"Authorization": f"Bearer {TOKEN}"},
                           content_type="multipart/form-data")
    assert response.status_code in (201, 204), response.get_data(as_text=True)


@pytest.mark.parametrize("text", [
    'SELECT * { ?s ?p "file"@x-download }',
    'SELECT * { ?s ?p "x"@en-x-payload }',
    'SELECT * { ?s ?p ?o FILTER(CONTAINS(?o, "say \\u0022download\\u0022 now")) }',
    "PREFIX download: <http://e.org/d#> SELECT * { ?s download:p ?o }",
    "PREFIX ex: <http://e.org/> SELECT ?service ?load { ?service ex:loadFactor ?load }",
    "SELECT * { ?s ?p <http://e.org/service> . ?s ?p <http://e.org/a/load/b> }",
    "SELECT * { ?s ?p <http://e.org/\\u0053ERVICE> }",
])
def test_words_that_only_contain_service_or_load_pass_the_scan(text: str) -> None:
    """The rule against SERVICE glued to what is before it refused language tags and words
    that merely end in LOAD (a review, 20th session); Oxigraph parses each of these."""
    from pyoxigraph import Store

    from provml.endpoint.limits import scan_sparql

    list(Store().query(text))
    scan_sparql(text)


# SERVICE or LOAD that Oxigraph evaluates and the scan once let by: each found by a review or a
# differential fuzz with Oxigraph as the oracle (twentieth session). {u} is a local listener.
MISREAD = [
    "SELECT * {{ ?s ?p 1SERVICE <{u}> {{}} }}",
    "SELECT * {{ ?s ?p trueSERVICE <{u}> {{}} }}",
    "SELECT * {{ ?s ?p ?o.SERVICE <{u}> {{}} }}",
    "PREFIX : <{u}> SELECT * {{ ?s ?p ?o SERVICE: {{}} }}",
    "PREFIX x: <{u}> SELECT * {{ ?s ?p ?o SERVICEx:y {{}} }}",
    "PREFIX : <{u}> SELECT * {{ ?s ?p true.SERVICE:x {{}} }}",
    "PREFIX : <{u}> SELECT * {{ ?s ?p 'o'@en--ltr.SERVICE:x {{}} }}",
    "PREFIX : <{u}> SELECT * {{ ?s ?p :.SERVICE: {{}} }}",
    "PREFIX : <{u}> SELECT ('\\u0027' AS ?a) {{ SERVICE:x {{}} }} #'''",
    "PREFIX : <{u}> SELECT ('\\u005C' AS ?a) {{ SERVICE:x {{}} }} #'",
    "PREFIX : <{u}> SELECT * {{ #\\u000A'''\nSERVICE:x {{}} }} #'''",
    "PREFIX : <{u}> SELECT (1<'>' AS ?a) {{ SERVICE:x {{}} }} #'",
    "PREFIX : <{u}> INSERT {{}} WHERE {{ ?s ?p true.SERVICE:x {{}} }}",
    "PREFIX x: <{u}> LOADx:y",
    "SELECT * {{ ?s ?p ?q, 1.e0SERVICE <{u}> {{}} }}",
]


@pytest.mark.parametrize("template", MISREAD)
def test_a_service_the_scan_once_misread_is_refused(template: str) -> None:
    """Each text makes Oxigraph call the listener (checked here, so each case is a real one),
    and the scan refuses it."""
    import http.server

    from pyoxigraph import Literal, NamedNode, Quad, Store

    from provml.endpoint.limits import InputRefused, scan_sparql

    calls: list[str] = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.answer()

        def do_POST(self) -> None:
            self.answer()

        def answer(self) -> None:
            calls.append(self.path)
            body = b'{"head":{"vars":[]},"results":{"bindings":[{}]}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/sparql-results+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        text = template.format(u=f"http://127.0.0.1:{server.server_port}/")
        what = "update" if "LOAD" in text or "INSERT" in text else "query"
        store = Store()
        for o in (Literal("o"), Literal(1), Literal(True), Literal("o", language="en")):
            store.add(Quad(NamedNode("http://e/s"), NamedNode("http://e/p"), o))
        try:
            if what == "update":
                store.update(text)
            else:
                list(store.query(text))  # type: ignore[arg-type]
        except (OSError, RuntimeError, ValueError):
            pass  # (an answer it could not read: the call was made all the same)
        assert calls, "Oxigraph did not call out: not a case"
        with pytest.raises(InputRefused):
            scan_sparql(text, what=what)
    finally:
        server.shutdown()
        server.server_close()
