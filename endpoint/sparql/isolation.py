"""Queries in worker processes: killed at the deadline, capped in memory, and unable to take the
server down when they crash.

Why it is long: the pool's checkout, kill and replacement protocol is shared by its four calls
(query, probe, graph export, streamed dump) and the worker loop that answers them; split, each
half would reach into the other's internals.

pyoxigraph cannot cancel an evaluation, bound its memory, or survive a stack overflow in its
parser or evaluator; the operating system can do all three to a process. A small pool of worker
processes (fresh interpreters: they share no lock or thread with the server; each in a session
of its own, so a terminal's Ctrl-C reaches the server only, which stops them) is kept ready:

- over an **on-disk store** (``path``) each worker holds a read-only view of the store and
  evaluates every query sent to it, writing the result in the client's format before sending
  it back (rows never cross the pipe as objects). After the server writes (:meth:`changed`), a
  worker opens a fresh view before its next query, so it sees every committed write;
- over an **in-memory store** (``path`` None) the data lives only in the server process; the
  workers then only *probe* long queries and updates on an empty store (:meth:`probe`): one
  that overflows the stack ends a worker and is refused, instead of ending the server.

Each worker runs with a memory limit (``RLIMIT_DATA``, ``memory_mb``) and a lower CPU
priority (``nice`` +5, so ``/health`` and cheap requests keep answering while runaway queries
spin). At the deadline the server kills the worker and starts a replacement in the background.
When every worker is busy a query waits up to ``queue_s`` for one, then gets
:class:`~provml.endpoint.sparql.outcomes.QueryRejected` (503); at most ``2 × workers`` requests
wait at once (so queries hold at most ``3 × workers`` server threads).

>>> import tempfile
>>> from provml.store import open_store
>>> path = tempfile.mkdtemp()
>>> open_store(path).close()
>>> processes = QueryProcesses(path, workers=1)
>>> processes.run("ASK { ?s ?p ?o }", timeout_s=30).boolean
False
>>> processes.close()
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import multiprocessing
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from pyoxigraph import NamedNode

from provml.endpoint.limits import InputRefused, sparql_syntax_error
from provml.endpoint.sparql.evaluation import evaluate
from provml.endpoint.sparql.flushing import view_lock
from provml.endpoint.sparql.offline import REFUSAL, cut_network, network_refused
from provml.endpoint.sparql.outcomes import (
    Outcome,
    QueryCrashed,
    QueryFailed,
    QueryRejected,
    QueryTimeout,
    client_error,
)
from provml.endpoint.sparql.results import Rendered, answer_too_large, render

__all__ = ["QueryProcesses"]

log = logging.getLogger("provml.endpoint")

#: how long a query waits for the pool's first worker to start
_START_WAIT_S = 60.0

#: how long a worker may take to open a fresh view of the store before its query is refused
_OPEN_WAIT_S = 30.0

#: how often a worker retries a query whose store view failed under a concurrent compaction
_VIEW_RETRIES = 3


#: address space a worker may reserve beyond its data limit (RLIMIT_AS = 2 × limit + this):
#: glibc reserves 64 MiB (128 MiB while aligning) per malloc arena and 8 MiB per thread stack
#: without using them; a worker at rest with RocksDB's threads reserves 390–730 MiB. A backstop
#: of only twice the data limit made RocksDB's thread creation fail at random under small limits
#: ("terminate called after throwing std::system_error", exit code -6: the query got a 400 for
#: a crash it did not cause)
_RESERVE_MB = 1024

#: malloc arenas in a worker (glibc's M_ARENA_MAX): fewer reservations, the same speed for one
#: evaluating thread
_ARENAS = 2


def _limit_worker(memory_mb: int | None) -> None:
    import ctypes
    import ctypes.util
    import os
    import resource

    with contextlib.suppress(OSError, AttributeError):  # not glibc: its default arenas
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, _ARENAS)  # M_ARENA_MAX, before any thread starts
    if memory_mb:
        limit = int(memory_mb) * 1024 * 1024
        # RLIMIT_DATA caps what the worker can write to (heap, anonymous maps, thread stacks):
        # the memory limit. Address space merely reserved (malloc arenas, stacks' guard
        # space, mapped store files) is not counted; RLIMIT_AS backs it up with room for
        # those reservations (_RESERVE_MB).
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        space = 2 * limit + _RESERVE_MB * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (space, space))
    with contextlib.suppress(OSError):  # not allowed here: run at the same priority
        os.nice(5)


_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000

#: a query that may call a service (an allowed one, or one the scan missed)
_SERVICE = re.compile("SERVICE", re.IGNORECASE)


def _offline() -> str | None:
    """Move this worker into a network namespace of its own, in an unprivileged user namespace:
    no interface but a loopback that is down, so no query can make it connect anywhere,
    whatever the scan before evaluation missed (a review found queries that hid a ``SERVICE``
    from it, and Oxigraph called the URL). Then a seccomp filter forbids the worker every
    socket (:func:`provml.endpoint.sparql.offline.cut_network`; loaded on the main thread, it
    binds every thread started after it): the namespace leaves the file system's ``AF_UNIX``
    sockets, through which glibc asks local resolver daemons (nscd, systemd-resolved) for a
    host name before DNS (a review, twenty-first session), and the filter alone stands where
    the kernel refuses user namespaces (Ubuntu's AppArmor restriction, a container's seccomp
    profile). Must run before the worker starts a thread. Returns why neither could be done,
    or None."""
    import ctypes
    import ctypes.util
    import os

    why: str | None = None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
            why = os.strerror(ctypes.get_errno())
    except (OSError, AttributeError) as error:
        why = str(error)
    other = cut_network()
    if why is None or other is None:
        return None
    return f"no network namespace: {why}; {other}"


#: how often a worker checks that the server that started it still runs
_PARENT_CHECK_S = 0.5


def _end_with_parent() -> None:
    """End this worker when the server process that started it is gone (killed with SIGKILL,
    by the OOM killer, ...): its evaluation would otherwise run on as an orphan, however long.
    A thread polls the parent's pid (Oxigraph evaluates without the GIL, so the thread runs
    during any query); ``PR_SET_PDEATHSIG`` cannot be used: it fires when the *thread* that
    started the worker ends, and workers are started from short-lived threads."""
    import os

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="provml-parent-watch", daemon=True).start()


def _main() -> None:
    """The worker process's entry point (:class:`_Worker` starts ``python -c`` with it): its
    arguments are the server's ``sys.path`` (JSON), the pipe's file descriptor, the store's path
    and the memory limit."""
    paths, fd, path, memory_mb, offline = sys.argv[1:6]
    sys.path[:0] = [p for p in json.loads(paths) if p not in sys.path]
    # a session of its own: a terminal's Ctrl-C never reaches it; one sent to it alone is
    # ignored too (its server stops it, or it ends with the server)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by its server (_Worker)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # its server ended meanwhile
        _work(Connection(int(fd)), path or None, int(memory_mb) if memory_mb else None,
              offline=offline == "1")


def _work(conn: Connection, path: str | None, memory_mb: int | None, *,
          offline: bool = False) -> None:
    """A worker process: answer requests until the pipe closes, or its server is gone;
    ``offline``: with no network (:func:`_offline`)."""
    _limit_worker(memory_mb)
    if offline and (why := _offline()) is not None:
        print(f"provml query worker: could not leave the network ({why}); SERVICE is refused "
              "by the scan before evaluation only", file=sys.stderr)
    # ready once limited and offline: a server that sees it (and a test reading the worker's
    # /proc limits) never finds a worker without its limits (ready was sent first, and a
    # CI run read "unlimited" from a worker that had not yet set them)
    conn.send(("ready", None))
    _end_with_parent()
    import pyoxigraph

    from provml.endpoint.sparql.export import export_graph, gzip_dump
    from provml.store.oxigraph import OxigraphStore

    store: Any = None
    version = -1

    def dump(view: Any) -> None:
        for chunk in gzip_dump(view):
            conn.send(("chunk", chunk))

    while True:
        try:
            op, sparql, options, wanted, announce = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if op == "probe-update":
                pyoxigraph.Store().update(sparql, base_iri=options.get("base_iri"))
                conn.send(("ok", None))
                continue
            if op == "probe-trial":  # on a backup of the store, thrown away after
                from provml.endpoint.sparql.updates import apply_in_steps

                trial = OxigraphStore(options["path"])
                try:
                    refusal = apply_in_steps(trial, sparql, base_iri=options.get("base_iri"),
                                             using=options.get("using"),
                                             using_named=options.get("using_named"),
                                             max_rows=options.get("max_rows"))
                finally:
                    trial.close()
                conn.send(("refused", refusal) if refusal else ("ok", None))
                continue
            if op == "probe-query":
                probe = OxigraphStore()
                options["max_rows"] = 1
                evaluate(probe, sparql, **options)
                conn.send(("ok", None))
                continue
            accept = options.pop("accept", None) if op == "query" else None
            max_bytes = options.pop("max_bytes", None) if op in ("query", "export") else None
            # a dump has sent chunks when its view fails: no retry then; nor for a SERVICE,
            # whose failure is no broken view: a retry sent an allowed one again (a review,
            # twenty-first session: a failing service was called three times)
            retries = 1 if op == "dump" or _SERVICE.search(sparql) else _VIEW_RETRIES
            for attempt in range(retries):
                if store is None or wanted != version:
                    if store is not None:
                        store.close()
                    store = None
                    with (view_lock(path, exclusive=False) if path is not None  # never
                          else contextlib.nullcontext()):  # during a flush
                        store = OxigraphStore(path, read_only=True)
                    version = wanted
                if attempt == 0 and announce:  # the time limit runs from here: opening
                    conn.send(("started", None))  # the view is not the query's cost
                try:
                    if op == "query":
                        outcome: Any = evaluate(store, sparql, **options)
                    elif op == "export":
                        outcome = export_graph(store, sparql, options["media"], options["profile"])
                    else:
                        dump(store)
                        outcome = None
                    break
                except (OSError, RuntimeError):  # the view broke under a compaction: reopen
                    if attempt == retries - 1:
                        raise
                    store.close()
                    store = None
            _answer(conn, render(outcome, accept) if accept is not None else outcome, max_bytes)
        except SyntaxError as error:  # the query's, or a module of ours that failed to compile
            kind = "syntax" if sparql_syntax_error(error) else "error"
            conn.send((kind, str(error) if kind == "syntax" else f"SyntaxError: {error}"))
        except QueryTimeout:
            conn.send(("timeout", None))
        except MemoryError:
            conn.send(("crashed", "MemoryError"))
        except InputRefused as error:
            conn.send(("refused", str(error)))
        except Exception as error:  # reported to the server, which logs it
            unknown = client_error(error)  # an update's (trials, probes)
            if offline and network_refused(error):  # a SERVICE the scan missed
                conn.send(("refused", REFUSAL))
            elif unknown is not None:
                conn.send(("refused", str(unknown)))
            else:
                conn.send(("error", f"{type(error).__name__}: {error}"))


def _answer(conn: Connection, payload: Any, max_bytes: int | None) -> None:
    """Send a query's answer, or refuse it past ``max_bytes`` as the pipe would carry it: the
    server holds an answer whole (≈ twice, with granian's copy) for as long as its client takes
    to read it (a 2.8 KB query made a 413 MB answer; three clients that never read held
    1.3 GB of the server)."""
    data = ForkingPickler.dumps(("ok", payload))
    if max_bytes is not None and len(data) > max_bytes:
        conn.send(("refused", answer_too_large(len(data), max_bytes)))
    else:
        conn.send_bytes(data)


class _FreshViewLost(Exception):
    """A worker ended evaluating on a view it opened for the query (see ``_send``)."""


class _ViewLost(Exception):
    """The worker ended while it opened a fresh view of the store, before the query started:
    RocksDB aborts now and then when a read-only view opens beside a writer that flushes (a
    recycled log file read mid-rewrite: "allocation of 1 bytes failed", ``std::bad_alloc``).
    Not the query's doing: it is sent to another worker."""


#: how a worker process starts: a fresh interpreter running :func:`_main`
_BOOT = "from provml.endpoint.sparql.isolation import _main; _main()"

#: the worker processes not yet ended: killed when the server's interpreter exits (as
#: ``multiprocessing`` does with its daemon processes), a pool never closed included
_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _end_live() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for process in live:
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            process.wait(5)


class _Worker:
    def __init__(self, path: str | None, memory_mb: int | None, offline: bool) -> None:
        self.version = -1  # the store version of the worker's view (-1: none yet)
        self.conn, child = multiprocessing.Pipe()
        # start_new_session: not in the terminal's process group. A Ctrl-C there (sent to the
        # whole group) stops the server, which stops its workers; one that reached a worker
        # still starting ended it with a KeyboardInterrupt traceback. SIGINT stays blocked on
        # this thread while the child starts, and so in the child until ``_main`` ignores it:
        # the child resets its handlers and mask *before* it calls setsid(), and a Ctrl-C in
        # between ended it silently ("a query worker process did not start")
        masked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(child.fileno()), path or "",
                 str(memory_mb or ""), "1" if offline else ""],
                pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, start_new_session=True)
            with _LIVE_LOCK:
                _LIVE.add(self.process)
        except BaseException:
            self.conn.close()
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, masked)
            child.close()
        self._killed = False
        self._kill_lock = threading.Lock()
        try:
            ready = self.conn.poll(_START_WAIT_S) and self.conn.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise OSError("a query worker process did not start")

    def kill(self) -> None:
        """Kill the process and close the pipe, once: :meth:`QueryProcesses.close` and the
        replacement of a failed worker may both call it at the same time. (Closing the pipe
        twice closed whatever file descriptor had meanwhile taken its number; an ``OSError``
        raised there in SIGTERM's handler ended the server with exit code 2.)"""
        with self._kill_lock:
            if self._killed:
                return
            self._killed = True
            try:
                self.process.kill()
                self.ended(5)
            except OSError:  # already reaped
                log.debug("query worker already gone", exc_info=True)
            finally:
                self.conn.close()

    def ended(self, timeout_s: float) -> int | None:
        """Wait up to ``timeout_s`` for the process to end; its exit code (minus the signal
        that ended it), None while it runs."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout_s)
        code = self.process.returncode
        if code is not None:
            with _LIVE_LOCK:
                _LIVE.discard(self.process)
        return code


class QueryProcesses:
    """A pool of worker processes (see the module docstring).

    :param path: the on-disk store directory (the server holds it open read-write), or None
        for probe-only workers (in-memory stores).
    :param workers: worker processes (queries evaluating at once).
    :param memory_mb: each worker's memory limit in MiB (``RLIMIT_DATA``; None: no limit).
    :param queue_s: how long a query waits for a free worker before it is refused.
    :param offline: run the workers with no network (:func:`_offline`; ``provml serve`` does
        unless ``--allow-remote`` lists URLs that ``SERVICE`` may reach).
    """

    def __init__(
        self,
        path: str | None,
        *,
        workers: int = 4,
        memory_mb: int | None = 2048,
        queue_s: float = 2.0,
        offline: bool = False,
    ) -> None:
        self.path = path
        self.workers = workers
        self.memory_mb = memory_mb
        self.offline = offline
        self.queue_s = queue_s
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._waiting = 0
        self._version = 0
        self._closed = False
        self._started = False
        self._ready = threading.Event()
        self._tried = 0  # first starts ended, started or not
        self._first_starts = threading.Condition(self._lock)

    def start(self) -> None:
        """Start the worker processes (on background threads: a start takes ~0.3 s); the first
        query would. No-op once started."""
        with self._lock:
            if self._started:
                return
            self._started = True
        for _ in range(self.workers):
            threading.Thread(target=self._spawn, args=(True,), name="provml-query-spawn", daemon=True).start()

    def wait_started(self, timeout_s: float = _START_WAIT_S) -> bool:
        """Start the workers and wait until each has started or failed to (``provml serve``
        does before it listens, so that its first queries do not wait for them); False when
        ``timeout_s`` passed first."""
        self.start()
        with self._lock:
            return self._first_starts.wait_for(lambda: self._tried >= self.workers or self._closed, timeout_s)

    def _spawn(self, first: bool = False) -> None:
        try:
            try:
                worker = _Worker(self.path, self.memory_mb, self.offline)
            except Exception:  # fork refused (out of memory, process limit), or closed meanwhile
                with self._lock:
                    closed = self._closed
                if not closed:
                    log.exception("could not start a query worker process")
                return
            with self._lock:
                if self._closed:
                    worker.kill()
                    return
                self._all.append(worker)
            self._idle.put(worker)
            self._ready.set()
        finally:
            if first:
                with self._lock:
                    self._tried += 1
                    self._first_starts.notify_all()

    def _checkout(self) -> _Worker:
        self.start()
        # the first workers take a moment to start (longer on a loaded machine): wait for them
        # rather than refusing the first queries
        self._ready.wait(_START_WAIT_S)
        with self._lock:
            if self._closed:
                raise QueryRejected
            if self._waiting >= 2 * self.workers:
                raise QueryRejected
            self._waiting += 1
        try:
            worker = self._idle.get(timeout=self.queue_s)
        except queue.Empty:
            raise QueryRejected from None
        finally:
            with self._lock:
                self._waiting -= 1
        if worker is None:  # closed: wake the next waiter too
            self._idle.put(None)
            raise QueryRejected
        return worker

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start its replacement (on a background thread)."""

        def replace() -> None:
            worker.kill()
            with self._lock:
                if worker in self._all:
                    self._all.remove(worker)
                if self._closed:
                    return
            self._spawn()

        threading.Thread(target=replace, name="provml-query-replace", daemon=True).start()

    def changed(self) -> None:
        """The store was written: workers reopen their view before the next query."""
        with self._lock:
            self._version += 1

    def _send(self, worker: _Worker, op: str, sparql: str, options: dict[str, Any],
              timeout_s: float | None) -> tuple[int, Any]:
        """Hand ``op`` to ``worker``; the store version it runs on, and its first answer
        (None: none within ``timeout_s``, counted from when its store view is open)."""
        version = self._version
        # a worker whose view is older than the store opens a fresh one first and says
        # when it is open; one already up to date starts at once (one message saved)
        announce = not op.startswith("probe") and worker.version != version
        worker.conn.send((op, sparql, options, version, announce))
        if announce:  # wait for the worker's store view, then for the result
            if not worker.conn.poll(_OPEN_WAIT_S):
                raise QueryRejected
            try:
                started = worker.conn.recv()
            except (EOFError, OSError, ConnectionError):
                raise _ViewLost from None
            if started[0] != "started":  # it failed before evaluating
                return version, started
        ready = worker.conn.poll(timeout_s)
        try:
            return version, worker.conn.recv() if ready else None
        except (EOFError, OSError, ConnectionError):
            # a worker that ends while evaluating on a view it opened for this query: RocksDB
            # aborts now and then in a view opened beside a writer that flushes (a COUNT of
            # 40 triples ended its worker 2-8 s in, at its memory cap, in 1 of 4 runs of
            # tests/endpoint/test_probe_front.py under load; cause not found). A read is
            # tried once more on another worker (a query that truly fills its cap then ends
            # a second worker: twice the time before its 400)
            if announce:
                raise _FreshViewLost from None
            raise

    def _lost(self, worker: _Worker) -> Exception:
        """The exception for a worker whose pipe broke: it crashed, or the pool closed."""
        code = worker.ended(1)
        with self._lock:
            closed = self._closed
        if closed:
            return QueryRejected()
        log.warning("a query ended its worker process (exit code %s)", code)
        return QueryCrashed(self._crash_message(code))

    @staticmethod
    def _raise_for(status: str, payload: Any) -> None:
        if status == "refused":
            raise InputRefused(payload)
        if status == "syntax":
            raise SyntaxError(payload)
        if status == "timeout":
            raise QueryTimeout
        if status == "crashed":
            raise QueryCrashed(payload)
        if status == "error":
            log.warning("a query worker could not evaluate a query: %s", payload)
            raise QueryFailed(payload)

    def _call(self, op: str, sparql: str, options: dict[str, Any],
              timeout_s: float | None) -> Any:
        fresh_retried = False
        for attempt in range(_VIEW_RETRIES):
            try:
                return self._call_once(op, sparql, options, timeout_s,
                                       retry_fresh=not fresh_retried)
            except _FreshViewLost:  # once: on another worker
                fresh_retried = True
                log.warning("a query worker ended on a fresh view of the store; trying another")
            except _ViewLost:  # not the query's doing: on another worker
                log.warning("a query worker ended while opening its view of the store")
                if attempt == _VIEW_RETRIES - 1:
                    raise QueryFailed("the query workers could not open a view of the store "
                                      "(their processes ended)") from None
        raise QueryFailed("the query workers could not open a view of the store "
                          "(their processes ended)")

    def _call_once(self, op: str, sparql: str, options: dict[str, Any],
                   timeout_s: float | None, *, retry_fresh: bool = False) -> Any:
        worker = self._checkout()
        ok = False
        try:
            try:
                version, answer = self._send(worker, op, sparql, options, timeout_s)
            except _ViewLost:
                worker.ended(1)
                raise
            except _FreshViewLost:
                if retry_fresh and op in ("query", "export"):  # reads only: nothing written twice
                    worker.ended(1)
                    raise
                raise self._lost(worker) from None
            except (EOFError, OSError, ConnectionError):
                raise self._lost(worker) from None
            if answer is None:
                raise QueryTimeout  # the worker is killed below: the evaluation stops there
            status, payload = answer
            ok = True
            if not op.startswith("probe"):
                worker.version = version
            if status == "crashed":
                payload = self._crash_message(None)
            self._raise_for(status, payload)
            return payload
        finally:
            if ok:
                self._idle.put(worker)
            else:
                self._replace(worker)

    def _crash_message(self, code: int | None) -> str:
        limit = f"{self.memory_mb} MiB" if self.memory_mb else "the machine's memory"
        return (f"evaluating this request ended its worker process (exit code {code}): it nests "
                f"or chains too deeply, or it needs more memory than the limit ({limit}); "
                "simplify it or narrow it")

    def run(
        self,
        sparql: str,
        *,
        timeout_s: float | None,
        default_graph: Sequence[NamedNode] | None = None,
        named_graphs: Sequence[NamedNode] | None = None,
        union: bool = True,
        base_iri: str | None = None,
        max_rows: int | None = None,
        accept: str | None = None,
        max_bytes: int | None = None,
    ) -> Outcome | Rendered:
        """Evaluate in a worker over the on-disk store; kill it when ``timeout_s`` passes.
        With ``accept`` the worker writes the result (a :class:`Rendered`), else it returns
        the rows (an :class:`Outcome`); either is refused (:class:`InputRefused`) past
        ``max_bytes`` as sent through the pipe.

        :raises SyntaxError: the query does not parse.
        :raises QueryTimeout: the time limit passed (the worker was killed).
        :raises QueryRejected: every worker stayed busy for ``queue_s``.
        :raises QueryCrashed: the query ended its worker (stack overflow, memory limit).
        :raises QueryFailed: the worker could not evaluate it (store view, SERVICE).
        """
        if self.path is None:
            raise ValueError("these workers have no store (in-memory): use probe()")
        options: dict[str, Any] = {"default_graph": default_graph, "named_graphs": named_graphs,
                                   "union": union, "base_iri": base_iri, "max_rows": max_rows}
        if accept is not None:
            options["accept"] = accept
        if max_bytes is not None:
            options["max_bytes"] = max_bytes
        result = self._call("query", sparql, options, timeout_s)
        assert isinstance(result, Outcome | Rendered)
        return result

    def probe(self, sparql: str, *, update: bool, timeout_s: float | None,
              base_iri: str | None = None) -> None:
        """Parse and evaluate ``sparql`` on an empty store in a worker; return when that
        worked (or ran into a syntax error, left for the caller's own evaluation to report).

        :raises QueryCrashed: it ended the worker.
        :raises QueryTimeout: it ran past ``timeout_s`` even on an empty store.
        :raises QueryRejected: every worker stayed busy for ``queue_s``.
        """
        options: dict[str, Any] = {"base_iri": base_iri}
        if not update:
            options["deadline"] = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            self._call("probe-update" if update else "probe-query", sparql, options, timeout_s)
        except (SyntaxError, QueryFailed):
            return

    def trial_update(self, backup: str, sparql: str, *, timeout_s: float | None,
                     base_iri: str | None, using: Any, using_named: Any,
                     max_rows: int | None = None) -> None:
        """Apply ``sparql`` in a worker to the store backup at ``backup`` (killed at
        ``timeout_s``, capped in memory), one operation at a time
        (:func:`~provml.endpoint.sparql.updates.apply_in_steps`). Raises as :meth:`run`, and
        :class:`~provml.endpoint.limits.InputRefused` when an operation's ``WHERE`` matches
        more than ``max_rows`` solutions; a syntax error is left for the caller's own
        evaluation to report."""
        try:
            self._call("probe-trial", sparql, {"path": backup, "base_iri": base_iri,
                                                "using": using, "using_named": using_named,
                                                "max_rows": max_rows},
                       timeout_s)
        except SyntaxError:
            return

    def export(self, graph: str, *, media: str, profile: str, timeout_s: float | None,
               max_bytes: int | None = None) -> bytes:
        """The graph ``graph`` written in a worker (:func:`~provml.endpoint.sparql.export.
        export_graph`), killed when ``timeout_s`` passes, refused past ``max_bytes``. Raises
        as :meth:`run`."""
        if self.path is None:
            raise ValueError("these workers have no store (in-memory)")
        options: dict[str, Any] = {"media": media, "profile": profile}
        if max_bytes is not None:
            options["max_bytes"] = max_bytes
        body = self._call("export", graph, options, timeout_s)
        assert isinstance(body, bytes)
        return body

    def dump(self, *, step_s: float | None, total_s: float | None) -> Iterator[bytes]:
        """The whole store as gzipped N-Quads from a worker, block by block: each block within
        ``step_s``, all within ``total_s``; past either the worker is killed and the stream
        ends short (without the gzip trailer). The worker is checked out at the first
        ``next()``; a stream closed early kills it. Raises as :meth:`run`."""
        if self.path is None:
            raise ValueError("these workers have no store (in-memory)")
        worker = self._checkout()
        ok = False
        try:
            deadline = None if total_s is None else time.monotonic() + total_s
            try:
                version, answer = self._send(worker, "dump", "", {}, step_s)
                while answer is not None and answer[0] == "chunk":
                    yield answer[1]
                    wait = step_s
                    if deadline is not None:
                        left = deadline - time.monotonic()
                        wait = left if wait is None else min(wait, left)
                    answer = (worker.conn.recv() if wait is None or wait > 0
                              and worker.conn.poll(wait) else None)
            except _ViewLost:
                raise QueryFailed("the query worker could not open a view of the store "
                                  "(its process ended)") from None
            except (EOFError, OSError, ConnectionError):
                raise self._lost(worker) from None
            if answer is None:
                raise QueryTimeout
            status, payload = answer
            ok = True
            worker.version = version
            if status == "crashed":
                payload = self._crash_message(None)
            self._raise_for(status, payload)
        finally:
            if ok:
                self._idle.put(worker)
            else:
                self._replace(worker)

    def close(self) -> None:
        """Kill every worker (requests waiting on one get QueryRejected)."""
        with self._lock:
            self._closed = True
            workers, self._all = self._all, []
            self._first_starts.notify_all()
        self._idle.put(None)  # requests waiting for a worker give up now
        for worker in workers:
            try:
                worker.kill()
            except OSError:  # pragma: no cover - never raise into SIGTERM's handler
                log.exception("could not stop a query worker process")
