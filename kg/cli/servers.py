"""``provml serve`` and ``provml ingest-worker``: the long-running processes."""

from __future__ import annotations

from pathlib import Path

import click

from provml.cli.common import REMOTE_HELP, CouldNotRun

#: the broker writer's largest group (``provml.ingest.streams.GROUP_MOST``, a test checks; not
#: imported: ``provml --help`` loads no ingest module)
WRITER_GROUP_MOST = click.option(
    "--writer-group-most", default=256, show_default=True, type=click.IntRange(1, 65_536),
    help="The most validated batches the broker's writer stores as one group: its groups grow from 64 "
         "(or this, when smaller) to it with the store; its memory follows (draining 10^6 events: "
         "peak 1.8 GB at 256, 0.7 GB at 64).")

#: the broker writer's linger (``provml.ingest.streams.WRITER_LINGER_S``, a test checks)
WRITER_LINGER = click.option(
    "--writer-linger-s", default=0.5, show_default=True, type=click.FloatRange(0.0, 5.0),
    help="After a group smaller than it could take, the broker's writer reads the next no sooner "
         "than this long after it, so that batches gather into fewer, larger bulk loads (docs/"
         "deployment.md); adds at most this to an event's latency (0: write what waits at once).")

__all__ = ["ingest_worker_command", "serve_command"]


@click.command("serve")
@click.option("--store", "store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="On-disk Oxigraph store directory (created when missing). "
                   "Default: $PROVML_STORE, else .provml/store (unless --remote).")
@click.option("--remote", default=None, envvar="PROVML_REMOTE", show_envvar=True, help=REMOTE_HELP)
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
@click.option("--max-answer-mb", default=64.0, show_default=True, type=float,
              help="Largest query answer (0: no limit); larger ones are refused (400).")
@click.option("--max-unsent-mb", default=512.0, show_default=True, type=float,
              help="Answers over 64 KiB that clients are taking, all together (0: no limit); "
                   "past it, 503.")
@click.option("--max-body-mb", default=64.0, show_default=True, type=float, help="Largest request body.")
@click.option("--max-form-mb", default=1.0, show_default=True, type=float,
              help="Largest form body without the write token (larger queries: send them as "
                   "they are).")
@click.option("--threads", default=16, show_default=True, type=int, help="Worker threads.")
@click.option("--broker", default=None, metavar="URL",
              help="Redis URL (redis://host:6379/0): also write what ingest workers validated into "
                   "this store (the one writer) and show the ingest lag on /health.")
@click.option("--isolate-queries", type=click.Choice(["thread", "process"]), default=None,
              help="'process' (default with --store): every query runs in a worker process, "
                   "killed at the time limit and capped in memory; 'thread': in this process.")
@click.option("--query-workers", default=4, show_default=True, type=int,
              help="Worker processes (queries evaluating at once).")
@click.option("--query-memory-mb", default=None, type=int,
              help="Memory limit (RLIMIT_DATA) of each query worker process in MiB (0: none). "
                   "Default: 2048, lowered so that the workers together stay within half this "
                   "machine's memory (at least 512).")
@click.option("--fast-reads/--no-fast-reads", default=True, show_default=True,
              help="Answer plain GET /sparql?query= past Flask's request machinery (same "
                   "guards; off: every request through Flask).")
@click.option("--result-cache-mb", default=32.0, show_default=True, type=float,
              help="Memory for the answers of plain GET /sparql?query= reads, kept until the "
                   "next write (0: no cache).")
@click.option("--allow-remote", "allow_remote", multiple=True, metavar="URL_PREFIX",
              help="Let SERVICE and LOAD reach URLs starting with this prefix (repeatable; "
                   "http/https only). Default: no outbound requests.")
@WRITER_GROUP_MOST
@WRITER_LINGER
@click.pass_context
def serve_command(ctx: click.Context, store: Path | None, remote: str | None, host: str,
                  port: int, base_url: str | None, token: str | None, token_file: Path | None,
                  read_token: str | None, read_only: bool, cors: tuple[str, ...],
                  timeout_s: float, max_rows: int, max_answer_mb: float, max_unsent_mb: float,
                  max_body_mb: float,
                  max_form_mb: float, threads: int,
                  isolate_queries: str | None, query_workers: int, query_memory_mb: int | None,
                  allow_remote: tuple[str, ...], broker: str | None, fast_reads: bool,
                  result_cache_mb: float, writer_group_most: int, writer_linger_s: float) -> None:
    """Serve the knowledge graph: SPARQL 1.1 Protocol, Graph Store, APIs (granian; Ctrl-C stops)."""
    from provml.endpoint.server import serve
    from provml.errors import Error
    from provml.knowledge import default_store_path

    for name, instead in (("token", "PROVML_TOKEN or --token-file"), ("read_token", "PROVML_READ_TOKEN")):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            click.echo(f"warning: --{name.replace('_', '-')} on the command line is visible to "
                       f"every user of this machine (ps, /proc); use {instead}", err=True)
    if store is not None and remote is not None:  # as every command that takes both
        raise CouldNotRun("give --store or --remote ($PROVML_REMOTE), not both")
    if store is None and remote is None:
        store = default_store_path()
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    config = {"STORE": str(store) if store else None, "REMOTE": remote, "BASE_URL": base_url,
              "TOKEN": token, "READ_TOKEN": read_token, "READ_ONLY": read_only,
              "CORS_ORIGINS": cors, "TIMEOUT_S": timeout_s, "MAX_ROWS": max_rows,
              "MAX_ANSWER_MB": max_answer_mb, "MAX_UNSENT_MB": max_unsent_mb,
              "MAX_BODY_MB": max_body_mb, "MAX_FORM_MB": max_form_mb, "QUERY_ISOLATION": isolate_queries,
              "QUERY_WORKERS": query_workers, "QUERY_MEMORY_MB": query_memory_mb,
              "ALLOW_REMOTE": allow_remote, "FAST_READS": fast_reads,
              "RESULT_CACHE_MB": result_cache_mb}
    try:
        if broker is not None and store is None:
            raise ValueError("--broker needs --store: the writer writes into the on-disk store")
        serve(config, host=host, port=port, threads=threads, broker=broker, writer_group_most=writer_group_most,
              writer_linger_s=writer_linger_s)
    except (Error, OSError, ValueError, ImportError) as exc:
        raise CouldNotRun(str(exc)) from exc


def _a_number(_ctx: click.Context, param: click.Parameter, value: float) -> float:
    if value != value:  # NaN passes FloatRange's bounds
        raise click.BadParameter("not a number", param=param)
    return value


@click.command("ingest-worker")
@click.option("--broker", required=True, metavar="URL", help="Redis URL, e.g. redis://127.0.0.1:6379/0.")
@click.option("--store", "store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="On-disk store: this process is its one writer (unless --no-writer).")
@click.option("--endpoint", "remote", default=None, metavar="SPEC",
              help="A remote SPARQL 1.1 store every worker writes to, as --remote names one: URL "
                   "(Oxigraph server), LAYOUT+URL (virtuoso+http://host:8890, ...) or "
                   "'query=URL;update=URL;store=URL'.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(0, 256),
              help="Worker processes (check, translate, enrich, validate).")
@click.option("--no-writer", is_flag=True,
              help="Workers only: the writer of --store runs elsewhere (e.g. provml serve --broker).")
@click.option("--claim-idle-s", default=30.0, show_default=True, type=click.FloatRange(0.1, 86_400.0),
              callback=_a_number,
              help="Take over bags another worker has held unacknowledged this long.")
@click.option("--connect-timeout-s", default=60.0, show_default=True, type=click.FloatRange(0.0, 86_400.0),
              callback=_a_number,
              help="How long to wait for the broker at start before giving up (exit 2).")
@click.option("--max-backlog", default=64, show_default=True, type=click.IntRange(0, None),
              help="Workers take no bags while this many validated batches wait for the writer, or "
                   "the writer's next group when larger (its groups grow with the store, to 256 "
                   "batches); 0: no limit; not used with --endpoint.")
@WRITER_GROUP_MOST
@WRITER_LINGER
def ingest_worker_command(broker: str, store: Path | None, remote: str | None, workers: int,
                          no_writer: bool, claim_idle_s: float, connect_timeout_s: float, max_backlog: int,
                          writer_group_most: int, writer_linger_s: float) -> None:
    """Ingest bags that capture clients put on a Redis stream (Client(broker=URL)): parallel
    workers check, translate, enrich and validate; one writer writes an on-disk store, or every
    worker writes a remote SPARQL store. Runs until SIGTERM or Ctrl-C (docs/deployment.md)."""
    from provml.errors import Error
    from provml.ingest.processes import run

    if (store is None) == (remote is None):
        raise click.UsageError("give --store DIR or --endpoint URL (one of them)")
    if workers == 0 and (no_writer or remote is not None):
        raise click.UsageError("nothing to run: --workers 0 and no writer (give --workers 1 or more)")
    try:
        import redis

        run(broker, store=store, remote=remote, workers=workers, writer=not no_writer,
            claim_idle_s=claim_idle_s, connect_timeout_s=connect_timeout_s, max_backlog=max_backlog,
            group_most=writer_group_most, linger_s=writer_linger_s)
    except ImportError as exc:
        raise CouldNotRun(f"{exc}") from exc
    except redis.RedisError as exc:
        from provml.capture.redact import safe_url

        raise CouldNotRun(f"the broker {safe_url(broker)} cannot be used: {exc}") from exc
    except (Error, OSError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
