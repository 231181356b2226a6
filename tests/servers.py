"""Real servers for tests: start ``oxigraph serve`` on 127.0.0.1, wait until it answers, stop it.

Used by the ``oxigraph_server`` fixture in ``conftest.py``; usable directly too::

    with OxigraphServer(tmp_path / "db") as server:
        store = RemoteStore(server.url)

The binary is the one the PyPI package ``oxigraph`` installs next to the interpreter
(``.venv/bin/oxigraph``), else the first ``oxigraph`` on ``PATH``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = ["OxigraphServer", "ServerError", "free_port", "oxigraph_binary"]


class ServerError(RuntimeError):
    """The server could not start; carries what it wrote to stderr."""


def oxigraph_binary() -> str | None:
    """The ``oxigraph`` executable of this environment, or None when not installed."""
    beside = Path(sys.executable).parent / "oxigraph"
    if beside.exists():
        return str(beside)
    return shutil.which("oxigraph")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OxigraphServer:
    """One ``oxigraph serve --location DIR --bind 127.0.0.1:PORT`` process.

    :param location: the store directory (None: a fresh temporary one, removed on stop).
    :param union_default_graph: start with ``--union-default-graph``.
    :param start_timeout_s: how long to wait for the first answer.
    """

    def __init__(
        self,
        location: Path | None = None,
        *,
        union_default_graph: bool = False,
        start_timeout_s: float = 20.0,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if location is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="provml-oxigraph-")
            location = Path(self._tmp.name) / "db"
        self.location = location
        self.union_default_graph = union_default_graph
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr_text(self) -> str:
        """What the server wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def start(self) -> Self:
        """Start the server and wait until ``GET /`` answers.

        :raises ServerError: no binary, the process exited, or no answer in time (with stderr).
        """
        binary = oxigraph_binary()
        if binary is None:
            raise ServerError("no oxigraph binary: pip install oxigraph")
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = free_port()
            command = [binary, "serve", "--location", str(self.location)]
            command += ["--bind", f"127.0.0.1:{self.port}"]
            if self.union_default_graph:
                command.append("--union-default-graph")
            if self._stderr is not None:
                self._stderr.close()
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=self._stderr, stdin=subprocess.DEVNULL
            )
            if self._wait_ready():
                return self
            self.stop()
        raise ServerError(f"oxigraph serve did not start: {self.stderr_text()}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=1) as response:
                    response.read()
                return True
            except urllib.error.HTTPError:
                return True  # it answers, whatever the status
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Terminate the server and wait for it (kill after 10 s). Idempotent."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        """Stop the server and remove its temporary directory and log."""
        self.stop()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
