"""Files shipped inside provml's packages, as paths (shared by provml.ontology and provml.shapes)."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["package_file"]


def package_file(package: str, name: str) -> Path:
    """The file ``name`` of ``package`` as a filesystem path.

    :raises FileNotFoundError: when the package holds no such file.
    """
    with as_file(files(package).joinpath(name)) as p:
        if not Path(p).exists():
            raise FileNotFoundError(f"{package} has no file {name!r}")
        return Path(p)
