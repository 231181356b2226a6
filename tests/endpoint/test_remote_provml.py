"""`--remote provml+URL`: the CLI writing to and reading from another provml endpoint (its
/sparql for queries and updates, /store for graphs, the token as bearer or as Basic password)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import paper_fixture as pf
import pytest
from click.testing import CliRunner
from endpoint_servers import TOKEN, LiveServer

from provml.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("user", [None, "provml"])
def test_cli_against_a_provml_endpoint(make_live_server: Callable[..., LiveServer], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, user: str | None) -> None:
    server = make_live_server()
    spec = f"provml+{server.url}"
    spool = tmp_path / "spool.jsonl"
    spool.write_text("".join(json.dumps(e) + "\n" for e in pf.all_events()))
    code, _, err = run("load", str(spool), "--remote", spec)
    assert code == 2 and "401" in err  # no credentials: refused, nothing written
    monkeypatch.setenv("PROVML_REMOTE_TOKEN", TOKEN)
    if user:
        monkeypatch.setenv("PROVML_REMOTE_USER", user)  # the token as HTTP Basic password
    code, out, err = run("load", str(spool), "--remote", spec)
    assert code == 0, (out, err)
    stats = json.loads(run("stats", "--remote", spec, "--format", "json")[1])
    assert stats["runs"] == 4 and stats["classes"]["Model"] == 4
    code, out, _ = run("query", "q4", "--remote", spec, "--format", "json")
    assert code == 0
    assert len(json.loads(out)["results"]["bindings"]) == sum(len(s["epochs"]) for s in pf.RUNS.values())
