"""The worker-process pool under races (issue 12): queries killed at their deadline, workers
replaced while others are handed out, the pool closed while queries are in flight. Each race is
run several times, on a real on-disk store with real worker processes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provml.endpoint.sparql.isolation import QueryProcesses
from provml.endpoint.sparql.outcomes import QueryCrashed, QueryRejected, QueryTimeout
from provml.store import open_store

EX = "http://example.org/"
#: a cross product whose filter never matches: it runs for minutes in flat memory (~105 MiB)
RUNAWAY = ("SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i "
           "FILTER(STR(?c) = CONCAT(STR(?f), STR(?i), 'never')) }")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("isolation") / "kg"
    store = open_store(path)
    store.update("INSERT DATA { " + " ".join(
        f"<{EX}s{i}> <{EX}p{i % 7}> \"value {i}\" ." for i in range(600)) + " }")
    store.close()
    return path


@pytest.fixture
def thread_errors() -> Iterator[list[BaseException]]:
    """Exceptions raised on any thread (the pool's replacement threads among them)."""
    seen: list[BaseException] = []
    previous = threading.excepthook

    def hook(args: Any) -> None:
        seen.append(args.exc_value)
        previous(args)

    threading.excepthook = hook
    yield seen
    threading.excepthook = previous


def _race(pool: QueryProcesses, count: int, timeout_s: float) -> list[str]:
    """``count`` runaways at once; the name of what each raised."""
    outcomes: list[str] = []

    def one() -> None:
        try:
            pool.run(RUNAWAY, timeout_s=timeout_s, accept="application/sparql-results+json")
            outcomes.append("answered")
        except (QueryTimeout, QueryRejected, QueryCrashed) as error:
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_runaways_killed_at_the_deadline_never_count_as_crashed(store_dir: Path) -> None:
    # a small memory limit leaves a worker little room beside what it merely reserves (malloc
    # arenas, RocksDB's thread stacks): with the address space capped at twice the limit,
    # RocksDB's threads failed to start at random and the query got 400 ("crashed") instead
    # of 503 (seen once in the 8-runaway hostile test); the data limit alone is the memory bound now
    pool = QueryProcesses(str(store_dir), workers=4, memory_mb=200, queue_s=30)
    try:
        for _ in range(3):
            assert _race(pool, 4, 1.5) == ["QueryTimeout"] * 4
    finally:
        pool.close()


def test_closing_the_pool_with_queries_in_flight_raises_nowhere(
        store_dir: Path, thread_errors: list[BaseException]) -> None:
    # close() kills every worker while their requests' failure kills the same workers again
    # on replacement threads: the pipe was closed twice (EBADF, or worse, closing a file
    # descriptor that had meanwhile been reused); in SIGTERM's handler that error ended the
    # server with exit code 2
    for _ in range(6):
        pool = QueryProcesses(str(store_dir), workers=2, memory_mb=None, queue_s=30)
        outcomes: list[str] = []
        racers = threading.Thread(
            target=lambda pool=pool, outcomes=outcomes: outcomes.extend(_race(pool, 2, 60)))
        racers.start()
        while len(pool._all) < 2 or not pool._idle.empty():  # both evaluating
            threading.Event().wait(0.05)
        threading.Event().wait(0.2)
        pool.close()  # must not raise
        racers.join(timeout=60)
        assert outcomes == ["QueryRejected"] * 2
    threading.Event().wait(0.5)  # replacement threads finish their kill
    assert thread_errors == []


def test_graph_exports_are_bounded_and_a_dump_closed_early_frees_its_worker(
        store_dir: Path) -> None:
    import gzip

    pool = QueryProcesses(str(store_dir), workers=1, memory_mb=None, queue_s=30)
    try:
        body = pool.export("", media="application/n-quads", profile="compacted", timeout_s=30)
        assert body.count(b"\n") == 600
        # JSON-LD through pyld takes far longer than a millisecond: killed at the limit
        with pytest.raises(QueryTimeout):
            pool.export("", media="application/ld+json", profile="compacted", timeout_s=0.001)
        blocks = pool.dump(step_s=30, total_s=60)
        assert gzip.decompress(b"".join(blocks)).count(b"\n") == 600
        blocks = pool.dump(step_s=30, total_s=60)
        next(blocks)
        blocks.close()  # the client went away: the worker is killed and replaced
        assert gzip.decompress(b"".join(pool.dump(step_s=30, total_s=60))).count(b"\n") == 600
    finally:
        pool.close()



_CTRL_C_ONCE_STARTED = """
import os, signal, sys
signal.signal(signal.SIGINT, lambda *_: None)  # this process: not what is tested (a handler,
# not SIG_IGN: an ignored signal stays ignored in the children, a handler does not)
from provml.endpoint.sparql.isolation import QueryProcesses
pool = QueryProcesses(sys.argv[1], workers=3, memory_mb=None, queue_s=60)
print("started", pool.wait_started(60), flush=True)
os.killpg(0, signal.SIGINT)  # a terminal's Ctrl-C: the whole process group
pool.run("ASK { ?s ?p ?o }", timeout_s=30, accept="application/sparql-results+json")
print("alive", sorted(w.process.poll() is None for w in pool._all), flush=True)
pool.close()
"""


@pytest.mark.parametrize("attempt", range(2))
def test_once_the_workers_have_started_ctrl_c_ends_none_of_them(store_dir: Path, attempt: int) -> None:
    """A query worker ignores Ctrl-C only once it runs its own code; one still starting (in
    Python's start-up, or unpickling its task) died of a terminal's Ctrl-C with a
    ``KeyboardInterrupt`` traceback (a CI run of ``test_serve.py``'s Ctrl-C test failed on it).
    Each worker now says when it ignores SIGINT, and ``wait_started`` (which ``provml serve``
    calls before it listens) returns once all have."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _CTRL_C_ONCE_STARTED, str(store_dir)], capture_output=True,
                          text=True, timeout=120, start_new_session=True)
    assert "KeyboardInterrupt" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "started True" in done.stdout and "alive [True, True, True]" in done.stdout, done.stdout


_CTRL_C_WHILE_STARTING = """
import os, signal, sys, threading, time
signal.signal(signal.SIGINT, lambda *_: None)  # this process: not what is tested
from provml.endpoint.sparql.isolation import QueryProcesses
from provml.endpoint.sparql.outcomes import QueryTimeout
stop = threading.Event()

def ctrl_c():  # a terminal's Ctrl-C, to the whole process group, every 5 ms
    while not stop.is_set():
        os.killpg(0, signal.SIGINT)
        time.sleep(0.005)

threading.Thread(target=ctrl_c, daemon=True).start()
pool = QueryProcesses(sys.argv[1], workers=2, memory_mb=None, queue_s=60)
print("started", pool.wait_started(60), flush=True)
try:  # past its limit: its worker is killed and a replacement starts, under Ctrl-C too
    pool.run(sys.argv[2], timeout_s=0.3, accept="application/sparql-results+json")
except QueryTimeout:
    print("timed out", flush=True)
deadline = time.monotonic() + 60
while len(pool._all) < 2 and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(1)
stop.set()
print("answers", [pool.run("ASK { ?s ?p ?o }", timeout_s=30).boolean for _ in range(4)], flush=True)
print("alive", sorted(w.process.poll() is None for w in pool._all), flush=True)
pool.close()
"""


def test_a_ctrl_c_reaches_no_worker_even_one_still_starting(store_dir: Path) -> None:
    """The workers run in a session of their own: a terminal's Ctrl-C (sent to the whole
    process group) reaches the server only, which stops them. Before, a worker still starting
    — the first ones, or the replacement of one killed at its deadline — died of it with a
    ``KeyboardInterrupt`` traceback, and the pool was one worker short from then on."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _CTRL_C_WHILE_STARTING, str(store_dir), RUNAWAY],
                          capture_output=True, text=True, timeout=180, start_new_session=True)
    assert "KeyboardInterrupt" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "started True" in done.stdout and "timed out" in done.stdout, done.stdout
    assert "answers [True, True, True, True]" in done.stdout, done.stdout
    assert "alive [True, True]" in done.stdout, done.stdout


_CTRL_C_STORM_WHILE_SPAWNING = """
import os, signal, sys, threading, time
signal.signal(signal.SIGINT, lambda *_: None)  # this process: not what is tested
from provml.endpoint.sparql.isolation import _Worker
stop = threading.Event()

def ctrl_c():  # a Ctrl-C to the whole process group every 0.5 ms: into the child's first steps
    while not stop.is_set():
        os.killpg(0, signal.SIGINT)
        time.sleep(0.0005)

threading.Thread(target=ctrl_c, daemon=True).start()
failed = 0
for _ in range(int(sys.argv[1])):
    try:
        _Worker(None, None, False).kill()
    except OSError:
        failed += 1
stop.set()
print("failed", failed, flush=True)
"""


def test_a_ctrl_c_between_a_workers_fork_and_its_new_session_does_not_end_it() -> None:
    """The child of ``subprocess.Popen`` resets its signal handlers and unblocks its signals
    before it calls ``setsid()``: a Ctrl-C to the server's process group in between ended a worker
    silently ("a query worker process did not start", a CI failure of the test above). SIGINT
    now stays blocked from the fork until the worker ignores it. Without that, 6 or 7 of this
    test's 12 starts failed (three runs)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _CTRL_C_STORM_WHILE_SPAWNING, "12"],
                          capture_output=True, text=True, timeout=180, start_new_session=True)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "failed 0" in done.stdout, (done.stdout, done.stderr)


def test_a_worker_says_ready_only_once_its_limits_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker sent "ready" before it set its memory limit: a CI run read ``unlimited`` from
    the /proc limits of a worker its server already counted as started. The order is checked
    in-process: the limit, then the network cut, then "ready"."""
    from provml.endpoint.sparql import isolation

    order: list[str] = []

    class Pipe:
        def send(self, message: tuple[str, Any]) -> None:
            order.append(message[0])

        def recv(self) -> Any:
            raise EOFError  # the server closed the pipe: the worker returns

    monkeypatch.setattr(isolation, "_limit_worker", lambda memory_mb: order.append(f"limit {memory_mb}"))
    monkeypatch.setattr(isolation, "_offline", lambda: order.append("offline"))
    monkeypatch.setattr(isolation, "_end_with_parent", lambda: None)
    isolation._work(Pipe(), None, 256, offline=True)  # type: ignore[arg-type]
    assert order == ["limit 256", "offline", "ready"]
