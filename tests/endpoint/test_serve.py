"""``provml serve`` as a real process: binds loopback, prints its URLs, takes the token from a
file or ``PROVML_TOKEN``, stops on SIGTERM/SIGINT closing the store; and ``--remote`` mode over a
real ``oxigraph serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from endpoint_servers import Serve
from servers import OxigraphServer, free_port

from provml.store import OxigraphStore, RemoteStore

INSERT = 'INSERT DATA { GRAPH <http://example.org/g> { <http://example.org/s> <http://example.org/p> "été" } }'
ASK = "ASK { GRAPH <http://example.org/g> { ?s ?p 'été' } }"


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("file-token-5b7e\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_on_disk_stops_cleanly_and_releases_the_store(tmp_path: Path, token_file: Path,
                                                            sig: int) -> None:
    store_dir = tmp_path / "kg"
    serve = Serve("--store", str(store_dir), "--token-file", str(token_file))
    auth = {"Authorization": "Bearer file-token-5b7e"}
    update = requests.post(serve.url + "/sparql", data=INSERT.encode(), timeout=30,
                           headers={**auth, "Content-Type": "application/sparql-update"})
    assert update.status_code == 204
    assert requests.get(serve.url + "/sparql", params={"query": ASK}, timeout=30).json()["boolean"]
    assert requests.get(serve.url + "/health", timeout=5).json()["store"] == "OxigraphStore"
    code, output = serve.stop(sig)
    assert code == 0
    assert f"{serve.url}/sparql" in output and "store closed" in output
    assert "file-token-5b7e" not in output
    with OxigraphStore(store_dir) as store:  # the lock is released, the data is there
        assert store.query(ASK)


@pytest.mark.slow
def test_token_and_store_from_the_environment(tmp_path: Path) -> None:
    """Without --store, serve opens $PROVML_STORE (as the README says), and keeps what it got."""
    store_dir = tmp_path / "from-env"
    serve = Serve(env={"PROVML_TOKEN": "env-token-11", "PROVML_STORE": str(store_dir)})
    try:
        headers = {"Content-Type": "application/sparql-update"}
        assert requests.post(serve.url + "/sparql", data=INSERT.encode(), headers=headers,
                             timeout=30).status_code == 401
        headers["Authorization"] = "Bearer env-token-11"
        assert requests.post(serve.url + "/sparql", data=INSERT.encode(), headers=headers,
                             timeout=30).status_code == 204
    finally:
        assert serve.stop()[0] == 0
    with OxigraphStore(store_dir) as store:
        assert store.query(ASK)


@pytest.mark.slow
def test_serve_without_store_opens_provml_store_in_the_current_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROVML_STORE"}
    port = free_port()
    process = subprocess.Popen([Serve.PROVML, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "provml serve did not start"
                time.sleep(0.1)
        assert health["store"] == "OxigraphStore"
        assert (tmp_path / ".provml" / "store").is_dir()
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.slow
def test_a_locked_store_is_exit_2_with_a_message(tmp_path: Path) -> None:
    with OxigraphStore(tmp_path / "kg"):
        result = subprocess.run([Serve.PROVML, "serve", "--store", str(tmp_path / "kg"), "--port",
                                 str(free_port())], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "locked" in result.stderr and "Traceback" not in result.stderr


def test_a_port_another_server_listens_on_is_exit_2_and_a_killed_servers_port_is_reused(
        tmp_path: Path) -> None:
    """granian binds with SO_REUSEPORT: a second provml serve on the same port must still be
    refused (not share the port), and a server killed with connections open must not keep its
    port from a restart (TIME_WAIT)."""
    first = Serve("--store", str(tmp_path / "a"))
    kept = requests.Session()  # a kept-alive connection: the killed server's end is in TIME_WAIT
    try:
        kept.get(first.url + "/health", timeout=5).raise_for_status()
        result = subprocess.run([Serve.PROVML, "serve", "--store", str(tmp_path / "b"), "--port",
                                 str(first.port)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert "in use" in result.stderr and "Traceback" not in result.stderr
    finally:
        first.process.kill()
        first.process.communicate()
        kept.close()
    again = subprocess.Popen([Serve.PROVML, "serve", "--store", str(tmp_path / "a"), "--port",
                              str(first.port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while again.poll() is None and time.monotonic() < deadline:
            try:
                assert requests.get(first.url + "/health", timeout=1).status_code == 200
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert again.poll() is None, again.communicate()
    finally:
        again.terminate()
        again.communicate(timeout=30)


@pytest.fixture
def oxigraph() -> Iterator[OxigraphServer]:
    with OxigraphServer() as server:
        yield server


@pytest.mark.slow
def test_remote_mode_over_a_real_oxigraph_server(oxigraph: OxigraphServer) -> None:
    serve = Serve("--remote", oxigraph.url, "--token", "remote-token")
    auth = {"Authorization": "Bearer remote-token"}
    try:
        assert requests.post(serve.url + "/sparql", data=INSERT.encode(), timeout=30, headers={
            **auth, "Content-Type": "application/sparql-update"}).status_code == 204
        # written through to the remote server ...
        assert RemoteStore(oxigraph.url).query(ASK)
        # ... and read back through provml, with the Graph Store too
        assert requests.get(serve.url + "/sparql", params={"query": ASK},
                            timeout=30).json()["boolean"] is True
        put = requests.put(serve.url + "/store", params={"graph": "http://example.org/g2"},
                           data=b"<http://example.org/a> <http://example.org/b> <http://example.org/c> .",
                           headers={**auth, "Content-Type": "application/n-triples"}, timeout=30)
        assert put.status_code == 201
        got = requests.get(serve.url + "/store", params={"graph": "http://example.org/g2"},
                           headers={"Accept": "application/n-triples"}, timeout=30)
        assert got.text.strip() == "<http://example.org/a> <http://example.org/b> <http://example.org/c> ."
        bad = requests.get(serve.url + "/sparql", params={"query": "ASK {"}, timeout=30)
        assert bad.status_code == 400 and bad.json()["ok"] is False
    finally:
        assert serve.stop()[0] == 0


def test_the_access_log_has_every_request_and_no_secret(tmp_path: Path) -> None:
    # the log is written from a thread of its own (request threads only queue their line):
    # at SIGTERM every line is out, and no query string or token is in any of them
    serve = Serve("--store", str(tmp_path / "kg"), env={"PROVML_TOKEN": "log-secret-4b1"})
    for i in range(30):
        answer = requests.get(serve.url + "/sparql", params={"query": f"ASK {{ ?s ?p {i} }}"},
                              timeout=30)
        assert answer.status_code == 200
    requests.post(serve.url + "/sparql", data={"update": "INSERT DATA { <urn:a> <urn:b> 1 }"},
                  headers={"Authorization": "Bearer log-secret-4b1"}, timeout=30)
    code, output = serve.stop()
    assert code == 0, output[-2000:]
    assert output.count("GET /sparql 200") == 30 and "POST /sparql 204" in output
    assert "log-secret-4b1" not in output and "ASK" not in output


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_stops_the_server_and_its_workers_without_tracebacks(tmp_path: Path) -> None:
    """A terminal's Ctrl-C signals the whole process group — the server and its query worker
    processes: the server stops cleanly and the workers print no ``KeyboardInterrupt`` traceback
    (`make demo` printed one per worker)."""
    port = free_port()
    process = subprocess.Popen(
        [Serve.PROVML, "serve", "--store", str(tmp_path / "kg"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PROVML_TOKEN": "ctrl-c-token"})
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/sparql", params={"query": ASK}, timeout=10)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "provml serve did not start"
                time.sleep(0.1)
        assert answer.status_code == 200  # evaluated in a worker process: the workers run
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, err
    assert "store closed" in out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
