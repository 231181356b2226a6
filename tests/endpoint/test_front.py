"""The HTTP front (``provml.endpoint.front``, granian running an ASGI app in front of Flask):
bodies read on the event loop under limits, repeated reads answered there without a request
thread, answers to clients that stop reading dropped — over a real loopback socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from endpoint_servers import AUTH, LiveServer, connect, read_answer
from pyoxigraph import DefaultGraph, Literal, NamedNode, Quad

from provml.endpoint import server as server_module
from provml.endpoint.front import environ_of
from provml.endpoint.sending import PIECE_BYTES, Sending

EX = "http://example.org/"


def _raw(live: LiveServer, request: bytes, *, timeout_s: float = 10) -> tuple[int, dict[str, Any]]:
    """Send ``request`` on a new connection; the status and JSON body of the answer."""
    with connect(live, timeout_s) as sock:
        sock.sendall(request)
        return read_answer(sock)


def test_a_declared_body_over_the_limit_is_refused_before_a_byte_of_it_is_read(
        make_live_server: Callable[..., LiveServer]) -> None:
    live = make_live_server({"MAX_BODY_MB": 1})
    status, body = _raw(live, b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              b"application/sparql-query\r\nContent-Length: 1000000000000\r\n\r\n")
    assert status == 413 and body["ok"] is False and "MAX_BODY_MB" in body["error"]


def test_a_chunked_body_over_the_limit_is_refused(
        make_live_server: Callable[..., LiveServer]) -> None:
    live = make_live_server({"MAX_BODY_MB": 1})
    chunk = b"#" * 65536
    parts = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20))  # 1.25 MiB
    status, body = _raw(live, b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              b"application/sparql-query\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + parts + b"0\r\n\r\n")
    assert status == 413 and "MAX_BODY_MB" in body["error"]
    # and a chunked body within the limit is read whole
    query = b"ASK {}"
    status, body = _raw(live, b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              b"application/sparql-query\r\nAccept: application/sparql-results"
                              b"+json\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(query), query))
    assert status == 200 and body["boolean"] is True


def test_a_body_that_stops_arriving_is_refused_with_408(
        make_live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(server_module.CONNECTION_LIMITS, "body_timeout_s", 1)
    live = make_live_server()
    started = time.monotonic()
    status, body = _raw(live, b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              b"application/sparql-query\r\nContent-Length: 1000\r\n\r\nASK { ")
    assert status == 408 and "stopped arriving" in body["error"] and body["status"] == 408
    assert time.monotonic() - started < 8


def test_a_repeated_read_is_answered_while_every_request_thread_is_busy(
        make_live_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    """Four runaway queries hold the four request threads for seconds; a read whose answer
    the cache holds still answers at once (on the event loop). Under waitress it waited for a
    thread."""
    seed = [Quad(NamedNode(f"{EX}s{i}"), NamedNode(f"{EX}p"), Literal(f"v{i}"), DefaultGraph())
            for i in range(300)]
    live = make_live_server({"TIMEOUT_S": 4, "QUERY_WORKERS": 4}, path=tmp_path / "kg",
                            seed=seed)
    simple = {"query": "SELECT ?s WHERE { ?s ?p ?o } ORDER BY ?s LIMIT 5"}
    first = requests.get(live.url + "/sparql", params=simple, timeout=30)
    assert first.status_code == 200 and "X-Provml-Cache" not in first.headers
    runaway = ("SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i "
               "FILTER(STR(?c) = CONCAT(STR(?f), STR(?i), 'never')) }")
    answers: list[int] = []

    def run() -> None:
        answers.append(requests.get(live.url + "/sparql", params={"query": runaway},
                                    timeout=60).status_code)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # all four running
    started = time.monotonic()
    again = requests.get(live.url + "/sparql", params=simple, timeout=30)
    waited = time.monotonic() - started
    still_running = sum(thread.is_alive() for thread in threads)
    for thread in threads:
        thread.join(timeout=60)
    assert again.status_code == 200 and again.headers.get("X-Provml-Cache") == "hit"
    assert again.content == first.content
    assert still_running == 4, "the runaways ended before the cached read: nothing was shown"
    assert waited < 1.0, f"the cached read waited {waited:.2f} s for a request thread"
    assert answers == [503] * 4  # the runaways stopped at the limit


@pytest.fixture
def big_answer_server(make_live_server: Callable[..., LiveServer],
                      monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setitem(server_module.CONNECTION_LIMITS, "send_timeout_s", 2)
    live = make_live_server()
    triples = " ".join(f'<{EX}s{i}> <{EX}p> "{"x" * 200} {i}" .' for i in range(20_000))
    response = live("POST", "/sparql", data={"update": f"INSERT DATA {{ {triples} }}"},
                    headers=AUTH)
    assert response.status_code == 204, response.text
    yield live


def test_clients_that_do_not_read_their_answers_hold_no_thread(
        big_answer_server: LiveServer) -> None:
    """Eight clients ask for a 5 MB answer (N-Triples of the default graph) and never read it,
    twice as many as the request threads: /health and queries still answer. The answer is one
    piece, handed to granian whole with the thread's end, so no thread waits on these clients
    (their connections do: docs/endpoint.md, "Connection limits granian cannot enforce"); a
    streamed answer's pieces are each bounded by ``send_timeout_s``."""
    live = big_answer_server
    stuck = []
    try:
        for i in range(8):
            sock = connect(live)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /store?default HTTP/1.1\r\nHost: x\r\nAccept: "
                         b"application/n-triples\r\nX-Client: %d\r\n\r\n" % i)
            stuck.append(sock)
        time.sleep(0.5)
        health = requests.get(live.url + "/health", timeout=2)
        assert health.status_code == 200
        time.sleep(3.5)  # past the send limit, had any thread been waiting on them
        for _ in range(6):  # more requests than the 4 request threads: none is held
            asked = requests.post(live.url + "/sparql", data="ASK { ?s ?p ?o }", timeout=5,
                                  headers={"Content-Type": "application/sparql-query",
                                           "Accept": "application/sparql-results+json"})
            assert asked.status_code == 200 and asked.json()["boolean"] is True
    finally:
        for sock in stuck:
            sock.close()


def _ask_graph(live: LiveServer, client: int) -> socket.socket:
    """A connection asking for the default graph as N-Triples, reading nothing yet."""
    sock = connect(live, timeout_s=20)
    sock.sendall(b"GET /store?default HTTP/1.1\r\nHost: x\r\nAccept: application/n-triples\r\n"
                 b"X-Client: %d\r\n\r\n" % client)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(1 << 20):
            data += chunk
    return data


def test_an_answer_whose_client_stops_reading_is_ended(
        make_live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer goes to granian a piece at a time, and granian takes no more while its
    buffer for the connection is full: a client that stops reading for longer than
    ``send_timeout_s`` (2 s here) gets what was already buffered (granian's 32 pieces and the
    sockets' buffers: ≈ 4.5 MB here), then the connection closes (before, granian took the
    whole answer at once and wrote it for as long as the client kept the connection, with no
    time limit)."""
    monkeypatch.setitem(server_module.CONNECTION_LIMITS, "send_timeout_s", 2)
    live = make_live_server()
    for part in range(3):
        triples = " ".join(f'<{EX}s{i}> <{EX}p> "{"x" * 200} {i}" .'
                           for i in range(part * 20_000, (part + 1) * 20_000))
        assert live("POST", "/sparql", data={"update": f"INSERT DATA {{ {triples} }}"},
                    headers=AUTH).status_code == 204
    whole = live("GET", "/store?default", headers={"Accept": "application/n-triples"}).content
    assert len(whole) > 15_000_000
    sock = _ask_graph(live, 0)
    try:
        time.sleep(5)  # past the send limit once the buffers filled
        data = _read_all(sock)
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert 0 < len(body) < len(whole) // 2, (len(body), len(whole))


def test_answers_past_max_unsent_are_refused_until_clients_take_theirs(
        make_live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``MAX_UNSENT_MB`` 4, one client holding a 5 MB answer (sent: it is alone, and an
    answer larger than the limit was refused for good) leaves no room for a second: 503 in the
    one error shape, with ``Retry-After``; small answers and ``/health`` go on; once the first
    client is gone, the answer goes out again."""
    monkeypatch.setitem(server_module.CONNECTION_LIMITS, "send_timeout_s", 2)
    live = make_live_server({"MAX_UNSENT_MB": 4})
    triples = " ".join(f'<{EX}s{i}> <{EX}p> "{"x" * 200} {i}" .' for i in range(20_000))
    assert live("POST", "/sparql", data={"update": f"INSERT DATA {{ {triples} }}"},
                headers=AUTH).status_code == 204
    holding = _ask_graph(live, 0)
    try:
        time.sleep(1)  # its answer is made and being taken
        assert holding.recv(12) == b"HTTP/1.1 200"
        refused = live("GET", "/store?default", headers={"Accept": "application/n-triples"})
        assert refused.status_code == 503, refused.status_code
        assert refused.headers["Retry-After"] == "5"
        body = refused.json()
        assert body["ok"] is False and body["status"] == 503 and "MAX_UNSENT_MB" in body["error"]
        assert live("GET", "/health").status_code == 200
        asked = live("POST", "/sparql", data="ASK { ?s ?p ?o }",
                     headers={"Content-Type": "application/sparql-query",
                              "Accept": "application/sparql-results+json"})
        assert asked.status_code == 200 and asked.json()["boolean"] is True
    finally:
        holding.close()
    deadline = time.monotonic() + 10
    while True:  # the closed connection ends the write at its next piece
        again = live("GET", "/store?default", headers={"Accept": "application/n-triples"})
        if again.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert again.status_code == 200 and len(again.content) > 4_000_000


def test_a_slow_dump_client_holds_neither_a_query_worker_nor_a_thread(
        make_disk_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch) -> None:
    """The dump is made into a temporary file, then sent from it on the loop: a client that
    takes it slowly holds neither the one query worker (taken straight from the worker, the
    dump held it for the whole download: queries waited, then got 503) nor a request thread;
    the file is the whole dump (``Content-Length``), and at most ``MAX_DUMPS`` are made or
    sent at once (503 past them)."""
    from provml.endpoint.linked_data import resources

    monkeypatch.setitem(server_module.CONNECTION_LIMITS, "send_timeout_s", 30)
    monkeypatch.setattr(resources, "_DUMPS", threading.BoundedSemaphore(2))
    live = make_disk_server(QUERY_WORKERS=1)
    rows = " ".join(f'<{EX}s{i}> <{EX}p> "{os.urandom(24).hex()}" .'
                    for i in range(150_000))  # ≈ 5 MB gzipped: more than the buffers hold
    assert live("POST", "/sparql", data={"update": f"INSERT DATA {{ {rows} }}"},
                headers=AUTH).status_code == 204
    whole = live("GET", "/dump.nq.gz").content
    slow = []
    try:
        for client in range(2):
            sock = connect(live, timeout_s=20)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /dump.nq.gz HTTP/1.1\r\nHost: x\r\nX-Client: %d\r\n\r\n" % client)
            slow.append(sock)
        time.sleep(3)  # both dumps made, each being taken (slowly)
        head = slow[0].recv(4096)
        assert head.startswith(b"HTTP/1.1 200") and b"content-length: %d" % len(whole) in head
        third = live("GET", "/dump.nq.gz")
        assert third.status_code == 503 and "dumps" in third.json()["error"]
        for n in range(3):  # the one worker is free: no wait, no 503
            started = time.monotonic()
            asked = live("POST", "/sparql", data=f"ASK {{ <{EX}s{n}> ?p ?o }}",
                         headers={"Content-Type": "application/sparql-query",
                                  "Accept": "application/sparql-results+json"})
            assert asked.status_code == 200 and asked.json()["boolean"] is True
            assert time.monotonic() - started < 1.5
    finally:
        for sock in slow:
            sock.close()
    deadline = time.monotonic() + 10
    while (again := live("GET", "/dump.nq.gz")).status_code == 503:
        assert time.monotonic() < deadline, "the slow clients' dumps kept their places"
        time.sleep(0.5)
    assert again.status_code == 200 and again.content == whole


def _send_at(piece_s: float, pieces: int, *, min_rate: float) -> tuple[int, float, str]:
    """Write ``pieces`` pieces to a client taking each in ``piece_s``: the pieces it took, the
    time, and how the answer ended."""
    taken: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        await asyncio.sleep(piece_s)
        taken.append(len(message["body"]))

    async def run() -> str:
        async def on_client(wait: Any, timeout_s: float) -> Any:
            return await asyncio.wait_for(wait, timeout_s)

        sending = Sending(send, on_client, 1.0, min_rate)
        try:
            await sending.write([{"type": "http.response.body", "body": b"x" * (PIECE_BYTES * pieces),
                                  "more_body": False}])
        except TimeoutError:
            return "ended"
        return "whole"

    started = time.monotonic()
    ended = asyncio.run(run())
    assert all(size == PIECE_BYTES for size in taken)
    return len(taken), time.monotonic() - started, ended


def test_an_answer_must_be_taken_at_the_minimum_rate_after_its_first_send_timeout() -> None:
    """Each piece within the time limit is not enough: a client taking a 64 KiB piece every
    0.05 s (1.3 MB/s) is ended ≈ 1.1 s in when 10 MB/s are needed after the first second,
    and never at 1 MB/s (the pieces went at their client's pace, one at a time)."""
    count, took, ended = _send_at(0.05, 40, min_rate=10 * 1024 * 1024)
    assert ended == "ended" and 20 <= count < 30 and 1.0 < took < 1.6, (count, took)
    count, took, ended = _send_at(0.05, 40, min_rate=1024 * 1024)
    assert ended == "whole" and count == 40 and took >= 2.0


def test_the_environ_keeps_the_raw_uri_and_drops_proxy_headers() -> None:
    environ = environ_of({
        "type": "http", "method": "GET", "path": "/id/a/b c", "raw_path": b"/id/a%2Fb%20c",
        "query_string": b"x=%C3%A9", "http_version": "1.1", "scheme": "http",
        "server": ("127.0.0.1", 7878), "client": ("127.0.0.1", 5555),
        "headers": [(b"host", b"h:1"), (b"x-forwarded-host", b"evil.example"),
                    (b"forwarded", b"host=evil.example"), (b"accept", b"a/b"),
                    (b"accept", b"c/d"), (b"content-type", b"text/plain")]})
    assert environ["PATH_INFO"] == "/id/a/b c" and environ["QUERY_STRING"] == "x=%C3%A9"
    assert environ["REQUEST_URI"] == "/id/a%2Fb%20c?x=%C3%A9"
    assert environ["HTTP_HOST"] == "h:1" and environ["CONTENT_TYPE"] == "text/plain"
    assert environ["HTTP_ACCEPT"] == "a/b,c/d"
    assert "HTTP_X_FORWARDED_HOST" not in environ and "HTTP_FORWARDED" not in environ
