"""The client with a real embedded store: everything captured is stored; settings A–F; rejection."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import provml
from provml.capture.spool import read_events, replay
from provml.knowledge import open_kg
from provml.vocab import PROV

COUNT_EXECUTIONS = f"SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{ ?e {PROV.startedAtTime} ?t }}"
COUNT_ENDED = f"SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{ ?e {PROV.endedAtTime} ?t }}"


def count(store: Path, query: str) -> int:
    kg = open_kg(store)
    try:
        return int(next(iter(kg.query(query)))["n"].value)
    finally:
        kg.close()


def training(client: provml.Client, *, epochs: int = 2, batches: int = 3) -> str:
    with client.workflow("train-wf", type="learning") as wf:
        with wf.stage("train", used=[provml.hyperparameter("lr", 0.1)]) as tr:
            for epoch in range(epochs):
                with tr.cycle("epoch", epoch) as ep:
                    for b in range(batches):
                        with ep.cycle("batch", b) as bt:
                            bt.generated(provml.evaluation("loss", 1.0 / (b + 1)))
                    ep.generated(provml.evaluation("accuracy", 0.5 + epoch / 10))
        return wf.run_id


@pytest.mark.parametrize("letter", ["A", "B", "C", "D", "E", "F"])
def test_each_setting_stores_or_spools_every_execution(letter: str, tmp_path: Path) -> None:
    store, spool = tmp_path / "store", tmp_path / "spool"
    client = provml.Client.setting(letter, store=store, spool_dir=spool, install_signal_handler=False)
    bag, diskful, online = provml.capture.client.SETTINGS[letter]
    assert (client.bag_size, client.diskful, client.online) == (bag, diskful, online)
    training(client)
    client.close()
    executions = 1 + 1 + 2 + 2 * 3  # workflow, stage, epochs, batches
    stats = client.stats()
    assert stats.processed == 2 * executions and stats.rejected == 0 and stats.pending == 0
    if diskful:
        assert client.spool_path is not None
        assert len(list(read_events(client.spool_path))) == 2 * executions
    if not online:
        assert not store.exists()
        kg = open_kg(store)
        replay(spool, kg.ingest_events)  # what `provml load` does
        kg.close()
    assert count(store, COUNT_EXECUTIONS) == executions
    assert count(store, COUNT_ENDED) == executions


def test_settings_need_their_parts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="spool_dir"):
        provml.Client.setting("E", store=tmp_path / "s")
    with pytest.raises(ValueError, match="online"):
        provml.Client.setting("D", spool_dir=tmp_path)
    with pytest.raises(ValueError, match="not one of"):
        provml.Client.setting("G", store=tmp_path / "s")
    with pytest.raises(ValueError, match="give one of"):
        provml.Client(store=tmp_path / "s", endpoint="http://x")
    with pytest.raises(ValueError, match="one of store=, endpoint= or broker="):
        provml.Client(endpoint="http://x", broker="redis://127.0.0.1:1/0")
    with pytest.raises(ValueError, match="spool_dir"):
        provml.Client(online=False)


def test_a_rejected_event_is_kept_with_the_report_and_the_rest_of_the_bag_is_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "store"
    with provml.Client(store=store, spool_dir=tmp_path / "spool", bag_size=50,
                       install_signal_handler=False) as client, client.workflow("wf") as wf:
        with wf.task("ok"):
            pass
        with wf.task("bad") as bad:
            bad.generated(provml.evaluation("accuracy", "high"))  # type: ignore[arg-type]
    assert client.stats().rejected == 1
    records = [json.loads(line) for line in client.rejected_path.read_text().splitlines()]
    assert len(records) == 1
    (rejected,) = records[0]["events"]
    assert rejected["kind"] == "task_end" and rejected["task"] == "bad"
    assert "must be number" in records[0]["report"]["message"]
    assert any("rejected" in r.message and r.levelname == "ERROR" for r in caplog.records)
    # the other 5 events of the bag were stored: workflow and both task executions began
    assert count(store, COUNT_EXECUTIONS) == 3
    assert count(store, COUNT_ENDED) == 2


def test_a_locked_store_keeps_events_pending_and_delivers_them_when_it_is_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVML_HOME", str(tmp_path / "home"))  # the default spill directory
    store = tmp_path / "store"
    holder = open_kg(store)  # another writer holds the store
    client = provml.Client(store=store, bag_size=5, flush_interval_s=0.05, spool_dir=None,
                           install_signal_handler=False)
    try:
        training(client, epochs=1, batches=2)
        client.flush()
        assert client.stats().pending == 10 and client.stats().sent == 0
        assert client.pending_path.exists()
        assert client.pending_path.parent == tmp_path / "home" / "spool"
    finally:
        holder.close()
    deadline = time.monotonic() + 20
    while client.stats().sent < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    client.close()
    assert client.stats().sent == 10
    assert not client.pending_path.exists()
    assert count(store, COUNT_ENDED) == 5


def test_an_unreachable_endpoint_keeps_every_event_pending_and_close_returns(tmp_path: Path) -> None:
    from servers import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = provml.Client(endpoint=url, spool_dir=tmp_path / "spool", bag_size=5,
                           install_signal_handler=False)
    run_id = training(client, epochs=2, batches=3)
    t0 = time.monotonic()
    client.close(timeout_s=2)
    assert time.monotonic() - t0 < 10
    stats = client.stats()
    assert stats.sent == 0 and stats.pending == stats.processed == 2 * 10
    pending = list(read_events(client.pending_path))
    assert {e["run"] for e in pending} == {run_id}
    assert len({(e["kind"], e.get("task")) for e in pending}) == 20
