"""A live endpoint for tests: the real app behind the real server (granian and the front) on a
loopback socket (free port), run on a thread. Used by ``conftest.py``'s ``live_server`` fixtures; test modules import
``LiveServer`` (for types) and ``TOKEN``/``AUTH`` from here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from servers import free_port

from provml.endpoint.server import close_server, make_server
from provml.knowledge import KnowledgeGraph
from provml.store import Store

TOKEN = "test-write-token-7d1e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class LiveServer:
    """A running endpoint: its root ``url`` (no trailing slash), the served ``store``, and a
    keep-alive ``session``."""

    url: str
    store: Store
    session: requests.Session
    app: Flask

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=30, **kwargs)


def start_live_server(config: Mapping[str, Any], kg: KnowledgeGraph) -> tuple[LiveServer, Callable[[], None]]:
    server, application = make_server(config, host="127.0.0.1", port=0, threads=4, kg=kg)
    server.start()
    live = LiveServer(f"http://127.0.0.1:{server.effective_port}", kg.store, requests.Session(),
                      application)

    def stop() -> None:
        live.session.close()
        close_server(server, application)

    return live, stop


class Serve:
    """``provml serve --port P ARGS`` as a subprocess, started and answering."""

    PROVML = str(Path(sys.executable).parent / "provml")

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [self.PROVML, "serve", "--port", str(self.port), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})})
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.process.communicate()
            try:
                requests.get(self.url + "/health", timeout=1)
                return
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "provml serve did not start"
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out + err


def connect(live: LiveServer | Serve, timeout_s: float = 5) -> socket.socket:
    """A raw connection to ``live`` (for requests a client library would not send)."""
    host, port = live.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout_s)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Read until the server closes (or the socket's timeout): the status and JSON body."""
    data = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def raw_get(live: LiveServer, target: str, host: str) -> tuple[int, bytes]:
    """A GET with a ``Host`` header requests would not send, over a raw socket: its status and
    body."""
    port = int(live.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                     .encode("latin-1"))
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body
