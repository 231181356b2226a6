"""The HTTP sink against a real endpoint process (``provml serve``), killed and restarted."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import free_port

import provml
from provml.knowledge import open_kg
from provml.vocab import PROV

pytestmark = pytest.mark.slow

TOKEN = "test-token-0123"


class Endpoint:
    """``provml serve --store DIR --port P --token T`` as a subprocess."""

    def __init__(self, store: Path, *extra: str) -> None:
        self.store = store
        self.extra = extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("provml", path=str(Path(sys.executable).parent))
        assert exe is not None
        self.proc = subprocess.Popen(
            [exe, "serve", "--store", str(self.store), "--port", str(self.port), "--token", TOKEN,
             *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                _, err = self.proc.communicate()  # reads and closes its stderr
                raise RuntimeError(f"provml serve exited: {err.decode()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        self.proc.communicate()
        raise RuntimeError("provml serve did not answer within 60 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    ep = Endpoint(tmp_path / "store")
    ep.start()
    yield ep
    ep.stop()


def executions(store: Path) -> tuple[int, int]:
    kg = open_kg(store)
    try:
        started = next(iter(kg.query(f"SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{ ?e {PROV.startedAtTime} ?t }}")))
        ended = next(iter(kg.query(f"SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{ ?e {PROV.endedAtTime} ?t }}")))
        return int(started["n"].value), int(ended["n"].value)
    finally:
        kg.close()


def epochs(client: provml.Client, wf: provml.Workflow, name: str, n: int) -> None:
    with wf.stage(name, used=[provml.hyperparameter("lr", 0.1)]) as tr:
        for epoch in range(n):
            with tr.cycle("epoch", epoch) as ep:
                ep.generated(provml.evaluation("loss", 1.0 / (epoch + 1)))


def wait_for(predicate: object, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)


def test_events_reach_the_endpoint(endpoint: Endpoint, tmp_path: Path) -> None:
    with provml.Client(endpoint=endpoint.url, token=TOKEN, bag_size=50,
                       install_signal_handler=False) as client, \
            client.workflow("wf", type="learning") as wf:
        epochs(client, wf, "train", 5)
    assert client.stats().sent == 14 and client.stats().pending == 0
    endpoint.stop()
    assert executions(endpoint.store) == (7, 7)


def test_nothing_is_lost_while_the_endpoint_is_down_and_nothing_is_duplicated(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    client = provml.Client(endpoint=endpoint.url, token=TOKEN, bag_size=5, flush_interval_s=0.05,
                           spool_dir=tmp_path / "spool", install_signal_handler=False)
    with client.workflow("wf", type="learning") as wf:
        epochs(client, wf, "before", 3)
        client.flush()
        assert client.stats().sent == 1 + 2 + 6
        endpoint.stop(signal.SIGKILL)  # the endpoint dies
        epochs(client, wf, "during", 4)
        client.flush()
        assert client.stats().pending >= 10 and client.pending_path.exists()
        endpoint.start()  # back, on the same store
        epochs(client, wf, "after", 2)
    wait_for(lambda: client.stats().pending == 0 and not client.pending_path.exists())
    client.close()
    stats = client.stats()
    assert stats.pending == 0 and stats.rejected == 0
    assert stats.sent == stats.processed == 1 + (2 + 6) + (2 + 8) + (2 + 4) + 1
    # re-sending the whole diskful spool changes nothing (deterministic IRIs)
    assert client.spool_path is not None
    resend = provml.Client(endpoint=endpoint.url, token=TOKEN, install_signal_handler=False)
    from provml.capture.spool import read_events

    for event in read_events(client.spool_path):
        resend._flusher.put(event)
    resend.close()
    endpoint.stop()
    assert executions(endpoint.store) == (1 + 3 + 3 + 4 + 2, 1 + 3 + 3 + 4 + 2)


def test_a_wrong_token_keeps_events_pending(endpoint: Endpoint, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVML_HOME", str(tmp_path / "home"))
    client = provml.Client(endpoint=endpoint.url, token="wrong", install_signal_handler=False)
    with client.workflow("wf"):
        pass
    client.close()
    assert client.stats().sent == 0 and client.stats().pending == 2
    lines = client.pending_path.read_text().splitlines()
    assert [json.loads(x)["kind"] for x in lines] == ["workflow_begin", "workflow_end"]


def test_a_rejected_bag_is_kept_with_the_endpoints_report(endpoint: Endpoint, tmp_path: Path) -> None:
    client = provml.Client(endpoint=endpoint.url, token=TOKEN, spool_dir=tmp_path / "spool",
                           install_signal_handler=False)
    with client.workflow("wf") as wf, wf.task("bad") as t:
        t.generated(provml.evaluation("accuracy", "high"))  # type: ignore[arg-type]
    client.close()
    assert client.stats().rejected == 1 and client.stats().sent == 3
    record = json.loads(client.rejected_path.read_text().splitlines()[0])
    assert record["events"][0]["kind"] == "task_end"
    assert record["report"]  # the endpoint's 422 body


def test_a_bag_too_large_for_the_endpoint_is_split(tmp_path: Path) -> None:
    small = Endpoint(tmp_path / "store", "--max-body-mb", "0.002")  # ~2 KB bodies: 413 above
    small.start()
    try:
        client = provml.Client(endpoint=small.url, token=TOKEN, bag_size=50,
                               install_signal_handler=False)
        with client.workflow("wf", type="learning") as wf:
            epochs(client, wf, "train", 10)
        client.close()
    finally:
        small.stop()
    stats = client.stats()
    assert stats.sent == stats.processed == 2 + 2 + 20 and stats.rejected == 0
    assert executions(small.store) == (12, 12)


def test_gzip_and_keep_alive_against_a_real_endpoint(tmp_path: Path) -> None:
    from provml.capture.sinks import HttpSink

    server = Endpoint(tmp_path / "store")
    server.start()
    try:
        sink = HttpSink(server.url, token=TOKEN, gzip=True)
        assert HttpSink(server.url).name and not HttpSink(server.url)._gzip  # loopback: off
        assert HttpSink("https://kg.example.org")._gzip  # remote: on
        for run in ("gz-1", "gz-2"):  # two bags over one connection, each > 1 KiB gzipped
            events = [{"v": 1, "kind": "workflow_begin", "t": 1.0, "run": run, "workflow": "wf",
                       "tags": ["x" * 40] * 40},
                      {"v": 1, "kind": "workflow_end", "t": 2.0, "run": run, "workflow": "wf",
                       "status": "finished"}]
            sink.send([json.dumps(e) for e in events])
        connection = sink._conn
        assert connection is not None and connection.sock is not None  # kept alive
        sink.close()
    finally:
        server.stop()
    kg = open_kg(tmp_path / "store")
    try:
        runs = {str(row["r"].value) for row in kg.query(
            f"SELECT ?r WHERE {{ ?r {PROV.startedAtTime} ?t }}")}
    finally:
        kg.close()
    assert {"https://w3id.org/provml/id/run/gz-1", "https://w3id.org/provml/id/run/gz-2"} <= runs


def test_a_proxys_400_keeps_events_for_later(tmp_path: Path) -> None:
    """A 400 that is not the endpoint's error shape (nginx's page, in front of it) said nothing
    of the bag, yet it was taken as a rejection: events went to the rejected file and were
    never sent again (an audit, twenty-first session). They now wait, and follow once the
    proxy passes requests on. The proxy is a stand-in: a loopback server with nginx's answer."""
    import http.server
    import threading

    state = {"bad": True, "accepted": 0}

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if state["bad"]:
                page = b"<html><center><h1>400 Bad Request</h1></center><hr><center>nginx</center></html>"
                self.send_response(400)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            state["accepted"] += len(json.loads(body)["events"])
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b'{"ok":true}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = provml.Client(endpoint=f"http://127.0.0.1:{server.server_port}", token=TOKEN,
                               spool_dir=tmp_path / "spool", install_signal_handler=False)
        with client.workflow("wf", meta=False) as wf:
            for i in range(4):
                with wf.task(f"t{i}"):
                    pass
        assert client.flush(timeout_s=10)
        assert client.stats().rejected == 0 and client.stats().sent == 0
        state["bad"] = False
        assert client.close(timeout_s=20)
    finally:
        server.shutdown()
        server.server_close()
    assert client.stats().rejected == 0 and state["accepted"] == 10
    assert not client.rejected_path.exists()
