"""One negotiation for every route that writes RDF (``/sparql``, the Graph Store, ``/id/`` pages,
VoID, the Service Description, the ontologies): :func:`provml.endpoint.negotiation.negotiate`.

JSON-LD is rated form by form (its ``profile``), among the other media types, by the most
specific range of ``Accept`` (RFC 9110, section 12.5.1); a form excluded with ``q=0`` is never
sent, even for a ``.jsonld`` URL; an answer that cannot be written in the client's choice
(compaction, XML, triple terms) goes to its next choice, ``text/html`` included; "too large" is
not such a refusal. Each case failed before (a review of f675f3e)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from endpoint_servers import LiveServer
from pyoxigraph import Literal, NamedNode, Quad

NS = "http://www.w3.org/ns/json-ld#"
C = f'application/ld+json;profile="{NS}compacted"'
E = f'application/ld+json;profile="{NS}expanded"'
ID = "https://w3id.org/provml/id/"
P = NamedNode("http://ex.org/p")
#: an IRI of the scheme ``skos``, a prefix of the context: compaction cannot write it
CONFUSED = NamedNode("skos:thing")
CONSTRUCT = "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH <%s> { ?s ?p ?o } }"
SEED = [
    Quad(NamedNode(ID + "run/r1"), P, Literal("café"), NamedNode("urn:good")),
    Quad(NamedNode(ID + "run/r2"), P, CONFUSED, NamedNode("urn:page")),
    Quad(NamedNode(ID + "run/r3"), P, CONFUSED, NamedNode("urn:x")),
    Quad(NamedNode(ID + "run/r3"), P, Literal("esc\x1b[31m"), NamedNode("urn:x")),
]


@pytest.fixture
def live(live_server: LiveServer) -> LiveServer:
    live_server.store.add(SEED)
    return live_server


def _get(live: LiveServer, route: str, accept: str, graph: str = "urn:good") -> Any:
    if route == "POST /sparql":  # (the Flask view; GET with the query alone takes the lean path)
        return live("POST", "/sparql", data={"query": CONSTRUCT % graph}, headers={"Accept": accept})
    if route == "/sparql":
        return live("GET", route, params={"query": CONSTRUCT % graph}, headers={"Accept": accept})
    if route == "/store":
        return live("GET", route, params={"graph": graph}, headers={"Accept": accept})
    return live("GET", route, headers={"Accept": accept})


ROUTES = ("/sparql", "/store", "/id/run/r1", "/ontology", "/.well-known/void")


@pytest.mark.parametrize("route", ROUTES)
def test_json_ld_forms_excluded_with_q0_are_never_sent(live: LiveServer, route: str) -> None:
    """Both forms ``q=0``, ``application/ld+json;q=0.5``, Turtle 0.1: Turtle (JSON-LD was
    sent: an empty list of forms was read as "no preference")."""
    response = _get(live, route, f"{C};q=0, {E};q=0, application/ld+json;q=0.5, text/turtle;q=0.1")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "text/turtle; charset=utf-8"


@pytest.mark.parametrize("route", ROUTES[:4])
def test_json_ld_is_rated_by_its_forms_not_by_its_plain_range(live: LiveServer, route: str) -> None:
    """Both forms 0.1, Turtle 0.5, plain ``application/ld+json`` 0.9: the forms' own ranges
    are the more specific, so Turtle (compacted JSON-LD was sent, rated 0.9)."""
    response = _get(live, route, f"application/ld+json;q=0.9, {C};q=0.1, {E};q=0.1, text/turtle;q=0.5")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "text/turtle; charset=utf-8"


@pytest.mark.parametrize(("path", "accept", "served"), [
    ("/id/run/r1.jsonld", f"{C};q=0", "expanded"),
    ("/ontology.jsonld", f"{E};q=0", "compacted"),
    ("/id/run/r1.jsonld", f"{C};q=0, {E};q=0", None),
])
def test_a_jsonld_suffix_honours_q0(live: LiveServer, path: str, accept: str, served: str | None) -> None:
    """A ``.jsonld`` URL names the type; ``Accept`` still excludes a form (the excluded one was
    sent); 406 when it excludes both."""
    response = live("GET", path, headers={"Accept": accept})
    if served is None:
        assert response.status_code == 406 and response.headers.get("Vary") == "Accept", response.text
    else:
        assert response.status_code == 200, response.text[:300]
        assert response.headers["Content-Type"] == f'application/ld+json; profile="{NS}{served}"'


def test_a_page_that_cannot_be_compacted_falls_back_to_html(live: LiveServer) -> None:
    """``/id/run/r2`` links to ``<skos:thing>``; compacted JSON-LD, or the page: the page (406)."""
    response = live("GET", "/id/run/r2", headers={"Accept": f"{C}, text/html;q=0.5"})
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Link" in response.headers and response.headers["Vary"] == "Accept"


@pytest.mark.parametrize("route", ["/sparql", "/store", "/id/run/r3"])
def test_every_route_takes_the_same_next_choice(live: LiveServer, route: str) -> None:
    """Compaction cannot write ``<skos:thing>``, XML cannot carry ``\\x1b``: Turtle, the third
    choice, on every route (``/id`` was a 406 about XML)."""
    accept = f"{C}, application/rdf+xml;q=0.5, text/turtle;q=0.1"
    response = _get(live, route, accept, graph="urn:x")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "text/turtle; charset=utf-8"
    assert "skos:thing" in response.text


@pytest.mark.parametrize("route", ["POST /sparql", "/store", "/id/run/long"])
def test_a_406_names_the_iri_cut_short_and_varies_on_accept(live: LiveServer, route: str) -> None:
    """The IRI compaction cannot write is quoted to 200 characters (it was whole), and the 406
    carries ``Vary: Accept`` (it had none; on ``/sparql`` its lean path, fast_reads.py, and
    the Flask view add it alike)."""
    iri = "skos:" + "x" * 20_000
    live.store.add([Quad(NamedNode(ID + "run/long"), P, NamedNode(iri), NamedNode("urn:long"))])
    response = _get(live, route, C, graph="urn:long")
    assert response.status_code == 406, response.text[:300]
    assert "Accept" in response.headers.get("Vary", "")
    message = response.json()["error"]
    assert f"<{iri[:200]}…>" in message and len(message) < 1_500, message[:300]


def test_an_answer_too_large_is_exported_once_and_refused_with_its_size(
        make_live_server: Callable[..., LiveServer], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``MAX_ANSWER_MB`` the Graph Store refuses the compacted JSON-LD it wrote, stating
    its size; it took "too large" for "compaction failed" (``InputRefused`` is a ValueError)
    and exported the graph a second time, expanded, stating that size."""
    from provml.endpoint.sparql.evaluation import QueryRunner

    exports: list[str] = []
    export = QueryRunner.export

    def counted(self: QueryRunner, *args: Any, **kwargs: Any) -> bytes:
        exports.append(kwargs["profile"])
        return export(self, *args, **kwargs)

    monkeypatch.setattr(QueryRunner, "export", counted)
    seed = [Quad(NamedNode(f"http://ex.org/s{i}"), P, Literal(f"v{i}"), NamedNode("urn:big"))
            for i in range(20_000)]
    live = make_live_server({"TIMEOUT_S": 60, "QUERY_WORKERS": 1, "MAX_ANSWER_MB": 1},
                            path=tmp_path / "kg", seed=seed)
    response = live("GET", "/store", params={"graph": "urn:big"},
                    headers={"Accept": "application/ld+json"})
    assert response.status_code >= 400 and "MAX_ANSWER_MB" in response.text, response.text[:300]
    assert exports == ["compacted"]


def test_one_request_reads_its_accept_once(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long ``Accept`` (not in the small cache) is parsed once a request (it was 4 times:
    each step of the negotiation parsed it again)."""
    from provml.endpoint import negotiation

    parsed: list[int] = []
    parse = negotiation.parse_accept_header

    def counted(value: Any, *args: Any) -> Any:
        if "xyz-marker" in (value or ""):
            parsed.append(len(value))
        return parse(value, *args)

    monkeypatch.setattr(negotiation, "parse_accept_header", counted)
    accept = ", ".join(f'{C.replace("compacted", "compacted xyz-marker")};q=0.{i}' for i in range(1, 9))
    response = live("GET", "/id/run/r2", headers={"Accept": accept})
    assert response.status_code == 406, response.text[:300]
    assert len(parsed) == 1
