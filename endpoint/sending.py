"""How ``provml serve``'s front (:mod:`provml.endpoint.front`) writes an answer to its client:
in pieces, at the client's pace, within time limits.

granian's ASGI ``send`` waits while it holds 32 pieces of a connection that are not written
yet (a bounded channel; measured with granian 2.8.9: a client that did not read took ≈ 70
pieces of 64 KiB, that channel's and the two sockets' buffers, then ``send`` waited). An
answer handed to it whole was taken whole at once, and written for as long as its client kept
the connection, with no time limit. Handed over in pieces of :data:`PIECE_BYTES`, a client
that reads slowly makes the next piece wait, and :class:`Sending` ends the answer past its
limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from werkzeug.wsgi import FileWrapper

__all__ = ["PIECE_BYTES", "SEND_MIN_RATE", "SEND_TIMEOUT_S", "FileAnswer", "Message", "Send",
           "Sending"]

#: seconds a client may take to take each piece of an answer before the request is ended
SEND_TIMEOUT_S = 15.0
#: bytes a second an answer must be taken at, on average, once its first ``SEND_TIMEOUT_S``
#: have passed
SEND_MIN_RATE = 64 * 1024
#: the pieces an answer is handed to granian in (granian holds at most 32 a connection)
PIECE_BYTES = 64 * 1024

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
#: runs a wait on the client within a time limit (the front's, which a stop can end)
OnClient = Callable[[Awaitable[Any], float], Awaitable[Any]]


class FileAnswer(FileWrapper):
    """``wsgi.file_wrapper`` (PEP 3333): an answer in a file, which the app returns as it is
    (Werkzeug's ``wrap_file`` with ``direct_passthrough``: ``send_file``, the dump). The front
    ends its thread at once and sends the file at its client's pace (:meth:`Sending.write_file`):
    a slow client holds the file, not a thread (nor, for the dump, a query worker). Anything
    else iterates it as Werkzeug's own wrapper."""


class Sending:
    """One answer on its way to its client: handed to granian in pieces of at most
    :data:`PIECE_BYTES`, each taken within ``timeout_s``, and the whole answer at ``min_rate``
    bytes a second on average once its first ``timeout_s`` have passed (as a body must arrive:
    a client taking a piece now and then would otherwise hold its answer, and its connection,
    for as long as it likes). Only the time spent waiting on the client counts, not the app's
    making a streamed answer. Raises :class:`TimeoutError` past either limit (the caller ends
    the request).

    >>> async def main() -> list[int]:
    ...     taken: list[int] = []
    ...     async def send(message: Message) -> None:
    ...         taken.append(len(message["body"]))
    ...     async def on_client(wait: Awaitable[Any], timeout_s: float) -> Any:
    ...         return await asyncio.wait_for(wait, timeout_s)
    ...     await Sending(send, on_client, 15.0, 0).write(
    ...         [{"type": "http.response.body", "body": b"x" * 150_000, "more_body": False}])
    ...     return taken
    >>> asyncio.run(main())
    [65536, 65536, 18928]
    """

    def __init__(self, send: Send, on_client: OnClient, timeout_s: float,
                 min_rate: float) -> None:
        self.send = send
        self.on_client = on_client
        self.timeout_s = timeout_s
        self.min_rate = min_rate
        self.waited = 0.0  # seconds spent waiting on the client (not on the app)
        self.sent = 0

    async def write_file(self, file: FileAnswer) -> None:
        """The answer's rest, from ``file``, and its end."""
        while data := file.file.read(PIECE_BYTES):
            await self._piece({"type": "http.response.body", "body": data, "more_body": True},
                              len(data))
        await self._piece({"type": "http.response.body", "body": b"", "more_body": False}, 0)

    async def write(self, messages: list[Message]) -> None:
        """``messages`` (ASGI ``http.response.*``), each body in pieces."""
        for message in messages:
            body = message.get("body", b"")
            if message["type"] != "http.response.body" or len(body) <= PIECE_BYTES:
                await self._piece(message, len(body))
                continue
            view = memoryview(body)
            for start in range(0, len(body), PIECE_BYTES):
                piece = bytes(view[start:start + PIECE_BYTES])
                more = start + PIECE_BYTES < len(body) or message.get("more_body", False)
                await self._piece({"type": "http.response.body", "body": piece,
                                   "more_body": more}, len(piece))

    async def _piece(self, message: Message, size: int) -> None:
        self.sent += size
        limit = self.timeout_s
        if self.min_rate > 0:
            limit = min(limit, limit + self.sent / self.min_rate - self.waited)
            if limit <= 0:
                raise TimeoutError(f"the answer is taken too slowly ({self.sent} bytes in "
                                   f"{self.waited:.0f} s)")
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await self.on_client(self.send(message), limit)
        finally:
            self.waited += loop.time() - started
