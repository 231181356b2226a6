"""``provml serve`` started for a benchmark: on a free loopback port, answering ``/health``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(store: Path, *options: str, token: str, env: dict[str, str] | None = None,
                pin: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    """``provml serve --store STORE OPTIONS`` with the write token ``token``, once ``/health``
    answers: the process and its URL. The caller stops it (or use :func:`serving`). ``env``:
    more environment (``PYTHONPATH``: an older tree's package, ahead of the editable install);
    ``pin``: on CPU 1 alone (``taskset -c 1``)."""
    port = free_port()
    command = [str(BIN / "provml"), "serve", "--store", str(store), "--port", str(port), *options]
    server = subprocess.Popen(
        ["taskset", "-c", "1", *command] if pin else command,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PROVML_TOKEN": token, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(url + "/health", timeout=1)
            return server, url
        except requests.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("provml serve did not start") from None
            time.sleep(0.1)


@contextmanager
def serving(store: Path, *options: str, token: str, env: dict[str, str] | None = None,
            pin: bool = False) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """:func:`start_serve` for a ``with`` block: the process and its port; stopped after."""
    server, url = start_serve(store, *options, token=token, env=env, pin=pin)
    try:
        yield server, int(url.rsplit(":", 1)[1])
    finally:
        server.terminate()
        server.wait(timeout=60)
