"""Broker mode: the capture client appends bags to a Redis stream; ingest workers take them from there.

``Client(broker="redis://host:6379/0")`` sends each bag with ``XADD`` to the stream
``provml:events`` (one entry per bag: the events as one JSON array, their count, the send time).
Workers (``provml ingest-worker``, :mod:`provml.ingest.worker`) read it in a consumer group.

When Redis cannot take a bag — unreachable, out of memory (``maxmemory``), or the stream already
holds ``max_backlog`` bags nobody has read — :class:`RedisSink` raises
:class:`~provml.capture.sinks.SinkUnavailable`, and the client's flusher does what it does for any
sink that is down: the bag waits in the diskful spool (a ``pending-*.jsonl`` file) and is sent
again, in order, when Redis is back. Memory stays bounded (the client's ``max_queue``); nothing is
dropped. The stream is never trimmed by the client.

The Redis client (``redis`` from PyPI, the ``redis`` extra) is imported on the flusher thread at
the first send, so ``import provml`` stays light.
"""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Any

from provml.capture.redact import safe_url
from provml.capture.sinks import SinkUnavailable

__all__ = ["EVENTS", "QUADS", "DEAD", "TYPES", "WORKERS", "WRITERS", "RedisSink", "connect"]

#: the stream of bags from capture clients
EVENTS = "provml:events"
#: the stream of validated quads from workers to the one writer of an embedded store
QUADS = "provml:quads"
#: rejected bags, with the event error or the SHACL report
DEAD = "provml:dead"
#: the types of the nodes written so far (node IRI -> space-separated class IRIs), for workers
TYPES = "provml:types"
#: consumer groups
WORKERS = "provml-workers"
WRITERS = "provml-writer"


def connect(url: str, *, timeout_s: float = 5.0) -> Any:
    """A ``redis.Redis`` for ``url`` (``redis://host:port/db``), with socket timeouts.

    :raises ImportError: the ``redis`` package is missing (``pip install 'provml[redis]'``).
    :raises ValueError: the URL's path is no database number (redis-py reads ``/abc`` as db 0).
    """
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
        raise ImportError("broker mode needs the redis package: pip install 'provml[redis]'") from exc
    check_url(url)
    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)


def check_url(url: str) -> None:
    """Refuse a broker URL whose path is no database number (redis-py reads ``/abc`` as db 0,
    and a worker joined the wrong database without a word: a probe, twenty-sixth session).

    >>> check_url("redis://127.0.0.1:6379/0")
    >>> check_url("redis://127.0.0.1:6379/abc")
    Traceback (most recent call last):
    ValueError: the broker URL's path 'abc' is no database number: write redis://host:port/0 (or /1, /2 ...)
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path.strip("/")
    if parts.scheme in ("redis", "rediss") and path and not path.isdigit():
        raise ValueError(f"the broker URL's path {path!r} is no database number: write redis://host:port/0 (or /1, /2 ...)")


class RedisSink:
    """Append bags to a Redis stream (``XADD``); see the module's text.

    :param url: ``redis://host:port/db``.
    :param stream: the stream name.
    :param max_backlog: most bags the stream may hold before the sink reports itself unavailable
        (the client then keeps bags in its spool); 0: no limit.
    """

    def __init__(self, url: str, *, stream: str = EVENTS, max_backlog: int = 1_000_000) -> None:
        check_url(url)
        self.url = url
        self.stream = stream
        self.max_backlog = max_backlog
        self.name = f"broker {safe_url(url)}"
        self._redis: Any = None
        self._checked = 0.0
        #: what a send imports on first use (imported before a fork: provml.capture.client.before_fork)
        self.imports = ("redis",)

    def send(self, lines: list[str]) -> None:
        import redis

        try:
            if self._redis is None:
                self._redis = connect(self.url)
            now = time.monotonic()
            if self.max_backlog and now - self._checked > 1.0:
                self._checked = now
                if self._redis.xlen(self.stream) >= self.max_backlog:
                    raise SinkUnavailable(sink=self.name, reason=f"the stream holds {self.max_backlog} bags or more")
            body = "[" + ",".join(lines) + "]"
            self._redis.xadd(self.stream, {"bag": body, "n": len(lines), "t": repr(time.time())})
        except redis.RedisError as exc:  # connection refused, timeouts, OOM, read-only replica ...
            self._drop()
            raise SinkUnavailable(sink=self.name, reason=str(exc)) from exc

    def _drop(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._redis.close()
            self._redis = None

    def forked(self) -> RedisSink:
        """The same stream for a child of ``os.fork``, on a connection of its own."""
        child = copy.copy(self)
        child._redis = None
        child._checked = 0.0
        return child

    def close(self) -> None:
        self._drop()
