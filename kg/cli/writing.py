"""The commands that check and write the store: ``validate``, ``load``, ``migrate``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from provml.cli.common import REMOTE, STORE, CouldNotRun, open_kg_or_exit

__all__ = ["load_command", "migrate_command", "validate_command"]


@click.command("validate")
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


@click.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@STORE
@REMOTE
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, None),
              help="Events per batch: stored or rejected as one, with its own report.")
@click.option("--together", default=10_000, show_default=True, type=click.IntRange(0, None),
              help="Events of consecutive batches validated and written together at first (a group that "
                   "fails is taken batch by batch); later groups take half the events loaded so far, up to "
                   "--together-max; 0: each batch alone.")
@click.option("--together-max", default=50_000, show_default=True, type=click.IntRange(0, None),
              help="The most events a group grows to: the fewer and larger the bulk loads, the less the store "
                   "compacts, for more memory (loading 3x10^5 events of learning runs: peak 0.7 GB at 10000, "
                   "2.0 GB at 50000).")
@click.option("--input-format", default=None, help="RDF format of the files (default: by suffix).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def load_command(paths: tuple[Path, ...], store: Path | None, remote: str | None, batch_size: int,
                 together: int, together_max: int, input_format: str | None, fmt: str) -> None:
    """Load event spools (JSON lines) and RDF files into the store, validating every batch.

    Exit 0 when everything was stored, 1 when some batch was rejected (its report is printed)
    or a spool line is no event or an RDF file does not parse (named by file and line; the rest
    is loaded), 2 when the input could not be read (nothing loaded when a file's RDF format is
    unknown)."""
    import json

    from provml.errors import Error
    from provml.ingest.loader import count_units, load_paths

    try:
        total = count_units(list(paths), input_format=input_format)
    except OSError as exc:
        raise CouldNotRun(str(exc)) from exc
    kg = open_kg_or_exit(store, remote=remote)
    try:
        with click.progressbar(length=total, label="loading", file=sys.stderr,
                               show_pos=True, hidden=fmt == "json") as bar:
            summary = load_paths(kg, list(paths), batch_size=batch_size, input_format=input_format,
                                 progress=bar.update, together=together, together_max=together_max)
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


@click.command("migrate")
@STORE
@click.option("--check", is_flag=True, help="Only say whether the store needs migrating (exit 1 if it does).")
def migrate_command(store: Path | None, check: bool) -> None:
    """Convert a store written by an earlier provml to the current graph layout (every triple in
    exactly one graph), in one transaction; running it again does nothing."""
    from provml.errors import Error
    from provml.ingest.migration import migrate, pending

    kg = open_kg_or_exit(store, create=False)
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
    if result.moved:  # moves, dropped duplicates and added shortcuts and summaries, all counted
        net = result.after - result.before
        size = f"{net} more" if net > 0 else f"{-net} fewer" if net else "as many"
        click.echo(f"converted to the current layout: {result.moved} quad(s) moved to their owning graph, "
                   f"dropped as duplicate copies or added (shortcuts, summaries); {result.before} -> "
                   f"{result.after} quads ({size})")
    else:
        click.echo("the store has the current layout: nothing to do")


@click.command("compact")
@STORE
def compact_command(store: Path | None) -> None:
    """Compact an on-disk store (RocksDB's full compaction of every index): reads consult fewer
    files. Worth it after a small write over a large bulk-loaded store; ≈ 2.5 µs a stored quad.
    Stop the server that holds the store first."""
    import time

    from provml.store.oxigraph import OxigraphStore

    kg = open_kg_or_exit(store, create=False)
    disk = kg.store
    assert isinstance(disk, OxigraphStore)  # --store: always an on-disk Oxigraph store
    try:
        before = disk.size_on_disk()
        started = time.monotonic()
        disk.optimize()
        after = disk.size_on_disk()
    except OSError as exc:
        raise CouldNotRun(f"could not compact the store: {exc}") from exc
    finally:
        kg.close()
    click.echo(f"compacted in {time.monotonic() - started:.1f} s: {before / 1e6:.1f} -> {after / 1e6:.1f} MB")
