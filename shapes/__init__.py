"""The SHACL shapes shipped with provml (data only).

>>> from provml.shapes import path
>>> path("provml-shapes.ttl").name
'provml-shapes.ttl'
"""

from __future__ import annotations

from pathlib import Path

from provml._resources import package_file

__all__ = ["path"]


def path(name: str) -> Path:
    """The file ``name`` of this package (e.g. ``"provml-shapes.ttl"``) as a filesystem path.

    :raises FileNotFoundError: when the package holds no such file.
    """
    return package_file(__name__, name)
