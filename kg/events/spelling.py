"""How the event format writes what JSON has no number for, and the JSON text a list or object
value is stored as (an ``rdf:JSON`` literal). Imported from :mod:`provml.events`.

>>> json_text({"b": 1, "a": [1, float("nan")]})
'{"a":[1,"NaN"],"b":1}'
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["double_spelling", "json_text", "spelled"]


def double_spelling(number: float) -> str:
    """XSD's spelling of a NaN or infinite double (``"NaN"``, ``"INF"``, ``"-INF"``): the event
    format's ``"double"``, and how JSON answers write what JSON has no number for.

    >>> double_spelling(float("nan")), double_spelling(float("-inf"))
    ('NaN', '-INF')
    """
    return "NaN" if number != number else "INF" if number > 0 else "-INF"


def spelled(value: Any, default: Callable[[Any], Any] | None = None) -> Any:
    """``value`` — a list or object value, as a hyperparameter's grid or a metric per class —
    with each NaN or infinite number in it written as the string of XSD's spelling
    (:func:`double_spelling`): JSON, and so its ``rdf:JSON`` literal, has no such numbers. A
    copy (lists and objects are rebuilt, whatever they hold). ``default``: what turns a value
    JSON cannot take into one it can (the capture library's numpy and torch arrays and
    scalars), looked into in turn.

    >>> spelled([1.0, float("nan"), {"f1": float("-inf"), float("inf"): 1}])
    [1.0, 'NaN', {'f1': '-INF', 'INF': 1}]
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else double_spelling(value)
    if isinstance(value, dict):  # (a key too: JSON writes a number key as its text)
        return {double_spelling(k) if isinstance(k, float) and not math.isfinite(k) else k: spelled(v, default)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [spelled(v, default) for v in value]
    if default is None or value is None or isinstance(value, str | int):
        return value
    converted = default(value)
    return value if converted is value else spelled(converted, default)


_dumps = functools.partial(json.dumps, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=str, allow_nan=False)


def json_text(value: Any) -> str:
    """The JSON text a list or object value is stored as (its ``rdf:JSON`` literal): keys
    sorted, no spaces, NaN and infinities as XSD spells them (:func:`spelled`), an object JSON
    cannot hold as its ``str``.

    >>> json_text([0.5, float("inf"), {"b": 1, "a": 2}])
    '[0.5,"INF",{"a":2,"b":1}]'
    """
    try:
        return _dumps(value)
    except ValueError:  # NaN or an infinity inside (``1e400`` reads as one): a string
        return _dumps(spelled(value))
