"""Hostile probes of the lean read path and the Flask path, over a real loopback socket: a
``Host`` header that is no IRI host became the base IRI of the query (a 500 on every read,
no token needed)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from endpoint_servers import LiveServer


def _raw_get(live: LiveServer, target: str, host: str) -> tuple[int, bytes]:
    """A GET with a ``Host`` header requests would not send, over a raw socket."""
    port = int(live.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode("latin-1"))
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("fast", [True, False], ids=["lean path", "flask path"])
@pytest.mark.parametrize("host", ["evil>x", "e{x", "e^x", 'e"x', "a\\b"])
def test_a_host_that_is_no_iri_host_is_a_400_in_the_error_shape(
        make_live_server: Callable[..., LiveServer], fast: bool, host: str) -> None:
    live = make_live_server({"FAST_READS": fast})
    status, body = _raw_get(live, "/sparql?query=ASK%7B%7D", host)
    assert status == 400, body[:300]
    assert b'"ok": false' in body.replace(b'"ok":false', b'"ok": false')
    assert b"Host" in body
    # the server still answers a proper request
    assert live("GET", "/sparql", params={"query": "ASK {}"}).status_code == 200
