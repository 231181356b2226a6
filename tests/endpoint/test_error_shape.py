"""One error shape for every error route: JSON ``{"ok": false, "error": ..., "status": N}`` for
API clients, a small HTML page for browsers, one line of text for ``text/plain`` — never a stack
trace (after Datasette's ``test_error_shape.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provml.endpoint.app import create_app
from provml.knowledge import KnowledgeGraph

UPDATE = "application/sparql-update"

#: (method, path, kwargs, status): one request per error the core routes answer
ERRORS: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/sparql?query=SELECT%20*%20%7B", {}, 400),
    ("GET", "/sparql?query=ASK%7B%7D&query=ASK%7B%7D", {}, 400),
    ("POST", "/sparql", {"data": "ASK {}", "content_type": "text/plain"}, 415),
    ("POST", "/sparql", {"data": "CLEAR ALL", "content_type": UPDATE}, 401),
    ("POST", "/sparql", {"data": "CLEAR ALL", "content_type": UPDATE,
                         "headers": {"Authorization": "Bearer wrong"}}, 403),
    ("GET", "/sparql?update=CLEAR%20ALL", {}, 405),
    ("PATCH", "/sparql", {}, 405),
    ("GET", "/sparql?query=ASK%7B%7D", {"headers": {"Accept": "image/png"}}, 406),
    ("GET", "/store?graph=http://example.org/none", {}, 404),
    ("GET", "/no/such/route", {}, 404),
    ("POST", "/sparql", {"data": "x" * 4096, "content_type": UPDATE,
                         "headers": {"Authorization": "Bearer t"}}, 413),
]


@pytest.fixture
def small_app(kg: KnowledgeGraph) -> Flask:
    return create_app({"TOKEN": "t", "MAX_BODY_MB": 0.001}, kg=kg)


def _request(client: FlaskClient, method: str, path: str, kwargs: dict[str, Any],
             accept: str | None) -> Any:
    kwargs = {**kwargs, "headers": dict(kwargs.get("headers", {}))}
    if accept is not None:
        kwargs["headers"].setdefault("Accept", accept)
    return client.open(path, method=method, **kwargs)


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), ERRORS,
                         ids=[f"{m} {p[:30]} {s}" for m, p, _, s in ERRORS])
def test_json_shape(small_app: Flask, method: str, path: str, kwargs: dict[str, Any],
                    status: int) -> None:
    for accept in (None, "*/*", "application/json", "application/sparql-results+json"):
        if accept is not None and status == 406:
            continue
        response = _request(small_app.test_client(), method, path, kwargs, accept)
        assert response.status_code == status
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert set(body) == {"ok", "error", "status"}
        assert body["ok"] is False and body["status"] == status
        assert isinstance(body["error"], str) and body["error"]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), ERRORS,
                         ids=[f"{m} {p[:30]} {s}" for m, p, _, s in ERRORS])
def test_html_and_text_shapes(small_app: Flask, method: str, path: str, kwargs: dict[str, Any],
                              status: int) -> None:
    client = small_app.test_client()
    page = _request(client, method, path, kwargs, "text/html,application/xhtml+xml;q=0.9")
    assert page.status_code == status
    if status != 406:  # the 406 request asks for image/png: JSON it is
        assert page.mimetype == "text/html"
        assert f"<h1>{status}</h1>" in page.get_data(as_text=True)
    text = _request(client, method, path, kwargs, "text/plain")
    if status != 406:
        assert text.mimetype == "text/plain"
        assert text.get_data(as_text=True).startswith(f"{status}: ")


def test_messages_are_escaped_in_html(small_app: Flask) -> None:
    response = small_app.test_client().get(
        "/store?graph=http://example.org/<script>alert(1)</script>",
        headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert "<script>" not in response.get_data(as_text=True)


def test_an_unexpected_error_is_500_without_a_stack_trace(kg: KnowledgeGraph,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    app = create_app({}, kg=kg)
    kg.store.close()  # every later store call raises: an unexpected failure
    for accept in (None, "text/html", "text/plain"):
        headers = {"Accept": accept} if accept else {}
        response = app.test_client().get("/sparql", query_string={"query": "ASK {}"},
                                         headers=headers)
        assert response.status_code == 500
        text = response.get_data(as_text=True)
        assert "Traceback" not in text and "File \"" not in text and ".py" not in text
    assert app.test_client().get("/sparql?query=ASK%7B%7D").get_json() == {
        "ok": False, "error": "internal error; the server log has the details", "status": 500}
    assert "Traceback" in caplog.text  # ... which the server log keeps
