"""Framework hooks (optional extras): PyTorch, PyTorch Lightning, Keras 3, scikit-learn.

Each module imports its framework on import and raises :class:`provml.errors.MissingExtra`
naming the extra to install when it is missing::

    from provml.capture.hooks.torch import TorchTraining        # pip install 'provml[torch]'
    from provml.capture.hooks.lightning import ProvenanceCallback  # pip install 'provml[lightning]'
    from provml.capture.hooks.keras import ProvenanceCallback   # pip install 'provml[keras]'
    from provml.capture.hooks.sklearn import TrackedEstimator   # pip install 'provml[sklearn]'
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from provml.errors import MissingExtra

__all__ = ["number", "plain_params", "require"]


def require(module: str, *, feature: str, package: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` naming ``extra``.

    >>> require("no_such_module_xyz", feature="x", package="y", extra="z")
    Traceback (most recent call last):
    provml.errors.MissingExtra: x needs y: pip install 'provml[z]'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(feature=feature, package=package, extra=extra) from exc


def number(x: Any) -> float | None:
    """A metric as a float (tensors and numpy scalars via ``.item()``), None if not numeric."""
    item = getattr(x, "item", None)
    if callable(item):
        try:
            x = item()
        except (TypeError, ValueError, RuntimeError):
            return None
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x)


def plain_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-scalar entries of a parameter mapping (others skipped; numbers unwrapped)."""
    out: dict[str, Any] = {}
    for key, val in params.items():
        if isinstance(val, bool | int | float | str):
            out[str(key)] = val
        elif (num := number(val)) is not None:
            out[str(key)] = num
    return out
