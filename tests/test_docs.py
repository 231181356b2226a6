"""The docs stay honest: every CLI command is in the README, whose --help blocks are current; every
repository file and every ``provml`` name the docs mention exists."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from provml.cli import main

ROOT = Path(__file__).resolve().parents[1]


def commands(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += commands(cmd, prefix + name + " ")
        else:
            out.append(prefix + name)
    return out


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in commands(main):
        cmd = main
        for part in name.split():
            cmd = cmd.commands[part]  # type: ignore[attr-defined]
        assert cmd.help, f"provml {name} has no help"
        assert f"provml {name}" in readme, f"provml {name} is missing from README.md"


def test_readme_help_blocks_are_current() -> None:
    proc = subprocess.run([sys.executable, "-m", "cogapp", "--check", "README.md"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, "README.md is stale: run `.venv/bin/cog -r README.md`\n" + proc.stdout + proc.stderr


def test_docs_link_targets_exist() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\((docs/[^)#]+)\)", readme):
        assert (ROOT / target).exists(), f"README links to missing {target}"


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: where a ``provml/...`` path of the installed package lives in the repository
PACKAGE_FOLDERS = {"provml/endpoint/": "endpoint/", "provml/ontology/": "ontology/",
                   "provml/shapes/": "shapes/", "provml/": "kg/"}
TOP = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}


def _repo_paths(text: str) -> set[str]:
    """Paths in code spans and links that start at a folder of the repository (or ``provml/``)."""
    found = set()
    for span in re.findall(r"`([^`\s]+)`", text) + re.findall(r"\]\(([^)\s#]+)", text):
        span = span.split("#")[0].rstrip(".,:;")
        first = span.split("/")[0]
        if "/" in span and "://" not in span and not re.search(r"[*{}<>$]", span) and (
                first in TOP or first == "provml"):
            found.add(span)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_repository_path_the_docs_mention_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = []
    for path in sorted(_repo_paths(text)):
        real = path
        for package, folder in PACKAGE_FOLDERS.items():
            if path.startswith(package):
                real = folder + path[len(package):]
                break
        if not (ROOT / real).exists():
            missing.append(path)
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", text)]
    missing += [link for link in links
                if link and "://" not in link and not link.startswith("mailto:")
                and not (doc.parent / link).exists()]
    assert missing == []


def test_the_path_check_sees_paths() -> None:
    assert _repo_paths("see `kg/cli.py`, [x](docs/events.md) and `provml/events/x.json`") == {
        "kg/cli.py", "docs/events.md", "provml/events/x.json"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_provml_name_the_docs_mention_exists(doc: Path) -> None:
    """``provml.events.SCHEMA`` in docs/events.md named nothing; now every dotted name resolves."""
    missing = []
    for span in re.findall(r"`([^`\n]+)`", doc.read_text(encoding="utf-8")):
        for name in re.findall(r"(?<![\"'\w])provml(?:\.[A-Za-z_]\w*)+", span):  # not in quotes
            if re.search(r"\.(ttl|owl|xml|nq|nt|trig|jsonld|gz|zip|css|js|json|rq|py|md|html)$", name):
                continue  # a file name
            parts = name.split(".")
            for i in range(len(parts), 0, -1):
                try:
                    obj = importlib.import_module(".".join(parts[:i]))
                except ImportError:
                    continue
                try:
                    for attribute in parts[i:]:
                        obj = getattr(obj, attribute)
                except AttributeError:
                    missing.append(name)
                break
    assert missing == []


def _endpoint_option_rows() -> list[tuple[str, str, str]]:
    """(option, config key, default) of each row of docs/endpoint.md's option table."""
    rows = []
    for line in (ROOT / "docs" / "endpoint.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`--"):
            rows.append((cells[0].split("`")[1].split()[0], cells[1].strip("`"), cells[2]))
    return rows


def test_the_endpoint_option_table_gives_the_real_defaults() -> None:
    """The defaults docs/endpoint.md quotes are those of ``provml serve`` and of ``Config``."""
    from provml.endpoint.config import Config

    serve = main.commands["serve"]
    options = {opt: param for param in serve.params for opt in param.opts}
    rows = _endpoint_option_rows()
    assert len(rows) >= 15
    checked = 0
    for option, key, default in rows:
        first = default.split()[0].strip("`")
        param = options[option]  # every option the table names exists
        if first in ("on", "off"):
            expected: object = first == "on"
            actual: object = param.default if isinstance(param.default, bool) else False
        elif re.fullmatch(r"\d+(\.\d+)?", first):
            expected = float(first)
            actual = float(param.default)
        else:
            if re.fullmatch(r"[\d.]+", first):  # a host: 127.0.0.1
                assert param.default == first, f"{option}: docs say {default!r}, the CLI {param.default!r}"
            continue
        assert actual == expected, f"{option}: docs say {default!r}, the CLI {param.default!r}"
        if key not in ("", "—") and key.isupper():
            field = getattr(Config, key.lower())
            assert (float(field) if not isinstance(expected, bool) else bool(field)) == expected, (
                f"{key}: docs say {default!r}, Config {field!r}")
        checked += 1
    assert checked >= 9


def _default(function: object, name: str) -> object:
    import inspect

    return inspect.signature(function).parameters[name].default  # type: ignore[arg-type]


def test_the_limits_the_docs_quote_are_the_code_s() -> None:
    """Each number docs quote for a limit of the code, next to the value the code has: a change on
    either side fails here until the other follows."""
    from provml.capture import flusher
    from provml.endpoint.api.events import MAX_VALUES
    from provml.endpoint.linked_data.void import dump_nquads_gz
    from provml.endpoint.sparql import evaluation, isolation, updates
    from provml.ingest.commits import COMMIT_EVENTS
    from provml.ingest.representatives import Verdicts
    from provml.ingest.worker import Worker
    from provml.ingest.writer import Writer
    from provml.interop.mlflow_source import ENVIRONMENT as mlflow_env
    from provml.store.oxigraph import BULK_MIN_QUADS

    docs = {name: (ROOT / "docs" / name).read_text(encoding="utf-8")
            for name in ("endpoint.md", "capture.md", "deployment.md", "store.md", "shapes.md", "interop.md")}
    quoted = [
        ("endpoint.md", "when solutions × update length pass 2,000,000", updates.TRIAL_WORK, 2_000_000),
        ("endpoint.md", "the whole within 10 × `--timeout-s`", evaluation.DUMP_LIMITS, 10),
        ("endpoint.md", "block by block (20,000 quads", _default(dump_nquads_gz, "chunk_quads"), 20_000),
        ("endpoint.md", "`RLIMIT_AS` at twice that plus 1 GiB", isolation._RESERVE_MB, 1024),
        ("endpoint.md", "with 2 malloc arenas", isolation._ARENAS, 2),
        ("endpoint.md", "up to 5,000 events and 5,000 values (`MAX_VALUES`) together", COMMIT_EVENTS, 5_000),
        ("endpoint.md", "up to 5,000 events and 5,000 values (`MAX_VALUES`) together", MAX_VALUES, 5_000),
        ("capture.md", "when **1,000** queued records wait", flusher.SPOOL_WAKE_RECORDS, 1000),
        ("capture.md", "wakes at most every **0.25 s**", flusher.LINGER_S, 0.25),
        ("capture.md", "(an endpoint: at most every **1 s**)", flusher.ENDPOINT_LINGER_S, 1.0),
        ("capture.md", "in **one request** (up to 8,000 records)", flusher.COALESCE_RECORDS, 8000),
        ("deployment.md", "it writes up to 64 workers' batches", _default(Writer.__init__, "batch"), 64),
        ("deployment.md", "validated batches (default 64), or the writer's next group",
         _default(Worker.__init__, "max_backlog"), 64),
        ("deployment.md", "up to half the batches it has written so far, up to 256",
         _default(Writer.__init__, "batch_most"), 256),
        ("deployment.md", "A group of 4,000 quads or more", BULK_MIN_QUADS, 4_000),
        ("store.md", "a batch of ≥ 4,000 quads", BULK_MIN_QUADS, 4_000),
        ("shapes.md", "past 200,000 numbered abstractions", _default(Verdicts.__init__, "limit"), 200_000),
        ("interop.md", "asked three times at most (two retries: the first at once, the second ≈ 2 s later, "
                       "plus MLflow's jitter of up to 1 s), 30 s a request",
         [mlflow_env[f"MLFLOW_HTTP_REQUEST_{name}"] for name in ("MAX_RETRIES", "BACKOFF_FACTOR", "TIMEOUT")],
         ["2", "1", "30"]),
    ]
    for doc, phrase, actual, said in quoted:
        assert phrase in " ".join(docs[doc].split()), f"docs/{doc} no longer says {phrase!r}"
        assert actual == said, f"docs/{doc} says {phrase!r}; the code has {actual!r}"


def test_every_benchmark_option_the_docs_show_exists() -> None:
    """``benchmarks/NAME.py --flag`` in a code span of the docs: the script takes ``--flag``."""
    shown = 0
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for command, name in re.findall(r"`([^`]*benchmarks/(\w+)\.py[^`]*)`", text):
            source = ROOT / "benchmarks" / f"{name}.py"
            assert source.exists(), f"{doc.name} runs the missing benchmarks/{name}.py"
            code = source.read_text(encoding="utf-8")
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", command.split(f"{name}.py", 1)[1]):
                shown += 1
                assert f'"{flag}"' in code, f"{doc.name}: benchmarks/{name}.py has no {flag} ({command!r})"
    assert shown >= 30


#: a query shown in the docs: the line that names its file, then its SPARQL block
SHOWN_QUERY = re.compile(r"The query \(`(kg/query/queries/[\w.]+\.rq)`\):\n\n```sparql\n(.*?)```", re.DOTALL)


def test_the_queries_the_docs_show_are_the_files() -> None:
    """A query copied into the docs is its file as it is now, less its ``#+`` header (two had
    gone stale: the docs showed versions before the queries were rewritten)."""
    shown = SHOWN_QUERY.findall((ROOT / "docs" / "queries.md").read_text(encoding="utf-8"))
    assert len(shown) >= 3
    for path, text in shown:
        body = "".join(line for line in (ROOT / path).read_text(encoding="utf-8").splitlines(keepends=True)
                       if not line.startswith("#+"))
        assert text.strip() == body.strip(), f"docs/queries.md shows an old {path}: copy the file's body"
