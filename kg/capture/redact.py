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

Why it is long: the rules above are one list of names and patterns, and every pattern runs on
text from anyone (ingest redacts events from any source) in linear time, which some of them
(a JWT's, a pair's value, a command's options) only do with a little code around them (regex
audit, 18th session: 40 KB of one run of characters took 22–27 s).

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

__all__ = ["NAME_MAX", "REDACTED", "is_secret_env_name", "is_secret_name", "looks_like_secret", "redact_cut",
           "redact_event", "redact_name", "redact_named", "redact_names", "redact_spec", "redact_text",
           "redact_values", "safe_url"]

REDACTED = "[redacted]"

_ANYWHERE = frozenset({
    "password", "passwd", "passphrase", "pwd", "pass", "secret", "secrets", "credential",
    "credentials", "auth", "authorization", "cookie", "cookies", "signature", "apikey",
    "privatekey", "accesskey", "secretkey", "sessionid", "jwt", "bearer",
})
_AT_END = frozenset({"token", "key"})  # api_key, auth_token; not key_size, token_ids
#: words before a final ``token`` or ``key`` that make it data, not a credential: a tokenizer's
#: special tokens (``pad_token``, ``eos_token``), a record's or a store's keys (``label_key``,
#: ``text_key``, ``s3_key``, ``sort_key``, ``primary_key``): an NLP config's strings were
#: blanked (a review, twenty-first session)
_DATA_QUALIFIERS = frozenset({
    "pad", "eos", "bos", "unk", "sep", "cls", "mask", "special", "start", "end", "begin",
    "text", "label", "labels", "image", "img", "audio", "video", "caption", "prompt", "input",
    "output", "target", "column", "col", "field", "feature", "features", "sample", "row",
    "batch", "file", "object", "blob", "bucket", "s3", "gcs", "sort", "partition", "primary",
    "foreign", "unique", "index", "join", "lookup", "group", "cache", "dict", "json", "hash",
    "rng", "seed", "random", "attention", "query", "value", "data", "dataset", "split", "id"})
#: names whose first two words make a credential wherever ``token`` stands (not ``token_accuracy``,
#: ``per_token_loss``: in NLP a token is a unit of text, and its metrics are data)
_TOKEN_NAMES = frozenset({"tokenvalue", "tokensecret", "accesstoken", "refreshtoken", "idtoken",
                          "bearertoken", "sessiontoken", "authtoken", "apitoken"})
#: the singular of a plural ``tokens`` / ``keys`` that is a credential's, with the word before it
#: (``access_tokens``, ``ssh_keys``, ``apiTokens``, ``sshkeys``); a plural ``tokens`` or ``keys``
#: after any other word is data (``num_tokens``, ``max_new_tokens``, ``special_tokens``,
#: ``num_keys``), and so is either word alone: ``tokens`` is what a tokenizer returns
_PLURAL_CREDENTIALS = _TOKEN_NAMES | frozenset({
    "oauthtoken", "csrftoken", "xsrftoken", "githubtoken", "gitlabtoken", "hftoken", "slacktoken",
    "bottoken", "webhooktoken", "deploytoken", "servicetoken", "clienttoken",
    "sshkey", "gpgkey", "pgpkey", "signingkey", "encryptionkey", "masterkey", "deploykey",
    "licensekey", "servicekey", "hmackey", "clientkey", "sessionkey", "rsakey", "authkey",
})
#: the words that make a secret of a number too (a PIN); any other secret's name keeps a number as
#: it is: ``pass_at_1``, ``primary_key`` or ``rng_key`` are metrics and settings, and a number
#: turned into text breaks an evaluation's shape (its whole batch rejected)
_NUMBER_SECRETS = frozenset({"password", "passwd", "passphrase", "pwd", "secret", "secrets", "pin",
                             "credential", "credentials", "secretkey", "privatekey"})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_names: dict[str, bool] = {}
#: names longer than this are not kept in ``_names`` (it would hold up to 10,000 of any length)
_CACHED_NAME_MAX = 256


def _singular(word: str) -> str:
    """``word`` without the ``s`` of a plural (``passwords``, ``apikeys``, ``tokens``); not a
    word ending in ``ss`` (``pass``), nor one of three letters or fewer (``ids``, ``pws``), so
    ``passes`` — a count of passes over the data — is ``passe``, nothing of a secret's."""
    return word[:-1] if len(word) > 3 and word[-1] == "s" and word[-2] != "s" else word


def _secret_words(name: str) -> bool:
    """:func:`is_secret_name`'s test, reading the words one at a time (``findall`` made a
    list of every word: ~80 bytes a character of a name such as ``a1a1…``)."""
    first_two = ""
    previous = last = previous_word = two_before = None
    for count, match in enumerate(_WORDS.finditer(name)):
        word = match.group().lower()
        one = _singular(word)
        if word in _ANYWHERE or one in _ANYWHERE or (previous is not None and (
                previous + word in _ANYWHERE or previous + one in _ANYWHERE)):
            return True  # password, passwords, api_keys, apiKeys, PASSWORDS, private_keys
        if one is not word and (one in _PLURAL_CREDENTIALS or (
                previous is not None and previous + one in _PLURAL_CREDENTIALS)):
            return True  # access_tokens, ssh_keys, sshkeys (not num_tokens, num_keys)
        if count < 2:
            first_two += word
        two_before, previous_word = previous_word, previous
        previous = last = word
    return last is not None and (
        (last in _AT_END and previous_word not in _DATA_QUALIFIERS
         and (two_before or "") + (previous_word or "") not in _DATA_QUALIFIERS)  # s3_key
        or _singular(last).endswith(("password", "passwd", "secret"))  # dbpassword(s), clientsecret
        or first_two in _TOKEN_NAMES  # token_value, access_token_expiry, refresh_token_v2
    )


def is_secret_name(name: str) -> bool:
    """Whether a value's, argument's or key's name says it holds a secret (see the module).

    Plurals are secrets' names as their singulars are (``passwords``, ``api_keys``,
    ``passphrases``, ``private_keys``, ``PASSWORDS``, ``dbpasswords``), except the two words
    that are ML's data as often as credentials: a plural ``tokens`` or ``keys`` is a secret's
    name only after a word that says which credential (``access_tokens``, ``api_tokens``,
    ``hf_tokens``, ``ssh_keys``, ``signing_keys``: ``_PLURAL_CREDENTIALS``). ``tokens`` alone
    is what a tokenizer returns, and ``num_tokens``, ``max_new_tokens``, ``special_tokens``,
    ``num_keys`` or ``keys`` are counts and data, so none of them is one; a list of credentials
    under such a name is redacted only where its text is (known token prefixes and the other
    value rules). ``passes`` (``num_passes``) is not ``pass`` either.

    >>> [n for n in ("passwords", "api_keys", "access_tokens", "ssh_keys", "tokens", "num_tokens",
    ...              "max_new_tokens", "keys", "num_passes") if is_secret_name(n)]
    ['passwords', 'api_keys', 'access_tokens', 'ssh_keys']
    """
    known = _names.get(name)
    if known is not None:
        return known
    secret = _secret_words(name)
    # a harmless name is kept as False only when its text holds no secret either: a value under
    # a name known False (a number) skips redaction whole, its name's text included
    # (``redact_values`` and the flusher's ``redact_items``)
    if len(_names) < 10_000 and len(name) <= _CACHED_NAME_MAX and (
            secret or not _MAYBE.search(name) or redact_text(name) == name):
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
         |sk-(?:[a-z0-9]{2,10}-){0,2}[A-Za-z0-9_]{20,}[A-Za-z0-9_-]*
         |[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|xox[abposr]-[A-Za-z0-9-]{10,}
         |(?:AKIA|ASIA)[A-Z0-9]{16}|AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}
         |hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{30,}|pypi-[A-Za-z0-9_-]{30,})
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
    r"""(?<![A-Za-z0-9_.-])[0-9.-]*+(?P<key>[A-Za-z_][A-Za-z0-9_.-]*+)["']?(?P<sep>\s*+(?:=>|:=|[=:])\s*+)""",
    re.VERBOSE,
)
#: the value after a pair's separator, read only where the name is a secret's (as a lookahead
#: in ``_PAIR`` it was read for every pair: ``a=a=a=…`` read the rest of the text at each ``=``);
#: a quoted value may carry Python's prefix (``b'…'``: the repr of bytes)
_VAL = re.compile(r"""[bBrRuU]{0,2}"[^"]*"|[bBrRuU]{0,2}'[^']*'|[^\s,;&'"})\]]+""")
#: the schemes of an ``Authorization`` header: the credential after one is the secret too
_AUTH_SCHEMES = frozenset({"basic", "bearer", "token", "digest", "negotiate", "ntlm", "bot", "apikey",
                           "api-key", "key", "hmac", "sso-key", "sharedkey", "aws4-hmac-sha256"})
_SCHEME_VALUE = re.compile(r"""[ \t]++[^\s,;&'"})\]]+""")
#: query parameters that are credentials though their names say nothing (Azure SAS ``sig=``)
_QUERY_SECRETS = frozenset({"sig"})
#: a command-line option and the value after it (``--api-key X``, ``--password X``,
#: ``-token X``; ``--password=X`` is a pair): redacted where the option is a secret's name
_FLAG = re.compile(r"""(?<![^\s'"\[(,])--?(?P<flag>[A-Za-z][A-Za-z0-9_.-]*+)\s++(?=[^\s-])""")
#: curl's / wget's ``-u user:password`` (``--user``, ``--proxy-user``): the part after the ``:``
_USER_FLAGS = frozenset({"u", "user", "proxy-user", "U"})
#: the programs whose ``-u`` is ``user:password`` (``docker -u 1000:1000`` is uid:gid)
_USER_COMMANDS = re.compile(r"\b(?:curl|wget)\b")
_USER_PASSWORD = re.compile(r"""['"]?[^\s:'"]++:(?P<pw>[^\s'"]++)""")
#: MySQL's and MariaDB's ``-pPASSWORD`` (attached: ``-p PW`` asks for the password and names a
#: database) and ``sshpass -p PW``; ``-p`` means something else to every other program, so only
#: inside the command of one of these (up to the end of the line, ``;``, ``|`` or ``&``)
_PASSWORD_COMMANDS = re.compile(r"\b(?:mysql(?:dump|admin|import|show|check|slap|binlog)?|mariadb"
                                r"(?:-?dump|-?admin|-?import|-?show|-?check|-?slap|-?binlog)?|sshpass)\b")
_SHORT_P = re.compile(r"""(?<![^\s'"])-p(?P<space>\s*+)(?=[^\s'"-])""")
_COMMAND_END = re.compile(r"[\n;|&]")
#: a URL's user info without a password (``https://TOKEN@dev.azure.com/…``): a credential when it
#: is shaped like one (``_TOKEN_USER``), a user's name (``git@``, ``alice@``) otherwise
_URL_USER = re.compile(r"(?<![A-Za-z0-9+.-])(?P<pre>[0-9+.-]*+)(?P<head>[Hh][Tt][Tt][Pp][Ss]?://)"
                       r"(?P<user>[A-Za-z0-9_~+=%-]{12,}+)@")
#: an XML element whose name is a secret's: ``<password>…</password>``
_ELEMENT = re.compile(r"<(?P<tag>[A-Za-z_][A-Za-z0-9_.:-]*+)(?:\s[^<>]*+)?>(?P<val>[^<]*+)</(?P=tag)>")
#: what every rule needs somewhere in a text (the pre-check: a text without any is returned as
#: it is): a separator, a PEM's dashes, ``Bearer``, a token's prefix as ``_TOKENS`` spells it
#: (``sk-``, not the ``sk`` of ``task``; ``gh[pousr]_``, not the ``gh`` of ``weights``), ``</``,
#: an option's ``-``; the lookahead's class first, so most characters are passed over at once
#: (no slower than the looser check before it, which sent every ``task`` through every rule)
_MAYBE = re.compile(r"""(?=[-=:<BbeghsrxAyhnp])(?:[=:]|-----|[Bb]earer|BEARER|eyJ|gh[pousr]_|github_pat_|glpat-"""
                    r"""|[sr]k[-_]|xox[abposr]-|AKIA|ASIA|AIza|ya29\.|hf_|npm_|pypi-|</|(?<=[\s'"\[(,])-|\A-)""")


def _token_user(m: re.Match[str]) -> str:
    """A URL's user info without a password, redacted when it is shaped like a token: 12
    characters or more mixing letters and digits, without a dot (a GitHub or Azure DevOps token
    used as the user, ``https://<token>@host``: 20 to 90 characters); a user's name (``git``,
    ``alice``, ``x-access-token``, ``oauth2``, ``first.last``) is kept. A long user name with
    digits (``jenkins-bot-01``) is redacted too: a user name lost costs the record little, a
    token kept is a leak."""
    user = m["user"]
    if any(c.isdigit() for c in user) and any(c.isalpha() for c in user):
        return m["pre"] + m["head"] + REDACTED + "@"
    return m[0]


def secret_option(name: str) -> bool:
    """Whether a command-line option or an XML element named ``name`` holds a secret: a
    secret's name (:func:`is_secret_name`) that says which credential — not a bare ``key``
    (``--key``, a plist's ``<key>``), nor ``pass`` (``--pass 2``: a count of passes), nor a
    ``…-key`` option that is a record's (``--label-key``, ``--csv-img-key``, ``--rng-key``:
    :data:`_DATA_QUALIFIERS`, as for names).

    >>> [n for n in ("api-key", "password", "token", "key", "pass", "csv-img-key", "rng-key")
    ...  if secret_option(n)]
    ['api-key', 'password', 'token']
    """
    return name.lower() not in ("key", "pass", "keys") and is_secret_name(name)


def _redact_elements(text: str) -> str:
    return _ELEMENT.sub(lambda m: m[0] if not secret_option(m["tag"]) else
                        m[0][:m.start("val") - m.start()] + REDACTED + m[0][m.end("val") - m.start():], text)


def _redact_commands(text: str) -> str:
    """``text`` with the values of command-line options that are secrets redacted: options
    named as secrets (``--api-key X``), curl's ``-u user:password``, MySQL's ``-pPASSWORD`` and
    ``sshpass -p PASSWORD`` (see ``_FLAG`` and the patterns after it)."""
    spans: list[tuple[int, int]] = []
    for m in _FLAG.finditer(text):
        flag = m["flag"]
        if text.startswith(REDACTED, m.end()):
            continue  # redacted before: a second pass leaves it as it is
        if flag in _USER_FLAGS:
            if not _USER_COMMANDS.search(text, 0, m.start()):
                continue  # ``docker -u 1000:1000``: a user's ids, not curl's password
            found = _USER_PASSWORD.match(text, m.end())
            if found is not None and not text.startswith(REDACTED, found.start("pw")):
                spans.append(found.span("pw"))
        elif secret_option(flag):
            found = _VAL.match(text, m.end())
            if found is not None:
                spans.append(found.span())
    done = 0
    for m in _PASSWORD_COMMANDS.finditer(text):
        if m.start() < done:
            continue
        end_at = _COMMAND_END.search(text, m.end())
        done = end_at.start() if end_at is not None else len(text)
        attached = not m[0].startswith("sshpass")
        for p in _SHORT_P.finditer(text, m.end(), done):
            if (attached and p["space"]) or text.startswith(REDACTED, p.end()):
                continue
            found = _VAL.match(text, p.end(), done)
            if found is not None:
                spans.append(found.span())
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out += [text[pos:start], REDACTED]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def redact_text(text: str) -> str:
    """``text`` with the secrets the module describes replaced by ``[redacted]``."""
    if not _MAYBE.search(text):
        return text
    if "@" in text:
        text = _URL_PASSWORD.sub(lambda m: m["pre"] + m["head"] + REDACTED + "@", text)
        text = _URL_USER.sub(_token_user, text)
    text = _redact_tokens(text)
    if "</" in text:
        text = _redact_elements(text)
    text = _redact_commands(text)
    out: list[str] = []
    pos = 0
    for m in _PAIR.finditer(text):
        if m.start("key") < pos or text.startswith(REDACTED, m.end()):
            continue
        key = m["key"]
        if not is_secret_name(key) and not (
                key.lower() in _QUERY_SECRETS and text[m.start("key") - 1:m.start("key")] in ("?", "&", ";")):
            continue
        val = _VAL.match(text, m.end())
        if val is None:  # no value after the separator: not a pair
            continue
        end = val.end()
        if val[0].lower() in _AUTH_SCHEMES:  # Authorization: Basic <credential>
            credential = _SCHEME_VALUE.match(text, end)
            if credential is not None:
                end = credential.end()
        out.append(text[pos:m.end()])
        out.append(REDACTED)
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def redact_cut(text: str, limit: int) -> str:
    """``text`` redacted, then cut to ``limit`` characters — in this order: text cut first can
    end inside a secret that no pattern then recognises (``postgresql://admin:hunter`` has lost
    the ``@`` that makes it a URL's password).

    >>> redact_cut("x" * 20 + " dsn='postgresql://admin:hunter2@db/x'", 40)
    "xxxxxxxxxxxxxxxxxxxx dsn='postgresql://a"
    """
    return redact_text(text)[:limit]


#: the most characters of a name in the wire format (a workflow's, a task's, a value's …)
NAME_MAX = 200
_clean: dict[str, str] = {}


def _cleaned(name: str) -> str:
    """:func:`redact_name` with its cache looked up first (the hot path of every event's names:
    one look-up, no call); the same object when nothing changed."""
    clean = _clean.get(name)
    if clean is None:
        return redact_name(name)
    return clean or name  # ("": cached as unchanged)


def redact_name(name: str) -> str:
    """A name (of a workflow, task, cycle, value, store, study …) or a mapping's key as it is
    recorded: :func:`redact_text`, cut to 200 characters (the wire format's limit for a name)
    if the redaction made a name of up to 200 longer; names repeat, so each is redacted once
    (the hot path: one dictionary look-up).

    >>> redact_name("load from postgresql://etl:hunter2@db/x"), redact_name("epoch")
    ('load from postgresql://etl:[redacted]@db/x', 'epoch')
    """
    clean = _clean.get(name)
    if clean is None:
        clean = redact_text(name)
        clean = name if clean == name else clean[:max(NAME_MAX, len(name))]
        if len(_clean) < 10_000 and len(name) <= _CACHED_NAME_MAX:
            # "" for a name left as it is: the caller gets its own object back (an equal
            # name cached from another object would make every event look changed)
            _clean[name] = "" if clean is name else clean
    return clean or name


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
        is_secret_name(m["key"]) or m["key"].lower() == "username" or m["key"].lower() in _QUERY_SECRETS)
        else m[0], url)


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


_FLAG_ONLY = re.compile(r"--?(?P<flag>[A-Za-z][A-Za-z0-9_.-]*+)")


def _redact_argv(items: list[Any]) -> None:
    """A command line given as a list (``["train.py", "--api-key", "X"]``): the item after an
    option named as a secret redacted, the password of ``-u user:password``, and MySQL's
    ``-pPASSWORD`` and ``sshpass -p PASSWORD`` in a list that runs one of them (as
    :func:`redact_text` does in text); in place."""
    programs: set[str] | None = None
    for i, item in enumerate(items):
        if item.__class__ is not str or item[:1] != "-":
            continue
        if programs is None:  # the program the list runs (its first item), and sshpass's
            first = items[0].rsplit("/", 1)[-1] if items and items[0].__class__ is str else ""
            programs = {m[0] for x in (first, *(x for x in items if x == "sshpass"))
                        for m in (_PASSWORD_COMMANDS.fullmatch(x),) if m is not None}
        if programs - {"sshpass"} and item.startswith("-p") and len(item) > 2 and item[2] != "-":
            items[i] = "-p" + REDACTED  # mysql -pPASSWORD
            continue
        flag = _FLAG_ONLY.fullmatch(item)
        after = items[i + 1] if i + 1 < len(items) else None
        if flag is None or after.__class__ is not str or after[:1] == "-" or after == REDACTED:
            continue
        name = flag["flag"]
        if name in _USER_FLAGS and not _USER_COMMANDS.fullmatch(
                items[0].rsplit("/", 1)[-1] if items[0].__class__ is str else ""):
            continue  # ``docker -u 1000:1000``
        if name in _USER_FLAGS:
            found = _USER_PASSWORD.fullmatch(after)
            if found is not None:
                items[i + 1] = after[:found.start("pw")] + REDACTED
        elif (name == "p" and "sshpass" in programs) or secret_option(name):
            items[i + 1] = REDACTED


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
        name = key if key.__class__ is str else str(key)
        new = values(name, value)
        if new is not value:
            changed = True
        if key.__class__ is str:
            clean = _cleaned(key)
            if clean is not key:
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
        one = _singular(word)
        if word in _NUMBER_SECRETS or one in _NUMBER_SECRETS or (previous is not None and (
                previous + word in _NUMBER_SECRETS or previous + one in _NUMBER_SECRETS)):
            return True
        previous = word
    return False


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
    secret either) — costs a few dictionary look-ups."""
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
            if any(a is not b for a, b in zip(new, values, strict=True)):
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
