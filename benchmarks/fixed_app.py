"""A WSGI app that answers every request with the same bytes (the simple SELECT's JSON answer
from provml), served by waitress with ``provml serve``'s settings: the ceiling of any app under
waitress on this machine, for ``benchmarks/endpoint.py`` only.

    python benchmarks/fixed_app.py PORT THREADS BODY_FILE
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def make_app(body: bytes) -> Callable[..., Iterable[bytes]]:
    headers = [("Content-Type", "application/sparql-results+json; charset=utf-8"),
               ("Content-Length", str(len(body))), ("Vary", "Accept")]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", headers)
        return [body]

    return app


def main() -> None:
    from waitress import serve

    from provml.endpoint.server import CONNECTION_LIMITS

    port, threads, body = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]).read_bytes()
    serve(make_app(body), host="127.0.0.1", port=port, threads=threads, ident="provml",
          _quiet=True, **CONNECTION_LIMITS)


if __name__ == "__main__":
    main()
