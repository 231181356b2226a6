"""``provml import``: provenance written by other tools (PROV-JSON, MLflow, Flowcept)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from provml.cli.common import FORMAT, REMOTE, STORE, CouldNotRun, open_kg_or_exit

__all__ = ["import_group"]


@click.group("import")
def import_group() -> None:
    """Read provenance written by other tools (docs/interop.md). Exit 0 when everything was
    stored, 1 when some part was rejected by validation (the reason is printed), 2 when the
    input could not be read."""


def _run_import(store: Path | None, remote: str | None, fmt: str, action: Any) -> None:
    import json

    from provml.errors import Error, TermTooLong, ValidationFailed

    kg = open_kg_or_exit(store, remote=remote)
    try:
        report = action(kg)
    except ValidationFailed as exc:
        click.echo(f"rejected: {exc}", err=True)
        click.echo(exc.report.describe(), err=True)
        raise SystemExit(1) from exc
    except TermTooLong as exc:  # (nothing stored: the import is rejected whole)
        click.echo(f"rejected: {exc}", err=True)
        raise SystemExit(1) from exc
    except (Error, OSError, ValueError) as exc:
        raise CouldNotRun(str(exc)) from exc
    finally:
        kg.close()
    click.echo(json.dumps(report.to_dict(), indent=2) if fmt == "json" else report.text())
    if report.rejected:
        raise SystemExit(1)


@import_group.command("prov-json")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@STORE
@REMOTE
@FORMAT
def import_prov_json_command(file: Path, store: Path | None, remote: str | None, fmt: str) -> None:
    """A PROV-JSON document (the prov package's, yProv4ML's ...): PROV-ML where its terms say
    so, plain PROV otherwise; reports what was mapped and what was not."""
    from provml.interop.prov_import import import_prov_json

    _run_import(store, remote, fmt, lambda kg: import_prov_json(kg, file))


@import_group.command("mlflow")
@click.argument("where")
@STORE
@REMOTE
@FORMAT
def import_mlflow_command(where: str, store: Path | None, remote: str | None, fmt: str) -> None:
    """An MLflow tracking store (a tracking URI, a SQLite .db file or an mlruns/ directory),
    read with the MLflow client: runs, params, metrics per step, tags, artifacts, models."""
    from provml.interop.mlflow_import import import_mlflow

    _run_import(store, remote, fmt, lambda kg: import_mlflow(kg, where))


@import_group.command("flowcept")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@STORE
@REMOTE
@FORMAT
def import_flowcept_command(file: Path, store: Path | None, remote: str | None, fmt: str) -> None:
    """A Flowcept buffer file (JSON lines of workflow and task messages)."""
    from provml.interop.flowcept_import import import_flowcept

    _run_import(store, remote, fmt, lambda kg: import_flowcept(kg, file))
