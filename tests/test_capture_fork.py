"""Capture in a child of ``os.fork``: ``multiprocessing``'s fork start method (Linux's default
before Python 3.14), PyTorch's ``DataLoader`` workers, a daemon. The flusher thread is not
copied by a fork: events a child captured sat in the copied queue and were lost without a word,
and a lock another thread held at the fork stayed held in the child. Each script runs in a
process of its own (a fork of pytest's process would copy its threads' state too)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer

from provml.capture.spool import read_events
from provml.ingest.worker import bag_events
from provml.knowledge import open_kg

POOL = """
import multiprocessing, sys
from provml import evaluation
from provml.capture.client import Client

client = Client({where}, flush_interval_s=0.2)
wf = client.workflow("forky", type="learning", run_id="fork-1", meta=False)

def child(i):
    with wf.task(f"child-{{i}}", type="training") as task:
        task.generated(evaluation("acc", 0.5 + i / 10))
    return i

if __name__ == "__main__":
    with client, wf:
        with wf.task("parent", type="training") as task:
            task.generated(evaluation("acc", 0.9))
        # leaving the with block terminates the workers (SIGTERM) as soon as map returns
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert pool.map(child, range(4)) == [0, 1, 2, 3]
"""


def run_script(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done


def tasks_begun(events: list[Any]) -> Counter[str]:
    return Counter(e["task"] for e in events if isinstance(e, dict) and e.get("kind") == "task_begin")


def test_a_process_pools_workers_events_are_kept(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    run_script(tmp_path, POOL.format(where=f"spool_dir={str(spool)!r}, online=False"))
    files = sorted(spool.glob("provml-*.jsonl"))
    events = [e for f in files for e in read_events(f)]
    assert tasks_begun(events) == Counter({"parent": 1, "child-0": 1, "child-1": 1, "child-2": 1, "child-3": 1})
    # the parent's events, queued at the fork, are written once: by the parent
    assert sum(e.get("kind") == "workflow_begin" for e in events if isinstance(e, dict)) == 1
    assert len(files) >= 2, "each worker writes a spool file of its own"
    # and the store takes them all
    done = subprocess.run([str(Path(sys.executable).parent / "provml"), "load", "--store", str(tmp_path / "store"),
                           *map(str, files)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    with open_kg(tmp_path / "store") as kg:
        labels = {str(row[0].value) for row in kg.store.query(
            "SELECT ?l WHERE { GRAPH ?g { ?t a <https://w3id.org/provml#TrainingExecution> ; "
            "<http://www.w3.org/2000/01/rdf-schema#label> ?l } }")}
    assert labels == {"parent", "child-0", "child-1", "child-2", "child-3"}


def test_a_process_pools_workers_events_reach_the_broker(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        run_script(tmp_path, POOL.format(where=f"broker={server.url!r}"))
        import redis

        client = redis.Redis.from_url(server.url)
        try:
            entries = client.xrange("provml:events")
        finally:
            client.close()
    events = [e for _id, fields in entries for e in bag_events(fields)]
    assert tasks_begun(events) == Counter({"parent": 1, "child-0": 1, "child-1": 1, "child-2": 1, "child-3": 1})


FORK_WITH_A_STORE = """
import os, threading, time
from provml import evaluation
from provml.capture.client import Client

client = Client(store={store!r}, spool_dir={spool!r}, flush_interval_s=0.2)
wf = client.workflow("forky", type="learning", run_id="fork-2", meta=False)
with client, wf:
    with wf.task("parent", type="training") as task:
        task.generated(evaluation("acc", 0.9))
    client.flush()
    # another thread holds the flusher's lock at the fork: the child's copy of it stays held
    held, release = threading.Event(), threading.Event()
    def hold():
        with client._flusher._pop_lock:
            held.set()
            release.wait()
    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    pid = os.fork()
    if pid == 0:
        if client._flusher.gate.at != 1000:  # it writes a spool now: it wakes every 1,000 records, not 50
            os._exit(4)
        with wf.task("child", type="training") as task:
            task.generated(evaluation("acc", 0.5))
        ok = client.flush(timeout_s=20)
        os._exit(0 if ok else 3)  # (not sys.exit: RocksDB's exit handler waits for threads a fork did not copy)
    release.set()
    holder.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
"""


def test_a_forked_child_of_an_embedded_store_client_spools_its_events(tmp_path: Path) -> None:
    store, spool = tmp_path / "store", tmp_path / "spool"
    done = run_script(tmp_path, FORK_WITH_A_STORE.format(store=str(store), spool=str(spool)))
    # the child cannot write to the parent's RocksDB: it says so and where its events went
    assert "cannot write there (RocksDB does not survive a fork)" in done.stderr
    # the parent's diskful spool holds its events, the child's a spool file of its own
    by_file = {f: tasks_begun(list(read_events(f))) for f in spool.glob("provml-*.jsonl")}
    assert sorted(by_file.values(), key=str) == [Counter({"child": 1}), Counter({"parent": 1})]
    child = next(f for f, tasks in by_file.items() if "child" in tasks)
    loaded = subprocess.run([str(Path(sys.executable).parent / "provml"), "load", "--store", str(store),
                             str(child)], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    with open_kg(store) as kg:
        labels = {str(row[0].value) for row in kg.store.query(
            "SELECT ?l WHERE { GRAPH ?g { ?t a <https://w3id.org/provml#TrainingExecution> ; "
            "<http://www.w3.org/2000/01/rdf-schema#label> ?l } }")}
    assert labels == {"parent", "child"}


@pytest.mark.parametrize("closed", [False, True])
def test_a_child_never_writes_to_its_parents_files(tmp_path: Path, closed: bool) -> None:
    """A child's files are named after it: the parent's spool and pending files hold the
    parent's events only (a closed client's late events go to the child's pending file)."""
    spool = tmp_path / "spool"
    code = f"""
import json, os
from provml.capture.client import Client

client = Client(spool_dir={str(spool)!r}, online=False)
wf = client.workflow("forky", run_id="fork-3", meta=False)
with wf:
    pass
if {closed!r}:
    client.close()
parent = client.name
pid = os.fork()
if pid == 0:
    wf2 = client.workflow("forky", run_id="fork-3-child", meta=False)
    with wf2:
        pass
    client.close()
    print(json.dumps([client.name, str(client.pending_path)]), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
client.close()
print(json.dumps([parent]))
"""
    done = run_script(tmp_path, code)
    (child_name, child_pending), (parent_name,) = (json.loads(line) for line in done.stdout.splitlines())
    assert child_name != parent_name
    parents = [e for f in spool.glob(f"*{parent_name}.jsonl") for e in read_events(f)]
    childs = [e for f in spool.glob(f"*{child_name}.jsonl") for e in read_events(f)]
    assert {e["run"] for e in parents} == {"fork-3"}
    assert {e["run"] for e in childs} == {"fork-3-child"}
    assert Path(child_pending).exists() == closed  # a closed client writes late events to pending


DATALOADER = """
import torch
from provml.capture.client import Client

client = Client(spool_dir={spool!r}, online=False)
wf = client.workflow("loader", type="learning", run_id="fork-4", meta=False)

class Items(torch.utils.data.Dataset):
    def __len__(self):
        return 6
    def __getitem__(self, i):
        with wf.task(f"item-{{i}}", type="feature_extraction"):
            return torch.tensor([float(i)])

if __name__ == "__main__":
    torch.set_num_threads(1)
    with client, wf:
        loader = torch.utils.data.DataLoader(Items(), batch_size=2, num_workers=2,
                                             multiprocessing_context="fork")
        assert sorted(float(x) for batch in loader for x in batch) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
"""


def test_a_dataloaders_workers_events_are_kept(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    spool = tmp_path / "spool"
    run_script(tmp_path, DATALOADER.format(spool=str(spool)))
    events = [e for f in spool.glob("provml-*.jsonl") for e in read_events(f)]
    assert tasks_begun(events) == Counter({f"item-{i}": 1 for i in range(6)})


SPILLED_AT_THE_FORK = """
import os, sys, time
from provml.capture.client import Client

client = Client(spool_dir={spool!r}, online=False, bag_size=1, max_queue=5, install_signal_handler=False)
flusher = client._flusher
process = flusher._process
slow = [True]

def slow_process(bag):  # a slow disk: the thread's first write takes a while
    if slow[0]:
        slow[0] = False
        time.sleep(1.0)
    return process(bag)

flusher._process = slow_process
wf = client.workflow("wf", run_id="fork-5", meta=False).__enter__()
time.sleep(0.2)  # the thread is in its slow write: what comes now is spilled (to a buffered file)
for i in range(20):
    with wf.task(f"t{{i}}"):
        pass
assert flusher.stats().spilled > 0
pid = os.fork()
if pid == 0:
    import provml.capture.client as kept  # (a reference to the module: the child's teardown frees what it kept)
    sys.exit(0)
os.waitpid(pid, 0)
wf.__exit__(None, None, None)
client.close()
"""


def test_a_child_does_not_write_the_parents_spilled_events_again(tmp_path: Path) -> None:
    """The child's copy of the parent's spill file held the lines the fork found in its buffer:
    freed at the child's exit, it wrote them into the parent's spill file a second time (a
    review: 77 events written, 42 captured)."""
    spool = tmp_path / "spool"
    run_script(tmp_path, SPILLED_AT_THE_FORK.format(spool=str(spool)))
    events = [e for f in spool.glob("provml-*.jsonl") for e in read_events(f)]
    counts = Counter((e["kind"], e.get("task")) for e in events)
    assert len(events) == 2 + 2 * 20 and set(counts.values()) == {1}


UNWINDING_CHILD = """
import os, sys, time
from provml import evaluation
from provml.capture.client import Client

client = Client(spool_dir={spool!r}, online=False, install_signal_handler=False)
with client, client.workflow("wf", type="learning", run_id="fork-6", meta=False) as wf:
    with wf.task("train", type="training") as stage, stage.cycle("epoch", iteration=0) as epoch:
        pid = os.fork()
        if pid == 0:  # a child that ends through the interpreter, inside its parent's with blocks
            with wf.task("child", type="training"):  # (its own scopes it records)
                pass
            sys.exit(0)
        os.waitpid(pid, 0)
        epoch.generated(evaluation("loss", 0.5))
    wf.generated(evaluation("accuracy", 0.9))
"""


def test_a_child_leaves_its_parents_scopes_to_the_parent(tmp_path: Path) -> None:
    """A child of os.fork that leaves with blocks its parent had open (sys.exit) wrote their
    ends — errored, SystemExit — and the parent's real ends, with its values, then conflicted
    with them: the parent's last bag was refused (a review). The child leaves them to the parent."""
    spool = tmp_path / "spool"
    run_script(tmp_path, UNWINDING_CHILD.format(spool=str(spool)))
    files = sorted(spool.glob("provml-*.jsonl"))
    events = [e for f in files for e in read_events(f)]
    ends = Counter((e["kind"], e.get("task"), e.get("status")) for e in events
                   if isinstance(e, dict) and e["kind"].endswith("_end"))
    assert ends == Counter({("workflow_end", None, "finished"): 1, ("task_end", "train", "finished"): 1,
                            ("task_end", "child", "finished"): 1, ("cycle_end", "train/epoch-0", "finished"): 1})
    done = subprocess.run([str(Path(sys.executable).parent / "provml"), "load", "--store", str(tmp_path / "store"),
                           *map(str, files)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


IMPORT_AT_THE_FORK = """
import importlib.abc, importlib.machinery, os, sys, threading, time

assert "orjson" not in sys.modules  # (the capture imports it on its flusher thread's first bag)


class SlowOrjson(importlib.abc.MetaPathFinder):  # orjson's import takes a second: a fork lands in it
    def find_spec(self, name, path, target=None):
        if name != "orjson":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            time.sleep(1.0)
            run(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, SlowOrjson())
from provml.capture.client import Client

client = Client(spool_dir={spool!r}, online=False, install_signal_handler=False)
with client, client.workflow("wf", run_id="fork-7", meta=False) as wf:
    importing = threading.Thread(target=importlib.import_module, args=("orjson",))
    importing.start()
    time.sleep(0.2)
    pid = os.fork()
    if pid == 0:
        with wf.task("child"):
            pass
        os._exit(0)
    importing.join()
    os.waitpid(pid, 0)
"""


def test_a_fork_during_an_import_of_the_flusher_leaves_the_child_working(tmp_path: Path) -> None:
    """The flusher imports orjson on its first bag: a fork while a thread imported it left the
    module half-imported in the child, and every bag the child wrote was rejected (a stress
    test). The fork waits for that import now."""
    spool = tmp_path / "spool"
    run_script(tmp_path, IMPORT_AT_THE_FORK.format(spool=str(spool)))
    assert not list(spool.glob("rejected-*"))
    events = [e for f in spool.glob("provml-*.jsonl") for e in read_events(f)]
    assert tasks_begun(events) == Counter({"child": 1})
