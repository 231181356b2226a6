"""Redaction: no secret reaches a capture event.

Every string that enters an event from the user's program passes through here: the arguments
``@client.track`` records, the messages of exceptions that end a scope, the values of ``used``
and ``generated`` (names, text values, data locations), and allow-listed environment values.
Two rules, applied everywhere:

* **by name** — a value whose name says it is a secret is replaced whole by ``[redacted]``,
  whatever its type: the name's words (split at ``_ - .`` and camelCase) include ``password``,
  ``passwd``, ``passphrase``, ``pwd``, ``pass``, ``secret``, ``credential(s)``, ``auth``,
  ``authorization``, ``cookie``, ``signature``, ``apikey``, ``privatekey``, ``accesskey``, or
  end in ``token`` or ``key`` (``api_key``, ``auth_token``, ``aws_secret_access_key``) — but not
  ``max_tokens``, ``key_size`` or ``tokenizer``;
* **by value** — inside any text: the password of a URL (``postgres://admin:[redacted]@db``),
  the value of a ``key=value`` / ``key: value`` pair whose key is a secret name
  (``password=[redacted]``, ``{'api_key': [redacted]}``), ``Bearer`` credentials, PEM private
  keys, JWTs, and tokens with a well-known prefix (GitHub ``ghp_`` …, GitLab ``glpat-``,
  OpenAI / Stripe ``sk-`` ``sk_live_`` ``rk_live_``, Slack ``xox…-``, AWS ``AKIA`` / ``ASIA``,
  Google ``AIza`` ``ya29.``, Hugging Face ``hf_``, npm ``npm_``, PyPI ``pypi-``).

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

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "is_secret_name", "redact_named", "redact_text", "redact_values"]

REDACTED = "[redacted]"

_ANYWHERE = frozenset({
    "password", "passwd", "passphrase", "pwd", "pass", "secret", "secrets", "credential",
    "credentials", "auth", "authorization", "cookie", "cookies", "signature", "apikey",
    "privatekey", "accesskey", "secretkey", "sessionid", "jwt", "bearer",
})
_AT_END = frozenset({"token", "key"})  # api_key, auth_token; not key_size, token_ids
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_names: dict[str, bool] = {}


def is_secret_name(name: str) -> bool:
    """Whether a value's, argument's or key's name says it holds a secret (see the module)."""
    known = _names.get(name)
    if known is not None:
        return known
    words = [w.lower() for w in _WORDS.findall(name)]
    secret = bool(words) and (
        any(w in _ANYWHERE for w in words)
        or words[-1] in _AT_END
        or "".join(words[-2:]) in _ANYWHERE  # api + key, private + key
    )
    if len(_names) < 10_000:
        _names[name] = secret
    return secret


_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@")
_TOKENS = re.compile(
    r"""
    -----BEGIN[A-Z ]*PRIVATE\ KEY-----.*?(?:-----END[A-Z ]*PRIVATE\ KEY-----|\Z)
    | (?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}
    | \beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*
    | \b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}
         |sk-[A-Za-z0-9_-]{16,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|xox[abposr]-[A-Za-z0-9-]{10,}
         |(?:AKIA|ASIA)[A-Z0-9]{16}|AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}
         |hf_[A-Za-z0-9]{20,}|npm_[A-Za-z0-9]{30,}|pypi-[A-Za-z0-9_-]{30,})
    """,
    re.VERBOSE | re.DOTALL,
)
_PAIR = re.compile(
    r"""(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)["']?(?P<sep>\s*[=:]\s*)
        (?=(?P<val>"[^"]*"|'[^']*'|[^\s,;&'"})\]]+))""",
    re.VERBOSE,
)
_MAYBE = re.compile(r"[=:]|-----|[Bb]earer|eyJ|gh|glpat|sk|rk_|xox|AKIA|ASIA|AIza|ya29|hf_|npm_|pypi")


def redact_text(text: str) -> str:
    """``text`` with the secrets the module describes replaced by ``[redacted]``."""
    if not _MAYBE.search(text):
        return text
    text = _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED + "@", text)
    text = _TOKENS.sub(REDACTED, text)
    out: list[str] = []
    pos = 0
    for m in _PAIR.finditer(text):
        if m.start() < pos or not is_secret_name(m["key"]) or text.startswith(REDACTED, m.end()):
            continue
        start = m.end()
        out.append(text[pos:start])
        out.append(REDACTED)
        pos = start + len(m["val"])
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _redact_any(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, list | tuple):
        items = [_redact_any(x) for x in obj]
        return items if any(a is not b for a, b in zip(items, obj, strict=True)) else obj
    if isinstance(obj, Mapping):
        out = {k: redact_named(str(k), v) for k, v in obj.items()}
        return out if any(out[k] is not v for k, v in obj.items()) else obj
    return obj


def redact_named(name: str, value: Any) -> Any:
    """``value`` (a scalar, text, or list / mapping of them), or ``[redacted]`` when ``name``
    is a secret's name; secrets inside text are redacted either way."""
    if is_secret_name(name):
        return REDACTED
    return _redact_any(value)


def _redact_value(item: Mapping[str, Any]) -> Mapping[str, Any]:
    name = item.get("name")
    out: dict[str, Any] | None = None
    if "value" in item:
        val = item["value"]
        new = redact_named(name, val) if isinstance(name, str) else _redact_any(val)
        if new is not val:
            out = dict(item)
            out["value"] = new
    data = item.get("data")
    if isinstance(data, Mapping) and isinstance(data.get("location"), str):
        location = redact_text(data["location"])
        if location is not data["location"]:
            out = dict(item) if out is None else out
            out["data"] = {**data, "location": location}
    domain = item.get("domain")
    if isinstance(domain, str):
        redacted_domain = redact_text(domain)
        if redacted_domain is not domain:
            out = dict(item) if out is None else out
            out["domain"] = redacted_domain
    characteristics = item.get("characteristics")
    if isinstance(characteristics, Mapping):
        redacted = _redact_any(characteristics)
        if redacted is not characteristics:
            out = dict(item) if out is None else out
            out["characteristics"] = redacted
    return item if out is None else out


def redact_values(values: list[Any]) -> list[Any]:
    """A ``used`` / ``generated`` list with secrets redacted (new dicts where something
    changed; the caller's dicts are never modified). The hot path — a number under a known
    name — costs a few dictionary look-ups."""
    for i, item in enumerate(values):
        if item.__class__ is dict:
            name = item.get("name")
            if (
                name.__class__ is str
                and _names.get(name) is False
                and item.get("value").__class__ in (float, int, bool)
                and "data" not in item
                and "domain" not in item
                and "characteristics" not in item
            ):
                continue  # a number under a known, harmless name: the loss of every batch
        if isinstance(item, Mapping):
            new = _redact_value(item)
            if new is not item:
                values[i] = new
    return values
