"""A real ``redis-server`` for tests: 127.0.0.1, a free port, a temporary directory, append-only
file on; started, restarted (same port and data) and stopped by the tests.

``make test`` installs Debian's ``redis-server`` when it is missing (Makefile ``system-deps``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from servers import ServerError, free_port

__all__ = ["RedisServer"]


class RedisServer:
    """One ``redis-server`` process; :meth:`restart` stops it cleanly and starts it again on the
    same port and directory (the append-only file brings the streams back)."""

    def __init__(self, directory: Path | None = None, *, start_timeout_s: float = 20.0,
                 extra_args: tuple[str, ...] = ()) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise ServerError("redis-server is not installed: run `make system-deps` (Debian redis-server)")
        self.binary = binary
        self._own_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="provml-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.extra_args = extra_args

    def start(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
                "--appendonly", "yes", "--save", "", "--protected-mode", "yes", "--daemonize", "no",
                "--logfile", str(self.directory / "redis.log"), *self.extra_args]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + self.start_timeout_s
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            while True:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    self.stop()
                    raise ServerError(f"redis-server exited: {err}")
                try:
                    if client.ping():
                        return self
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise ServerError("redis-server did not answer in time")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis fsyncs the append-only file and exits
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def restart(self, *, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
