"""Execution metadata: host, process, packages, job, git commit; env only by allow-list, no secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import provml
from provml.capture import metadata
from provml.capture.spool import read_events

SECRETS = {
    "API_TOKEN": "tok-value-1",
    "DB_PASSWORD": "hunter2",
    "AWS_SECRET_ACCESS_KEY": "secret-value-2",
    "MY_AUTH_HEADER": "auth-value-3",
    "SESSION_ID": "session-value-4",
    "OPENAI_KEY": "key-value-5",
}
TOKEN_VALUES = {
    "INNOCENT_A": "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
    "INNOCENT_B": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "INNOCENT_C": "postgres://user:pa55word@db.example.org/x",
    "INNOCENT_D": "Zk3q9VbX7mP2rT8wY4nL6sD1fH5jK0cA",
    "INNOCENT_E": "AKIAIOSFODNN7EXAMPLE",
}
HARMLESS = {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "0,1", "HOME_DIR": "/home/alice/work"}


def test_allow_listed_variables_are_recorded_and_secrets_never() -> None:
    environ = {**SECRETS, **TOKEN_VALUES, **HARMLESS, "NOT_LISTED": "1"}
    got = metadata.environment([*SECRETS, *TOKEN_VALUES, *HARMLESS], environ)
    assert got == HARMLESS


def test_secrets_never_reach_a_spool_even_when_allow_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, val in {**SECRETS, **TOKEN_VALUES, **HARMLESS}.items():
        monkeypatch.setenv(name, val)
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False,
                           env_allowlist=[*SECRETS, *TOKEN_VALUES, *HARMLESS])
    with client.workflow("wf"):
        pass
    client.close()
    assert client.spool_path is not None
    text = client.spool_path.read_text()
    for val in [*SECRETS.values(), *TOKEN_VALUES.values()]:
        assert val not in text
    begin = next(read_events(client.spool_path))
    assert begin["meta"]["env"] == HARMLESS


def test_metadata_names_host_process_python_and_imported_packages_only() -> None:
    meta = metadata.collect(with_git=False)
    assert meta["pid"] > 0 and meta["hostname"] and meta["python"].count(".") == 2
    assert meta["packages"].get("provml") == provml.__version__
    for name in meta["packages"]:
        assert name in sys.modules


def test_jobs_of_the_three_schedulers() -> None:
    assert metadata.job({"SLURM_JOB_ID": "42"}) == {"scheduler": "SLURM", "id": "42"}
    assert metadata.job({"PBS_JOBID": "7.pbs"}) == {"scheduler": "PBS", "id": "7.pbs"}
    assert metadata.job({"LSB_JOBID": "9"}) == {"scheduler": "LSF", "id": "9"}
    assert metadata.job({}) is None


def test_git_commit_of_a_repository_and_none_elsewhere(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=a@b", "-c", "user.name=a", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "f").write_text("x")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    assert metadata.git_commit(repo) == head.stdout.strip()
    plain = tmp_path / "plain"
    plain.mkdir()
    assert metadata.git_commit(plain) is None


def test_the_git_commit_is_added_off_the_callers_thread(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=a@b", "-c", "user.name=a", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    script = repo / "train.py"
    script.write_text(
        "import sys, provml\n"
        "c = provml.Client(spool_dir=sys.argv[1], online=False, flush_interval_s=60)\n"
        "with c.workflow('wf') as wf:\n"
        "    assert 'git_commit' not in wf._begin['meta']  # not looked up on this thread\n"
        "c.close()\n"
    )
    subprocess.run([sys.executable, str(script), str(tmp_path / "spool")], check=True)
    (spool,) = (tmp_path / "spool").glob("provml-*.jsonl")
    begin = next(read_events(spool))
    assert begin["meta"]["git_commit"] == head.stdout.strip()
