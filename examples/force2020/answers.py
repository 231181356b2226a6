"""The questions of ``docs/queries.md`` answered on a demo store, as compact Markdown tables.

``python -m examples.force2020.answers [--workdir .provml/demo]`` prints every question, the
named query and parameters that answer it, and the rows it returns — with content-hash IRIs
shown as the file they name (from the workflows' own JSON outputs) so the tables stay readable.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provml.vocab import DEFAULT_BASE, OILGAS_NS

from .common import LITHOLOGY_TERMS, Workspace, read_json, read_wells

DATA = DEFAULT_BASE + "data/sha256-"


@dataclass(frozen=True)
class Question:
    key: str
    question: str
    paper: str
    query: str
    params: dict[str, str]
    columns: tuple[str, ...]


def questions(ws: Workspace) -> list[Question]:
    """The questions, with parameters taken from the workspace's own outputs."""
    prep = read_json(ws.work / "datasets" / "preparation.json")
    inference = read_json(ws.work / "predictions" / "inference.json")
    wells = {w.well_id: w for w in read_wells()}
    train_set = DATA + prep["sets"]["train"]["sha256"]
    model = DATA + inference["model"]["sha256"]
    return [
        Question("q1", "Which wells (with coordinates), fields, blocks and basin, and how many samples, lie behind the deployed model?",
                 "Q1", "q1", {"model": model}, ("kind", "source_label", "domain", "via", "name", "value")),
        Question("q2", "With which preparation parameters was its training set made?", "Q2", "q2",
                 {"model": model}, ("training_set", "parameter", "value")),
        Question("q3", "Which model of the training set has the least training loss; its hyperparameters and evaluations?",
                 "Q3", "q3", {"training_set": train_set, "metric": "loss"},
                 ("model", "score", "score_stage", "stage", "kind", "name", "value")),
        Question("q3-f1", "… and the best by validation macro-F1 (a measure only the validation stage has)?",
                 "Q3", "q3", {"training_set": train_set, "metric": "macro_f1", "higher_is_better": "true"},
                 ("model", "score", "score_stage", "stage", "kind", "name", "value")),
        Question("q4", "How long did the batches of each epoch take in the trainings on that set?", "Q4", "q4",
                 {"training_set": train_set}, ("training", "epoch", "batches", "avg_s", "min_s", "max_s", "epoch_s")),
        Question("q5", "For the well selection train_wells, the models trained, their epoch, batch and training times and evaluations",
                 "Q5", "q5", {"selection": "train_wells"},
                 ("model", "epochs", "avg_epoch_s", "avg_batch_s", "training_s", "stage", "metric", "metric_value")),
        Question("q6", "Which raw files lie behind the training set, with their size, samples, well, field and basin?", "Q6", "q6",
                 {"training_set": train_set}, ("location", "bytes", "kind", "via", "name", "value")),
        Question("q7", "Models of the selection train_wells by minimum training batch loss, with validation measures", "Q7", "q7",
                 {"selection": "train_wells"}, ("model", "min_batch_loss", "stage", "kind", "name", "value")),
        Question("best", "The best model by macro-F1, with its hyperparameters", "Q3 (whole store)", "best_model",
                 {"metric": "macro_f1"}, ("metric", "model", "score", "hyperparameter", "value")),
        Question("field", "Which models were trained on data from the Johan Sverdrup field, and how do they score on sandstone?",
                 "Q1 + Q3", "og_models_by_field",
                 {"field": wells["16/2-6"].field_iri or "", "lithology": LITHOLOGY_TERMS[30000].value},
                 ("field_label", "model", "wells", "lithology", "stage", "measure", "score")),
        Question("sources", "Which raw files and curation parameters lie behind the prediction of the held-out well?",
                 "Q6 (from a prediction)", "og_prediction_sources",
                 {"prediction": DATA + inference["prediction"]["sha256"]}, ("location", "well", "parameter", "value")),
        Question("impact", "What must be revisited if the interpretation of well 16/2-6 is revised?", "— (forward lineage)",
                 "og_well_impact", {"well": wells["16/2-6"].iri}, ("well_id", "kind", "affected")),
        Question("impact-validation", "… and of the validation well 25/11-15?", "— (forward lineage)",
                 "og_well_impact", {"well": wells["25/11-15"].iri}, ("well_id", "kind", "affected")),
    ]


def names(ws: Workspace) -> dict[str, str]:
    """Content-hash IRI -> the file it names, from the workflows' JSON outputs."""
    out: dict[str, str] = {}
    for well in read_json(ws.work / "curated" / "curation.json")["wells"].values():
        for key in ("raw", "curated"):
            out[DATA + well[key]["sha256"]] = well[key]["location"]
    for entry in read_json(ws.work / "datasets" / "preparation.json")["sets"].values():
        out[DATA + entry["sha256"]] = entry["location"]
    for run in read_json(ws.work / "metrics" / "learning.json")["runs"]:
        metrics = read_json(ws.work / "metrics" / f"{run}.json")
        out[DATA + metrics["model"]["sha256"]] = metrics["model"]["location"]
        out["run:" + metrics["run"]] = f"{run} run"
    p = read_json(ws.work / "predictions" / "inference.json")["prediction"]
    out[DATA + p["sha256"]] = p["location"]
    return out


def _short(value: str | None, known: dict[str, str]) -> str:
    if value is None:
        return ""
    if value in known:
        return Path(known[value]).name
    if value.startswith(DEFAULT_BASE + "run/"):
        run, _, task = value[len(DEFAULT_BASE) + 4:].partition("/")
        name = known.get("run:" + run, run.split("-2")[0] + "…")
        return f"{name}/{task}" if task else name
    if value == "http://www.w3.org/1999/02/22-rdf-syntax-ns#type":
        return "rdf:type"
    for prefix in (DEFAULT_BASE, OILGAS_NS):
        if value.startswith(prefix):
            return value[len(prefix):]
    try:
        number = float(value)
    except ValueError:
        return value.replace("|", "\\|")
    return value if number.is_integer() and "." not in value else f"{number:.6g}"


def answer(kg: Any, ws: Workspace, q: Question, known: dict[str, str]) -> list[list[str]]:
    from provml.query.named import run_query

    result = run_query(kg, q.query, q.params)
    rows = []
    for s in result:
        rows.append([_short(None if s[c] is None else s[c].value, known) for c in q.columns])
    unique: list[list[str]] = []
    for r in rows:
        if r not in unique:
            unique.append(r)
    return unique


def markdown(q: Question, rows: list[list[str]], *, limit: int = 40) -> str:
    head = "| " + " | ".join(q.columns) + " |\n| " + " | ".join("---" for _ in q.columns) + " |\n"
    body = "".join("| " + " | ".join(r) + " |\n" for r in rows[:limit])
    more = f"\n({len(rows) - limit} more rows)\n" if len(rows) > limit else ""
    return head + body + more if rows else "(no rows)\n"


def block(q: Question, rows: list[list[str]], known: dict[str, str]) -> str:
    """The "Paper: …" line and the table of one question, as in docs/queries.md."""
    params = " ".join(f"--param {k}=" + (f"<{_short(v, known)}>" if v.startswith(DATA) else v)
                      for k, v in q.params.items())
    return f"Paper: {q.paper}. Named query `{q.query}`: `provml query {q.query} {params}`\n\n" + markdown(q, rows)


def answers(kg: Any, ws: Workspace) -> dict[str, str]:
    """Question -> its block (:func:`block`), answered on ``kg``."""
    known = names(ws)
    return {q.question: block(q, answer(kg, ws, q, known), known) for q in questions(ws)}


def update(doc: str, blocks: dict[str, str]) -> str:
    """``doc`` (docs/queries.md) with the block under each question's ``## `` heading replaced:
    from its "Paper:" line to the end of its table and the "(N more rows)" line after it."""
    out: list[str] = []
    lines = doc.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        title = line[3:] if line.startswith("## ") else None
        if title not in blocks:
            continue
        while i < len(lines) and not lines[i].startswith("Paper: "):
            out.append(lines[i])
            i += 1
        j = i + 1
        while j < len(lines) and (not lines[j] or lines[j].startswith("| ") or lines[j] == "(no rows)"
                                  or lines[j].startswith("(") and lines[j].endswith(" more rows)")):
            j += 1
        # keep the blank line before the prose that follows the table
        out.extend(blocks[title].rstrip("\n").split("\n"))
        out.append("")
        i = j
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from provml.knowledge import open_kg

    p = argparse.ArgumentParser(prog="python -m examples.force2020.answers")
    p.add_argument("--workdir", type=Path, default=Path(".provml") / "demo")
    p.add_argument("--update", type=Path, default=None,
                   help="rewrite the answer tables of this file (docs/queries.md) instead of printing them")
    args = p.parse_args(argv)
    ws = Workspace(args.workdir)
    with open_kg(ws.store, load_ontologies=False) as kg:
        blocks = answers(kg, ws)
    if args.update:
        args.update.write_text(update(args.update.read_text(), blocks))
        return 0
    for question, text in blocks.items():
        print(f"### {question}\n\n{text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
