"""Never lossy: a full queue spills to disk; atexit and SIGTERM flush; a crash mid-line is tolerated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import provml
from provml.capture.spool import read_events, spool_files

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


def test_a_nan_value_is_rejected_alone_and_kept(tmp_path: Path) -> None:
    client = provml.Client(spool_dir=tmp_path / "spool", online=False, install_signal_handler=False)
    with client.workflow("wf") as wf, wf.task("t") as t:
        t.generated(provml.evaluation("loss", float("nan")))
    client.close()
    assert client.stats().rejected == 1
    assert [e["kind"] for e in spooled(tmp_path)] == ["workflow_begin", "task_begin", "workflow_end"]
    (line,) = client.rejected_path.read_text().splitlines()
    assert '"task_end"' in line and "Out of range float" in line
