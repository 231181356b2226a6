"""A real Virtuoso Open Source 7 server for tests (Debian ``virtuoso-opensource``): its own
database in a temporary directory, SQL and HTTP ports free on 127.0.0.1, SPARQL Update granted to
the anonymous ``SPARQL`` user (so ``/sparql`` and ``/sparql-graph-crud`` take writes), stopped
(and its files left to the temporary directory) on exit. Starting takes about 20 s: fixtures
start one per session."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from servers import free_port

INI = Path("/etc/virtuoso-opensource-7/virtuoso.ini")


def virtuoso_binary() -> str | None:
    return shutil.which("virtuoso-t")


class VirtuosoServer:
    """``with VirtuosoServer(tmp) as v: v.url`` → ``http://127.0.0.1:PORT``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sql_port = free_port()
        self.http_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def _ini(self) -> Path:
        db = self.directory / "db"
        db.mkdir(parents=True, exist_ok=True)
        text = INI.read_text()
        text = text.replace("/var/lib/virtuoso-opensource-7/db", str(db))
        text = re.sub(r"(?m)^ServerPort(\s*)= 1111", f"ServerPort\\1= 127.0.0.1:{self.sql_port}", text)
        text = re.sub(r"(?m)^ServerPort(\s*)= 8890", f"ServerPort\\1= 127.0.0.1:{self.http_port}", text)
        text = re.sub(r"(?m)^DirsAllowed(\s*)= .*$", f"DirsAllowed\\1= ., {db}", text)
        ini = self.directory / "virtuoso.ini"
        ini.write_text(text)
        return ini

    def isql(self, sql: str) -> str:
        done = subprocess.run(["isql-vt", str(self.sql_port), "dba", "dba", f"exec={sql}"],
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout

    def __enter__(self) -> VirtuosoServer:
        ini = self._ini()
        self.log = (self.directory / "stderr.log").open("wb")
        self.process = subprocess.Popen(["virtuoso-t", "-f", "-c", str(ini)], cwd=self.directory,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("virtuoso-t exited: "
                                   + (self.directory / "stderr.log").read_text(errors="replace")[-2000:])
            try:
                with urllib.request.urlopen(f"{self.url}/sparql?query=ASK%7B%7D", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("virtuoso-t did not answer within 120 s")
            time.sleep(0.5)
        self.isql('GRANT SPARQL_UPDATE TO "SPARQL";')
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
