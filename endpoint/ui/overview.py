"""What a knowledge graph holds, at a glance: the data behind the web UI's home page.

``overview()`` counts the main kinds of things (studies, workflows, their executions, models,
datasets, data, predictions) with a few of each, and lists the latest workflow executions;
``list_runs()`` lists workflow executions newest first (for choosing runs to compare).

>>> from provml.store import open_store
>>> o = overview(open_store())
>>> [c.key for c in o.categories][:3], o.latest_runs
(['studies', 'workflows', 'runs'], ())
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyoxigraph import Literal, NamedNode

from provml.store import select
from provml.vocab import PROV, PROVML, RDFS, local_name

if TYPE_CHECKING:
    from provml.store import Store

__all__ = ["Category", "Item", "Overview", "RunSummary", "CATEGORIES", "list_runs", "overview"]

#: (key, title, class) of what the home page counts
CATEGORIES: tuple[tuple[str, str, NamedNode], ...] = (
    ("studies", "Studies", PROVML.Study),
    ("workflows", "Workflows", PROVML.Workflow),
    ("runs", "Workflow executions", PROVML.WorkflowExecution),
    ("models", "Models", PROVML.Model),
    ("datasets", "Learning datasets", PROVML.LearningDataset),
    ("data", "Data references", PROVML.DataReference),
    ("predictions", "Predictions", PROVML.Prediction),
)


@dataclass(frozen=True)
class Item:
    """One resource: its IRI and label."""

    iri: str
    label: str

    def to_dict(self) -> dict[str, str]:
        return {"iri": self.iri, "label": self.label}


@dataclass(frozen=True)
class Category:
    """How many instances of ``cls`` the store holds, and a few of them (``items``)."""

    key: str
    title: str
    cls: str
    count: int
    items: tuple[Item, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "class": self.cls, "count": self.count,
                "items": [i.to_dict() for i in self.items]}


@dataclass(frozen=True)
class RunSummary:
    """A workflow execution: its IRI, label (run id), workflow (IRI and label), start and end
    (ISO 8601 text, ``None`` when not recorded), status, and whether it is a learning process."""

    iri: str
    label: str
    workflow: str
    workflow_label: str
    started: str | None
    ended: str | None
    status: str | None
    learning: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Overview:
    """The categories with their counts and samples, and the latest runs."""

    categories: tuple[Category, ...]
    latest_runs: tuple[RunSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"categories": [c.to_dict() for c in self.categories],
                "latest_runs": [r.to_dict() for r in self.latest_runs]}


def overview(store: Store, *, sample: int = 8, latest: int = 10) -> Overview:
    """Counts and samples of each of :data:`CATEGORIES`, and the ``latest`` runs.

    :param store: the store to read (every graph).
    :param sample: at most this many items per category.
    :param latest: at most this many runs, newest first.
    """
    counts = {
        row["c"].value: int(row["n"].value)
        for row in _select(store, _COUNTS.format(
            values=" ".join(str(c) for _, _, c in CATEGORIES), type="a"))
    }
    categories = []
    for key, title, cls in CATEGORIES:
        rows = _select(store, _SAMPLE.format(cls=cls, label=RDFS.label, limit=sample))
        items = tuple(Item(r["s"].value, _text(r["l"]) or local_name(r["s"].value)) for r in rows)
        categories.append(Category(key, title, cls.value[len(PROVML.NS):], counts.get(cls.value, 0), items))
    return Overview(tuple(categories), tuple(list_runs(store, limit=latest)))


def list_runs(store: Store, *, limit: int = 100, learning_only: bool = False) -> list[RunSummary]:
    """Workflow executions, newest first (by ``prov:startedAtTime``).

    :param limit: at most this many.
    :param learning_only: only learning process executions (runs that train models).
    """
    text = _RUNS.format(
        run_class=PROVML.LearningProcessExecution if learning_only else PROVML.WorkflowExecution,
        learning=PROVML.LearningProcessExecution, influenced=PROV.wasInfluencedBy,
        label=RDFS.label, started=PROV.startedAtTime, ended=PROV.endedAtTime,
        status=PROVML.status, limit=int(limit),
    )
    runs = []
    for r in _select(store, text):
        workflow = r["w"].value if r["w"] is not None else ""
        runs.append(RunSummary(
            iri=r["run"].value,
            label=_text(r["l"]) or local_name(r["run"].value),
            workflow=workflow,
            workflow_label=_text(r["wl"]) or (local_name(workflow) if workflow else ""),
            started=_text(r["start"]),
            ended=_text(r["end"]),
            status=_text(r["status"]),
            learning=_text(r["learning"]) == "true",
        ))
    return runs


_COUNTS = """SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE {{
  VALUES ?c {{ {values} }}
  ?s {type} ?c .
}} GROUP BY ?c"""

_SAMPLE = """SELECT ?s (SAMPLE(?label) AS ?l) WHERE {{
  ?s a {cls} .
  OPTIONAL {{ ?s {label} ?label }}
}} GROUP BY ?s ORDER BY ?l ?s LIMIT {limit}"""

_RUNS = """SELECT ?run (SAMPLE(?label) AS ?l) (SAMPLE(?wf) AS ?w) (SAMPLE(?wf_label) AS ?wl)
       (MIN(?s) AS ?start) (MAX(?e) AS ?end) (SAMPLE(?st) AS ?status)
       (SAMPLE(?is_learning) AS ?learning) WHERE {{
  ?run a {run_class} .
  OPTIONAL {{ ?run {label} ?label }}
  OPTIONAL {{ ?run {influenced} ?wf . OPTIONAL {{ ?wf {label} ?wf_label }} }}
  OPTIONAL {{ ?run {started} ?s }}
  OPTIONAL {{ ?run {ended} ?e }}
  OPTIONAL {{ ?run {status} ?st }}
  BIND(EXISTS {{ ?run a {learning} }} AS ?is_learning)
}} GROUP BY ?run ORDER BY DESC(?start) ?run LIMIT {limit}"""


def _select(store: Store, text: str) -> list[Any]:
    return list(select(store, text))


def _text(term: Any) -> str | None:
    return term.value if isinstance(term, Literal) else None


