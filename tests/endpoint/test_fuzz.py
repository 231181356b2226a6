"""Fuzzing every route (issue 12): 10,000 generated requests (seeded, so a failure replays)
against the real app over an on-disk store with its query workers, through Flask's test client
(the socket adds nothing to what the app does with a request), plus a sample of 300 over a real
loopback socket. No request may get a 5xx, and none may change the store: the fuzzer never
holds the write token (it sends none, a wrong one, or garbage).
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from endpoint_servers import start_live_server
from flask import Flask
from pyoxigraph import Literal, NamedNode, Quad

from provml.endpoint.app import create_app
from provml.knowledge import KnowledgeGraph
from provml.store import open_store

TOKEN = "fuzz-write-token-never-sent"
SEED = 12
COUNT = 10_000
EX = "http://example.org/"

PATHS = ["/sparql", "/store", "/store/{seg}", "/api/events", "/api/queries",
         "/api/queries/{name}", "/ontology", "/ontology.{suffix}", "/ontology/{seg}", "/provml",
         "/provml.{suffix}", "/id/{seg}", "/id/{seg}.{suffix}", "/.well-known/void",
         "/dump.nq.gz", "/", "/index.json", "/query", "/query.json", "/compare",
         "/compare.json", "/queries", "/queries.json", "/queries/{name}", "/api/lineage",
         "/health", "/static/{seg}", "/{seg}"]
METHODS = ["GET"] * 6 + ["POST"] * 3 + ["HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]
NAMES = ["best_model", "lineage", "epoch_metrics", "nope", "best_model.json", "%00", "..",
         "a b", "lineage.json"]
SUFFIXES = ["ttl", "jsonld", "rdf", "nt", "owl", "xml", "", "json", "exe"]
PARAMS = ["query", "update", "default-graph-uri", "named-graph-uri", "using-graph-uri",
          "using-named-graph-uri", "graph", "default", "format", "run", "iri", "node", "metric",
          "higher_is_better", "_run", "limit", "x"]
ACCEPTS = [None, "*/*", "text/html", "application/json", "text/turtle", "application/ld+json",
           "application/sparql-results+json", "text/csv", "application/rdf+xml",
           "application/n-quads", "image/png", "text/*;q=0.5, */*;q=0.1", "garbage;;q=x",
           "application/sparql-results+xml;q=2", ",,,", "text/plain"]
CONTENT_TYPES = [None, "application/sparql-query", "application/sparql-update",
                 "application/x-www-form-urlencoded", "application/json", "text/turtle",
                 "application/ld+json", "application/rdf+xml", "application/n-triples",
                 "application/trig", "multipart/form-data; boundary=xyz", "text/plain",
                 "application/sparql-query; charset=latin1", "application/json; charset=utf-16",
                 "bogus/type", ";;"]
AUTHS = [None, None, "Bearer wrong-token", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 300,
         "garbage"]
TOKENS = ["SELECT", "ASK", "CONSTRUCT", "DESCRIBE", "WHERE", "{", "}", "(", ")", "[", "]",
          "?s", "?p", "?o", "?x", ".", ";", ",", "*", "<http://example.org/s1>", f"<{EX}p>",
          "<not an iri>", "<>", "FILTER", "OPTIONAL", "UNION", "MINUS", "GRAPH", "SERVICE",
          "LOAD", "FROM", "NAMED", "LIMIT 3", "ORDER BY", "GROUP BY", "COUNT(*)", "AS", "BIND",
          "VALUES", "1", "2.5", "'x'", '"y"@en', "'''z'''", "true", "a", "^^", "|", "/", "^",
          "!", "+", "PREFIX ex: <http://example.org/>", "ex:p", "_:b", "#c\n", "\\u007B",
          "INSERT DATA", "DELETE WHERE", "CLEAR ALL", "DROP", "\x00", "\ud800", "é", "%"]


def _text(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return " ".join(rng.choice(TOKENS) for _ in range(rng.randrange(1, 25)))
    if kind == 1:
        return "SELECT * WHERE { " + " ".join(rng.choice(TOKENS) for _ in range(rng.randrange(6))) + " } LIMIT 5"
    if kind == 2:
        return rng.choice([EX + "s1", EX + "g0", "https://w3id.org/provml/id/run/r1", "urn:x",
                           "http://e.org/a b", "http://e.org/<>", "file:///etc/passwd", ""])
    if kind == 3:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(40)))
    if kind == 4:
        return rng.choice(["{", "(", "["]) * rng.randrange(50, 400)
    return "".join(chr(rng.choice([0, 0xD800, 0xDFFF, 0xFFFF, 0x1F600, 0x7F, 0xE9, 0x202E]))
                   for _ in range(rng.randrange(1, 6)))


def _body(rng: random.Random) -> bytes:
    kind = rng.randrange(7)
    if kind == 0:
        return b""
    if kind == 1:
        return _text(rng).encode("utf-8", "surrogatepass")
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if kind == 3:
        return rng.choice([b'{"events": []}', b'[{"v": 1}]', b'{"node": "x"}', b"[" * 300,
                           b'{"a": "\\ud800"}', b'[{"v": 1, "kind": "workflow_begin"}]', b"null",
                           b'{"metric": 1e999}'])
    if kind == 4:
        return rng.choice([b"<http://e.org/s> <http://e.org/p> 1 .", b"@prefix : <x> .",
                           b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'b'>]><r>&a;</r>",
                           b"--xyz\r\nContent-Disposition: form-data; name=f; filename=a.ttl\r\n\r\n"
                           b"<a> <b> <c> .\r\n--xyz--\r\n"])
    if kind == 5:
        return ("query=" + _text(rng)).encode("utf-8", "surrogatepass")
    return ("update=" + _text(rng)).encode("utf-8", "surrogatepass")


def _path(rng: random.Random) -> str:
    template = rng.choice(PATHS)
    seg = rng.choice(["a", "a%3Cb", "run/r1/train", "%00", "..%2F..%2Fetc", "x" * 300, "%ZZ",
                      "%C3%A9", "%ED%A0%80", "g.ttl", ""])
    return template.format(seg=seg, name=rng.choice(NAMES), suffix=rng.choice(SUFFIXES))


def requests_for(seed: int, count: int) -> Iterator[dict[str, Any]]:
    """``count`` generated requests: method, path, query string, headers, body."""
    rng = random.Random(seed)
    for _ in range(count):
        headers = {}
        for name, options in (("Accept", ACCEPTS), ("Content-Type", CONTENT_TYPES),
                              ("Authorization", AUTHS)):
            value = rng.choice(options)
            if value is not None:
                headers[name] = value
        params = [(rng.choice(PARAMS), _text(rng)) for _ in range(rng.randrange(4))]
        yield {"method": rng.choice(METHODS), "path": _path(rng), "params": params,
               "headers": headers, "body": _body(rng) if rng.random() < 0.5 else b""}


def _kg(path: Path) -> KnowledgeGraph:
    kg = KnowledgeGraph(open_store(path))
    kg.store.add([Quad(NamedNode(f"{EX}s{i}"), NamedNode(f"{EX}p"), Literal(i),
                       NamedNode(f"{EX}g{i % 3}")) for i in range(60)])
    return kg


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[KnowledgeGraph, Flask]]:
    kg = _kg(tmp_path / "kg")
    app = create_app({"TOKEN": TOKEN, "TIMEOUT_S": 2, "MAX_ROWS": 50, "MAX_BODY_MB": 1}, kg=kg)
    yield kg, app
    app.extensions["provml.close"]()
    kg.close()


def _query_string(params: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    return [(k, v.encode("utf-8", "surrogatepass")) for k, v in params]


def test_ten_thousand_fuzzed_requests_no_5xx_store_unchanged(
        served: tuple[KnowledgeGraph, Flask]) -> None:
    kg, app = served
    before = set(kg.store.quads())
    client = app.test_client()
    failures: list[tuple[int, dict[str, Any], str]] = []
    statuses: dict[int, int] = {}
    started = time.monotonic()
    for request in requests_for(SEED, COUNT):
        response = client.open(request["path"], method=request["method"],
                               query_string=_query_string(request["params"]),
                               headers=request["headers"], data=request["body"])
        body = response.get_data()  # streamed bodies run to their end
        response.close()
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            failures.append((response.status_code, request, body[:200]))
    took = time.monotonic() - started
    assert not failures, failures[:5]
    assert sum(statuses.values()) == COUNT
    assert set(kg.store.quads()) == before
    assert statuses.get(200, 0) > COUNT // 20, statuses  # the fuzzer reaches real answers too
    print(f"{COUNT} requests in {took:.1f} s: {sorted(statuses.items())}")


def test_a_fuzzed_sample_over_a_real_socket(tmp_path: Path) -> None:
    kg = _kg(tmp_path / "kg")
    live, stop = start_live_server({"TOKEN": TOKEN, "TIMEOUT_S": 2, "MAX_ROWS": 50,
                                    "MAX_BODY_MB": 1}, kg)
    try:
        before = set(kg.store.quads())
        bad = []
        for request in requests_for(SEED + 1, 300):
            response = live.session.request(
                request["method"], live.url + request["path"],
                params=_query_string(request["params"]),
                headers=request["headers"], data=request["body"], timeout=30)
            if response.status_code >= 500:
                bad.append((response.status_code, request, response.text[:200]))
        assert not bad, bad[:5]
        assert set(kg.store.quads()) == before
        assert live.session.get(live.url + "/health", timeout=5).status_code == 200
    finally:
        stop()
        kg.close()
