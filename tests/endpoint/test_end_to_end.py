"""End to end: a workflow captured by a separate process through the HTTP sink into
``provml serve``, then queried over HTTP — with an embedded store, and in ``--remote`` mode over a
real ``oxigraph serve``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from endpoint_servers import Serve
from servers import OxigraphServer

from provml.vocab import PROV, PROVML

TOKEN = "e2e-token-42"
CAPTURE = textwrap.dedent("""
    import sys
    import provml

    url, token = sys.argv[1], sys.argv[2]
    with provml.Client(endpoint=url, token=token, bag_size=50,
                       install_signal_handler=False) as client, \\
            client.workflow("e2e-training", type="learning") as wf:
        with wf.stage("train", used=[provml.hyperparameter("lr", 0.1)]) as tr:
            for epoch in range(3):
                with tr.cycle("epoch", epoch) as ep:
                    ep.generated(provml.evaluation("loss", 1.0 / (epoch + 1)))
    stats = client.stats()
    print(stats.sent, stats.pending)
""")


@pytest.fixture(params=["embedded", "remote"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Serve, str | None]]:
    if request.param == "embedded":
        serve = Serve("--store", str(tmp_path / "kg"), "--token", TOKEN)
        yield serve, None
        assert serve.stop()[0] == 0
        return
    with OxigraphServer() as oxigraph:
        serve = Serve("--remote", oxigraph.url, "--token", TOKEN)
        yield serve, oxigraph.url
        assert serve.stop()[0] == 0


@pytest.mark.slow
def test_capture_in_another_process_then_query_over_http(served: tuple[Serve, str | None],
                                                         tmp_path: Path) -> None:
    serve, remote = served
    script = tmp_path / "capture.py"
    script.write_text(CAPTURE)
    done = subprocess.run([sys.executable, str(script), serve.url, TOKEN], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sent, pending = map(int, done.stdout.split())
    assert sent > 0 and pending == 0
    query = (f"SELECT ?epoch ?loss WHERE {{ ?epoch a {PROVML.TrainingSectionExecution} . "
             f"?v {PROV.wasGeneratedBy} ?epoch ; {PROV.value} ?loss }} ORDER BY DESC(?loss)")
    targets = [(serve.url + "/sparql", {"query": query})]
    if remote:  # and straight from the remote server
        targets.append((remote + "/query", {"query": query, "union-default-graph": ""}))
    for url, params in targets:
        response = requests.get(url, params=params,
                                headers={"Accept": "application/sparql-results+json"}, timeout=30)
        assert response.status_code == 200, response.text
        losses = [float(b["loss"]["value"]) for b in response.json()["results"]["bindings"]]
        assert losses == pytest.approx([1.0, 0.5, 1 / 3])


HANG = """
import os, signal, sys, threading, time

main_thread = threading.main_thread()
real = threading.Condition._acquire_restore
sent = []


def acquire_restore(self, state):  # the main thread takes a Condition's lock back: the handler now
    real(self, state)
    if threading.current_thread() is main_thread and not sent and os.environ.get("PROVML_LISTENING"):
        sent.append(1)  # (as Python runs it: on the main thread, between two bytecodes)
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)


threading.Condition._acquire_restore = acquire_restore


def later():  # the signal, for a server whose main thread holds no Condition
    time.sleep(3)
    os.kill(os.getpid(), signal.SIGTERM)


import provml.endpoint.server as server
start = server.Server.start


def started(self):
    start(self)
    threading.Thread(target=later, daemon=True).start()  # (its start waits on a Condition too)
    os.environ["PROVML_LISTENING"] = "1"  # the main thread's next Condition: the serve loop's


server.Server.start = started
from provml.cli import main
main(["serve", "--port", "0", "--store", sys.argv[1]])
"""


def test_a_signal_that_lands_while_the_main_thread_holds_a_lock_still_stops_the_server(
        tmp_path: Path) -> None:
    """A CI run's ``provml serve`` never stopped on SIGTERM: the signal handler called
    ``Event.set()`` while the main thread, inside ``Event.wait`` on the same event, held its
    lock (py-spy: the handler waiting in ``Condition.__enter__`` under ``Event.wait``). The
    handler is run here at that very moment; it now only sets a flag."""
    script = tmp_path / "hang.py"
    script.write_text(HANG)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "kg")], capture_output=True,
                          text=True, timeout=60)
    assert "stopped, store closed" in done.stderr, done.stderr[-2000:]
