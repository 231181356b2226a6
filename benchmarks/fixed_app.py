"""An ASGI app that answers every request with the same bytes (the simple SELECT's JSON answer
from provml), served the way ``provml serve`` serves (granian embedded, the same connection
settings: :class:`provml.endpoint.server.Server`): the ceiling of any answer from the front's
event loop on this machine — what a cached read could reach if provml did nothing — for
``benchmarks/endpoint.py`` only.

    python benchmarks/fixed_app.py PORT BODY_FILE
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]


def make_app(body: bytes) -> Callable[..., Awaitable[None]]:
    headers = [(b"content-type", b"application/sparql-results+json; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), (b"vary", b"Accept")]

    async def app(scope: Message, receive: Callable[[], Awaitable[Message]],
                  send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


def main() -> None:
    from provml.endpoint.server import Server

    port, body = int(sys.argv[1]), Path(sys.argv[2]).read_bytes()
    Server(make_app(body), "127.0.0.1", port).run()  # until SIGTERM ends the process


if __name__ == "__main__":
    main()
