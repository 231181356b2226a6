"""Sinks: where the capture client's flusher thread delivers bags of events.

A sink takes a bag as JSON texts (one per event) and either stores it, or raises one of:

* :class:`SinkUnavailable` — try again later (endpoint down, store locked, 5xx, 401/403);
* :class:`BagRejected` — the bag breaks the format or the shapes; resending will not help;
* :class:`BagTooLarge` — split the bag and send the halves (HTTP 413).

Two sinks ship: :class:`StoreSink` (an embedded Oxigraph store in this process, through
``provml.knowledge``) and :class:`HttpSink` (``POST {endpoint}/api/events``, standard library
only, over one kept-alive connection, gzip-compressed; ``import provml`` stays light). Spool-only (offline) capture has no sink.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Protocol

from provml.errors import Error

__all__ = ["BagRejected", "BagTooLarge", "HttpSink", "Sink", "SinkUnavailable", "StoreSink"]


class SinkUnavailable(Error):
    """The sink cannot take events now; the client keeps them and retries with backoff."""

    template = "{sink} is unavailable: {reason}"
    sink: str
    reason: str


class BagRejected(Error):
    """The sink refused a bag (format or shapes); it goes to a ``rejected-*.jsonl`` file."""

    template = "{sink} rejected a bag of {count} event(s): {report}"
    sink: str
    count: int
    report: Any


class BagTooLarge(Error):
    """The bag is larger than the sink accepts; the client splits it."""

    template = "{sink}: a bag of {count} event(s) is too large"
    sink: str
    count: int


class Sink(Protocol):
    """What the flusher needs from a sink."""

    name: str

    def send(self, lines: list[str]) -> None:
        """Store the bag (JSON text per event) or raise one of this module's errors."""

    def close(self) -> None:
        """Release resources (called on the flusher thread at close)."""


class StoreSink:
    """An embedded on-disk Oxigraph store, opened lazily on the flusher thread.

    :param path: the store directory (``provml.knowledge.open_kg``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = f"store {self.path}"
        self._kg: Any = None

    def send(self, lines: list[str]) -> None:
        from provml import errors

        if self._kg is None:
            from provml.knowledge import open_kg

            try:
                self._kg = open_kg(self.path)
            except errors.StoreLocked as exc:
                raise SinkUnavailable(sink=self.name, reason=str(exc)) from exc
        events = [json.loads(line) for line in lines]
        try:
            self._kg.ingest_events(events)
        except (errors.ValidationFailed, errors.EventError) as exc:
            raise BagRejected(sink=self.name, count=len(lines), report=_report(exc)) from exc

    def close(self) -> None:
        if self._kg is not None:
            self._kg.close()
            self._kg = None

    #: no ``forked()``: a child of ``os.fork`` cannot use the parent's RocksDB (its threads are
    #: not copied; a child that even exits normally can hang in RocksDB's exit handler), so its
    #: flusher writes a spool file instead (:meth:`provml.capture.flusher.Flusher.forked`)


def _report(exc: BaseException) -> Any:
    out: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
    report = getattr(exc, "report", None)
    results = getattr(report, "results", None)
    if results:
        out["results"] = [
            {k: getattr(r, k, None) for k in ("focus_node", "path", "constraint", "message")}
            for r in results[:50]
        ]
    fields = getattr(exc, "fields", None)
    if fields:
        out["fields"] = {k: v for k, v in fields.items() if isinstance(v, str | int | float)}
    return out


class HttpSink:
    """``POST {endpoint}/api/events`` with ``{"events": [...]}`` and a bearer token.

    202 stores; 422, and 400 in the endpoint's error shape, reject (the body is the report); 413
    asks to split; 401/403, 5xx, another 400 (a proxy's) and connection errors mean "later". One persistent HTTP/1.1 connection (keep-alive), opened
    on the flusher thread and reopened when the server closed it (keep-alive saves ~35 % of
    the client's CPU per bag against a new connection each time). Bodies over 1 KiB to a
    remote endpoint are sent gzip-compressed (``Content-Encoding: gzip``, ~10× smaller); to a
    loopback endpoint they are not (compressing cost ~25 % more CPU and saved nothing
    measurable there). An endpoint that answers 415 to gzip gets plain JSON from then on.

    :param endpoint: the endpoint's base URL, e.g. ``http://127.0.0.1:5000``.
    :param token: the bearer token (sent as ``Authorization: Bearer <token>``).
    :param timeout_s: socket timeout per request.
    :param gzip: compress bodies (less traffic, some CPU here); default: unless the
        endpoint's host is ``localhost`` or a loopback address.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        gzip: bool | None = None,
    ) -> None:
        from urllib.parse import urlsplit

        from provml.capture.redact import safe_url

        self.url = endpoint.rstrip("/") + "/api/events"
        self.name = f"endpoint {safe_url(endpoint)}"
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"endpoint {safe_url(endpoint)!r} is not an http:// or https:// URL")
        if parts.username is not None or parts.password is not None:
            raise ValueError(f"endpoint {safe_url(endpoint)!r} holds credentials (user:password@), which "
                             "provml never sends: give the write token as token=")
        if token:
            token = token.strip()  # a token read whole from a file ends in a line break
            if any(ord(c) < 33 or ord(c) == 127 for c in token):
                raise ValueError("the endpoint token holds a space or a control character: "
                                 "give the token itself (its value is not repeated here)")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout_s = timeout_s
        if gzip is None:
            gzip = not _loopback(parts.hostname)
        self._gzip = gzip
        self._conn: Any = None
        #: what a request imports on first use (imported before a fork: provml.capture.client.before_fork)
        self.imports = ("http.client", "gzip", *(("ssl",) if self._https else ()))

    def _connection(self) -> Any:
        import http.client  # here, not at import: `import provml` stays light

        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout_s)
        return self._conn

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        import http.client

        for attempt in (1, 2):
            reused = self._conn is not None
            conn = self._connection()
            try:
                conn.request("POST", self._path, body, headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if reused and attempt == 1:
                    continue  # the server closed the idle connection: once more on a new one
                raise SinkUnavailable(sink=self.name, reason=str(exc) or type(exc).__name__) from exc
            if response.will_close:
                self.close()
            return response.status, data
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, lines: list[str]) -> None:
        self._send(('{"events":[' + ",".join(lines) + "]}").encode("utf-8"), len(lines))

    def send_compact(self, blob: bytes, count: int) -> None:
        """Send a bag in the compact form (:mod:`provml.capture.encoding`: one JSON array of
        events and compact cycle records, which the endpoint expands); the same answers as
        :meth:`send`."""
        self._send(b'{"events":' + blob + b"}", count)

    def _send(self, body: bytes, count: int) -> None:
        headers = self._headers
        if self._gzip and len(body) > 1024:
            import gzip

            headers = {**headers, "Content-Encoding": "gzip"}
            status, data = self._post(gzip.compress(body, compresslevel=1), headers)
            if status == 415:  # an endpoint that does not take gzip: plain JSON from now on
                self._gzip = False
                headers = self._headers
                status, data = self._post(body, headers)
        else:
            status, data = self._post(body, headers)
        if 200 <= status < 300:
            return
        text = data.decode("utf-8", "replace")
        if status == 422 or (status == 400 and _endpoints_error(text)):
            raise BagRejected(sink=self.name, count=count, report=_json_or_text(text))
        if status == 413:
            raise BagTooLarge(sink=self.name, count=count)
        from provml.capture.redact import redact_cut  # (redacted, then cut: not the other way)

        raise SinkUnavailable(sink=self.name, reason=f"HTTP {status}: {redact_cut(text, 300)}")

    def forked(self) -> HttpSink:
        """The same endpoint for a child of ``os.fork``, on a connection of its own (the
        parent's socket stays the parent's)."""
        child = copy.copy(self)
        child._headers = dict(self._headers)
        child._conn = None
        return child

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _endpoints_error(text: str) -> bool:
    """Whether a 400's body is the endpoint's own error shape (``{"ok": false, "status": 400,
    "error": ...}``): the bag is at fault. Any other 400 (a proxy's page in between) says nothing
    of the bag: "later", not rejected (a proxy's 400s sent 18 of 22 events to the rejected
    file, never retried: an audit, twenty-first session)."""
    found = _json_or_text(text)
    return isinstance(found, dict) and found.get("ok") is False and found.get("status") == 400


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
