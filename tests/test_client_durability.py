"""Never lossy: a full queue spills to disk; atexit and SIGTERM flush; a crash mid-line is tolerated."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import provml
from provml.capture.spool import read_events, spool_files
from provml.cli import main

SCRIPT = """
import sys, time, provml
client = provml.Client(spool_dir=sys.argv[1], online=False, bag_size=100000,
                       flush_interval_s=3600)
wf = client.workflow("wf").__enter__()
with wf.task("t") as t:
    for i in range(200):
        with t.cycle("loop", i):
            pass
print("ready", flush=True)
if sys.argv[2] == "sleep":
    time.sleep(60)
"""


def run_script(tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "capture.py"
    script.write_text(textwrap.dedent(SCRIPT))
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "spool"), mode],
                            stdout=subprocess.PIPE, text=True)


def spooled(tmp_path: Path) -> list[dict[str, object]]:
    return [e for f in spool_files(tmp_path / "spool") for e in read_events(f)]


def test_a_full_queue_spills_to_disk_and_nothing_is_lost(tmp_path: Path) -> None:
    # bag larger than the queue and a long interval: the flusher stays asleep, the queue fills
    client = provml.Client(spool_dir=tmp_path / "spool", online=False, bag_size=10_000,
                           max_queue=10, flush_interval_s=3600, install_signal_handler=False)
    with client.workflow("wf") as wf, wf.task("t") as t:
        for i in range(100):
            with t.cycle("loop", i):
                pass
    client.close()
    stats = client.stats()
    assert stats.spilled > 100 and stats.processed == 204
    events = spooled(tmp_path)
    assert len(events) == 204
    keys = {(e["kind"], e.get("task")) for e in events}
    assert len(keys) == 204  # each event exactly once
    assert not list((tmp_path / "spool").glob("spill-*"))


def test_interpreter_exit_flushes_without_close(tmp_path: Path) -> None:
    proc = run_script(tmp_path, "exit")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "ready" in out
    kinds = [e["kind"] for e in spooled(tmp_path)]
    assert len(kinds) == 1 + 2 + 400 and kinds[0] == "workflow_begin"


def test_sigterm_flushes_then_terminates(tmp_path: Path) -> None:
    with run_script(tmp_path, "sleep") as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGTERM  # the default action still happens
    assert len(spooled(tmp_path)) == 1 + 2 + 400


SIGNAL_DURING_CLOSE = """
import os, signal, sys, time, provml
client = provml.Client(spool_dir=sys.argv[1], online=False)
with client.workflow("wf") as wf, wf.task("t"):
    pass
closing = client._flusher.close

def close_then_a_signal(**options):
    ok = closing(**options)
    os.kill(os.getpid(), signal.SIGTERM)  # a SIGTERM lands inside close(), on this thread
    time.sleep(0.5)
    print("close went on", flush=True)
    return ok

client._flusher.close = close_then_a_signal
client.close()
print("after close", flush=True)
"""


def test_a_sigterm_inside_close_waits_for_it_then_terminates(tmp_path: Path) -> None:
    """A process pool's worker closes its client at exit as its pool terminates it: the
    handler's own close waited 70 s on a join whose lock the interrupted close held (the
    worker's exit took 70 s in half the runs). The handler now lets that close finish, then
    SIGTERM does what it did before."""
    script = tmp_path / "close.py"
    script.write_text(SIGNAL_DURING_CLOSE)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "spool")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert done.stdout.splitlines() == ["close went on"], done.stdout + done.stderr
    assert [e["kind"] for e in spooled(tmp_path)] == ["workflow_begin", "task_begin", "task_end", "workflow_end"]


SIGNAL_DURING_A_LONG_CLOSE = """
import os, socket, sys, threading, time
import provml.capture.client as capture

capture.SIGTERM_CLOSE_S = 0.5  # (10 s in the product)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(8)
held = []

def accept():  # an endpoint that never answers; each request it takes is a line in a file
    while True:
        held.append(server.accept())
        with open(sys.argv[2], "a") as out:
            out.write("request\\n")

threading.Thread(target=accept, daemon=True).start()
client = capture.Client(endpoint=f"http://127.0.0.1:{server.getsockname()[1]}", spool_dir=sys.argv[1],
                        flush_interval_s=0.2)
client._flusher.sink._timeout_s = 2.0  # each request waits 2 s for its answer
with client.workflow("wf", run_id="r1", meta=False) as wf, wf.task("t"):
    pass
threading.Timer(0.5, os.kill, (os.getpid(), 15)).start()
client.close(timeout_s=60)  # what `with client:` does: its own limit is a minute
print("after close", flush=True)
"""


def test_a_sigterm_inside_a_close_gives_it_no_longer_than_its_own_close(tmp_path: Path) -> None:
    """Deferring to the interrupted close (above) must not wait for that close's own limit
    (a minute for ``with client:``): the handler gives it as long as its own close had, so a
    close that has passed it sends nothing more — the first request, timed out, is not tried
    again (a review: with a 12 s request the process ended after 24 s, 12 before the change) —
    and what is not sent is kept in the pending file."""
    script = tmp_path / "long_close.py"
    script.write_text(SIGNAL_DURING_A_LONG_CLOSE)
    requests = tmp_path / "requests"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "spool"), str(requests)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGTERM, done.stdout + done.stderr
    assert "after close" not in done.stdout
    assert requests.read_text().splitlines() == ["request"]
    pending = [e for f in (tmp_path / "spool").glob("pending-*.jsonl") for e in read_events(f)]
    assert [e["kind"] for e in pending] == ["workflow_begin", "task_begin", "task_end", "workflow_end"]


def test_an_existing_sigterm_handler_is_left_alone(tmp_path: Path) -> None:
    def mine(signum: int, frame: object) -> None:
        return None

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        client = provml.Client(spool_dir=tmp_path, online=False)
        assert signal.getsignal(signal.SIGTERM) is mine
        client.close()
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"v": 1, "kind": "spec"}\n{"v": 1, "ki')
    assert [e["kind"] for e in read_events(path)] == ["spec"]
    assert os.path.getsize(path) > 0


def test_a_diverged_loss_is_kept_as_an_xsd_double(tmp_path: Path) -> None:
    """A NaN or infinite metric (a diverged loss: what a scientist most wants on record) made
    its whole event rejected, JSON having no such numbers. It is now written as the event
    format's ``"double"`` and stored as that ``xsd:double``; a batch of a cycle (the compact
    form), a task's end, numpy and torch scalars alike. A NaN or infinity inside a list, an
    object or an array is written as the string of XSD's spelling and its event kept (twenty-
    fourth session: the event was rejected, kept only in rejected-*.jsonl)."""
    import numpy as np
    import torch

    client = provml.Client(spool_dir=tmp_path / "spool", online=False, install_signal_handler=False)
    with client.workflow("wf", meta=False) as wf, wf.stage("train") as tr:
        with tr.cycle("epoch", 0) as ep:
            for batch, loss in enumerate((0.5, float("nan"), np.float32("inf"), torch.tensor(-np.inf))):
                with ep.cycle("batch", batch) as bt:
                    bt.generated(provml.evaluation("loss", loss))
        tr.generated(provml.evaluation("accuracy", np.float64("nan")), provml.value("curve", [1.0, float("nan")]),
                     provml.value("per_class", {"a": np.array([0.5, np.inf]), "b": torch.tensor([-np.inf, 1.0])}))
    client.close()
    assert client.stats().rejected == 0 and client.stats().lost == 0
    (end,) = [e for e in spooled(tmp_path) if e["kind"] == "task_end"]
    assert end["generated"] == [
        {"name": "accuracy", "role": "evaluation", "double": "NaN"},
        {"name": "curve", "role": "value", "value": [1.0, "NaN"]},
        {"name": "per_class", "role": "value", "value": {"a": [0.5, "INF"], "b": ["-INF", 1.0]}}]
    ends = [e for e in spooled(tmp_path) if e["kind"] == "cycle_end" and e["name"] == "batch"]
    assert [e["generated"] for e in ends] == [
        [{"name": "loss", "role": "evaluation", "value": 0.5}],
        [{"name": "loss", "role": "evaluation", "double": "NaN"}],
        [{"name": "loss", "role": "evaluation", "double": "INF"}],
        [{"name": "loss", "role": "evaluation", "double": "-INF"}]]
    load = CliRunner().invoke(main, ["load", str(tmp_path / "spool"), "--store", str(tmp_path / "kg")])
    assert load.exit_code == 0, load.output
    from provml.store import open_store

    store = open_store(tmp_path / "kg")
    try:
        rows = store.query("""PREFIX prov: <http://www.w3.org/ns/prov#>
            PREFIX provml: <https://w3id.org/provml#>
            SELECT ?v WHERE { ?m provml:attributeName "loss" ; prov:value ?v }""")
        got = sorted(str(row[0]) for row in rows)
        (curve,) = store.query("""PREFIX prov: <http://www.w3.org/ns/prov#>
            PREFIX provml: <https://w3id.org/provml#>
            SELECT ?v WHERE { ?m provml:attributeName "per_class" ; prov:value ?v }""")
    finally:
        store.close()
    dbl = "^^<http://www.w3.org/2001/XMLSchema#double>"
    assert got == sorted(f'"{x}"{dbl}' for x in ("0.5", "NaN", "INF", "-INF")), got
    assert json.loads(curve[0].value) == {"a": [0.5, "INF"], "b": ["-INF", 1.0]}


FULL_DISK = """
import os, resource, signal, sys, provml
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit: EFBIG, as ENOSPC on a full disk
client = provml.Client(spool_dir=sys.argv[1], online=False, install_signal_handler=False)
captured = 0
with client.workflow("full", meta=False) as wf, wf.stage("train") as tr:
    captured += 2
    for epoch in range(10):
        if epoch == 4:
            assert client.flush(timeout_s=10)
            size = os.path.getsize(client.spool_path)
            resource.setrlimit(resource.RLIMIT_FSIZE, (size + 3000, resource.RLIM_INFINITY))
        with tr.cycle("epoch", epoch) as ep:
            for batch in range(50):
                with ep.cycle("batch", batch) as bt:
                    bt.generated(provml.evaluation("loss", 0.5))
            captured += 102
        if epoch == 6:
            print("while full", client.flush(timeout_s=10), flush=True)
            resource.setrlimit(resource.RLIMIT_FSIZE,
                               (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # space again
    captured += 0
captured += 2
print("flushed", client.flush(timeout_s=10), flush=True)
client.close()
print("captured", captured, flush=True)
"""


def test_a_write_the_disk_refused_leaves_no_half_line(tmp_path: Path) -> None:
    """The disk full in the middle of a write, then space again: the write had left a half line,
    the held events were appended to it, and 206 of 1,024 events could not be read (``provml
    load`` refused the whole file) while the client said all was on disk (an audit, twenty-first
    session). Now every event is readable, and the spool loads."""
    script = tmp_path / "full.py"
    script.write_text(textwrap.dedent(FULL_DISK))
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "spool")], capture_output=True,
                         text=True, timeout=120, check=True).stdout.split("\n")
    assert "while full False" in out and "flushed True" in out
    captured = int(next(line for line in out if line.startswith("captured")).split()[1])
    assert len(spooled(tmp_path)) == captured == 1024
    load = CliRunner().invoke(main, ["load", str(tmp_path / "spool"), "--store",
                                     str(tmp_path / "store")])
    assert load.exit_code == 0, load.output


def test_load_sets_a_corrupt_line_aside_and_loads_the_rest(tmp_path: Path) -> None:
    """One line that is not JSON in the middle of a spool stopped ``provml load`` before it
    stored anything (exit 2), while the client's own replay sets such a line aside (an audit,
    twenty-first session). The line is now reported with its file and number (exit 1: not all
    of the input conforms), and every other event is stored."""
    client = provml.Client(spool_dir=tmp_path / "spool", online=False, install_signal_handler=False)
    with client.workflow("wf", meta=False) as wf, wf.task("t") as t:
        for i in range(20):
            with t.cycle("loop", i):
                pass
            assert client.flush(timeout_s=10)  # a line a flush
    client.close()
    [spool] = spool_files(tmp_path / "spool")
    lines = spool.read_text().splitlines()
    spool.write_text("\n".join(lines[:5] + ['{"v": 1, "kind": "cycle_b'] + lines[5:]) + "\n")
    events = len(list(read_events(spool, on_error=lambda *_: None)))
    load = CliRunner().invoke(main, ["load", str(tmp_path / "spool"), "--store",
                                     str(tmp_path / "store"), "--format", "json"])
    assert load.exit_code == 1, load.output
    summary = json.loads(load.stdout)
    assert summary["events"] == events == 44 and len(lines) > 6
    assert [r["source"] for r in summary["rejected"]] == [f"{spool}:6"]
    assert "not a JSON event" in summary["rejected"][0]["error"] and summary["rejected"][0]["events"] == 0


def test_events_the_disk_never_takes_are_counted_lost_and_close_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A spool directory that cannot be made (below a regular file), never fixed: the log said
    "1 event(s) ... LOST" for 844 (it counted lines), ``stats()`` showed nothing after close and
    ``close()`` returned None (an audit, twenty-first session)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    client = provml.Client(spool_dir=blocker / "spool", online=False, install_signal_handler=False)
    with client.workflow("wf", meta=False) as wf, wf.task("t") as t:
        for i in range(20):
            with t.cycle("loop", i):
                pass
    with caplog.at_level(logging.ERROR, logger="provml"):
        assert client.close() is False
    assert client.stats().lost == 44 and client.stats().held == 0
    assert any("44 event(s) could not be written" in r.getMessage() and "LOST" in r.getMessage()
               for r in caplog.records)


def test_load_rejects_the_event_the_format_refuses_not_its_batch(tmp_path: Path) -> None:
    """A tensor of two elements under an evaluation is written as a list; the event format wants
    a number. Through the client's store sink that event alone is rejected; ``provml load``
    rejected its whole batch of 500 events (a review, twenty-first session). Now the event
    alone, with its place, and the rest of the batch is stored."""
    client = provml.Client(spool_dir=tmp_path / "spool", online=False, install_signal_handler=False)
    with client.workflow("wf", type="learning", meta=False) as wf, wf.stage("train") as tr, \
            tr.cycle("epoch", 0) as ep:
        for b in range(10):
            with ep.cycle("batch", b) as bt:
                bt.generated(provml.evaluation("loss", [0.5, 0.25] if b == 4 else 0.1 * b))  # type: ignore[arg-type]
    client.close()
    events = len(spooled(tmp_path))
    load = CliRunner().invoke(main, ["load", str(tmp_path / "spool"), "--store",
                                     str(tmp_path / "store"), "--format", "json"])
    assert load.exit_code == 1, load.output
    summary = json.loads(load.stdout)
    assert [(r["events"], "(event " in r["source"]) for r in summary["rejected"]] == [(1, True)]
    assert summary["events"] == events - 1


def test_load_reports_a_truncated_last_line(tmp_path: Path) -> None:
    """A spool whose last line is cut off (its process died in the middle of a write) was
    loaded with a warning on the log and exit 0, its events unmentioned (a review, twenty-first
    session); the cut line is now reported, and the load exits 1."""
    client = provml.Client(spool_dir=tmp_path / "spool", online=False, install_signal_handler=False)
    with client.workflow("wf", meta=False) as wf, wf.task("t"):
        pass
    client.close()
    [spool] = spool_files(tmp_path / "spool")
    with spool.open("a") as handle:
        handle.write('{"v": 1, "kind": "task_b')
    load = CliRunner().invoke(main, ["load", str(tmp_path / "spool"), "--store",
                                     str(tmp_path / "store"), "--format", "json"])
    assert load.exit_code == 1, load.output
    summary = json.loads(load.stdout)
    [cut] = summary["rejected"]
    assert cut["events"] == 0 and "cut off" in cut["error"] and summary["events"] == 4


def test_a_clock_that_goes_back_never_makes_an_end_before_its_begin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An NTP step back while a scope was open recorded its end before its begin, without a
    word; the shapes refuse such an execution, so ``provml load`` rejected its whole batch. An
    end is now never before its begin (recorded at the begin's time), for a batch (one record),
    an epoch, an errored cycle, a task and a workflow, and the first such end logs a warning."""
    from provml.capture import scopes

    clock = [1_800_000_000.0]

    def now() -> float:
        clock[0] += 0.01
        return clock[0]

    def back() -> None:  # the clock is set 30 s back
        clock[0] -= 30

    monkeypatch.setattr(scopes, "_time", now)
    monkeypatch.setattr(scopes, "clock_steps", 0)
    client = provml.Client(spool_dir=tmp_path / "spool", online=False, install_signal_handler=False)
    with caplog.at_level(logging.WARNING, "provml.capture.scopes"):
        with client.workflow("wf", meta=False) as wf, wf.stage("train") as tr:
            with tr.cycle("epoch", 0) as ep:
                for batch in range(3):
                    with ep.cycle("batch", batch):
                        if batch == 1:
                            back()
                back()
            with pytest.raises(RuntimeError), tr.cycle("epoch", 1):
                back()
                raise RuntimeError("diverged")
            back()  # before the stage's end; the workflow's end is further back still
        client.close()
    assert scopes.clock_steps == 5  # batch 1, epoch 0, epoch 1 (errored), the stage, the workflow
    warnings = [r for r in caplog.records if "clock went back" in r.getMessage()]
    assert len(warnings) == 1 and "went back 29.990 s" in warnings[0].getMessage()
    begins: dict[str, float] = {}
    for event in spooled(tmp_path):
        key = str(event.get("task", event["kind"].split("_")[0]))
        if event["kind"].endswith("_begin"):
            begins[key] = float(event["t"])  # type: ignore[arg-type]
        elif event["kind"].endswith("_end"):
            assert float(event["t"]) >= begins[key], event  # type: ignore[arg-type]
    load = CliRunner().invoke(main, ["load", str(tmp_path / "spool"), "--store", str(tmp_path / "kg")])
    assert load.exit_code == 0, load.output
