"""Value helpers: the ML vocabulary of capture, as plain dicts of the wire format.

Every helper returns one *value* of a ``used`` / ``generated`` list (``docs/events.md``), so a
capture call stays a cheap dict. The ``role`` selects the PROV-ML class the translation writes
(``hyperparameter`` → ``LearningHyperparameterValue``, ``model`` → ``Model`` …).

``hash_file=True`` reads the whole file and computes its SHA-256 and size **on the caller's
thread**: it is I/O the user asked for, done once, outside the training loop's hot path.

>>> hyperparameter("lr", 0.01)
{'name': 'lr', 'role': 'hyperparameter', 'value': 0.01}
>>> evaluation("accuracy", 0.8, about="model")
{'name': 'accuracy', 'role': 'evaluation', 'value': 0.8, 'about': 'model'}
>>> data("raw", "data/a.csv")["data"]
{'store': 'local-fs', 'location': 'data/a.csv'}
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from typing import Any

from provml.capture.redact import redact_values

__all__ = [
    "data",
    "dataset_characteristic",
    "domain_ref",
    "evaluation",
    "feature_set",
    "file_digest",
    "hyperparameter",
    "implementation",
    "learning_dataset",
    "learning_task",
    "model",
    "model_hyperparameter",
    "parameter",
    "persona",
    "prediction",
    "to_values",
    "value",
]

Value = dict[str, Any]

_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The SHA-256 (hex) and size in bytes of a file.

    :param path: the file to read.
    :raises OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _with(out: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """``out`` with each optional field that is not None added."""
    out.update((key, val) for key, val in optional.items() if val is not None)
    return out


def _scalar(name: str, role: str, val: Any, domain: str | None, tag: str | None) -> Value:
    out = {"name": name, "role": role, "value": val}  # no _with: a batch's loss comes here
    if domain is not None:
        out["domain"] = domain
    if tag is not None:
        out["tag"] = tag
    return out


def value(name: str, val: Any = None, *, domain: str | None = None, tag: str | None = None) -> Value:
    """A plain attribute value (role ``value``); give ``val`` or ``domain`` or both.

    >>> value("well", domain="https://w3id.org/provml/id/oil-gas/well/16_2-6")
    {'name': 'well', 'role': 'value', 'domain': 'https://w3id.org/provml/id/oil-gas/well/16_2-6'}
    """
    return _with({"name": name, "role": "value"}, value=val, domain=domain, tag=tag)


def parameter(name: str, val: Any, *, domain: str | None = None, tag: str | None = None) -> Value:
    """A workflow or task parameter (role ``parameter``)."""
    return _scalar(name, "parameter", val, domain, tag)


def hyperparameter(
    name: str, val: Any, *, domain: str | None = None, tag: str | None = None
) -> Value:
    """A learning hyperparameter (``LearningHyperparameterValue``): learning rate, batch size …"""
    return _scalar(name, "hyperparameter", val, domain, tag)


def model_hyperparameter(
    name: str, val: Any, *, about: str | Mapping[str, Any] | None = None, domain: str | None = None
) -> Value:
    """A model hyperparameter (``ModelHyperparameterValue``); ``about`` names the model value
    of the same list, or is the model's data reference (``model(...)["data"]``)."""
    out = _scalar(name, "model_hyperparameter", val, domain, None)
    if about is not None:
        out["about"] = about if isinstance(about, str) else dict(about)
    return out


def evaluation(
    name: str, val: float, *, about: str | Mapping[str, Any] | None = None, domain: str | None = None
) -> Value:
    """An evaluation measure's value (``ModelEvaluation``); ``about`` names the model value of
    the same list, or is the model's data reference (``model(...)["data"]``) when the model was
    generated elsewhere; ``domain`` is the domain resource it is about (e.g. the lithology a
    per-class F1 scores).

    >>> evaluation("f1", 0.7, about="model", domain="https://example.org/Sandstone")["domain"]
    'https://example.org/Sandstone'
    """
    out = {"name": name, "role": "evaluation", "value": val}  # inlined: a batch's loss
    if domain is not None:
        out["domain"] = domain
    if about is not None:
        out["about"] = about if isinstance(about, str) else dict(about)
    return out


def learning_task(name: str, val: Any) -> Value:
    """The learning task (``LearningTaskValue``), e.g. ``learning_task("task", "classification")``."""
    return _scalar(name, "learning_task", val, None, None)


def dataset_characteristic(name: str, val: Any) -> Value:
    """A dataset characteristic on its own (``DatasetCharacteristicValue``)."""
    return _scalar(name, "dataset_characteristic", val, None, None)


def _data_ref(
    location: str | os.PathLike[str],
    store: str,
    store_type: str | None,
    hash_file: bool,
    sha256: str | None,
    size: int | None,
    media_type: str | None,
    path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    if hash_file:
        sha256, size = file_digest(path if path is not None else location)
    return _with(
        {"store": store, "location": os.fspath(location)},
        sha256=sha256, size=size, media_type=media_type, store_type=store_type,
    )


def data(
    name: str,
    location: str | os.PathLike[str],
    *,
    store: str = "local-fs",
    store_type: str | None = None,
    hash_file: bool = False,
    sha256: str | None = None,
    size: int | None = None,
    media_type: str | None = None,
    domain: str | None = None,
    role: str = "data",
    characteristics: Mapping[str, Any] | None = None,
    tag: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Value:
    """A data reference: a value stored elsewhere, named by its store and location.

    :param name: the attribute's name.
    :param location: path, URL or key of the data in its store.
    :param store: the data store's name (``{base}store/{store}``).
    :param store_type: ``FILE_SYSTEM``, ``OBJECT_STORE``, ``RELATIONAL_DBMS`` …
    :param hash_file: read the file now and record its SHA-256 and size (caller's thread).
    :param path: the local file to hash when ``location`` is not a local path (e.g. a location
        relative to the store's root, or a URL of a copy); default ``location``.
    :param sha256: a known content hash (hex), instead of ``hash_file``.
    :param domain: IRI of a domain-knowledge-graph resource this data is about.
    :param role: ``data`` (default) or another data role (``model``, ``prediction`` …).
    :raises OSError: ``hash_file`` is set and the file cannot be read.
    """
    return _with(
        {"name": name, "role": role,
         "data": _data_ref(location, store, store_type, hash_file, sha256, size, media_type, path)},
        domain=domain, characteristics=dict(characteristics) if characteristics else None, tag=tag,
    )


def learning_dataset(
    name: str,
    location: str | os.PathLike[str],
    *,
    characteristics: Mapping[str, Any] | None = None,
    **options: Any,
) -> Value:
    """A learning dataset (``LearningDataset``) with optional characteristics.

    Same options as :func:`data`.

    >>> learning_dataset("train", "t.npz", characteristics={"samples": 10})["characteristics"]
    {'samples': 10}
    """
    return data(name, location, role="learning_dataset", characteristics=characteristics, **options)


def feature_set(
    name: str, val: Any = None, *, location: str | None = None, **options: Any
) -> Value:
    """A feature set (``FeatureSetData``): a value (e.g. a list of feature names) or data."""
    if location is not None:
        return data(name, location, role="feature_set", **options)
    return _scalar(name, "feature_set", val, options.get("domain"), options.get("tag"))


def model(name: str, location: str | os.PathLike[str], **options: Any) -> Value:
    """A trained model's saved file (``Model``); ``hash_file=True`` records its content hash."""
    return data(name, location, role="model", **options)


def prediction(name: str, location: str | os.PathLike[str], **options: Any) -> Value:
    """Predictions written by an inference execution (``Prediction``)."""
    return data(name, location, role="prediction", **options)


def domain_ref(name: str, iri: str, *, val: Any = None) -> Value:
    """A value that *is* a domain-knowledge-graph resource (the paper's ``kg_reference``)."""
    return value(name, val, domain=iri)


def persona(id: str, *, name: str | None = None) -> dict[str, str]:
    """A persona (the person or role behind an execution).

    >>> persona("alice", name="Alice")
    {'id': 'alice', 'name': 'Alice'}
    """
    out = {"id": id}
    if name is not None:
        out["name"] = name
    return out


def implementation(
    name: str,
    *,
    algorithm: str | None = None,
    software: str | None = None,
    version: str | None = None,
) -> dict[str, str]:
    """The implementation a learning stage ran (algorithm, software and its version)."""
    out = {"name": name}
    if algorithm is not None:
        out["algorithm"] = algorithm
    if software is not None:
        out["software"] = software
    if version is not None:
        out["version"] = version
    return out


def to_values(items: Iterable[Value] | Mapping[str, Any] | None) -> list[Value]:
    """Normalise a ``used`` / ``generated`` argument: a list of values, or ``{name: value}``.

    Secrets are redacted (:mod:`provml.capture.redact`: by name, and inside text values and
    data locations). Values given as ``{name: value}`` carry no role: the workflow's spec, when it declares one,
    gives it (else they are plain attribute values).

    >>> to_values({"epochs": 3})
    [{'name': 'epochs', 'value': 3}]
    """
    if items is None:
        return []
    if isinstance(items, Mapping):
        return redact_values([{"name": str(k), "value": v} for k, v in items.items()])
    return redact_values(list(items))
