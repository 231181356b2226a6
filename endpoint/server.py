"""Serving the app in production: waitress (a pure-Python multi-threaded WSGI server), never
Flask's development server.

:func:`serve` blocks until SIGINT or SIGTERM, then stops accepting, lets running requests end,
and closes the store (an on-disk store's lock is released). :func:`make_server` builds the server
without running it, for tests that run it on a thread (port 0 picks a free port).

>>> server, app = make_server({}, port=0)
>>> int(server.effective_port) > 0
True
>>> close_server(server, app)
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from typing import IO, Any

from flask import Flask

from provml.endpoint.app import create_app
from provml.endpoint.context import RUNNER_KEY

__all__ = ["close_server", "log_to_stderr", "make_server", "run_server", "serve"]

log = logging.getLogger("provml.endpoint")

#: how long stopping waits for request threads after the query workers are killed: a thread
#: caught starting a replacement worker on a busy machine must not hold a SIGTERM for long
#: (the process exits afterwards all the same; its threads are daemons)
SHUTDOWN_WAIT_S = 2.0

#: waitress settings that bound idle and slow clients: a connection silent for
#: ``channel_timeout`` seconds is closed (checked every ``cleanup_interval``); at most
#: ``connection_limit`` connections are open at once (reading requests does not hold a
#: thread: waitress reads them asynchronously and hands only complete requests to threads);
#: a request's headers may take at most ``max_request_header_size`` bytes.
CONNECTION_LIMITS: dict[str, Any] = {
    "channel_timeout": 15,
    "cleanup_interval": 5,
    "connection_limit": 500,
    "max_request_header_size": 64 * 1024,
    "backlog": 1024,
}


class _BlockingQueueHandler(logging.handlers.QueueHandler):
    """Waits when the queue is full (the writer is behind): no record is lost, memory bounded."""

    def __init__(self, records: queue.Queue[logging.LogRecord]) -> None:
        super().__init__(records)
        self.records = records

    def enqueue(self, record: logging.LogRecord) -> None:
        self.records.put(record)


def log_to_stderr(capacity: int = 10_000) -> Callable[[], None]:
    """Log at INFO to stderr from a thread of its own: request threads only hand their record
    (the access log line) to a queue of ``capacity`` records. Written directly, the stream
    handler's lock held across the write made threads queue behind each other: with 8 clients
    a cached answer took ~1.1 ms in the app instead of ~20 µs. Call the returned function
    to write what is left and detach the handler."""
    records: queue.Queue[logging.LogRecord] = queue.Queue(capacity)
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    listener = logging.handlers.QueueListener(records, writer)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler = _BlockingQueueHandler(records)
    root.addHandler(handler)
    listener.start()

    def stop() -> None:
        root.removeHandler(handler)
        listener.stop()

    return stop


def make_server(
    config: Mapping[str, Any],
    *,
    host: str = "127.0.0.1",
    port: int = 7878,
    threads: int = 16,
    kg: Any | None = None,
    broker: str | None = None,
) -> tuple[Any, Flask]:
    """Build the app and a waitress server bound to ``host:port`` (not yet serving).

    :param config: the app config (see :mod:`provml.endpoint.config`).
    :param threads: waitress worker threads (concurrent requests). Queries hold at most
        ``3 × QUERY_WORKERS`` of them (running or briefly queued), so keep ``threads`` above
        that: the rest answer ``/health`` and cheap requests while runaway queries run.
    :param kg: serve this ``KnowledgeGraph`` instead of opening one from ``config``.
    :param broker: a Redis URL: also run the broker's writer (:mod:`provml.ingest.worker`) into
        this store, and show the ingest lag on ``/health``.
    :raises OSError: the address is in use.
    :raises StoreLocked: the store is held by another process.
    """
    from waitress.server import create_server

    app = create_app(config, kg=kg)
    if broker is not None:
        from provml.ingest.worker import WriterThread

        # each group it writes tells the query workers and the result cache (new data)
        writer = WriterThread(broker, app.extensions["provml.kg"],
                              on_write=app.extensions[RUNNER_KEY].changed).start()
        app.extensions["provml.broker"] = writer
        close = app.extensions["provml.close"]

        def close_all() -> None:
            writer.close()  # the writer stops before the store closes
            close()

        app.extensions["provml.close"] = close_all
    try:
        server = create_server(app, host=host, port=port, threads=threads, ident="provml",
                               clear_untrusted_proxy_headers=True, **CONNECTION_LIMITS)
    except BaseException:
        app.extensions["provml.close"]()
        raise
    return server, app


def run_server(server: Any, stop: threading.Event, *, poll_s: float = 0.05) -> None:
    """Serve on this thread until ``stop`` is set, then close the server's sockets here (the
    thread that polls them). For running a server on a background thread.
    """
    from waitress import wasyncore

    while not stop.is_set():
        wasyncore.loop(timeout=poll_s, map=server._map, count=1)
    server.task_dispatcher.shutdown(timeout=SHUTDOWN_WAIT_S)
    wasyncore.close_all(server._map)


def close_server(server: Any, app: Flask) -> None:
    """Stop ``server`` (running requests end first) and close the app's store. Call it on the
    thread that ran the server (or when it never ran)."""
    from waitress import wasyncore

    try:
        # kill the query workers first: requests waiting on them answer at once
        app.extensions[RUNNER_KEY].close()
        server.task_dispatcher.shutdown(timeout=SHUTDOWN_WAIT_S)
        wasyncore.close_all(server._map)  # the listener, the wake-up pipe, open keep-alives
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
    server, app = make_server(config, host=host, port=port, threads=threads, broker=broker)
    shown = f"[{host}]" if ":" in host else host
    root = str(config.get("BASE_URL") or f"http://{shown}:{server.effective_port}").rstrip("/")
    print(f"provml endpoint on {root}/  (SPARQL {root}/sparql, graph store {root}/store, "
          f"health {root}/health); Ctrl-C stops", file=out, flush=True)

    def stop(signum: int, frame: Any) -> None:
        # end running queries first (their worker processes are killed, their requests
        # answer 503): waitress then waits at most a moment for its threads
        app.extensions[RUNNER_KEY].close()
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()  # waitress returns here on KeyboardInterrupt (raised by `stop`)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        close_server(server, app)
        logs()  # every record written
        print("provml endpoint: stopped, store closed", file=out, flush=True)
