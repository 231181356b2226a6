"""No secret recorded: by argument / value name and by value pattern, on every path a string
takes into an event — ``@client.track`` arguments and results, exception messages, used and
generated values, data locations, environment metadata (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

import provml
from provml.capture import metadata
from provml.capture.redact import REDACTED, is_secret_name, redact_text
from provml.capture.spool import read_events

SECRETS = ["hunter2", "sk-live-0123456789abcdefABCD", "ghp_0123456789abcdefghijklmnopqrstuvwx",
           "AKIAIOSFODNN7EXAMPLE", "xoxb-1234567890-abcdefghij", "s3cr3t-Pa55"]


def spool_text(client: provml.Client) -> str:
    assert client.spool_path is not None
    return client.spool_path.read_text()


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://admin:hunter2@db.example.org/prod", f"postgres://admin:{REDACTED}@db.example.org/prod"),
        ("host=db user=admin password=hunter2", f"host=db user=admin password={REDACTED}"),
        ("login failed: {'user': 'bob', 'api_key': 'hunter2'}", f"login failed: {{'user': 'bob', 'api_key': {REDACTED}}}"),
        ("PASSWORD: hunter2, retry", f"PASSWORD: {REDACTED}, retry"),
        ("https://x.org/a?token=hunter2&page=2", f"https://x.org/a?token={REDACTED}&page=2"),
        ("Authorization: Bearer abcdefghijklmnop", f"Authorization: {REDACTED}"),
        ("use sk-live-0123456789abcdefABCD now", f"use {REDACTED} now"),
        ("ghp_0123456789abcdefghijklmnopqrstuvwx", REDACTED),
        ("id AKIAIOSFODNN7EXAMPLE", f"id {REDACTED}"),
        ("xoxb-1234567890-abcdefghij", REDACTED),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", REDACTED),
        # a password holding "@": whole, up to the "@" the host follows (audit, 17th session)
        ("postgres://admin:s3cr3t@Pa55@db.example.org/prod x", f"postgres://admin:{REDACTED}@db.example.org/prod x"),
        ("https://bob:hunter2@h.org/users/@me", f"https://bob:{REDACTED}@h.org/users/@me"),
        # a port, then an "@" in the path: no password (review, 17th session: it was cut as one)
        ("http://minio:9000/models/bert@v2/model.safetensors", "http://minio:9000/models/bert@v2/model.safetensors"),
        # left alone
        ("max_tokens=512 lr=0.01 epochs: 3", "max_tokens=512 lr=0.01 epochs: 3"),
        ("https://example.org/data.csv", "https://example.org/data.csv"),
        ("task-0123456789abcdefghij sklearn", "task-0123456789abcdefghij sklearn"),
        ("ValueError: shapes (3,4) and (5,) not aligned", "ValueError: shapes (3,4) and (5,) not aligned"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("name", ["password", "db_password", "apiKey", "API_KEY", "auth_token",
                                  "aws_secret_access_key", "client_secret", "Cookie", "passwd",
                                  "authtoken", "apitoken", "sessiontoken", "token_value",
                                  "access_token_expiry", "private_key_pem", "dbpassword", "clientsecret"])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["lr", "max_tokens", "tokenizer", "key_size", "author", "passes",
                                  "num_keys", "batch_size", "token_ids", "token_type", "num_tokens",
                                  "token_count", "max_token_length", "token_accuracy", "per_token_loss",
                                  "first_token_latency_ms", "token_dropout", "subtoken"])
def test_harmless_names(name: str) -> None:
    assert not is_secret_name(name)


def test_track_arguments_and_results(tmp_path: Path) -> None:
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)

    @client.track()
    def connect(url: str, password: str, api_key: str, retries: int = 3) -> str:
        return f"connected with token={api_key}"

    connect("postgres://admin:hunter2@db/x", "s3cr3t-Pa55", api_key="sk-live-0123456789abcdefABCD")
    client.close()
    text = spool_text(client)
    assert_clean(text)
    (begin,) = [e for e in read_events(tmp_path / client.spool_path.name) if e["kind"] == "task_begin"]  # type: ignore[union-attr]
    used = {v["name"]: v["value"] for v in begin["used"]}
    assert used == {"url": f"postgres://admin:{REDACTED}@db/x", "password": REDACTED,
                    "api_key": REDACTED, "retries": 3}
    assert f"token={REDACTED}" in text


def test_exception_messages(tmp_path: Path) -> None:
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    with pytest.raises(ConnectionError), client.workflow("wf", meta=False) as wf, wf.task("load"):
        raise ConnectionError("could not reach postgres://admin:hunter2@db.example.org password=hunter2")
    with client.workflow("wf2", meta=False) as wf2:
        wf2.task("t").begin().end(status="errored",
                                  error={"type": "Auth", "message": "key sk-live-0123456789abcdefABCD"})
    client.close()
    text = spool_text(client)
    assert_clean(text)
    assert f"admin:{REDACTED}@db.example.org password={REDACTED}" in text


def test_used_generated_and_data_locations(tmp_path: Path) -> None:
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    used = [provml.parameter("dsn", "host=db password=s3cr3t-Pa55"),
            provml.data("raw", "s3://AKIAIOSFODNN7EXAMPLE:hunter2@bucket/k")]
    with (
        client.workflow("wf", meta=False, used={"db_password": "hunter2", "lr": 0.1}) as wf,
        wf.task("t", used=used) as t,
    ):
        t.generated(provml.value("secret", "xoxb-1234567890-abcdefghij"),
                    provml.evaluation("loss", 0.5))
        with t.cycle("epoch", 0, used={"token": "ghp_0123456789abcdefghijklmnopqrstuvwx"}) as c:
            c.generated({"name": "note", "value": "sk-live-0123456789abcdefABCD"})
    client.close()
    text = spool_text(client)
    assert_clean(text)
    assert '"lr","value":0.1' in text.replace(" ", "") and '"loss","role":"evaluation","value":0.5' in text.replace(" ", "")


def test_tags_and_domain_iris(tmp_path: Path) -> None:
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    with client.workflow("wf", meta=False, tags=["run with password=hunter2", "baseline"]) as wf, \
            wf.task("t") as t:
        t.generated(provml.evaluation("f1", 0.5, domain="https://admin:hunter2@kg.example.org/Sand"))
    client.close()
    text = spool_text(client)
    assert_clean(text)
    assert f"password={REDACTED}" in text and "baseline" in text
    assert f"https://admin:{REDACTED}@kg.example.org/Sand" in text


def test_environment_values(tmp_path: Path) -> None:
    env = {"DATABASE_DSN": "host=db user=admin password=hunter2", "OMP_NUM_THREADS": "1",
           "BROKER": "amqp://guest:hunter2@mq:5672/", "DB_PASS": "hunter2", "MYSQL_PWD": "hunter2",
           "SSHPASS": "hunter2", "PGPASSWORD": "hunter2"}
    got = metadata.environment(list(env), env)
    assert got == {"DATABASE_DSN": f"host=db user=admin password={REDACTED}", "OMP_NUM_THREADS": "1"}


def test_values_of_any_type_are_redacted_as_the_encoder_writes_them(tmp_path: Path) -> None:
    """An argparse Namespace, a dataclass, a set: written as their repr, as an object, as a
    list; each redacted in that form (they went through whole before: audit, 17th session)."""
    import argparse
    from dataclasses import dataclass

    @dataclass
    class DbConfig:
        host: str
        password: str

    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False)
    args = argparse.Namespace(lr=0.01, db_password="hunter2")
    with client.workflow("wf", meta=False) as wf, \
            wf.task("t", used={"args": args, "db": DbConfig("db", "hunter2"), "opts": {"password=hunter2"}}) as t:
        t.generated(provml.value("conn", DbConfig("db2", "s3cr3t-Pa55")))
    client.close()
    text = spool_text(client)
    assert_clean(text)
    assert "Namespace(lr=0.01, db_password=" in text and '"host":"db2"' in text.replace(" ", "")


@pytest.mark.parametrize("path", ["compact", "nan", "spill", "errored", "late"])
def test_a_batchs_generated_values_are_redacted_on_every_path_they_take(
        tmp_path: Path, path: str) -> None:
    """A batch's generated values are redacted on the flusher thread, not at the call: so on
    each way a queued cycle becomes text — a bag in one call, a bag event by event (a NaN in
    it), the spill file (queue full), an errored end, the pending file after close()."""
    client = provml.Client(spool_dir=tmp_path, online=False, install_signal_handler=False,
                           max_queue=1 if path == "spill" else 10_000)
    secret = {"name": "api_key", "value": "s3cr3t-Pa55"}
    note = {"name": "note", "value": "token=hunter2 sk-live-0123456789abcdefABCD"}
    with client.workflow("wf", meta=False) as wf, wf.stage("train") as tr:
        if path == "late":
            ep = tr.cycle("epoch", 0).__enter__()
            client.close()
            ep.generated(secret, note)
            ep.__exit__(None, None, None)
        elif path == "errored":
            with pytest.raises(RuntimeError), tr.cycle("epoch", 0) as ep:
                ep.generated(secret, note)
                raise RuntimeError("diverged")
        else:
            with tr.cycle("epoch", 0) as ep:
                ep.generated(secret, note)
                if path == "nan":
                    ep.generated(provml.evaluation("loss", float("nan")))
    client.close()
    texts = [p.read_text() for p in tmp_path.glob("*.jsonl")]
    assert texts
    for text in texts:
        assert_clean(text)
    events = [e for p in tmp_path.glob("*.jsonl") if not p.name.startswith("rejected-")
              for e in read_events(p)]
    if path != "nan":  # a NaN rejects the event (rejected-*.jsonl, clean too)
        (end,) = [e for e in events if e["kind"] == "cycle_end"]
        assert end["generated"][0] == {"name": "api_key", "value": REDACTED}
        assert end["generated"][1]["value"] == f"token={REDACTED} {REDACTED}"


@pytest.mark.parametrize("text", [
    pytest.param("a" * 40_000 + "=", id="a scheme's run"),
    pytest.param("eyJ-" * 10_000 + "=", id="eyJ runs"),
    pytest.param("_" * 40_000 + "!:", id="a key's run"),
    pytest.param("a=" * 20_000, id="pairs"),
    pytest.param("?" * 40_000, id="query marks"),
])
def test_redaction_takes_linear_time_on_long_strings(text: str) -> None:
    """Each pattern was tried at every character of a run and read on to the run's end: 40 KB
    of one of these in an event's text took 22–27 s of an ingest worker's CPU, a 1 MB string
    hours (regex audit, 18th session). Redacted as before, in well under a second."""
    import time

    from provml.capture.redact import safe_url

    started = time.monotonic()
    assert redact_text(text) == text
    assert safe_url("http://h/x" + text) == "http://h/x" + text
    assert time.monotonic() - started < 1.0
    assert redact_text(text + " password=hunter2") == text + " password=" + REDACTED
    assert safe_url("http://h/x" + text + "&token=abc").endswith("&token=***")
