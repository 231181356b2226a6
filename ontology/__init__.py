"""The PROV-ML ontology files shipped with provml (data only).

>>> from provml.ontology import path
>>> path("provml.ttl").name
'provml.ttl'
"""

from __future__ import annotations

from pathlib import Path

from provml._resources import package_file

__all__ = ["path"]


def path(name: str) -> Path:
    """The file ``name`` of this package (e.g. ``"provml.ttl"``) as a filesystem path.

    :raises FileNotFoundError: when the package holds no such file.
    """
    return package_file(__name__, name)
