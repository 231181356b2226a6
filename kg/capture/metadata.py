"""Execution metadata for ``workflow_begin`` events: where and with what a workflow ran.

Host, process id, platform, Python, versions of key packages *already imported* (nothing is
imported to find a version), the batch-scheduler job, the git commit of the script's repository,
and environment variables **only through an allow-list** — with anything that looks like a secret
removed even when allow-listed (names with TOKEN, SECRET, PASSWORD, KEY, AUTH, COOKIE, SESSION …,
values shaped like tokens, URLs with credentials), and secrets inside the values kept redacted
(``password=[redacted]``, see :mod:`provml.capture.redact`).

>>> is_secret_name("GITHUB_TOKEN"), is_secret_name("OMP_NUM_THREADS")
(True, False)
>>> looks_like_secret("ghp_abcdefghijklmnopqrstuvwxyz0123456789"), looks_like_secret("4")
(True, False)
"""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from provml.capture import redact
from provml.capture.redact import redact_text

__all__ = [
    "KEY_PACKAGES",
    "collect",
    "environment",
    "git_commit",
    "is_secret_name",
    "job",
    "looks_like_secret",
    "packages",
    "script_dir",
]

#: import names whose versions are recorded when they are already imported
KEY_PACKAGES = (
    "torch",
    "lightning",
    "pytorch_lightning",
    "keras",
    "tensorflow",
    "sklearn",
    "numpy",
    "pandas",
    "scipy",
    "provml",
)

_SCHEDULERS = (("SLURM", "SLURM_JOB_ID"), ("PBS", "PBS_JOBID"), ("LSF", "LSB_JOBID"))


#: an environment variable's name that says it holds a secret, and a value shaped like a
#: credential (:mod:`provml.capture.redact`, which ingest applies to the environment of events
#: from any client)
is_secret_name = redact.is_secret_env_name
looks_like_secret = redact.looks_like_secret


def environment(
    allowlist: Iterable[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The allow-listed environment variables that are set and are not secrets.

    :param allowlist: variable names to record (exact names).
    :param environ: the environment to read (default ``os.environ``).

    >>> environment(["OMP_NUM_THREADS", "API_TOKEN"], {"OMP_NUM_THREADS": "1", "API_TOKEN": "x"})
    {'OMP_NUM_THREADS': '1'}
    """
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for name in allowlist:
        val = env.get(name)
        if val is None or is_secret_name(name) or looks_like_secret(val):
            continue
        out[name] = redact_text(val)  # DATABASE_DSN="host=db password=..." keeps host=db
    return out


def packages() -> dict[str, str]:
    """Versions of the key packages that this process has already imported."""
    out: dict[str, str] = {}
    for name in KEY_PACKAGES:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None) if module is not None else None
        if isinstance(version, str):
            out[name] = version
    return out


def job(environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """The batch-scheduler job (SLURM, PBS or LSF) this process runs in, if any."""
    env = os.environ if environ is None else environ
    for scheduler, variable in _SCHEDULERS:
        if env.get(variable):
            return {"scheduler": scheduler, "id": env[variable]}
    return None


def script_dir() -> Path:
    """The directory of the running script (``__main__``), else the working directory."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return Path(path).resolve().parent if path else Path.cwd()


def git_commit(directory: str | os.PathLike[str] | None = None, *, timeout_s: float = 2.0) -> str | None:
    """The commit checked out in the git repository holding ``directory`` (``None`` if none).

    :param directory: where to look (default: the running script's directory).
    :param timeout_s: give up after this long (network file systems can be slow).
    """
    where = Path(directory) if directory is not None else script_dir()
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def collect(
    *, env_allowlist: Iterable[str] = (), commit: str | None = None, with_git: bool = True
) -> dict[str, Any]:
    """The ``meta`` object of a ``workflow_begin`` event.

    :param env_allowlist: environment variables to record (secrets are dropped regardless).
    :param commit: a git commit already known (skips running git).
    :param with_git: look the commit up with ``git rev-parse HEAD`` when ``commit`` is None.

    >>> sorted(collect(with_git=False))[:3]
    ['hostname', 'packages', 'pid']
    """
    meta: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": packages(),
    }
    if commit is None and with_git:
        commit = git_commit()
    if commit:
        meta["git_commit"] = commit
    scheduled = job()
    if scheduled:
        meta["job"] = scheduled
    env = environment(env_allowlist)
    if env:
        meta["env"] = env
    return meta
