"""The HTTP front of ``provml serve``: an ASGI app that granian (a Rust HTTP/1.1 server, in the
server's own process) runs on one asyncio event loop, in front of the WSGI app (Flask).

Why it is long: every wait on a client (body, answer, refusal, stop) runs through the one
:class:`Front` and its :class:`_Exchange` with a thread, and their limits only hold together.

Why not granian's own WSGI interface: it reads a request's body on the request's thread with no
time limit (emmett-framework/granian#728, closed as won't fix), so twenty POST bodies that stop
half-way held every thread and locked the server out (measured, issue 12). Here the loop reads
every body first, bounded in time and size, and only a complete request reaches a thread:

- **the body** is read on the loop: refused with 413 when its ``Content-Length`` or what arrives
  exceeds ``MAX_BODY_MB``, with 408 when no byte of it arrives for ``BODY_TIMEOUT_S`` seconds,
  or when it arrives more slowly than ``BODY_MIN_RATE`` bytes a second once its first
  ``BODY_TIMEOUT_S`` have passed (each byte received extends its time, as Apache's
  mod_reqtimeout ``MinRate``: a client trickling a byte now and then would otherwise hold its
  connection — one of granian's ``connections`` — for as long as it likes); bodies over 1 MiB
  wait in a temporary file, not in memory. A stalled body holds no thread.
- **a repeated plain read** (``GET /sparql?query=`` whose answer the result cache holds for the
  current store version, :class:`~provml.endpoint.fast_reads.FastReads`) is answered on the loop,
  without a thread: the same bytes, headers and access-log line as the WSGI path.
- **everything else** runs the WSGI app on one of ``threads`` daemon threads. Its answer goes
  back to the loop a piece at a time; a client that stops reading (no piece written for
  ``SEND_TIMEOUT_S``) or goes away ends the request, and the thread is free again: a thread
  never waits on the loop without a time limit (a2wsgi's bridge does, so a slow reader, or a
  stop, could hold a thread for good — why this module has its own).
- **every answer** is handed to granian in pieces of ``PIECE_BYTES``
  (:mod:`provml.endpoint.sending`):
  granian holds at most 32 of them a connection and makes ``send`` wait while they are not
  written, so the loop sees a client that reads slowly. Each piece must be taken within
  ``SEND_TIMEOUT_S`` and the whole answer at ``SEND_MIN_RATE`` on average after that (else
  the connection is closed); answers over a piece, each held whole until its client has taken
  it, count against ``MAX_UNSENT_BYTES`` all together, past which a 503 goes instead. Handed
  over whole, an answer was buffered whole by granian, with no time limit: clients that read a
  few bytes a second each held their answer (64 MiB at most) for hours. An answer in a file
  (``wsgi.file_wrapper``: the dump, static files) is sent by the loop from its file, its
  thread free at once.

Stopping (:meth:`Front.abort`, on the loop, before granian stops) ends at once whatever waits on
a client — a body arriving (``503``), an answer being taken — since granian's stop waits for
every running request: a client that holds its body or its answer would hold the stop for up
to ``BODY_TIMEOUT_S`` or ``SEND_TIMEOUT_S`` (measured: SIGTERM took 10 s, the server's own limit
on the wait, with one such client).

Every answer names its server ``provml`` (``Server``): granian would add ``granian`` to one that
names none, telling an attacker which HTTP parser's bugs to try.

Requests whose framing is wrong are refused before anything else (:func:`_framing_error`,
RFC 9112): an HTTP/1.1 request with no ``Host``, an empty one or several, and a transfer coding
other than ``chunked`` (which granian would ignore, reading a compressed body as it came).

Proxy headers (``X-Forwarded-*``, ``Forwarded``) are dropped: no proxy is trusted, so a client
cannot choose the URLs the app writes (waitress's ``clear_untrusted_proxy_headers``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import logging
import queue
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import IO, Any

from provml.endpoint.errors import error_body
from provml.endpoint.sending import (
    PIECE_BYTES,
    SEND_MIN_RATE,
    SEND_TIMEOUT_S,
    FileAnswer,
    Message,
    Send,
    Sending,
)

__all__ = ["BODY_MIN_RATE", "BODY_TIMEOUT_S", "MAX_UNSENT_BYTES", "Front"]

log = logging.getLogger("provml.endpoint")

#: seconds a request body may go without a byte arriving before it is refused (408)
BODY_TIMEOUT_S = 15.0
#: bytes a second a request body must average once its first ``BODY_TIMEOUT_S`` have passed
BODY_MIN_RATE = 16 * 1024
#: the answers of more than ``PIECE_BYTES`` that clients are taking, all together, at most
MAX_UNSENT_BYTES = 512 * 1024 * 1024
#: bodies larger than this wait for their thread in a temporary file
SPOOL_BYTES = 1024 * 1024
#: the ``Server`` header of every answer
SERVER = (b"server", b"provml")
#: seconds a refusal or an answer may take to be written once the server is stopping
STOPPING_SEND_S = 1.0

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_DROPPED = frozenset({"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO",
                      "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_BY", "HTTP_FORWARDED"})
_HEADER_NAMES: dict[bytes, str] = {b"content-type": "CONTENT_TYPE",
                                   b"content-length": "CONTENT_LENGTH"}


def _environ_name(name: bytes) -> str:
    known = _HEADER_NAMES.get(name)
    if known is None:
        known = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        if len(_HEADER_NAMES) < 4096:  # a client may send any names: the memo stays bounded
            _HEADER_NAMES[name] = known
    return known


def environ_of(scope: Scope) -> dict[str, Any]:
    """The WSGI environ of an ASGI HTTP ``scope`` (PEP 3333), without ``wsgi.input``."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client")
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    query = scope.get("query_string", b"")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "REQUEST_URI": (raw + (b"?" + query if query else b"")).decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "SERVER_SOFTWARE": "provml",
        "REMOTE_ADDR": str(client[0]) if client else "",
        "REMOTE_PORT": str(client[1]) if client else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.errors": _LOG_STREAM,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileAnswer,
    }
    for name, value in scope.get("headers", ()):
        key = _environ_name(name)
        if key in _DROPPED:
            continue
        text = value.decode("latin-1")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    return environ


def _framing_error(scope: Scope) -> tuple[int, str] | None:
    """What is wrong with a request's framing headers (status, message), or None.

    RFC 9112: an HTTP/1.1 request without a ``Host``, with an empty one (granian gives a request
    without one an empty one; an ``http`` URI has a host) or with more than one is a 400
    (§3.2); a transfer coding other than ``chunked`` is not understood here: 501 (§6.1). A
    request with both ``Transfer-Encoding`` and ``Content-Length`` never shows the latter here:
    granian reads it by the transfer coding alone and closes the connection after, as §6.1
    allows.
    """
    hosts = 0
    host = b""
    coding: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            hosts += 1
            host = value
        elif name == b"transfer-encoding":
            coding = value if coding is None else coding + b"," + value
    if hosts > 1:
        return 400, (f"the request has {hosts} Host headers; send exactly one "
                     f"(RFC 9112, section 3.2)")
    if not host and scope.get("http_version", "1.1") == "1.1":
        return 400, ("the request has no Host header or an empty one, which HTTP/1.1 forbids; "
                     "send the server's name in one (RFC 9112, section 3.2)")
    if coding is not None and coding.strip().lower() != b"chunked":
        shown = coding.decode("latin-1")[:40]
        return 501, (f"the transfer coding {shown!r} is not understood here; send the body "
                     f"with Content-Length or 'Transfer-Encoding: chunked' alone")
    return None


class _LogStream:
    """``wsgi.errors``: what the app writes there goes to the log."""

    def write(self, text: str) -> None:
        if text.strip():
            log.warning("%s", text.rstrip())

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


_LOG_STREAM = _LogStream()


def _error_answer(status: int, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of an error the front writes itself, in the one error shape."""
    body = json.dumps(error_body(status, message)).encode()
    return [(b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode())], body


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Stopping(Exception):
    """What waited on a client was ended: the server is stopping."""


class _Threads:
    """``count`` daemon threads running calls in turn (a stop never waits on a stuck one)."""

    def __init__(self, count: int) -> None:
        self.calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._run, name=f"provml-request-{i}",
                                         daemon=True) for i in range(count)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while (call := self.calls.get()) is not None:
            try:
                call()
            except BaseException:  # a call reports its own failures; the thread goes on
                log.exception("request thread: unexpected error")

    def close(self, wait_s: float) -> None:
        for _ in self.threads:
            self.calls.put(None)
        for thread in self.threads:
            thread.join(wait_s / max(1, len(self.threads)))


class Front:
    """The ASGI app granian runs (see the module docstring).

    :param app: the WSGI app (its ``wsgi_app`` may be a
        :class:`~provml.endpoint.fast_reads.FastReads`, whose cache is then read on the loop).
    :param threads: request threads.
    :param max_body: the largest request body, in bytes.
    :param max_unsent: the answers of more than :data:`PIECE_BYTES` that clients are taking,
        in bytes, all together (None: no limit); one past it is refused (503).
    """

    def __init__(self, app: WsgiApp, *, threads: int, max_body: int,
                 fast: Any | None = None, body_timeout_s: float = BODY_TIMEOUT_S,
                 body_min_rate: float = BODY_MIN_RATE,
                 send_timeout_s: float = SEND_TIMEOUT_S, send_min_rate: float = SEND_MIN_RATE,
                 max_unsent: int | None = MAX_UNSENT_BYTES) -> None:
        self.app = app
        self.fast = fast
        self.max_body = max_body
        self.body_timeout_s = body_timeout_s
        self.body_min_rate = body_min_rate
        self.send_timeout_s = send_timeout_s
        self.send_min_rate = send_min_rate
        self.max_unsent = max_unsent
        self.unsent = 0  # bytes of the answers over PIECE_BYTES being taken (on the loop only)
        self.threads = _Threads(threads)
        self.stopping = False
        self._waiting: set[asyncio.Task[Any]] = set()  # tasks awaiting a client
        self._aborted: set[asyncio.Task[Any]] = set()

    def close(self, wait_s: float) -> None:
        """Refuse new requests, end the answers being sent, stop the threads (waiting up to
        ``wait_s`` seconds for running requests)."""
        self.stopping = True
        self.threads.close(wait_s)

    def abort(self) -> None:
        """On the loop: refuse new requests and end every wait on a client now (see the module
        docstring)."""
        self.stopping = True
        for task in self._waiting:
            self._aborted.add(task)
            task.cancel()

    async def _on_client(self, awaitable: Awaitable[Any], timeout_s: float) -> Any:
        """``awaitable`` (a read from or a write to the client) within ``timeout_s``;
        :meth:`abort` ends it with :class:`_Stopping`."""
        task = asyncio.current_task()
        assert task is not None
        if self.stopping:
            timeout_s = min(timeout_s, STOPPING_SEND_S)
        self._waiting.add(task)
        try:
            return await asyncio.wait_for(awaitable, timeout_s)
        except asyncio.CancelledError:
            if task not in self._aborted:  # granian's (the client went away): go on ending
                raise
            self._aborted.discard(task)
            task.uncancel()
            raise _Stopping from None
        finally:
            self._waiting.discard(task)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # websockets are not served
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        framing = _framing_error(scope)
        if framing is not None:
            await self._refuse(send, *framing)
            return
        environ = environ_of(scope)
        if self.fast is not None:
            hit = self.fast.cached(environ)
            if hit is not None:
                status, headers, body = hit
                await self._answer(send, [
                    {"type": "http.response.start", "status": status,
                     "headers": [*headers, SERVER]},
                    {"type": "http.response.body", "body": body, "more_body": False}])
                return
        try:
            body, size = await self._body(environ, receive)
        except _Refused as refused:
            await self._refuse(send, refused.status, str(refused))
            return
        except _Stopping:
            await self._refuse(send, 503, "the server is stopping; send the request again "
                                          "once it is back")
            return
        # the body is here whole: the app reads it by its length (a chunked one too)
        environ["wsgi.input"] = body
        environ["wsgi.input_terminated"] = True
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        if size or "CONTENT_LENGTH" in environ:
            environ["CONTENT_LENGTH"] = str(size)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Message]] = loop.create_future()
        exchange = _Exchange(self, loop, send, done)
        self.threads.calls.put(lambda: exchange.run(environ))
        try:
            last = await done  # the end of the answer comes with the thread's end
            if last:
                await self._answer(send, last, exchange.sending)
            if exchange.file is not None and not exchange.abandoned:
                await exchange.sending.write_file(exchange.file)
        except Exception:  # noqa: S110 - the client went away or stopped reading (or a stop)
            pass
        finally:
            exchange.abandoned = True  # a disconnect cancels this task: the thread stops
            if exchange.file is not None:
                exchange.file.close()
            body.close()

    def sending(self, send: Send) -> Sending:
        """A new answer's way to its client, under this front's send limits."""
        return Sending(send, self._on_client, self.send_timeout_s, self.send_min_rate)

    async def _answer(self, send: Send, messages: list[Message],
                      sending: Sending | None = None) -> None:
        """Write ``messages`` (the end of an answer, or all of it) to the client at its pace
        (:meth:`sending`). An answer whole in them, of more than :data:`PIECE_BYTES`, counts
        against ``max_unsent`` while it is taken: past it, a 503 goes instead (each is held
        whole until its client has taken it, and slow clients, each within the time limits,
        could otherwise hold any number of them). One answer alone is always sent (each is
        bounded by ``MAX_ANSWER_MB``)."""
        size = sum(len(m["body"]) for m in messages if m["type"] == "http.response.body")
        held = size if messages[0]["type"] == "http.response.start" and size > PIECE_BYTES else 0
        if (held and self.max_unsent is not None and self.unsent
                and self.unsent + held > self.max_unsent):
            log.warning("%d instead of %d: an answer of %d bytes not sent, as clients are "
                        "taking %d bytes of answers (MAX_UNSENT_MB)", 503,
                        messages[0]["status"], held, self.unsent)
            headers, body = _error_answer(503, _unsent_refusal(held, self.max_unsent))
            held, messages = 0, [
                {"type": "http.response.start", "status": 503,
                 "headers": [*headers, (b"retry-after", b"5"), SERVER]},
                {"type": "http.response.body", "body": body, "more_body": False}]
        self.unsent += held
        try:
            await (sending or self.sending(send)).write(messages)
        except Exception:  # noqa: S110 - the client went away or stopped reading (or a stop)
            pass
        finally:
            self.unsent -= held

    async def _body(self, environ: dict[str, Any], receive: Receive) -> tuple[IO[bytes], int]:
        """The request body, read whole under the limits (see the module docstring)."""
        declared = environ.get("CONTENT_LENGTH")
        if not declared and "HTTP_TRANSFER_ENCODING" not in environ or declared == "0":
            return _EMPTY, 0  # no body: nothing to wait for
        if declared:
            if not declared.isdigit():
                raise _Refused(400, f"Content-Length is not a number: {declared[:40]!r}")
            if int(declared) > self.max_body:
                raise _Refused(413, _too_large(self.max_body))
        # closed by the caller once the request has ended (or below, when it is refused)
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        size = 0
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            while True:
                try:
                    message = await self._on_client(receive(), self.body_timeout_s)
                except TimeoutError:
                    raise _Refused(408, f"the request body stopped arriving (nothing for "
                                        f"{self.body_timeout_s:g} s); send it whole") from None
                if message.get("type") == "http.disconnect":
                    raise _Refused(400, "the request body ended before it was whole: the "
                                        "connection closed, or a chunk size was not a "
                                        "hexadecimal number; send the body whole, with its "
                                        "Content-Length or well-formed chunks")
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > self.max_body:
                        raise _Refused(413, _too_large(self.max_body))
                    spool.write(chunk)
                    self._check_rate(size, loop.time() - started)
                if not message.get("more_body", False):
                    break
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, size

    def _check_rate(self, size: int, elapsed_s: float) -> None:
        """Refuse a body behind its minimum rate: it has ``body_timeout_s`` seconds, plus a
        second for each ``body_min_rate`` bytes received."""
        if self.body_min_rate > 0 and elapsed_s > self.body_timeout_s + size / self.body_min_rate:
            raise _Refused(408, f"the request body arrives too slowly ({size} bytes in "
                                f"{elapsed_s:.0f} s; at least {self.body_min_rate:g} bytes/s are "
                                f"needed after the first {self.body_timeout_s:g} s); send it "
                                f"whole, faster")

    async def _refuse(self, send: Send, status: int, message: str) -> None:
        headers, body = _error_answer(status, message)
        log.info("refused before the app: %s %s", status, message)
        await self._answer(send, [
            {"type": "http.response.start", "status": status,
             "headers": [*headers, (b"connection", b"close"), SERVER]},
            {"type": "http.response.body", "body": body, "more_body": False}])


class _Empty(io.BytesIO):
    """The body of a request without one (shared: closing it does nothing)."""

    def close(self) -> None:
        pass


_EMPTY = _Empty()


def _unsent_refusal(size: int, limit: int) -> str:
    return (f"clients are taking as many answers as this server holds for them "
            f"({limit // (1024 * 1024)} MiB, MAX_UNSENT_MB); this one ({size} bytes) was not "
            f"sent: send the request again shortly, or narrow it (LIMIT) for a smaller answer")


def _too_large(limit: int) -> str:
    return (f"the request body is larger than this endpoint accepts ({limit} bytes, "
            f"MAX_BODY_MB)")


class _Exchange:
    """One request on its thread: runs the WSGI app and hands its answer to the loop — all of
    it with the thread's end when it is one piece (one wake-up of the loop), else piece by
    piece, each written before the next is made (the client's pace bounds the memory)."""

    def __init__(self, front: Front, loop: asyncio.AbstractEventLoop, send: Send,
                 done: asyncio.Future[list[Message]]) -> None:
        self.front = front
        self.loop = loop
        self.send = send
        self.done = done
        self.abandoned = False
        self.sending = front.sending(send)  # the pace of the whole answer, piece by piece
        self.file: FileAnswer | None = None  # an answer the loop sends from its file
        self.sent = False  # the start of the answer went to the loop
        self.start: Message | None = None
        self.last: list[Message] = []

    def run(self, environ: dict[str, Any]) -> None:
        try:
            if not self.abandoned and not self.front.stopping:
                self._respond(environ)
        except Exception:  # Flask answers its own errors: this is the server's fault
            log.exception("the app failed outside its error handlers")
            if not self.sent and not self.abandoned:
                headers, body = _error_answer(500, "internal error; see the server log")
                self.start = {"type": "http.response.start", "status": 500,
                              "headers": [*headers, SERVER]}
                self.last = self._messages(body, last=True)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self.loop.call_soon_threadsafe(self._finish, self.last)

    def _respond(self, environ: dict[str, Any]) -> None:
        result = self.front.app(environ, self._start_response)
        if isinstance(result, FileAnswer):
            self.file, self.last = result, self._messages(b"", last=False)
            return  # (closed by the loop once sent)
        try:
            # one piece behind: the last one goes with the thread's end, so an answer made
            # whole (one piece: most are) never holds the thread while its client takes it
            held = b""
            for chunk in result:
                if not chunk:
                    continue
                if held and not self._deliver(held):
                    return  # the client is gone: stop producing the answer
                held = chunk
            self.last = self._messages(held, last=True)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _start_response(self, status: str, headers: list[tuple[str, str]],
                        exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None and self.sent:
            raise exc_info[1].with_traceback(exc_info[2])  # PEP 3333: too late to change
        code = int(status.split(" ", 1)[0])
        self.start = {"type": "http.response.start", "status": code,
                      "headers": [*((k.lower().encode("latin-1"), v.encode("latin-1"))
                                    for k, v in headers), SERVER]}
        return self._write_now

    def _write_now(self, chunk: bytes) -> None:
        """PEP 3333's ``write`` callable."""
        self._deliver(chunk)

    def _messages(self, chunk: bytes, *, last: bool) -> list[Message]:
        messages: list[Message] = []
        if self.start is not None:
            messages.append(self.start)
            self.start = None
            self.sent = True
        messages.append({"type": "http.response.body", "body": chunk, "more_body": not last})
        return messages

    def _deliver(self, chunk: bytes) -> bool:
        """Hand a piece of the answer to the loop and wait until it is written; False when the
        answer cannot go on (client gone or too slow, the server stopping)."""
        if self.abandoned or self.front.stopping:
            self.abandoned = True
            return False
        try:
            future = asyncio.run_coroutine_threadsafe(
                self._write(self._messages(chunk, last=False)), self.loop)
            # each piece of the chunk within the send limit (the loop ends the write past it)
            pieces = 1 + len(chunk) // PIECE_BYTES
            written: bool = future.result(pieces * self.front.send_timeout_s + 1)
        except (RuntimeError, TimeoutError, concurrent.futures.CancelledError):
            written = False  # the loop is closed or stopped
        if not written:
            self.abandoned = True
        return written

    async def _write(self, messages: list[Message]) -> bool:
        try:
            await self.sending.write(messages)
        except Exception:
            return False
        return True

    def _finish(self, last: list[Message]) -> None:
        if self.abandoned and self.file is not None:  # (the loop's request ended first)
            self.file.close()
        if not self.done.done():
            self.done.set_result([] if self.abandoned else last)
