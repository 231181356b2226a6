"""HTTP Basic credentials carry the write token too (for tools that send only Basic): the
real server on a loopback socket, requests' own Basic auth; the same refusals as Bearer."""

from __future__ import annotations

from collections.abc import Callable

from endpoint_servers import TOKEN, LiveServer
from requests.auth import HTTPBasicAuth

INSERT = 'INSERT DATA { GRAPH <http://example.org/g> { <http://example.org/s> <http://example.org/p> "x" } }'
UPDATE = {"Content-Type": "application/sparql-update"}
ASK = {"query": 'ASK { GRAPH <http://example.org/g> { ?s ?p "x" } }'}


def test_basic_credentials_with_the_token_write(live_server: LiveServer) -> None:
    response = live_server("POST", "/sparql", data=INSERT, headers=UPDATE,
                           auth=HTTPBasicAuth("anyone", TOKEN))
    assert response.status_code == 204, response.text
    ttl = b"<http://example.org/a> <http://example.org/b> 1 ."
    stored = live_server("PUT", "/store", params={"graph": "http://example.org/h"}, data=ttl,
                         headers={"Content-Type": "text/turtle"}, auth=HTTPBasicAuth("u", TOKEN))
    assert stored.status_code in (201, 204)
    assert live_server("GET", "/sparql", params=ASK).json()["boolean"] is True


def test_wrong_or_missing_credentials_are_refused_and_change_nothing(live_server: LiveServer) -> None:
    wrong = live_server("POST", "/sparql", data=INSERT, headers=UPDATE,
                        auth=HTTPBasicAuth("anyone", "not-the-token"))
    assert wrong.status_code == 403 and wrong.json()["ok"] is False
    garbled = live_server("POST", "/sparql", data=INSERT,
                          headers={**UPDATE, "Authorization": "Basic %%%"})
    assert garbled.status_code == 403
    missing = live_server("POST", "/sparql", data=INSERT, headers=UPDATE)
    assert missing.status_code == 401
    challenge = missing.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer") and 'Basic realm="provml"' in challenge
    assert live_server("GET", "/sparql", params=ASK).json()["boolean"] is False


def test_read_token_as_basic_password(make_live_server: Callable[..., LiveServer]) -> None:
    server = make_live_server({"READ_TOKEN": "reader"})
    assert server("GET", "/sparql", params=ASK).status_code == 401
    ok = server("GET", "/sparql", params=ASK, auth=HTTPBasicAuth("me", "reader"))
    assert ok.status_code == 200 and ok.json()["boolean"] is False
    refused = server("POST", "/sparql", data=INSERT, headers=UPDATE, auth=HTTPBasicAuth("me", "reader"))
    assert refused.status_code == 403
