"""The PROV-ML ontology files shipped with provml (data only).

>>> from provml.ontology import path
>>> path("provml.ttl").name
'provml.ttl'
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
            raise FileNotFoundError(f"provml.ontology has no file {name!r}")
        return Path(p)
