"""Redaction by value: the text and command-line rules of :mod:`provml.capture.redact`, and its
two caches of names.

It holds the patterns that find a secret inside any text — a URL's password or token-shaped user,
a ``key=value`` pair whose key is a secret's name (and an ``Authorization`` header's credential),
an XML element named as a secret, ``Bearer`` credentials, PEM private keys, JWTs, tokens with a
well-known prefix — and the command-line rules: an option named as a secret (``--api-key X``),
curl's ``-u user:password``, MySQL's ``-pPASSWORD`` and ``sshpass -p``, in text
(``_redact_commands``) and in an argv list (``_redact_argv``). On them: :func:`redact_text`,
:func:`redact_cut`, :func:`safe_url`, and the cached :func:`is_secret_name` (``_names``) and
:func:`redact_name` (``_clean``). They are one module because they call each other: a pair's or
an option's name is tested with :func:`is_secret_name`, whose cache keeps a name as harmless only
when :func:`redact_text` leaves its text as it is. Both caches hold up to ``_CACHE_MAX`` names
each; a full one is emptied and fills again. The words of a secret's name are read by
:mod:`provml.capture.redact_words`; values, mappings, events and specs are walked by
:mod:`provml.capture.redact`, which re-exports every public name here: import from there.

Every pattern runs on text from anyone (ingest redacts events from any source) in linear time,
which some of them (a JWT's, a pair's value, a command's options) only do with a little code
around them (regex audit, 18th session: 40 KB of one run of characters took 22–27 s).

>>> redact_text("curl -u admin:hunter2 https://x --api-key abc123 && mysql -u root -phunter2 db")
'curl -u admin:[redacted] https://x --api-key [redacted] && mysql -u root -p[redacted] db'
"""

from __future__ import annotations

import re
from typing import Any

from provml.capture.redact_words import _secret_words

REDACTED = "[redacted]"
#: the names :func:`is_secret_name` has read, and their answer (``provml.capture.encoding`` and
#: :func:`provml.capture.redact.redact_values` look names up in it for their hot path)
_names: dict[str, bool] = {}
#: the most names each cache (``_names``, ``_clean``) holds: a full one is emptied and fills again
#: with the names in use (they stopped at 10,000 and never evicted: a long run with ever new names,
#: an index in each, paid the whole check for every later name, every time)
_CACHE_MAX = 10_000
#: names longer than this are not cached (a cache would hold up to ``_CACHE_MAX`` of any length)
_CACHED_NAME_MAX = 256


def is_secret_name(name: str) -> bool:
    """Whether a value's, argument's or key's name says it holds a secret (see
    :mod:`provml.capture.redact`; the words are read by :mod:`provml.capture.redact_words`).

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
    if len(name) <= _CACHED_NAME_MAX and (
            secret or not _MAYBE.search(name) or redact_text(name) == name):
        if len(_names) >= _CACHE_MAX:
            _names.clear()  # emptied, not replaced: others hold this dict
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
#: the names :func:`redact_name` has redacted, and what each became (``""``: left as it is)
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
        if len(name) <= _CACHED_NAME_MAX:
            if len(_clean) >= _CACHE_MAX:
                _clean.clear()  # (as ``_names``: full, emptied)
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

