"""Redaction: no secret reaches a capture event.

Every string that enters an event from the user's program passes through here: the arguments
``@client.track`` records, the messages of exceptions that end a scope, the values of ``used``
and ``generated`` (names, text values, data locations), and allow-listed environment values.
Two rules, applied everywhere:

* **by name** — a value whose name says it is a secret is replaced whole by ``[redacted]``,
  whatever its type: the name's words (split at ``_ - .`` and camelCase) include ``password``,
  ``passwd``, ``passphrase``, ``pwd``, ``pass``, ``secret``, ``credential(s)``, ``auth``,
  ``authorization``, ``cookie``, ``signature``, ``apikey``, ``privatekey``, ``accesskey`` (also
  as two words: ``private_key_pem``), or end in ``token`` or ``key`` (``api_key``,
  ``auth_token``, ``aws_secret_access_key``), or end in ``password``, ``passwd`` or ``secret``
  written as one word (``dbpassword``), or start with a credential token's words
  (``authtoken``, ``token_value``, ``access_token_expiry``) — but not ``max_tokens``, ``subtoken``,
  ``token_accuracy``, ``key_size`` or ``tokenizer``. A number under such a name is kept unless
  the name says password, secret, PIN or credential (``pass_at_1``, ``primary_key``);
* **by value** — inside any text: the password of a URL (``postgres://admin:[redacted]@db``,
  whole when it holds an ``@``; a ``/`` ends a URL's authority, so a password must encode it),
  the value of a ``key=value`` / ``key: value`` pair whose key is a secret name
  (``password=[redacted]``, ``{'api_key': [redacted]}``), ``Bearer`` credentials, PEM private
  keys, JWTs, and tokens with a well-known prefix (GitHub ``ghp_`` …, GitLab ``glpat-``,
  OpenAI / Stripe ``sk-`` ``sk_live_`` ``rk_live_``, Slack ``xox…-``, AWS ``AKIA`` / ``ASIA``,
  Google ``AIza`` ``ya29.``, Hugging Face ``hf_``, npm ``npm_``, PyPI ``pypi-``).

Values of other types are redacted in the form the encoder writes them (a dataclass as an object,
a set as a list, anything else as its ``repr``); :func:`redact_event` applies all of it to an
event of the wire format (ingest does, for events from any source); :func:`safe_url` is a URL as
provml prints and logs it.

Why it is long: the rules above are one list of names and patterns, and every pattern runs on
text from anyone (ingest redacts events from any source) in linear time, which two of them
(a JWT's, a pair's value) only do with a little code around them (regex audit, 18th session:
40 KB of one run of characters took 22–27 s).

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
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "is_secret_env_name", "is_secret_name", "looks_like_secret", "redact_event",
           "redact_named", "redact_text", "redact_values", "safe_url"]

REDACTED = "[redacted]"

_ANYWHERE = frozenset({
    "password", "passwd", "passphrase", "pwd", "pass", "secret", "secrets", "credential",
    "credentials", "auth", "authorization", "cookie", "cookies", "signature", "apikey",
    "privatekey", "accesskey", "secretkey", "sessionid", "jwt", "bearer",
})
_AT_END = frozenset({"token", "key"})  # api_key, auth_token; not key_size, token_ids
#: names whose first two words make a credential wherever ``token`` stands (not ``token_accuracy``,
#: ``per_token_loss``: in NLP a token is a unit of text, and its metrics are data)
_TOKEN_NAMES = frozenset({"tokenvalue", "tokensecret", "accesstoken", "refreshtoken", "idtoken",
                          "bearertoken", "sessiontoken", "authtoken", "apitoken"})
#: the words that make a secret of a number too (a PIN); any other secret's name keeps a number as
#: it is: ``pass_at_1``, ``primary_key`` or ``rng_key`` are metrics and settings, and a number
#: turned into text breaks an evaluation's shape (its whole batch rejected)
_NUMBER_SECRETS = frozenset({"password", "passwd", "passphrase", "pwd", "secret", "secrets", "pin",
                             "credential", "credentials", "secretkey", "privatekey"})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_names: dict[str, bool] = {}
#: names longer than this are not kept in ``_names`` (it would hold up to 10,000 of any length)
_CACHED_NAME_MAX = 256


def _secret_words(name: str) -> bool:
    """:func:`is_secret_name`'s test, reading the words one at a time (``findall`` made a
    list of every word: ~80 bytes a character of a name such as ``a1a1…``)."""
    first_two = ""
    previous = last = None
    for count, match in enumerate(_WORDS.finditer(name)):
        word = match.group().lower()
        if word in _ANYWHERE or (previous is not None and previous + word in _ANYWHERE):
            return True
        if count < 2:
            first_two += word
        previous = last = word
    return last is not None and (
        last in _AT_END
        or last.endswith(("password", "passwd", "secret"))  # dbpassword, clientsecret
        or first_two in _TOKEN_NAMES  # token_value, access_token_expiry, refresh_token_v2
    )


def is_secret_name(name: str) -> bool:
    """Whether a value's, argument's or key's name says it holds a secret (see the module)."""
    known = _names.get(name)
    if known is not None:
        return known
    secret = _secret_words(name)
    if len(_names) < 10_000 and len(name) <= _CACHED_NAME_MAX:
        _names[name] = secret
    return secret


#: the password of a URL: from the user's ``:`` to the ``@`` that the host follows, within the
#: authority (an unencoded ``@`` in it is taken whole; a ``/`` ends the authority, RFC 3986:
#: ``http://minio:9000/models/bert@v2`` holds no password)
_URL_PASSWORD = re.compile(r"(?<![A-Za-z0-9+.-])(?P<pre>[0-9+.-]*+)(?P<head>[A-Za-z][A-Za-z0-9+.-]*+://[^/\s:@]*+:)"
                           r"[^\s/?#]+?@(?=[^\s@/?#]*(?:[\s/?#]|$))")
_TOKENS = re.compile(
    r"""
    -----BEGIN[A-Z ]*PRIVATE\ KEY-----.*?(?:-----END[A-Z ]*PRIVATE\ KEY-----|\Z)
    | (?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}
    | \b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}
         |sk-[A-Za-z0-9_-]{16,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|xox[abposr]-[A-Za-z0-9-]{10,}
         |(?:AKIA|ASIA)[A-Z0-9]{16}|AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}
         |hf_[A-Za-z0-9]{20,}|npm_[A-Za-z0-9]{30,}|pypi-[A-Za-z0-9_-]{30,})
    """,
    re.VERBOSE | re.DOTALL,
)
#: a JWT (the old ``_TOKENS`` alternative ``\beyJ…``), found in linear time: from the start of
#: a run of base64url characters (``_JWT_RUN``) or from inside one (``_JWT_HERE``), the lookahead
#: checks once what follows the run (``eyJ-eyJ-…`` retried the whole run at each ``eyJ``)
_JWT_BODY = (r"(?=[A-Za-z0-9_-]*+\.[A-Za-z0-9_-]{8,}+\.)(?P<pre>[A-Za-z0-9_-]*?)"
             r"\beyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]*+")
_JWT_RUN = re.compile(r"(?<![A-Za-z0-9_-])" + _JWT_BODY)
_JWT_HERE = re.compile(_JWT_BODY)
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _next_jwt(text: str, pos: int) -> tuple[int, int] | None:
    """The span of the leftmost match of the old JWT alternative at or after ``pos``."""
    if 0 < pos < len(text) and text[pos - 1] in _B64URL and text[pos] in _B64URL:
        m = _JWT_HERE.match(text, pos)  # inside a run: the rest of it, once
        if m is not None:
            return m.start() + len(m["pre"]), m.end()
    m = _JWT_RUN.search(text, pos)
    return None if m is None else (m.start() + len(m["pre"]), m.end())


def _redact_tokens(text: str) -> str:
    """``text`` with the matches of ``_TOKENS`` and of the JWT alternative replaced by
    ``[redacted]``: what ``_TOKENS.sub`` gave when it held the JWT alternative (no two of them
    start at one place: a JWT starts with ``e``, none of the others does)."""
    out: list[str] = []
    pos = 0
    other = _TOKENS.search(text)
    jwt = _next_jwt(text, 0)
    while other is not None or jwt is not None:
        start, end = jwt if jwt is not None and (other is None or jwt[0] < other.start()) \
            else other.span()  # type: ignore[union-attr]
        out += [text[pos:start], REDACTED]
        pos = end
        if other is not None and other.start() < pos:
            other = _TOKENS.search(text, pos)
        if jwt is not None and jwt[0] < pos:
            jwt = _next_jwt(text, pos)
    out.append(text[pos:])
    return "".join(out)


_PAIR = re.compile(
    r"""(?<![A-Za-z0-9_.-])[0-9.-]*+(?P<key>[A-Za-z_][A-Za-z0-9_.-]*+)["']?(?P<sep>\s*+[=:]\s*+)""",
    re.VERBOSE,
)
#: the value after a pair's separator, read only where the name is a secret's (as a lookahead
#: in ``_PAIR`` it was read for every pair: ``a=a=a=…`` read the rest of the text at each ``=``)
_VAL = re.compile(r""""[^"]*"|'[^']*'|[^\s,;&'"})\]]+""")
_MAYBE = re.compile(r"[=:]|-----|[Bb]earer|eyJ|gh|glpat|sk|rk_|xox|AKIA|ASIA|AIza|ya29|hf_|npm_|pypi")



def redact_text(text: str) -> str:
    """``text`` with the secrets the module describes replaced by ``[redacted]``."""
    if not _MAYBE.search(text):
        return text
    text = _URL_PASSWORD.sub(lambda m: m["pre"] + m["head"] + REDACTED + "@", text)
    text = _redact_tokens(text)
    out: list[str] = []
    pos = 0
    for m in _PAIR.finditer(text):
        if m.start("key") < pos or not is_secret_name(m["key"]) or text.startswith(REDACTED, m.end()):
            continue
        val = _VAL.match(text, m.end())
        if val is None:  # no value after the separator: not a pair
            continue
        start = m.end()
        out.append(text[pos:start])
        out.append(REDACTED)
        pos = val.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#]*@")
_QUERY_PAIR = re.compile(r"(?P<head>[?&;](?P<key>[^=&;#]++)=)(?P<val>[^&;#]*)|[?&;][^=&;#]*+")


def safe_url(url: str) -> str:
    """A URL as provml prints and logs it: without its user and password, and without the value
    of a query parameter whose name is a secret's (:func:`is_secret_name`: ``password``,
    ``token``, ``api_key`` …).

    >>> safe_url("redis://:secret@h:1/0"), safe_url("https://u:p@w@h/x?password=s&db=2")
    ('redis://***@h:1/0', 'https://***@h/x?password=***&db=2')
    """
    url = _USERINFO.sub(lambda m: m["scheme"] + "***@", url, count=1)
    return _QUERY_PAIR.sub(lambda m: m["head"] + "***" if m["key"] is not None and (
        is_secret_name(m["key"]) or m["key"].lower() == "username") else m[0], url)


def _redact_any(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact_text(obj)
    if obj is None or isinstance(obj, int | float):
        return obj
    if isinstance(obj, list | tuple):
        items = [_redact_any(x) for x in obj]
        return items if any(a is not b for a, b in zip(items, obj, strict=True)) else obj
    if isinstance(obj, Mapping):
        out = {k: redact_named(str(k), v) for k, v in obj.items()}
        return out if any(out[k] is not v for k, v in obj.items()) else obj
    return _redact_object(obj)


def _redact_object(obj: Any) -> Any:
    """Any other value, as the encoder will write it (:func:`provml.capture.encoding._default`;
    orjson writes a dataclass as an object): redacted in that form when something in it is a
    secret (``Namespace(db_password='…')``, ``DbConfig(password=…)``, ``{"password=…"}``)."""
    if callable(getattr(obj, "item", None)) or callable(getattr(obj, "tolist", None)):
        return obj  # numpy / torch numbers and arrays
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
    text = os.fspath(obj) if isinstance(obj, os.PathLike) else repr(obj)
    redacted = redact_text(text)
    return obj if redacted == text else redacted


def redact_named(name: str, value: Any) -> Any:
    """``value`` (a scalar, text, or list / mapping of them), or ``[redacted]`` when ``name``
    is a secret's name; secrets inside text are redacted either way. A number is kept unless
    the name says password, secret, PIN or credential (``pass_at_1``, ``primary_key`` are data)."""
    if is_secret_name(name) and (not isinstance(value, int | float) or _number_secret(name)):
        return REDACTED
    return _redact_any(value)


def _number_secret(name: str) -> bool:
    previous = None
    for match in _WORDS.finditer(name):  # (one word at a time, as _secret_words)
        word = match.group().lower()
        if word in _NUMBER_SECRETS or (previous is not None and previous + word in _NUMBER_SECRETS):
            return True
        previous = word
    return False


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


_ENV_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|KEY|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|SIGNATURE",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"""
    ^(?:ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|sk-|sk_live_|rk_live_|xox[abposr]-|
        AKIA|ASIA|AIza|ya29\.|hf_|npm_|pypi-|eyJ)         # well-known token prefixes, JWTs
    | -----BEGIN                                           # PEM keys
    | ://[^/\s:@]+:[^/\s@]+@                               # URL with user:password@
    """,
    re.VERBOSE,
)
_OPAQUE = re.compile(r"^[A-Za-z0-9+/_=.\-]{24,}$")


def is_secret_env_name(name: str) -> bool:
    """Whether an environment variable's name suggests it holds a secret: stricter than
    :func:`is_secret_name`, which it includes (``DB_PASS``, ``MYSQL_PWD``, ``SSHPASS``,
    ``PGPASSFILE`` … are all dropped; an environment variable is recorded only when
    allow-listed, so a harmless one dropped is cheap).

    >>> [n for n in ("DB_PASS", "MYSQL_PWD", "SSHPASS", "OMP_NUM_THREADS") if is_secret_env_name(n)]
    ['DB_PASS', 'MYSQL_PWD', 'SSHPASS']
    """
    return _ENV_SECRET_NAME.search(name) is not None or is_secret_name(name)


def looks_like_secret(value: str) -> bool:
    """Whether a value is shaped like a credential: a known token prefix, a PEM block, a URL
    with a password, or a long opaque string mixing letters and digits (no path, no spaces)."""
    if _SECRET_VALUE.search(value):
        return True
    if _OPAQUE.match(value):
        has_digit = any(c.isdigit() for c in value)
        has_alpha = any(c.isalpha() for c in value)
        return has_digit and has_alpha and len(set(value)) >= 10
    return False


def _environment(env: Any) -> Any:
    """An event's recorded environment as the capture client records it: a variable under a
    secret's name, or whose value looks like a credential, dropped; the others' text redacted."""
    if not isinstance(env, Mapping):
        return _redact_any(env)
    out = {str(k): redact_text(v) if isinstance(v, str) else _redact_any(v) for k, v in env.items()
           if not is_secret_env_name(str(k)) and not (isinstance(v, str) and looks_like_secret(v))}
    return env if len(out) == len(env) and all(out[str(k)] is v for k, v in env.items()) else out


def redact_event(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """An event of the wire format with what the capture client redacts redacted again: its
    ``used`` and ``generated`` values, its error, its tags and its metadata (environment
    values under a secret's name included), for events that may not have come through the
    client (``POST /api/events``, ``provml load``, the broker, the MLflow and Flowcept
    imports). The same event when nothing changed; the caller's objects are never modified.

    >>> redact_event({"kind": "task_end", "error": {"type": "E", "message": "password=hunter2"}})["error"]
    {'type': 'E', 'message': 'password=[redacted]'}
    """
    out: dict[str, Any] | None = None
    for key in ("used", "generated"):
        values = event.get(key)
        if values and isinstance(values, list):
            new = redact_values(list(values))
            if any(a is not b for a, b in zip(new, values, strict=True)):
                out = dict(event) if out is None else out
                out[key] = new
    for key in ("error", "tags", "meta"):
        found = event.get(key)
        if key == "meta" and isinstance(found, Mapping) and "env" in found:
            env = _environment(found["env"])
            rest = _redact_any({k: v for k, v in found.items() if k != "env"})
            redacted: Any = found if env is found["env"] and all(rest[k] is found[k] for k in rest) \
                else {**rest, "env": env}
        else:
            redacted = _redact_any(found)
        if redacted is not found:
            out = dict(event) if out is None else out
            out[key] = redacted
    return event if out is None else out
