"""The words of a secret's name: the lists and the word-by-word tests behind the rule *by name*
of :mod:`provml.capture.redact` (:func:`provml.capture.redact.is_secret_name`).

A name is read as words, split at ``_ - .``, camelCase and digits (``_WORDS``), one at a time:
:func:`_secret_words` says whether they make a secret's name (``api_key``, ``passwords``,
``access_tokens``; not ``max_tokens``, ``pad_token``, ``num_passes``), :func:`_number_secret`
whether they make a secret of a number too (a password, a PIN; not ``pass_at_1`` or
``primary_key``). Plain functions of the name, no cache: :func:`is_secret_name` in
:mod:`provml.capture.redact_text` caches their answers. Imports nothing of provml.

>>> [n for n in ("api_key", "max_tokens", "ssh_keys", "pad_token", "dbPassword") if _secret_words(n)]
['api_key', 'ssh_keys', 'dbPassword']
>>> _number_secret("db_password"), _number_secret("primary_key")
(True, False)
"""

from __future__ import annotations

import re

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

