"""The SHACL shapes shipped with provml (data only).

>>> from provml.shapes import path
>>> path("provml-shapes.ttl").name
'provml-shapes.ttl'
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["path"]


def path(name: str) -> Path:
    """The file ``name`` (e.g. ``"provml.ttl"``, ``"imports/prov-o.ttl"``) of this package.

    :raises FileNotFoundError: when the package holds no such file.
    """
    resource = files(__name__).joinpath(name)
    with as_file(resource) as p:
        if not Path(p).exists():
            raise FileNotFoundError(f"provml.shapes has no file {name!r}")
        return Path(p)
