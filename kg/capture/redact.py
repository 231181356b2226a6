"""Redaction: no secret reaches a capture event.

Every string that enters an event from the user's program passes through here: the arguments
``@client.track`` records, the messages of exceptions that end a scope, the names of the
workflow, its tasks and cycles, study, persona and implementation, the values of ``used`` and
``generated`` (names, text values, data references, ``about``, tags, domain IRIs,
characteristics), a mapping's keys, a workflow's spec, and allow-listed environment values.
Two rules, applied everywhere:

* **by name** — a value whose name says it is a secret is replaced whole by ``[redacted]``,
  whatever its type: the name's words (split at ``_ - .`` and camelCase) include ``password``,
  ``passwd``, ``passphrase``, ``pwd``, ``pass``, ``secret``, ``credential(s)``, ``auth``,
  ``authorization``, ``cookie``, ``signature``, ``apikey``, ``privatekey``, ``accesskey`` (also
  as two words: ``private_key_pem``), or end in ``token`` or ``key`` (``api_key``,
  ``auth_token``, ``aws_secret_access_key``), or end in ``password``, ``passwd`` or ``secret``
  written as one word (``dbpassword``), or start with a credential token's words
  (``authtoken``, ``token_value``, ``access_token_expiry``) — but not ``max_tokens``, ``subtoken``,
  ``token_accuracy``, ``key_size`` or ``tokenizer``. Plurals as their singulars (``passwords``,
  ``api_keys``, ``passphrases``), except a plural ``tokens`` or ``keys``, a secret's name only
  after a word that says which credential (``access_tokens``, ``ssh_keys``; not ``tokens``,
  ``num_tokens``, ``keys``: :func:`is_secret_name`). A number under such a name is kept unless
  the name says password, secret, PIN or credential (``pass_at_1``, ``primary_key``), and a
  metric's number (an ``evaluation``) is always kept (``password_strength_acc``);
* **by value** — inside any text: the password of a URL (``postgres://admin:[redacted]@db``,
  whole when it holds an ``@``; a ``/`` ends a URL's authority, so a password must encode it),
  a URL's user shaped like a token (``https://[redacted]@dev.azure.com``), the value of a
  ``key=value`` / ``key: value`` / ``key => value`` / ``key := value`` pair whose key is a
  secret name (``password=[redacted]``, ``{'api_key': [redacted]}``, a bytes repr, Azure's
  ``?sig=``), an ``Authorization`` header's scheme and credential, an XML element named as a
  secret, the value after a command-line option named as one (``--api-key [redacted]``, in text
  or an argv list), curl's ``-u user:[redacted]``, MySQL's ``-p[redacted]`` and ``sshpass -p``,
  ``Bearer`` credentials, PEM private keys, JWTs, and tokens with a well-known prefix (GitHub
  ``ghp_`` …, GitLab ``glpat-``, OpenAI / Stripe ``sk-`` ``sk_live_`` ``rk_live_``, Slack
  ``xox…-``, AWS ``AKIA`` / ``ASIA``, Google ``AIza`` ``ya29.``, Hugging Face ``hf_``, npm
  ``npm_``, PyPI ``pypi-``).

Text that is cut to a length is redacted first (:func:`redact_cut`): cut first, a URL's
password can lose its ``@`` and no pattern recognises what is left. Names are redacted once each
(:func:`redact_name`, cached) and a mapping's keys as names (a key holding a secret by value;
a key that names one keeps its name, its value is redacted). What no rule can see is kept: a
secret under an innocuous name with no known shape, a secret in prose, ids (``run_id=``, a
task's ``id=``: ingest keeps the ids of events from any source, so as not to merge executions).

Values of other types are redacted in the form the encoder writes them (a dataclass as an object,
a set as a list, anything else as its ``repr``); :func:`redact_event` applies all of it to an
event of the wire format (ingest does, for events from any source), :func:`redact_spec` to a
workflow spec; :func:`safe_url` is a URL as provml prints and logs it.

Where it lives: this module is the public face (every name above is imported from here) and
walks values, mappings, events and specs; the rules are below it, in
:mod:`provml.capture.redact_text` (the patterns for text and command lines, :func:`redact_text`,
:func:`safe_url`, and the cached :func:`is_secret_name` and :func:`redact_name`),
:mod:`provml.capture.redact_words` (the words of a secret's name) and
:mod:`provml.capture.redact_env` (which environment variables are dropped).

Why it is long: this text is the one reference of the rules (the docs point here), and the
walkers of values, mappings, objects, events and specs recurse through one another.

>>> redact_text("postgres://admin:hunter2@db.example.org/prod failed")
'postgres://admin:[redacted]@db.example.org/prod failed'
>>> redact_text("host=db user=admin password=hunter2")
'host=db user=admin password=[redacted]'
>>> redact_text("key sk-live-0123456789abcdef0123 refused")
'key [redacted] refused'
>>> is_secret_name("api_key"), is_secret_name("max_tokens"), is_secret_name("Password")
(True, False, True)
>>> redact_named("password", 1234), redact_named("lr", 0.1)
('[redacted]', 0.1)
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import os
from collections.abc import Mapping
from typing import Any

from provml.capture import redact_text as _text
from provml.capture.redact_env import is_secret_env_name, looks_like_secret
from provml.capture.redact_text import (
    NAME_MAX,
    REDACTED,
    _cleaned,
    _redact_argv,
    is_secret_name,
    redact_cut,
    redact_name,
    redact_text,
    safe_url,
)
from provml.capture.redact_text import secret_option as secret_option  # (public: kept here)
from provml.capture.redact_words import _number_secret

__all__ = ["NAME_MAX", "REDACTED", "is_secret_env_name", "is_secret_name", "looks_like_secret", "redact_cut",
           "redact_event", "redact_name", "redact_named", "redact_names", "redact_spec", "redact_text",
           "redact_values", "safe_url"]

#: the caches of names, :mod:`provml.capture.redact_text`'s (``provml.capture.encoding`` takes
#: ``_names`` from here), bound by assignment: CPython 3.11 calls ``.get`` on a name bound by an
#: import without LOAD_METHOD, and :func:`redact_values`' hot path was 3% slower
_names: dict[str, bool] = _text._names
_clean: dict[str, str] = _text._clean


def _redact_any(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact_text(obj)
    if obj is None or isinstance(obj, int | float):
        return obj
    if isinstance(obj, list | tuple):
        items = [_redact_any(x) for x in obj]
        _redact_argv(items)
        return items if any(a is not b for a, b in zip(items, obj, strict=True)) else obj
    if isinstance(obj, Mapping):
        return _redact_mapping(obj, redact_named)
    return _redact_object(obj)


def _redact_mapping(obj: Mapping[Any, Any], values: Any) -> Mapping[Any, Any]:
    """A mapping with its values redacted by ``values(name, value)`` and its keys as
    :func:`redact_name` has them: a key holding a secret by value (``{"ghp_…": "alice"}``,
    ``{"postgresql://u:pw@h/db": 1}``) is redacted, and numbered where two keys become one
    (``[redacted]``, ``[redacted] (2)``); a key that names a secret stays (its value is
    what is redacted). The same mapping when nothing changed."""
    out: dict[Any, Any] = {}
    changed = False
    numbered: dict[str, int] = {}  # the last number given to a redacted key (linear, not n²)
    for key, value in obj.items():
        if key.__class__ is str:
            name = key
        elif isinstance(key, str):  # a str Enum, numpy's str_: as written, its text (``"train"``)
            name = str.__str__(key)
        else:
            name = _key_text(key)
            if not isinstance(key, int | float) and key is not None:  # (bool is an int) a tuple
                key, changed = name, True  # rejected its whole event: written as its text
        new = values(name, value)
        if new is not value:
            changed = True
        if isinstance(key, str):
            clean = _cleaned(name)  # (a str subclass by its text: its secret went out: a review)
            if clean is not name:
                changed = True
                number = numbered.get(clean, 1)
                unique = clean if number == 1 else f"{clean} ({number})"
                while unique in out or (unique in obj and unique != key):
                    number += 1
                    unique = f"{clean} ({number})"
                numbered[clean] = number
                key = unique
        out[key] = new
    return out if changed else obj


def _key_text(key: Any) -> str:
    """A mapping key as text (its ``str``; a key whose ``str`` raises, by its type)."""
    try:
        return str(key)
    except Exception:  # noqa: BLE001 - a user's object
        return f"<{type(key).__name__} key>"


#: the kinds of numpy arrays that hold text or objects (unicode, bytes, object, void), which can
#: hold a secret; numbers (and torch tensors, numbers only) are passed as they are
_TEXT_KINDS = frozenset("USOV")


def _redact_object(obj: Any) -> Any:
    """Any other value, as the encoder will write it (:func:`provml.capture.encoding._default`;
    orjson writes a dataclass as an object): redacted in that form when something in it is a
    secret (``Namespace(db_password='…')``, ``DbConfig(password=…)``, ``{"password=…"}``,
    ``np.array(["token=…"])``: numpy arrays of text or objects went out whole, a probe,
    twenty-seventh session). A value whose ``repr`` raises is left to the encoder (the call
    raised it into the training script)."""
    if callable(getattr(obj, "item", None)) or callable(getattr(obj, "tolist", None)):
        if getattr(getattr(obj, "dtype", None), "kind", None) not in _TEXT_KINDS:
            return obj  # numpy / torch numbers and arrays of numbers
        try:
            items = obj.tolist()  # as the encoder writes it
        except Exception:  # noqa: BLE001 - the encoder writes its repr or its type
            return obj
        out = _redact_any(items)
        return obj if out is items else out
    if isinstance(obj, enum.Enum):  # orjson writes its value
        value = _redact_any(obj.value)
        return obj if value is obj.value else value
    if isinstance(obj, datetime.date | datetime.time) or type(obj).__module__ == "uuid":
        return obj  # written as ISO text / the UUID by orjson: no secret's place
    if isinstance(obj, set | frozenset):
        items = list(obj)
        out = _redact_any(items)
        return obj if out is items else out
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        out = _redact_any(fields)
        return obj if out is fields else out
    try:
        text = os.fspath(obj) if isinstance(obj, os.PathLike) else repr(obj)
    except Exception:  # noqa: BLE001 - the encoder writes it as its type's name
        return obj
    redacted = redact_text(text)
    return obj if redacted == text else redacted


def redact_named(name: str, value: Any) -> Any:
    """``value`` (a scalar, text, or list / mapping of them), or ``[redacted]`` when ``name``
    is a secret's name; secrets inside text are redacted either way. A number is kept unless
    the name says password, secret, PIN or credential (``pass_at_1``, ``primary_key`` are data)."""
    if is_secret_name(name) and (not isinstance(value, int | float) or _number_secret(name)):
        return REDACTED
    return _redact_any(value)


def _redact_data(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """A data reference (``data``, or ``about`` given as one) with its location, store name
    and media type redacted; the same mapping when nothing changed."""
    out: dict[str, Any] | None = None
    for key in ("location", "store", "media_type"):
        text = data.get(key)
        if text.__class__ is str:
            new = redact_name(text) if key == "store" else redact_text(text)
            if new is not text:
                out = dict(data) if out is None else out
                out[key] = new
    return data if out is None else out


def _redact_value(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """One value of a ``used`` / ``generated`` list, every text in it redacted: its value (by
    its name and inside text), its name, data reference (location, store, media type), ``about``
    (a value's name or a data reference), domain IRI, tag and characteristics."""
    name = item.get("name")
    out: dict[str, Any] | None = None
    if "value" in item:
        val = item["value"]
        if item.get("role") == "evaluation" and val.__class__ in (int, float):
            # a metric's number is a measurement, whatever its name says
            # (``password_strength_acc``: made text, it broke the evaluation's format and its
            # whole event, loss and accuracy with it, was rejected: an audit, 21st session)
            new = val
            if isinstance(name, str):
                is_secret_name(name)  # cached: the next value under this name takes the hot path
        else:
            new = redact_named(name, val) if isinstance(name, str) else _redact_any(val)
        if new is not val:
            out = dict(item)
            out["value"] = new
    for key in ("name", "about"):
        text = item.get(key)
        if text.__class__ is str:
            clean = _cleaned(text)
            if clean is not text:
                out = dict(item) if out is None else out
                out[key] = clean
    for key in ("data", "about"):
        data = item.get(key)
        if data is not None and data.__class__ is not str and isinstance(data, Mapping):
            redacted_data = _redact_data(data)
            if redacted_data is not data:
                out = dict(item) if out is None else out
                out[key] = redacted_data
    for key in ("domain", "tag"):
        text = item.get(key)
        if text is not None and isinstance(text, str):
            redacted_text = redact_text(text)
            if redacted_text is not text:
                out = dict(item) if out is None else out
                out[key] = redacted_text
    characteristics = item.get("characteristics")
    if characteristics is not None and isinstance(characteristics, Mapping):
        redacted = _redact_any(characteristics)
        if redacted is not characteristics:
            out = dict(item) if out is None else out
            out["characteristics"] = redacted
    return item if out is None else out


#: the keys of a value that :func:`redact_values` can pass over whole
_PLAIN_KEYS = frozenset({"name", "role", "value", "about"})


def redact_values(values: list[Any]) -> list[Any]:
    """A ``used`` / ``generated`` list with secrets redacted (new dicts where something
    changed; the caller's dicts are never modified). The hot path — a number under a known,
    harmless name (:func:`is_secret_name` keeps False only for a name whose text holds no
    secret either) — costs a few dictionary look-ups. A mapping among the values that has none
    of a value's keys (``name``, ``value``, ``role`` …) is a ``{name: value}`` mapping, as
    ``used=`` takes one whole: its values, each with its name (it was sent as one value without
    a name, which ingest refused, and with it the whole task: an audit, thirty-first session);
    a value that lacks only its name stays as it is, for the event check to refuse.

    >>> redact_values([{"name": "lr", "value": 0.1}, {"lr2": 0.5, "note": "done"}])
    [{'name': 'lr', 'value': 0.1}, {'name': 'lr2', 'value': 0.5}, {'name': 'note', 'value': 'done'}]
    """
    for i, item in enumerate(values):
        if item.__class__ is dict:
            name = item.get("name")
            if (
                name.__class__ is str
                and _names.get(name) is False
                and item.get("value").__class__ in (float, int, bool)
                and item.keys() <= _PLAIN_KEYS
                and ((about := item.get("about")) is None
                     or (about.__class__ is str and _clean.get(about) == ""))
            ):
                # a number under a known, harmless name (about a value whose name is known
                # clean): the loss of every batch
                continue
        if isinstance(item, Mapping):
            if _a_mapping(item):  # (past the hot path: no cost there)
                return redact_values(_named(values))
            new = _redact_value(item)
            if new is not item:
                values[i] = new
    return values


#: the keys of a value in the event format (docs/events.md): a mapping with none of them is a
#: ``{name: value}`` mapping; one with some but no ``name`` is a value that lacks its name (the
#: event check refuses it, naming what is missing)
_VALUE_KEYS = frozenset({"name", "role", "value", "double", "data", "domain", "about", "characteristics", "tag"})


def _a_mapping(item: Mapping[Any, Any]) -> bool:
    """Whether a mapping among the values is a ``{name: value}`` mapping (non-empty, none of a
    value's keys)."""
    return bool(item) and _VALUE_KEYS.isdisjoint(item)


def _named(values: list[Any]) -> list[Any]:
    """``values`` with each ``{name: value}`` mapping among them as its values."""
    return [one for item in values for one in (
        [{"name": str(k), "value": v} for k, v in item.items()]
        if isinstance(item, Mapping) and _a_mapping(item) else [item])]


def _environment(env: Any) -> Any:
    """An event's recorded environment as the capture client records it: a variable under a
    secret's name, or whose value looks like a credential, dropped; the others' text redacted
    (a variable's name too, where it holds a secret by value)."""
    if not isinstance(env, Mapping):
        return _redact_any(env)
    kept = {k: v for k, v in env.items()
            if not is_secret_env_name(str(k)) and not (isinstance(v, str) and looks_like_secret(v))}
    out = _redact_mapping(kept, _env_value)
    return env if len(kept) == len(env) and out is kept else out


def _env_value(name: str, value: Any) -> Any:
    return redact_text(value) if isinstance(value, str) else _redact_any(value)


def _name_value(name: str, value: Any) -> Any:
    return redact_name(value) if value.__class__ is str else redact_named(name, value)


def redact_names(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    """A mapping whose texts are names (a persona's ``id`` and ``name``, an implementation's
    ``name``, ``algorithm``, ``software`` and ``version``), each redacted as
    :func:`redact_name` has it; the same mapping when nothing changed.

    >>> redact_names({"name": "impl password=hunter2", "version": "1.0"})
    {'name': 'impl password=[redacted]', 'version': '1.0'}
    """
    return _redact_mapping(fields, _name_value)


#: the keys of a workflow spec (docs/specs.md) whose texts are names, redacted as names are in
#: events (:func:`redact_name`), so a spec's roles still find the values captured under them
_SPEC_NAMES = frozenset({"workflow", "name", "study", "store"})


def _spec_value(name: str, value: Any) -> Any:
    if value.__class__ is str and name in _SPEC_NAMES:
        return redact_name(value)
    if is_secret_name(name):
        return redact_named(name, value)
    if isinstance(value, Mapping):
        return _redact_mapping(value, _spec_value)
    if isinstance(value, list | tuple):
        items = [_redact_mapping(x, _spec_value) if isinstance(x, Mapping) else _redact_any(x) for x in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return _redact_any(value)


def redact_spec(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """A workflow spec (docs/specs.md) with its secrets redacted as an event's are: by name
    (a store's ``password`` or ``token``, whatever its type) and by value in every text (a
    store's URI, descriptions), its names (workflow, study, transformations, attributes, stores)
    as :func:`redact_name` redacts the names of events. The same mapping when nothing changed.

    >>> redact_spec({"workflow": "etl", "description": "token=hunter2",
    ...              "stores": [{"name": "db", "uri": "postgresql://etl:hunter2@db/x", "password": "hunter2"}]})
    {'workflow': 'etl', 'description': 'token=[redacted]', 'stores': [{'name': 'db', 'uri': 'postgresql://etl:[redacted]@db/x', 'password': '[redacted]'}]}
    """
    return _redact_mapping(spec, _spec_value)


#: an event's texts that are names (the wire format's ``name``: up to 200 characters)
_EVENT_NAMES = ("workflow", "name", "stage", "study")


def redact_event(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """An event of the wire format with what the capture client redacts redacted again, for
    events that may not have come through the client (``POST /api/events``, ``provml load``,
    the broker, the MLflow and Flowcept imports): every text of it — its names (workflow, task
    or cycle, stage, study), persona, implementation, ``used`` and ``generated`` values (names,
    values, data references, ``about``, tags, domain IRIs, characteristics), error, tags,
    metadata (environment values under a secret's name included) and spec. Its ids (``run``,
    ``task``, ``parent``) are kept: they name the executions, and a secret in them is not
    recognised. The same event when nothing changed; the caller's objects are never modified.

    >>> redact_event({"kind": "task_end", "error": {"type": "E", "message": "password=hunter2"}})["error"]
    {'type': 'E', 'message': 'password=[redacted]'}
    >>> redact_event({"kind": "workflow_begin", "workflow": "etl token=hunter2"})["workflow"]
    'etl token=[redacted]'
    """
    out: dict[str, Any] | None = None
    for key in _EVENT_NAMES:
        text = event.get(key)
        if text.__class__ is str:
            clean = _cleaned(text)
            if clean is not text:
                out = dict(event) if out is None else out
                out[key] = clean
    for key in ("used", "generated"):
        values = event.get(key)
        if values and isinstance(values, list):
            new = redact_values(list(values))
            if len(new) != len(values) or any(a is not b for a, b in zip(new, values, strict=True)):
                out = dict(event) if out is None else out
                out[key] = new
    for key in ("persona", "implementation", "spec", "error", "tags", "meta"):
        found = event.get(key)
        if found is None:
            continue
        if key == "meta" and isinstance(found, Mapping) and "env" in found:
            env = _environment(found["env"])
            others = {k: v for k, v in found.items() if k != "env"}
            rest = _redact_any(others)
            redacted: Any = found if env is found["env"] and rest is others else {**rest, "env": env}
        elif key in ("persona", "implementation") and isinstance(found, Mapping):
            redacted = redact_names(found)
        elif key == "spec" and isinstance(found, Mapping):
            redacted = redact_spec(found)
        else:
            redacted = _redact_any(found)
        if redacted is not found:
            out = dict(event) if out is None else out
            out[key] = redacted
    return event if out is None else out
