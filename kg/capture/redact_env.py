"""What of a run's environment is a secret: the name and value tests by which the capture client
(:mod:`provml.capture.metadata`) and ingest (:func:`provml.capture.redact.redact_event`) drop an
environment variable — a name stricter than :func:`provml.capture.redact.is_secret_name`
(``DB_PASS``, ``SSHPASS``), a value shaped like a credential. The rest of the environment is
redacted as any text is (:mod:`provml.capture.redact`, which re-exports both tests).

>>> looks_like_secret("ghp_0123456789abcdefghijklmnopqrstuvwx"), looks_like_secret("/usr/bin")
(True, False)
"""

from __future__ import annotations

import re

from provml.capture.redact_text import is_secret_name

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
