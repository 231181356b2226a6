"""The server process's own SPARQL evaluation cannot reach the network
(:mod:`provml.endpoint.sparql.offline`): updates, and queries over a store whose queries are not
isolated in worker processes. The scan before evaluation is blinded here (it lets the
listener's URL by, as if it had misread the text), so that only the second guard stands between
the text and the listener; with ``--allow-remote`` the same texts reach it (the control)."""

from __future__ import annotations

import errno
import http.server
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from endpoint_servers import AUTH, LiveServer
from pyoxigraph import Store

from provml.endpoint import fast_reads
from provml.endpoint.sparql import offline, protocol


class Listener:
    """A loopback HTTP server that records each request: Turtle for a GET (LOAD), an empty
    SPARQL JSON answer for a POST (SERVICE)."""

    def __init__(self) -> None:
        calls = self.calls = []  # type: list[str]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer(b"<http://example.org/far> <http://example.org/p> 1 .", "text/turtle")

            def do_POST(self) -> None:
                self.answer(b'{"head":{"vars":[]},"results":{"bindings":[{}]}}',
                            "application/sparql-results+json")

            def answer(self, body: bytes, media: str) -> None:
                calls.append(self.command + " " + self.path)
                self.send_response(200)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def blind_scan(monkeypatch: pytest.MonkeyPatch, listener: Listener) -> None:
    """The endpoint's scan lets the listener's URL by, whatever the operator allowed."""
    scan = protocol.scan_sparql

    def blind(text: str, *, what: str = "query", allowed: Any = ()) -> Any:
        return scan(text, what=what, allowed=[listener.url])

    monkeypatch.setattr(protocol, "scan_sparql", blind)
    monkeypatch.setattr(fast_reads, "scan_sparql", blind)


def _update(server: LiveServer, text: str) -> requests.Response:
    return server("POST", "/sparql", data={"update": text}, headers=AUTH)


def _size(server: LiveServer) -> int:
    return len(server.store)  # type: ignore[arg-type]


def test_an_update_that_passes_the_scan_cannot_reach_the_network(
        make_disk_server: Callable[..., LiveServer], listener: Listener, blind_scan: None) -> None:
    server = make_disk_server()
    before = _size(server)
    response = _update(server, f"LOAD <{listener.url}a> INTO GRAPH <http://example.org/g2>")
    assert response.status_code == 400, response.text
    assert "tried to reach the network" in response.json()["error"]
    assert "--allow-remote" in response.json()["error"]
    # an update is one transaction: what came before the LOAD in it is not kept either
    response = _update(server, "INSERT DATA { <http://example.org/n> <http://example.org/p> 1 } ;"
                               f" LOAD <{listener.url}b>")
    assert response.status_code >= 400, response.text
    assert listener.calls == []
    assert _size(server) == before
    # the filter binds the server's evaluating threads only: this process still connects
    assert requests.get(listener.url + "c", timeout=5).status_code == 200
    assert _update(server, "INSERT DATA { <http://example.org/n> <http://example.org/p> 1 }"
                   ).status_code == 204
    assert _size(server) == before + 1


def test_with_allow_remote_the_same_update_reaches_the_listener(
        make_disk_server: Callable[..., LiveServer], listener: Listener, blind_scan: None) -> None:
    server = make_disk_server(ALLOW_REMOTE=(listener.url,))
    before = _size(server)
    response = _update(server, f"LOAD <{listener.url}a> INTO GRAPH <http://example.org/g2>")
    assert response.status_code == 204, response.text
    assert listener.calls == ["GET /a"]
    assert _size(server) == before + 1


@pytest.mark.parametrize("query", [
    "SELECT * WHERE {{ SERVICE <{u}q> {{ }} }}",  # read on the request's offline thread
    "SELECT DISTINCT * WHERE {{ SERVICE <{u}q> {{ }} }}",  # blocking: on the pool
])
def test_a_query_evaluated_in_the_server_process_cannot_reach_the_network(
        make_live_server: Callable[..., LiveServer], listener: Listener, blind_scan: None,
        query: str) -> None:
    server = make_live_server({"TIMEOUT_S": 10})  # an in-memory store: queries in process
    response = server("GET", "/sparql", params={"query": query.format(u=listener.url)})
    assert response.status_code == 400, response.text
    assert "tried to reach the network" in response.json()["error"]
    assert listener.calls == []
    allowed = make_live_server({"TIMEOUT_S": 10, "ALLOW_REMOTE": (listener.url,)})
    response = allowed("GET", "/sparql", params={"query": query.format(u=listener.url)})
    assert response.status_code == 200, response.text
    assert listener.calls == ["POST /q"]


def test_cut_network_binds_the_calling_thread_only(listener: Listener) -> None:
    seen: dict[str, Any] = {}

    def cut() -> None:
        seen["why_not"] = offline.cut_network()
        try:
            socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as error:
            seen["inet"] = error.errno
        try:
            socket.create_connection(("::1", 9), timeout=1)
        except OSError as error:
            seen["inet6"] = error.errno
        for end in socket.socketpair():  # AF_UNIX stays
            end.close()
        try:
            Store().update(f"LOAD <{listener.url}x>")
        except OSError as error:
            seen["oxigraph"] = offline.network_refused(error)

    thread = threading.Thread(target=cut)
    thread.start()
    thread.join()
    assert seen == {"why_not": None, "inet": errno.EAFNOSUPPORT, "inet6": errno.EAFNOSUPPORT,
                    "oxigraph": True}
    assert listener.calls == []
    with socket.create_connection(("127.0.0.1", listener.server.server_port), timeout=5):
        pass  # this thread was never cut


def test_a_thread_that_cannot_leave_the_network_says_so_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(offline, "cut_network", lambda: "no seccomp here")
    with caplog.at_level(logging.WARNING, logger="provml.endpoint"):
        threads = offline.OfflineThreads("provml-test", threads=2)
        try:
            assert threads.call(sum, [1, 2]) == 3
            assert threads.why_not == "no seccomp here"
        finally:
            threads.close()
    warnings = [r.getMessage() for r in caplog.records if "keeps the network" in r.getMessage()]
    assert warnings == ["SPARQL evaluated in the server process keeps the network (no seccomp "
                        "here): SERVICE and LOAD are refused by the check before evaluation only"]


FALLBACK = """
import ctypes, socket, threading
real = ctypes.CDLL
class NoUnshare:  # a kernel that refuses user namespaces
    def __init__(self, *args, **kwargs):
        self.lib = real(*args, **kwargs)
    def __getattr__(self, name):
        return (lambda flags: -1) if name == "unshare" else getattr(self.lib, name)
ctypes.CDLL = NoUnshare
from provml.endpoint.sparql.isolation import _offline
print(_offline())
def connect():
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
        print("connected")
    except OSError as error:
        print(error.errno)
connect()
thread = threading.Thread(target=connect)
thread.start()
thread.join()
"""


def test_a_query_worker_refused_a_network_namespace_gets_the_filter(listener: Listener) -> None:
    import subprocess
    import sys

    script = FALLBACK.replace("PORT", str(listener.server.server_port))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out == ["None", str(errno.EAFNOSUPPORT), str(errno.EAFNOSUPPORT)]
    assert listener.calls == []
