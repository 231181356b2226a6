"""Serving the app in production: granian (a Rust HTTP/1.1 server) embedded in this process,
running :class:`~provml.endpoint.front.Front` (bodies read on an event loop under limits, cached
plain reads answered there, everything else on request threads), never Flask's development
server.

:func:`serve` blocks until SIGINT or SIGTERM, then stops accepting, lets running requests end
(briefly), and closes the store (an on-disk store's lock is released). :func:`make_server` builds
the server without running it; :meth:`Server.start` runs it on a thread of its own (port 0 picks
a free port), for tests; :func:`close_server` stops it.

>>> server, app = make_server({}, port=0)
>>> server.start()
>>> import urllib.request
>>> urllib.request.urlopen(f"http://127.0.0.1:{server.effective_port}/health").status
200
>>> close_server(server, app)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from flask import Flask

from provml.endpoint.app import create_app
from provml.endpoint.context import RUNNER_KEY
from provml.endpoint.front import Front

__all__ = ["Server", "close_server", "log_to_stderr", "make_server", "serve"]

log = logging.getLogger("provml.endpoint")

#: how long stopping waits for the HTTP server, then for request threads, after the query
#: workers are killed: a thread caught starting a replacement worker on a busy machine, or a
#: client taking a large answer slowly, must not hold a SIGTERM for long (the process exits
#: afterwards all the same; its threads are daemons)
SHUTDOWN_WAIT_S = 2.0

#: settings that bound idle and slow clients: a connection that does not send a request's
#: headers within ``header_read_timeout_s`` seconds (a new one, or a kept-alive one between
#: requests) is closed; at most ``connections`` are served at once (granian's backpressure:
#: more wait in the ``backlog``); a request's headers may take at most ``max_header_bytes``.
#: A body is read on the event loop (:mod:`provml.endpoint.front`): one with no byte for
#: ``body_timeout_s`` is refused (408), and so is one that arrives more slowly than
#: ``body_min_rate`` bytes a second once its first ``body_timeout_s`` have passed (a trickle
#: would hold its connection for good); a stalled one holds no thread meanwhile; a client
#: that takes no piece of an answer for ``send_timeout_s``, or takes it more slowly than
#: ``send_min_rate`` bytes a second once its first ``send_timeout_s`` have passed, is dropped.
CONNECTION_LIMITS: dict[str, Any] = {
    "header_read_timeout_s": 15,
    "body_timeout_s": 15,
    "body_min_rate": 16 * 1024,
    "send_timeout_s": 15,
    "send_min_rate": 64 * 1024,
    "connections": 500,
    "max_header_bytes": 64 * 1024,
    "backlog": 1024,
}


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Never waits: when the queue is full (the writer is behind: whoever reads stderr has
    stopped), a record is dropped and counted, and the count is logged once there is room.
    Waiting there held every request that logs — the event loop's cached reads and refusals
    too: a server whose stderr was not read stopped answering after 10,017 requests."""

    def __init__(self, records: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(records)
        self.records = records
        self.dropped = 0  # counted under the handler's lock (Handler.handle holds it)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # a plain line is formatted by the writer thread, not here (the access line's arguments
        # are strings and numbers); one with a traceback is formatted here, so that its frames
        # (which may hold pyoxigraph iterators) are dropped on this thread
        if record.exc_info or record.stack_info:
            prepared: logging.LogRecord = super().prepare(record)
            return prepared
        return record

    def note(self) -> logging.LogRecord:
        """The line that says how many records were dropped."""
        return logging.LogRecord(log.name, logging.WARNING, __file__, 0,
                                 "%d log records were dropped: the log's reader (stderr) fell "
                                 "behind", (self.dropped,), None)

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            if self.dropped:
                self.records.put_nowait(self.note())
                self.dropped = 0
            self.records.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class _Listener(logging.handlers.QueueListener):
    def __init__(self, records: queue.Queue[logging.LogRecord], writer: logging.Handler) -> None:
        super().__init__(records, writer)
        self.records = records

    def enqueue_sentinel(self) -> None:
        # waits for room (put_nowait would raise when the queue is full); None is the sentinel
        self.records.put(None, timeout=5)  # type: ignore[arg-type]


def log_to_stderr(capacity: int = 10_000) -> Callable[[], None]:
    """Log at INFO to stderr from a thread of its own: request threads only hand their record
    (the access log line) to a queue of ``capacity`` records (past that, records are dropped and
    counted, never waited for). Written directly, the stream
    handler's lock held across the write made threads queue behind each other: with 8 clients
    a cached answer took ~1.1 ms in the app instead of ~20 µs. Call the returned function
    to write what is left and detach the handler."""
    records: queue.Queue[logging.LogRecord] = queue.Queue(capacity)
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    listener = _Listener(records, writer)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler = _DroppingQueueHandler(records)
    root.addHandler(handler)
    listener.start()

    def stop() -> None:
        root.removeHandler(handler)
        with contextlib.suppress(queue.Full):  # the reader is gone for good: stop all the same
            if handler.dropped:
                records.put(handler.note(), timeout=5)
            listener.stop()

    return stop


class Server:
    """granian's embedded server running ``front`` (an ASGI app: a :class:`Front` for the
    endpoint) on ``host:port``, on an event loop of the thread that calls :meth:`run` (or of a
    thread of its own: :meth:`start`)."""

    def __init__(self, front: Any, host: str, port: int) -> None:
        self.front = front
        self.host = host
        self.effective_port = _bindable(host, port)
        self._granian: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None

    def run(self) -> None:
        """Serve on this thread until :meth:`stop` — on a uvloop event loop where uvloop is
        installed (a dependency but on Windows: its cross-thread wake-ups, one a request in
        granian's hand-over, cost less; 15–50 % more cached reads a second measured here),
        else on asyncio's own."""
        try:
            import uvloop
        except ImportError:
            asyncio.run(self._serve())
        else:
            uvloop.run(self._serve())

    async def _serve(self) -> None:
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings
        from granian.server.embed import Server as Embedded

        limits = CONNECTION_LIMITS
        self._loop = asyncio.get_running_loop()
        self._granian = Embedded(
            self.front, address=self.host, port=self.effective_port,
            interface=Interfaces.ASGINL, http=HTTPModes.http1, websockets=False,
            backlog=limits["backlog"], backpressure=limits["connections"],
            http1_settings=HTTP1Settings(
                header_read_timeout=int(limits["header_read_timeout_s"] * 1000),
                max_buffer_size=limits["max_header_bytes"]),
            log_enabled=False)
        await self._granian.serve()

    def start(self, timeout_s: float = 30.0) -> None:
        """Serve on a daemon thread; return once connections are accepted.

        :raises OSError: the server did not start listening within ``timeout_s``."""
        def run() -> None:
            try:
                self.run()
            except BaseException as error:  # reported by start, or logged
                self._failed = error
                log.exception("the HTTP server stopped")

        self._thread = threading.Thread(target=run, name="provml-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    (self.host, self.effective_port), timeout=1):
                return
            if self._failed is not None or not self._thread.is_alive():
                raise OSError(f"the server did not start: {self._failed}")
            if time.monotonic() > deadline:
                raise OSError(f"the server did not listen on port {self.effective_port} "
                              f"within {timeout_s:g} s")
            time.sleep(0.02)

    def serving(self) -> bool:
        """Whether the thread of :meth:`start` still serves."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop accepting and end the serving loop (from any thread)."""
        loop, granian = self._loop, self._granian
        if loop is not None and granian is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                # granian's stop waits for running requests: end first those that wait on
                # a client (a body arriving, an answer being taken), up to 15 s otherwise
                abort = getattr(self.front, "abort", None)
                if abort is not None:
                    loop.call_soon_threadsafe(abort)
                loop.call_soon_threadsafe(granian.stop)
        if self._thread is not None and self._thread is not threading.current_thread():
            # granian (hyper) has no write timeout and waits for every answer it was handed:
            # a client taking its answer slowly would hold the stop for as long as it reads
            self._thread.join(timeout=SHUTDOWN_WAIT_S)
            if self._thread.is_alive():
                log.warning("the HTTP server did not stop within %g s (clients still taking "
                            "their answers): their connections end with the process",
                            SHUTDOWN_WAIT_S)


def _bindable(host: str, port: int) -> int:
    """``port`` (a free one for 0), after checking that it can be bound on ``host``.

    :raises OSError: the address is in use or cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as granian binds: past connections of a server that ended (TIME_WAIT) do not count,
        # a listening socket does (also one of another provml serve)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        bound: int = probe.getsockname()[1]
    return bound


def make_server(
    config: Mapping[str, Any],
    *,
    host: str = "127.0.0.1",
    port: int = 7878,
    threads: int = 16,
    kg: Any | None = None,
    broker: str | None = None,
    writer_group_most: int | None = None,
    writer_linger_s: float | None = None,
) -> tuple[Server, Flask]:
    """Build the app and a server for ``host:port`` (not yet serving).

    :param config: the app config (see :mod:`provml.endpoint.config`).
    :param threads: request threads (concurrent requests past the cache). Queries hold at most
        ``3 × QUERY_WORKERS`` of them (running or briefly queued), so keep ``threads`` above
        that: the rest answer ``/health`` and cheap requests while runaway queries run.
    :param kg: serve this ``KnowledgeGraph`` instead of opening one from ``config``.
    :param broker: a Redis URL: also run the broker's writer (:mod:`provml.ingest.writer`) into
        this store, and show the ingest lag on ``/health``.
    :param writer_group_most: the most entries that writer stores as one group
        (:meth:`provml.ingest.writer.Writer.for_memory`; ``None``: its default);
        ``writer_linger_s`` that writer's linger (``None``: its default).
    :raises OSError: the address is in use.
    :raises StoreLocked: the store is held by another process.
    """
    from provml.endpoint.config import CONFIG_KEY
    from provml.endpoint.fast_reads import FastReads

    app = create_app(config, kg=kg)
    if broker is not None:
        from provml.ingest.streams import GROUP_FIRST, GROUP_MOST
        from provml.ingest.writer import Writer, WriterThread

        # each group it writes tells the query workers and the result cache (new data)
        first, most = Writer.for_memory(writer_group_most) if writer_group_most is not None else \
            (GROUP_FIRST, GROUP_MOST)
        writer = WriterThread(broker, app.extensions["provml.kg"], on_write=app.extensions[RUNNER_KEY].changed,
                              batch=first, batch_most=most,
                              **({} if writer_linger_s is None else {"linger_s": writer_linger_s})).start()
        app.extensions["provml.broker"] = writer
        close = app.extensions["provml.close"]

        def close_all() -> None:
            writer.close()  # the writer stops before the store closes
            close()

        app.extensions["provml.close"] = close_all
    try:
        settings = app.extensions[CONFIG_KEY]
        fast = app.wsgi_app if isinstance(app.wsgi_app, FastReads) else None
        front = Front(app, threads=threads, fast=fast,
                      max_body=int(settings.max_body_mb * 1024 * 1024),
                      body_timeout_s=CONNECTION_LIMITS["body_timeout_s"],
                      body_min_rate=CONNECTION_LIMITS["body_min_rate"],
                      send_timeout_s=CONNECTION_LIMITS["send_timeout_s"],
                      send_min_rate=CONNECTION_LIMITS["send_min_rate"],
                      max_unsent=(int(settings.max_unsent_mb * 1024 * 1024)
                                  if settings.max_unsent_mb else None))
        server = Server(front, host, port)
    except BaseException:
        app.extensions["provml.close"]()
        raise
    return server, app


def close_server(server: Server, app: Flask) -> None:
    """Stop ``server`` (running requests end first, briefly) and close the app's store."""
    try:
        # kill the query workers first: requests waiting on them answer at once
        app.extensions[RUNNER_KEY].close()
        server.stop()
        if isinstance(server.front, Front):
            server.front.close(SHUTDOWN_WAIT_S)
    finally:
        app.extensions["provml.close"]()


def serve(
    config: Mapping[str, Any],
    *,
    host: str = "127.0.0.1",
    port: int = 7878,
    threads: int = 16,
    out: IO[str] | None = None,
    broker: str | None = None,
    writer_group_most: int | None = None,
    writer_linger_s: float | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, printing the URLs to ``out`` (stderr by default).

    :raises OSError: the address is in use.
    :raises StoreLocked: the store is held by another process.
    """
    out = out or sys.stderr
    logs = log_to_stderr()
    workers = int(config.get("QUERY_WORKERS") or 4)
    if threads <= 3 * workers:
        print(f"warning: --threads {threads} leaves no thread for /health and cheap requests "
              f"when {workers} query workers are busy and {2 * workers} queries wait; use more "
              f"than {3 * workers}", file=out, flush=True)
    server, app = make_server(config, host=host, port=port, threads=threads, broker=broker,
                              writer_group_most=writer_group_most, writer_linger_s=writer_linger_s)
    shown = f"[{host}]" if ":" in host else host
    root = str(config.get("BASE_URL") or f"http://{shown}:{server.effective_port}").rstrip("/")
    stopped: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        # only a flag: a handler runs on the main thread between two of its bytecodes, and one
        # that took a lock (Event.set, the runner's close) deadlocked when the main thread held
        # it — inside Event.wait (a CI run's server hung on SIGTERM, 22nd session). The loop
        # below sees the flag; close_server then kills the query workers first
        stopped.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        processes = app.extensions[RUNNER_KEY].processes
        if processes is not None and processes.path is not None:
            processes.wait_started()  # the first queries do not wait for them
        server.start()  # listening before the URLs are printed
        print(f"provml endpoint on {root}/  (SPARQL {root}/sparql, graph store {root}/store, "
              f"health {root}/health); Ctrl-C stops", file=out, flush=True)
        while not stopped and server.serving():
            time.sleep(0.05)  # (no lock: see on_signal)
        if not stopped:
            raise OSError("the HTTP server stopped unexpectedly (see the log above)")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        close_server(server, app)
        logs()  # every record written
        print("provml endpoint: stopped, store closed", file=out, flush=True)
