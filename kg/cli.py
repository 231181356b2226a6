"""The ``provml`` command line: a thin shell over the library.

Why it is long: one click group whose commands are each a thin shell over the library; the
length is their options and help texts, which the README shows.

Exit codes follow pySHACL: 0 success / conforms, 1 does not conform or rejected, 2 could not run.
Heavy modules are imported inside the commands that need them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from provml._version import __version__

if TYPE_CHECKING:
    from provml.knowledge import KnowledgeGraph

__all__ = ["main"]


class CouldNotRun(click.ClickException):
    """A command could not run (unreadable input, locked store, ...): exit 2, no traceback."""

    exit_code = 2


_REMOTE_HELP = ("A remote SPARQL store instead of --store: URL (Oxigraph server), LAYOUT+URL "
                "(virtuoso+http://host:8890, provml+http://host:7878, fuseki+URL, graphdb+URL) or "
                "'query=URL;update=URL;store=URL'. Credentials: $PROVML_REMOTE_TOKEN "
                "(and $PROVML_REMOTE_USER for HTTP Basic).")
_REMOTE = click.option("--remote", default=None, envvar="PROVML_REMOTE", show_envvar=True,
                       help=_REMOTE_HELP)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="provml")
def main() -> None:
    """provml: workflow provenance of scientific ML as a PROV-ML knowledge graph."""


@main.group()
def ontology() -> None:
    """The shipped PROV-ML ontology."""


@ontology.command("info")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format.",
)
@click.option(
    "--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="An ontology file to describe instead of the shipped provml.ttl.",
)
def ontology_info_command(fmt: str, file: Path | None) -> None:
    """Ontology IRI, version, counts of classes and properties, and its imports as resolved
    through catalog-v001.xml (no network)."""
    import json

    from provml.ontology_info import ontology_info

    try:
        info = ontology_info(file)
    except (SyntaxError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    click.echo(json.dumps(info.as_dict(), indent=2) if fmt == "json" else info.text())


@main.command("serve")
@click.option("--store", "store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="On-disk Oxigraph store directory (created when missing). "
                   "Default: $PROVML_STORE, else .provml/store (unless --remote).")
@click.option("--remote", default=None, help=_REMOTE_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=7878, show_default=True, type=int, help="Port to bind.")
@click.option("--base-url", default=None, help="Public URL of this endpoint (sd:endpoint).")
@click.option("--token", default=None, envvar="PROVML_TOKEN", show_envvar=True,
              help="Bearer token every write needs.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Read the write token from this file.")
@click.option("--read-token", default=None, envvar="PROVML_READ_TOKEN", show_envvar=True,
              help="Bearer token reads need (default: reads are open).")
@click.option("--read-only", is_flag=True, help="Refuse every write.")
@click.option("--cors", "cors", multiple=True, help="Allow this origin cross-origin (repeatable; * for any).")
@click.option("--timeout-s", default=30.0, show_default=True, type=float, help="Query time limit (0: none).")
@click.option("--max-rows", default=100_000, show_default=True, type=int, help="Most result rows (0: no limit).")
@click.option("--max-body-mb", default=64.0, show_default=True, type=float, help="Largest request body.")
@click.option("--threads", default=16, show_default=True, type=int, help="Worker threads.")
@click.option("--broker", default=None, metavar="URL",
              help="Redis URL (redis://host:6379/0): also write what ingest workers validated into "
                   "this store (the one writer) and show the ingest lag on /health.")
@click.option("--isolate-queries", type=click.Choice(["thread", "process"]), default=None,
              help="'process' (default with --store): every query runs in a worker process, "
                   "killed at the time limit and capped in memory; 'thread': in this process.")
@click.option("--query-workers", default=4, show_default=True, type=int,
              help="Worker processes (queries evaluating at once).")
@click.option("--query-memory-mb", default=2048, show_default=True, type=int,
              help="Memory limit (RLIMIT_DATA) of each query worker process (0: none).")
@click.option("--fast-reads/--no-fast-reads", default=True, show_default=True,
              help="Answer plain GET /sparql?query= past Flask's request machinery (same "
                   "guards; off: every request through Flask).")
@click.option("--allow-remote", "allow_remote", multiple=True, metavar="URL_PREFIX",
              help="Let SERVICE and LOAD reach URLs starting with this prefix (repeatable; "
                   "http/https only). Default: no outbound requests.")
@click.pass_context
def serve_command(ctx: click.Context, store: Path | None, remote: str | None, host: str,
                  port: int, base_url: str | None, token: str | None, token_file: Path | None,
                  read_token: str | None, read_only: bool, cors: tuple[str, ...],
                  timeout_s: float, max_rows: int, max_body_mb: float, threads: int,
                  isolate_queries: str | None, query_workers: int, query_memory_mb: int,
                  allow_remote: tuple[str, ...], broker: str | None, fast_reads: bool) -> None:
    """Serve the knowledge graph: SPARQL 1.1 Protocol, Graph Store, APIs (waitress; Ctrl-C stops)."""
    from provml.endpoint.server import serve
    from provml.errors import Error
    from provml.knowledge import default_store_path

    for name, env in (("token", "PROVML_TOKEN"), ("read_token", "PROVML_READ_TOKEN")):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            click.echo(f"warning: --{name.replace('_', '-')} on the command line is visible to "
                       f"every user of this machine (ps, /proc); use {env} or --token-file",
                       err=True)
    if store is None and remote is None:
        store = default_store_path()
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    config = {"STORE": str(store) if store else None, "REMOTE": remote, "BASE_URL": base_url,
              "TOKEN": token, "READ_TOKEN": read_token, "READ_ONLY": read_only,
              "CORS_ORIGINS": cors, "TIMEOUT_S": timeout_s, "MAX_ROWS": max_rows,
              "MAX_BODY_MB": max_body_mb, "QUERY_ISOLATION": isolate_queries,
              "QUERY_WORKERS": query_workers, "QUERY_MEMORY_MB": query_memory_mb,
              "ALLOW_REMOTE": allow_remote, "FAST_READS": fast_reads}
    try:
        if broker is not None and store is None:
            raise ValueError("--broker needs --store: the writer writes into the on-disk store")
        serve(config, host=host, port=port, threads=threads, broker=broker)
    except (Error, OSError, ValueError, ImportError) as exc:
        raise CouldNotRun(str(exc)) from exc


@main.command("ingest-worker")
@click.option("--broker", required=True, metavar="URL", help="Redis URL, e.g. redis://127.0.0.1:6379/0.")
@click.option("--store", "store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="On-disk store: this process is its one writer (unless --no-writer).")
@click.option("--endpoint", "remote", default=None, metavar="URL",
              help="Base URL of a remote SPARQL 1.1 store: every worker writes to it.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(0, 256),
              help="Worker processes (check, translate, enrich, validate).")
@click.option("--no-writer", is_flag=True,
              help="Workers only: the writer of --store runs elsewhere (e.g. provml serve --broker).")
@click.option("--claim-idle-s", default=30.0, show_default=True, type=float,
              help="Take over bags another worker has held unacknowledged this long.")
@click.option("--connect-timeout-s", default=60.0, show_default=True, type=float,
              help="How long to wait for the broker at start before giving up (exit 2).")
def ingest_worker_command(broker: str, store: Path | None, remote: str | None, workers: int,
                          no_writer: bool, claim_idle_s: float, connect_timeout_s: float) -> None:
    """Ingest bags that capture clients put on a Redis stream (Client(broker=URL)): parallel
    workers check, translate, enrich and validate; one writer writes an on-disk store, or every
    worker writes a remote SPARQL store. Runs until SIGTERM or Ctrl-C (docs/deployment.md)."""
    from provml.errors import Error
    from provml.ingest.worker import run

    if (store is None) == (remote is None):
        raise click.UsageError("give --store DIR or --endpoint URL (one of them)")
    try:
        import redis

        run(broker, store=store, remote=remote, workers=workers, writer=not no_writer,
            claim_idle_s=claim_idle_s, connect_timeout_s=connect_timeout_s)
    except ImportError as exc:
        raise CouldNotRun(f"{exc}") from exc
    except redis.RedisError as exc:
        raise CouldNotRun(f"the broker {broker} cannot be used: {exc}") from exc
    except (Error, OSError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc


@main.command("validate")
@click.argument("data", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--shapes", "shapes", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="SHACL shapes file (repeatable). Default: the shapes provml ships.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Report format.")
@click.option("--input-format", default=None,
              help="RDF format of every DATA file (turtle, nt, nq, trig, jsonld, rdfxml). "
                   "Default: from each file's suffix.")
@click.option("--allow-warnings", is_flag=True,
              help="Exit 0 when every result is a warning or an info (the report still says "
                   "the data does not conform, as SHACL does).")
def validate_command(data: tuple[Path, ...], shapes: tuple[Path, ...], fmt: str,
                     input_format: str | None, allow_warnings: bool) -> None:
    """Check RDF files against provml's SHACL shapes, with the types the PROV-ML ontology
    entails. Exit 0 when the data conforms, 1 when it does not, 2 when it could not run.

    As in SHACL, any result (a violation, a warning or an info) means the data does not
    conform; with --allow-warnings only violations make the exit code 1."""
    import json

    from provml.errors import RdfSyntaxError
    from provml.ingest.validation import validate_files

    try:
        report = validate_files(list(data), shapes=list(shapes) or None, input_format=input_format)
    except (RdfSyntaxError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    except OSError as exc:
        raise CouldNotRun(f"cannot read {exc.filename}: {exc.strerror}") from exc
    click.echo(json.dumps(report.to_dict(), indent=2) if fmt == "json" else report.describe())
    passed = not report.violations if allow_warnings else report.conforms
    raise SystemExit(0 if passed else 1)


# -- knowledge graph commands ---------------------------------------------------------------------

_STORE_HELP = "On-disk store directory [default: $PROVML_STORE, else .provml/store]."


def _open(store: Path | None, *, create: bool = True, remote: str | None = None) -> KnowledgeGraph:
    """Open the knowledge graph of ``--store`` (or the default) or ``--remote``, turning
    failures into exit 2."""
    from provml.errors import Error
    from provml.knowledge import default_store_path, open_kg

    if remote is not None:
        if store is not None:
            raise CouldNotRun("give --store or --remote, not both")
        try:
            return open_kg(remote=remote)
        except (Error, OSError, ValueError) as exc:
            raise CouldNotRun(str(exc)) from exc
    path = store or default_store_path()
    if not create and not path.exists():
        raise CouldNotRun(f"no store at {path}: load data first (provml load ...) or pass --store")
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return open_kg(path)
    except (Error, OSError) as exc:
        raise CouldNotRun(str(exc)) from exc


@main.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), help=_STORE_HELP)
@_REMOTE
@click.option("--batch-size", default=500, show_default=True,
              help="Events per batch: stored or rejected as one, with its own report.")
@click.option("--together", default=10_000, show_default=True,
              help="Events of consecutive batches validated and written together (a group that fails is "
                   "taken batch by batch); 0: each batch alone.")
@click.option("--input-format", default=None, help="RDF format of the files (default: by suffix).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def load_command(paths: tuple[Path, ...], store: Path | None, remote: str | None, batch_size: int,
                 together: int, input_format: str | None, fmt: str) -> None:
    """Load event spools (JSON lines) and RDF files into the store, validating every batch.

    Exit 0 when everything was stored, 1 when some batch was rejected (its report is printed),
    2 when the input could not be read."""
    import json

    from provml.errors import Error
    from provml.ingest.loader import count_units, load_paths

    try:
        total = count_units(list(paths), input_format=input_format)
    except OSError as exc:
        raise CouldNotRun(str(exc)) from exc
    kg = _open(store, remote=remote)
    try:
        with click.progressbar(length=total, label="loading", file=sys.stderr,
                               show_pos=True, hidden=fmt == "json") as bar:
            summary = load_paths(kg, list(paths), batch_size=batch_size, input_format=input_format,
                                 progress=bar.update, together=together)
    except (Error, OSError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    finally:
        kg.close()
    if fmt == "json":
        click.echo(json.dumps({"files": summary.files, "events": summary.events, "triples": summary.triples,
                               "graphs": list(summary.graphs),
                               "rejected": [r.__dict__ for r in summary.rejected]}, indent=2))
    else:
        click.echo(f"{summary.files} file(s): {summary.events} events, {summary.triples} triples "
                   f"in {len(summary.graphs)} graph(s); {len(summary.rejected)} batch(es) rejected")
        for r in summary.rejected:
            click.echo(f"rejected {r.source} ({r.events} events): {r.error}", err=True)
            if r.report:
                click.echo(r.report.get("text", ""), err=True)
    if summary.rejected:
        raise SystemExit(1)


@main.command("queries")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def queries_command(fmt: str) -> None:
    """List the named queries with their parameters."""
    import json

    from provml.query.named import list_queries

    queries = list_queries()
    if fmt == "json":
        click.echo(json.dumps([q.to_dict() for q in queries], indent=2))
        return
    for q in queries:
        paper = f" [{q.paper}]" if q.paper else ""
        click.echo(f"{q.name}{paper}: {q.title}")
        for p in q.parameters:
            extra = f", default {p.default}" if p.default else ""
            click.echo(f"    --param {p.name}=<{p.type}>{extra}  {p.description}")


@main.command("query")
@click.argument("name")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A query parameter (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), help=_STORE_HELP)
@_REMOTE
def query_command(name: str, params: tuple[str, ...], fmt: str, store: Path | None,
                  remote: str | None) -> None:
    """Run a named query (see `provml queries`) or a SPARQL file (FILE.rq)."""
    from pyoxigraph import QueryResultsFormat

    from provml.errors import Error
    from provml.query.named import load_query_file, run_query
    from provml.query.tables import render_table

    pairs = {key: value for key, _, value in (p.partition("=") for p in params)}
    target: Any = name
    if name.endswith((".rq", ".sparql")):
        if not Path(name).is_file():
            raise CouldNotRun(f"{name}: no such query file")
        target = load_query_file(name)
    kg = _open(store, create=False, remote=remote)
    try:
        result = run_query(kg, target, pairs)
        if fmt == "table":
            click.echo(render_table(result, base=kg.base))
        else:
            out = result.serialize(format=QueryResultsFormat.JSON if fmt == "json" else QueryResultsFormat.CSV)
            click.echo((out or b"").decode(), nl=False)
    except (Error, SyntaxError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    finally:
        kg.close()


@main.command("export")
@click.option("--graph", default=None, help="Only this named graph (IRI).")
@click.option("--format", "fmt", type=click.Choice(["turtle", "ntriples", "trig", "nquads", "jsonld",
                                                    "jsonld-expanded", "rdfxml", "prov-json",
                                                    "prov-n", "prov-xml", "ro-crate"]),
              default="trig", show_default=True,
              help="RDF format (jsonld is compacted with the ontologies' prefixes as its context); "
                   "PROV-JSON, PROV-N, PROV-XML (the instance graphs, one bundle each); or an "
                   "RO-Crate directory (or .zip) given with -o.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Write to this file instead of standard output (ro-crate: a directory or .zip).")
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="ro-crate: where relative data locations are found (copied into the crate). "
                   "Default: the current directory.")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), help=_STORE_HELP)
@_REMOTE
def export_command(graph: str | None, fmt: str, output: Path | None, root: Path | None,
                   store: Path | None, remote: str | None) -> None:
    """Export the store (or one graph) as RDF; triple formats without --graph give the union.
    See docs/interop.md for what the PROV and RO-Crate exports hold."""
    from pyoxigraph import NamedNode

    from provml.errors import Error
    from provml.query.inventory import export

    if fmt.startswith(("prov-", "ro-")) and graph:
        raise CouldNotRun(f"--graph does not apply to {fmt}: it exports every instance graph")
    if fmt == "ro-crate" and output is None:
        raise CouldNotRun("ro-crate writes a directory (or a .zip): give it with -o")
    kg = _open(store, create=False, remote=remote)
    try:
        if fmt == "ro-crate":
            from provml.interop.rocrate_export import export_ro_crate

            assert output is not None
            export_ro_crate(kg, output, root=root)
            click.echo(f"wrote the RO-Crate {output}", err=True)
            return
        if fmt.startswith("prov-"):
            from provml.interop.prov_export import export_prov

            data = export_prov(kg, fmt)
        else:
            data = export(kg, format=fmt, graph=NamedNode(graph) if graph else None)
    except (Error, OSError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    finally:
        kg.close()
    if output:
        output.write_bytes(data)
    else:
        click.echo(data, nl=False)


@main.command("migrate")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), help=_STORE_HELP)
@click.option("--check", is_flag=True, help="Only say whether the store needs migrating (exit 1 if it does).")
def migrate_command(store: Path | None, check: bool) -> None:
    """Convert a store written by an earlier provml to the current graph layout (every triple in
    exactly one graph), in one transaction; running it again does nothing."""
    from provml.errors import Error
    from provml.ingest.migration import migrate, pending

    kg = _open(store, create=False)
    try:
        if check:
            n = pending(kg)
            click.echo(f"{n} quad(s) to move or drop" if n else "the store has the current layout")
            if n:
                raise SystemExit(1)
            return
        result = migrate(kg)
    except Error as exc:
        raise CouldNotRun(str(exc)) from exc
    finally:
        kg.close()
    if result.moved:
        click.echo(f"moved {result.moved} quad(s) to their owning graph; {result.before} -> {result.after} "
                   f"quads ({result.removed} duplicate(s) removed)")
    else:
        click.echo("the store has the current layout: nothing to do")


@main.group("import")
def import_group() -> None:
    """Read provenance written by other tools (docs/interop.md). Exit 0 when everything was
    stored, 1 when some part was rejected by validation (the reason is printed), 2 when the
    input could not be read."""


def _run_import(store: Path | None, remote: str | None, fmt: str, action: Any) -> None:
    import json

    from provml.errors import Error, ValidationFailed

    kg = _open(store, remote=remote)
    try:
        report = action(kg)
    except ValidationFailed as exc:
        click.echo(f"rejected: {exc}", err=True)
        click.echo(exc.report.describe(), err=True)
        raise SystemExit(1) from exc
    except (Error, OSError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    finally:
        kg.close()
    click.echo(json.dumps(report.to_dict(), indent=2) if fmt == "json" else report.text())
    if report.rejected:
        raise SystemExit(1)


_FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                       show_default=True, help="Report format.")


@import_group.command("prov-json")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), help=_STORE_HELP)
@_REMOTE
@_FORMAT
def import_prov_json_command(file: Path, store: Path | None, remote: str | None, fmt: str) -> None:
    """A PROV-JSON document (the prov package's, yProv4ML's ...): PROV-ML where its terms say
    so, plain PROV otherwise; reports what was mapped and what was not."""
    from provml.interop.prov_import import import_prov_json

    _run_import(store, remote, fmt, lambda kg: import_prov_json(kg, file))


@import_group.command("mlflow")
@click.argument("where")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), help=_STORE_HELP)
@_REMOTE
@_FORMAT
def import_mlflow_command(where: str, store: Path | None, remote: str | None, fmt: str) -> None:
    """An MLflow tracking store (a tracking URI, a SQLite .db file or an mlruns/ directory),
    read with the MLflow client: runs, params, metrics per step, tags, artifacts, models."""
    from provml.interop.mlflow_import import import_mlflow

    _run_import(store, remote, fmt, lambda kg: import_mlflow(kg, where))


@import_group.command("flowcept")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), help=_STORE_HELP)
@_REMOTE
@_FORMAT
def import_flowcept_command(file: Path, store: Path | None, remote: str | None, fmt: str) -> None:
    """A Flowcept buffer file (JSON lines of workflow and task messages)."""
    from provml.interop.flowcept_import import import_flowcept

    _run_import(store, remote, fmt, lambda kg: import_flowcept(kg, file))


@main.command("stats")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), help=_STORE_HELP)
@_REMOTE
def stats_command(fmt: str, store: Path | None, remote: str | None) -> None:
    """Triples, graphs, runs and instances per PROV-ML class."""
    import json

    from provml.query.inventory import stats

    kg = _open(store, create=False, remote=remote)
    try:
        s = stats(kg)
    finally:
        kg.close()
    click.echo(json.dumps(s.to_dict(), indent=2) if fmt == "json" else s.text())
