"""The W3C SPARQL 1.1 Protocol, Graph Store HTTP Protocol and Service Description test suites,
every case, against the real endpoint over a real loopback socket.

The manifests (``tests/conformance/w3c/``, vendored) describe each case as HTTP requests
(``ht:`` vocabulary) and expected responses; this module reads them and replays the requests:
``/sparql/`` → ``/sparql``, ``/gsp`` → ``/store``. Every case runs on graphs of its own: graph and
resource IRIs get a per-test segment (in paths, bodies and loaded data alike), and the manifests'
``CLEAR ALL`` / ``DROP ALL`` are dropped, so the cases share one server without touching each
other. The Service Description manifest only names its three checks; they are written below.

Known failures go in ``SKIP`` with a reason each.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from endpoint_servers import TOKEN, LiveServer
from pyoxigraph import (
    BlankNode,
    CanonicalizationAlgorithm,
    Dataset,
    Literal,
    NamedNode,
    QueryBoolean,
    QueryResultsFormat,
    QuerySolutions,
    RdfFormat,
    Store,
    parse,
    parse_query_results,
)

W3C = Path(__file__).parent.parent / "conformance" / "w3c"
TOKEN_HEADER = "Authorization"

MF = "http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#"
HT = "http://www.w3.org/2011/http#"
HTS = "http://www.w3.org/2011/http-statusCodes#"
CNT = "http://www.w3.org/2011/content#"
UT = "http://www.w3.org/2009/sparql/tests/test-update#"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS_NS = "http://www.w3.org/2000/01/rdf-schema#"
SD = "http://www.w3.org/ns/sparql-service-description#"

#: test local name -> reason (known failures)
SKIP: dict[str, str] = {
    "csv03": "pyoxigraph stores the xsd:double 1.0E6 in canonical form (1000000): same value, "
             "another lexical form than the expected file",
    "tsv03": "pyoxigraph stores the xsd:double 1.0e6 in canonical form (1000000): same value, "
             "another lexical form than the expected file",
}

_STATUS = {"OK": {200}, "Created": {201}, "NoContent": {204}, "NotFound": {404}}
_RDF_TYPES = {"text/turtle": RdfFormat.TURTLE, "application/n-triples": RdfFormat.N_TRIPLES,
              "application/rdf+xml": RdfFormat.RDF_XML, "application/ld+json": RdfFormat.JSON_LD,
              "application/n-quads": RdfFormat.N_QUADS, "application/trig": RdfFormat.TRIG}
_RESULT_TYPES = {"application/sparql-results+json": QueryResultsFormat.JSON,
                 "application/sparql-results+xml": QueryResultsFormat.XML,
                 "text/csv": QueryResultsFormat.CSV,
                 "text/tab-separated-values": QueryResultsFormat.TSV}


# -- reading the manifests ---------------------------------------------------------------------


def _n(iri: str) -> NamedNode:
    return NamedNode(iri)


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.graph = Store()
        self.graph.load(path=str(path), format=RdfFormat.TURTLE, base_iri=path.as_uri())

    def objects(self, subject: Any, predicate: str) -> list[Any]:
        return [q.object for q in self.graph.quads_for_pattern(subject, _n(predicate), None)]

    def one(self, subject: Any, predicate: str) -> Any | None:
        values = self.objects(subject, predicate)
        return values[0] if values else None

    def items(self, head: Any) -> list[Any]:
        out = []
        while head is not None and head != _n(RDF_NS + "nil"):
            out.append(self.one(head, RDF_NS + "first"))
            head = self.one(head, RDF_NS + "rest")
        return out

    def entries(self) -> list[Any]:
        """The ``mf:entries`` list, then any test the file defines but leaves out of it."""
        manifest = _n(self.path.as_uri())
        listed = self.items(self.one(manifest, MF + "entries"))
        typed = {q.subject for q in self.graph.quads_for_pattern(None, _n(RDF_NS + "type"), None)
                 if q.object.value.startswith(MF) and q.object.value.endswith("Test")}
        return listed + sorted(typed - set(listed), key=lambda node: node.value)


@dataclass
class Expected:
    statuses: set[int] = field(default_factory=set)
    ranges: set[int] = field(default_factory=set)  # 2 for 2xx ...
    format: str | None = None
    boolean: bool | None = None
    location_var: str | None = None
    content_type: str | None = None
    body: str | None = None

    def accepts(self, status: int) -> bool:
        return status in self.statuses or status // 100 in self.ranges


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str | None
    expected: Expected


@dataclass
class Case:
    name: str
    title: str
    requests: list[HttpRequest]
    graph_data: list[tuple[Path, str]]


def _headers(m: Manifest, node: Any) -> dict[str, str]:
    out = {}
    for header in m.items(m.one(node, HT + "headers")):
        out[m.one(header, HT + "fieldName").value] = m.one(header, HT + "fieldValue").value
    return out


def _body(m: Manifest, node: Any) -> str | None:
    body = m.one(node, HT + "body")
    return None if body is None else m.one(body, CNT + "chars").value


def _expected(m: Manifest, resp: Any) -> Expected:
    exp = Expected()
    for status in m.objects(resp, MF + "expectedStatus"):
        local = status.value.removeprefix(HTS)
        if local.startswith("StatusCode"):
            exp.ranges.add(int(local[len("StatusCode")]))
        else:
            exp.statuses |= _STATUS[local]
    fmt = m.one(resp, MF + "expectedFormat")
    exp.format = fmt.value if fmt is not None else None
    boolean = m.one(resp, MF + "expectedBoolean")
    exp.boolean = None if boolean is None else boolean.value == "true"
    location = m.one(resp, MF + "expectedLocation")
    exp.location_var = location.value if location is not None else None
    exp.content_type = _headers(m, resp).get("content-type")
    exp.body = _body(m, resp)
    return exp


def _cases(manifest_path: Path) -> list[Case]:
    m = Manifest(manifest_path)
    cases = []
    for entry in m.entries():
        name = entry.value.rsplit("#", 1)[-1]
        action = m.one(entry, MF + "action")
        requests = [
            HttpRequest(m.one(r, HT + "methodName").value, m.one(r, HT + "absolutePath").value,
                        _headers(m, r), _body(m, r), _expected(m, m.one(r, HT + "resp")))
            for r in m.items(m.one(action, HT + "requests"))
        ]
        data = []
        for graph_data in m.objects(entry, UT + "graphData"):
            file = Path(m.one(graph_data, UT + "graph").value.removeprefix("file://"))
            data.append((file, m.one(graph_data, RDFS_NS + "label").value))
        cases.append(Case(name, m.one(entry, MF + "name").value, requests, data))
    return cases


PROTOCOL = _cases(W3C / "protocol" / "manifest.ttl")
GSP = (_cases(W3C / "graph-store-protocol" / "manifest-indirect.ttl")
       + _cases(W3C / "graph-store-protocol" / "manifest-direct.ttl"))


def _params(cases: list[Case]) -> Iterator[Any]:
    for case in cases:
        marks = [pytest.mark.skip(reason=SKIP[case.name])] if case.name in SKIP else []
        yield pytest.param(case, id=case.name, marks=marks)


# -- per-test graphs ---------------------------------------------------------------------------

_PREFIXES = ("http://kasei.us/2009/09/sparql/data/", "http://example.org/protocol-update-",
             "http://www.example/gsp/person/", "http://example/")


class Renamer:
    """Gives every IRI under the manifests' prefixes a per-test segment, consistently in
    plain and percent-encoded form, and maps the manifests' paths onto ours."""

    def __init__(self, test: str) -> None:
        self.pairs: list[tuple[str, str]] = []
        for prefix in _PREFIXES:
            renamed = f"{prefix}{test}/"
            self.pairs.append((prefix, renamed))
            self.pairs.append((quote(prefix, safe=""), quote(renamed, safe="")))
        self.test = test

    def text(self, value: str) -> str:
        for old, new in self.pairs:
            value = value.replace(old, new)
        return value

    def path(self, value: str) -> str:
        value = self.text(value)
        if value.startswith("/sparql/"):
            return "/sparql" + value[len("/sparql/"):]
        if value.startswith("/gsp/"):  # direct identification: a graph of its own per test
            return f"/store/{self.test}/" + value[len("/gsp/"):]
        if value.startswith("/gsp"):
            return "/store" + value[len("/gsp"):]
        return value

    def update(self, value: str) -> str:
        return re.sub(r"\b(CLEAR|DROP)\s+ALL\s*;", "", self.text(value))


# -- checking responses ------------------------------------------------------------------------


def _media(response: Any) -> str:
    return str(response.headers.get("Content-Type", "")).split(";")[0].strip().lower()


def _canonical(data: bytes, fmt: RdfFormat, base: str) -> set[Any]:
    dataset = Dataset(parse(data, format=fmt, base_iri=base))
    dataset.canonicalize(CanonicalizationAlgorithm.UNSTABLE)
    return set(dataset)


def _check(live: LiveServer, request: HttpRequest, response: Any, renamer: Renamer) -> None:
    exp = request.expected
    assert exp.accepts(response.status_code), (
        f"{request.method} {request.path}: status {response.status_code}, expected "
        f"{sorted(exp.statuses)} or {sorted(exp.ranges)}xx; body {response.text[:300]!r}")
    if exp.format == "boolean":
        assert _media(response) in _RESULT_TYPES, _media(response)
        result = parse_query_results(response.content, format=_RESULT_TYPES[_media(response)])
        assert isinstance(result, QueryBoolean)
        if exp.boolean is not None:
            assert bool(result) is exp.boolean
    elif exp.format == "tabular":
        assert _media(response) in _RESULT_TYPES, _media(response)
        result = parse_query_results(response.content, format=_RESULT_TYPES[_media(response)])
        assert isinstance(result, QuerySolutions)
        assert len(list(result)) == 1
    elif exp.format == "RDF":
        assert _media(response) in _RDF_TYPES, _media(response)
        list(parse(response.content, format=_RDF_TYPES[_media(response)], base_iri=live.url))
    if exp.content_type is not None and request.method != "HEAD":
        assert _media(response) == exp.content_type.split(";")[0].strip().lower()
    if exp.body is not None and request.method == "GET":
        fmt = _RDF_TYPES[_media(response)]
        expected = renamer.text(exp.body).encode()
        base = live.url + request.path
        assert _canonical(response.content, fmt, base) == _canonical(expected, fmt, base)


def _replay(live: LiveServer, case: Case) -> None:
    renamer = Renamer(case.name)
    for file, graph in case.graph_data:
        target = NamedNode(renamer.text(graph))
        live.store.drop_graph(target)
        live.store.load(renamer.text(file.read_text()).encode(), format=RdfFormat.N_TRIPLES,
                        graph=target)
    variables: dict[str, str] = {}
    live.session.headers.clear()  # only the manifest's headers (no default Accept)
    for request in case.requests:
        path, body = request.path, request.body
        for var, value in variables.items():
            path = path.replace(var, value)
            body = body.replace(var, value) if body is not None else None
        if path.startswith("http://") or path.startswith("https://"):
            path = path[len(live.url):]
        path = renamer.path(path)
        if body is not None:
            body = renamer.update(body)
        headers = dict(request.headers)
        if request.method not in ("GET", "HEAD"):
            headers[TOKEN_HEADER] = f"Bearer {TOKEN}"
        response = live(request.method, path, headers=headers,
                        data=body.encode() if body is not None else None, allow_redirects=False)
        _check(live, request, response, renamer)
        if request.expected.location_var:
            location = response.headers.get("Location")
            assert location, "a created graph must come with a Location header"
            variables[request.expected.location_var] = location


@pytest.mark.parametrize("case", list(_params(PROTOCOL)))
def test_protocol(module_live_server: LiveServer, case: Case) -> None:
    _replay(module_live_server, case)


@pytest.mark.parametrize("case", list(_params(GSP)))
def test_graph_store_protocol(module_live_server: LiveServer, case: Case) -> None:
    _replay(module_live_server, case)


def test_every_manifest_case_is_collected() -> None:
    assert len(PROTOCOL) == 34
    assert len(GSP) == 14  # 9 indirect, 5 direct (one of them outside mf:entries)
    names = {c.name for c in PROTOCOL + GSP} | {p.id for p in _result_cases()}
    assert not set(SKIP) - names, "stale SKIP entries"


# -- Service Description -----------------------------------------------------------------------

SD_MANIFEST = Manifest(W3C / "service-description" / "manifest.ttl")
SD_CASES = [e.value.rsplit("#", 1)[-1] for e in SD_MANIFEST.entries()]


def _description(live: LiveServer, accept: str) -> tuple[Any, Store]:
    response = live("GET", "/sparql", headers={"Accept": accept})
    graph = Store()
    if response.status_code == 200:
        graph.load(response.content, format=_RDF_TYPES[_media(response)],
                   base_iri=live.url + "/sparql")
    return response, graph


def _sd_returns_rdf(live: LiveServer) -> None:
    for accept in ("text/turtle", "application/rdf+xml", "application/ld+json",
                   "application/n-triples"):
        response, graph = _description(live, accept)
        assert response.status_code == 200
        assert _media(response) == accept
        assert len(graph) > 10


def _sd_has_endpoint_triple(live: LiveServer) -> None:
    _, graph = _description(live, "text/turtle")
    endpoints = [q.object for q in graph.quads_for_pattern(None, _n(SD + "endpoint"), None)]
    assert endpoints == [NamedNode(live.url + "/sparql")]


def _sd_conforms_to_schema(live: LiveServer) -> None:
    _, graph = _description(live, "text/turtle")
    services = [q.subject for q in graph.quads_for_pattern(None, _n(RDF_NS + "type"),
                                                           _n(SD + "Service"))]
    assert len(services) == 1
    service = services[0]

    def objects(s: Any, p: str) -> list[Any]:
        return [q.object for q in graph.quads_for_pattern(s, _n(SD + p), None)]

    assert set(objects(service, "supportedLanguage")) <= {
        _n(SD + "SPARQL10Query"), _n(SD + "SPARQL11Query"), _n(SD + "SPARQL11Update")}
    assert _n(SD + "SPARQL11Query") in objects(service, "supportedLanguage")
    assert all(isinstance(f, NamedNode) for f in objects(service, "resultFormat"))
    assert all(isinstance(f, NamedNode) for f in objects(service, "feature"))
    [dataset] = objects(service, "defaultDataset")
    assert isinstance(dataset, BlankNode | NamedNode)
    assert graph.query(f"ASK {{ {dataset} a <{SD}Dataset> ; <{SD}defaultGraph> ?g . "
                       f"?g a <{SD}Graph> }}")
    for named in objects(dataset, "namedGraph"):
        [name] = objects(named, "name")
        assert isinstance(name, NamedNode)
    assert not any(isinstance(q.object, Literal) and q.predicate.value.startswith(SD)
                   for q in graph)


_SD_CHECKS = {"returns-rdf": _sd_returns_rdf, "has-endpoint-triple": _sd_has_endpoint_triple,
              "conforms-to-schema": _sd_conforms_to_schema}


@pytest.mark.parametrize("name", SD_CASES)
def test_service_description(module_live_server: LiveServer, name: str) -> None:
    module_live_server.store.load(b"<http://example.org/sd/s> <http://example.org/sd/p> \"1\" .",
                                  format=RdfFormat.N_TRIPLES,
                                  graph=NamedNode("http://example.org/sd/graph"))
    _SD_CHECKS[name](module_live_server)


# -- result formats: json-res and csv-tsv-res --------------------------------------------------

QT = "http://www.w3.org/2001/sw/DataAccess/tests/test-query#"
_BNODE = re.compile(r"_:[A-Za-z0-9]+")


def _result_cases() -> list[Any]:
    out = []
    for folder in ("json-res", "csv-tsv-res"):
        m = Manifest(W3C / folder / "manifest.ttl")
        for entry in m.entries():
            action = m.one(entry, MF + "action")
            files = [Path(m.one(x, p).value.removeprefix("file://")) for x, p in (
                (action, QT + "query"), (action, QT + "data"), (entry, MF + "result"))]
            name = entry.value.rsplit("#", 1)[-1]
            marks = [pytest.mark.skip(reason=SKIP[name])] if name in SKIP else []
            out.append(pytest.param(*files, id=name, marks=marks))
    return out


def _normalized_json(data: bytes) -> Any:
    body = json.loads(data)
    if "boolean" in body:
        return body["boolean"]
    for row in body["results"]["bindings"]:
        for term in row.values():
            if term["type"] == "bnode":
                term["value"] = "B"
    return sorted(body["head"]["vars"]), body["results"]["bindings"]


def _table(text: str, sep: str) -> tuple[list[str], list[dict[str, str]]]:
    """Columns (sorted) and rows as dicts: ``SELECT *`` lists the variables in an order the
    formats leave open (pyoxigraph sorts them; the W3C files follow the query text)."""
    lines = _BNODE.sub("_:B", text).replace("\r\n", "\n").splitlines()
    rows = list(csv.reader(lines)) if sep == "," else [line.split(sep) for line in lines]
    return sorted(rows[0]), [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize(("query", "data", "result"), _result_cases())
def test_result_formats(make_live_server: Any, query: Path, data: Path, result: Path) -> None:
    live = make_live_server()
    live.store.load(data.read_bytes(), format=RdfFormat.TURTLE, base_iri=data.as_uri())
    accept = {".srj": "application/sparql-results+json", ".csv": "text/csv",
              ".tsv": "text/tab-separated-values"}[result.suffix]
    response = live("GET", "/sparql", params={"query": query.read_text()},
                    headers={"Accept": accept})
    assert response.status_code == 200
    if result.suffix == ".srj":
        assert _normalized_json(response.content) == _normalized_json(result.read_bytes())
    else:
        sep = "," if result.suffix == ".csv" else "\t"
        assert _table(response.content.decode(), sep) == _table(result.read_text(), sep)
