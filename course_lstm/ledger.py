"""The claims ledger: each claim made for LSTMs, the experiment that tests it, what the shipped
studies measured, and the verdict, all generated from the shipped JSON by rules fixed here.

A verdict on success rates compares the claim's model with a rival at the longest lag of each
task of its experiment: *supported* where it solves more often with a one-sided Fisher exact p
below 0.05 on every task; *qualified* where it does on some tasks, or solves more often without
reaching p < 0.05; *not supported* otherwise. The gradient claim compares the fraction of the
gradient that crosses the whole lag at initialisation, seed by seed (one-sided exact
Mann–Whitney U), at PyTorch's initialisations and at each model's best one: *supported* where
the LSTM keeps more at both with p < 0.05, *qualified* at one, *not supported* at neither.
*Open*: no shipped study measures the claim.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from course_lstm import results, stats, study

ALPHA = 0.05
LEDGER_START, LEDGER_END = "<!-- claims ledger: start -->", "<!-- claims ledger: end -->"
STUDY_FILES = {"cpu": "study-cpu.json", "cpu-mechanisms": "study-cpu-mechanisms.json"}
REPLICA_FILES = {"cpu-mechanisms": "study-cpu-mechanisms-replication.json"}
"""Reruns of a shipped study on another CPU: floating-point results depend on the instruction set."""


@dataclass(frozen=True)
class Claim:
    claim: str
    experiment: str  # what tests it, in words
    study: str  # the shipped study that measures it: "cpu" or "cpu-mechanisms"
    part: str  # the experiment's name in that study's rows
    rival: str
    model: str = "LSTM"  # the model the claim is about
    measure: str = "rates"  # "rates": success counts; "gradient": the gradient kept at initialisation


CLAIMS = (
    Claim(
        "1. LSTMs capture long-term dependencies",
        "lag study: tuned LSTM against a tuned RNN of the same width (it has no memory cell), success against lag",
        "cpu",
        "lags",
        "RNN",
    ),
    Claim(
        "2. LSTMs mitigate vanishing gradients",
        "gradient at initialisation: ‖dL/dh_0‖ / ‖dL/dh_T-1‖ on the adding problem, each initialisation of each grid",
        "cpu-mechanisms",
        "gradient",
        "RNN",
        measure="gradient",
    ),
    Claim(
        "3. LSTMs handle variable-length sequences",
        "lengths: mixed-length adding problem, packed LSTM "
        "against packed RNN (and against an LSTM that ignores the lengths)",
        "cpu-mechanisms",
        "lengths",
        "RNN, packed",
        model="LSTM, packed",
    ),
    Claim(
        "4. Long-term dependencies with fewer parameters",
        "lag study: tuned LSTM against a tuned RNN with the LSTM's parameter count",
        "cpu",
        "lags",
        "RNN (equal budget)",
    ),
    Claim(
        "5a. The forget gate matters",
        "gates: the LSTM against the LSTM with the gate fixed at 1",
        "cpu-mechanisms",
        "gates",
        "no forget gate",
    ),
    Claim("5b. The input gate matters", "gates: as 5a", "cpu-mechanisms", "gates", "no input gate"),
    Claim("5c. The output gate matters", "gates: as 5a", "cpu-mechanisms", "gates", "no output gate"),
    Claim(
        "5d. A forget bias of 1 beats PyTorch's 0",
        "forget bias: LSTMs differing only in it, each tuned over the learning rates",
        "cpu-mechanisms",
        "forget bias",
        "LSTM, forget bias 0",
        model="LSTM, forget bias 1",
    ),
)


def _entry(summary: list[dict], part: str, task: str, lag: int, model: str) -> dict:
    return next(e for e in summary if (e["experiment"], e["task"], e["lag"], e["model"]) == (part, task, lag, model))


def _verdict(wins: int, leads: int, count: int) -> str:
    if wins == count:
        return "supported"
    return "qualified" if wins or leads else "not supported"


def _judge_rates(claim: Claim, result: dict) -> tuple[str, str]:
    summary = [e for e in study.summarise(result["rows"]) if e["experiment"] == claim.part]
    if not summary:
        return f"the shipped study has no {claim.part!r} experiment", "open"
    missing = {claim.model, claim.rival} - {e["model"] for e in summary}
    if missing:
        return f"the shipped study's {claim.part!r} experiment has no {', '.join(sorted(missing))}", "open"
    found, wins, leads = [], 0, 0
    tasks = list(dict.fromkeys(e["task"] for e in summary))
    for task in tasks:
        lag = max(e["lag"] for e in summary if e["task"] == task)
        mine = _entry(summary, claim.part, task, lag, claim.model)
        rival = _entry(summary, claim.part, task, lag, claim.rival)
        p = stats.fisher_exact_greater(mine["solved"], mine["seeds"], rival["solved"], rival["seeds"])
        wins += p < ALPHA
        leads += mine["rate"] > rival["rate"]
        found.append(
            f"{task} T = {lag}: {claim.model} {mine['solved']}/{mine['seeds']}, {claim.rival} "
            f"{rival['solved']}/{rival['seeds']}, p = {p:.3f}"
        )
    return "; ".join(found), _verdict(wins, leads, len(tasks))


def gradient_kept(result: dict) -> dict[tuple[str, str], list[float]]:
    """(kind, initialisation) -> the gradient fraction that crosses the lag, one per seed."""
    kept: dict[tuple[str, str], list[float]] = {}
    for row in result["gradient_flow"]:
        kept.setdefault((row["kind"], row["init"]), []).append(row["kept"] or 0.0)
    return kept


DEFAULT_INITS = {"rnn": "default W_hh", "lstm": "forget bias 0"}
"""PyTorch's own initialisation of each model (nn.LSTM's forget bias is 0)."""


def _judge_gradient(claim: Claim, result: dict) -> tuple[str, str]:
    if "gradient_flow" not in result:
        return "the shipped study has no gradient measurement", "open"
    kept = gradient_kept(result)
    lag = result["gradient_flow"][0]["lag"]

    def best(kind: str) -> str:
        return max((init for k, init in kept if k == kind), key=lambda init: statistics.median(kept[kind, init]))

    found, wins = [], 0
    for what, rnn, lstm in (
        ("PyTorch's initialisations", DEFAULT_INITS["rnn"], DEFAULT_INITS["lstm"]),
        ("each one's best", best("rnn"), best("lstm")),
    ):
        p = stats.mann_whitney_greater(kept["lstm", lstm], kept["rnn", rnn])
        wins += p < ALPHA
        found.append(
            f"{what}: LSTM ({lstm}) {statistics.median(kept['lstm', lstm]):.2g}, RNN ({rnn}) "
            f"{statistics.median(kept['rnn', rnn]):.2g}, p = {p:.3f}"
        )
    verdict = {2: "supported", 1: "qualified", 0: "not supported"}[wins]
    return f"adding T = {lag}, gradient kept over the lag (median of seeds) at " + "; ".join(found), verdict


def judge(claim: Claim, result: dict | None) -> tuple[str, str]:
    """(what was measured, verdict) for one claim from its study's result (None: none ships)."""
    if result is None:
        return "no shipped study measures it yet", "open"
    return _judge_gradient(claim, result) if claim.measure == "gradient" else _judge_rates(claim, result)


def shipped_studies() -> dict[str, dict | None]:
    """Every study the ledger reads, as shipped (None where none ships)."""
    return {name: results.shipped("study", name) for name in STUDY_FILES}


def ledger(studies: dict[str, dict | None] | None = None) -> list[dict]:
    """Every claim with its experiment, measurement and verdict (default: the shipped studies)."""
    studies = shipped_studies() if studies is None else studies
    unknown = set(studies) - set(STUDY_FILES)
    if unknown:
        raise ValueError(
            f"studies must map study names ({', '.join(STUDY_FILES)}) to results, "
            f"got keys {', '.join(map(repr, sorted(map(str, unknown))))}"
        )
    return [
        {
            "claim": c.claim,
            "experiment": c.experiment,
            **dict(zip(("result", "verdict"), judge(c, studies.get(c.study)), strict=True)),
        }
        for c in CLAIMS
    ]


def shipped_replicas() -> dict[str, dict]:
    """Every shipped rerun of a study on another machine (REPLICA_FILES), by study name."""
    found = {}
    for name, file in REPLICA_FILES.items():
        path = results.SHIPPED / file
        if path.exists():
            found[name] = results.load(path)
    return found


def _run_key(row: dict) -> tuple:
    return (
        study.experiment_of(row),
        row.get("phase"),
        row["task"],
        row["lag"],
        row["label"],
        row["config"],
        row["seed"],
    )


def replication(studies: dict[str, dict | None], replicas: dict[str, dict]) -> list[str]:
    """One sentence per rerun: how many runs with the same configuration and seed changed their
    solved outcome, how many evaluation runs followed another tuning choice, and which verdicts
    the rerun would change."""
    sentences = []
    for name, replica in replicas.items():
        original = studies.get(name)
        if original is None:
            continue
        theirs = {_run_key(row): row["test_solved"] for row in replica["rows"]}
        matched = [(row["test_solved"], theirs[_run_key(row)]) for row in original["rows"] if _run_key(row) in theirs]
        changed = sum(a != b for a, b in matched)
        unmatched = len(original["rows"]) - len(matched)
        before = {e["claim"]: e["verdict"] for e in ledger(studies)}
        after = {e["claim"]: e["verdict"] for e in ledger({**studies, name: replica})}
        moved = [
            f"{claim.split(' ', 1)[0].rstrip('.')} {before[claim]} → {after[claim]}"
            for claim in before
            if before[claim] != after[claim]
        ]
        workers = replica["provenance"].get("workers", "?")
        sentences.append(
            f"`course_lstm/results/{REPLICA_FILES.get(name, name + '-replication.json')}` reran the {name} study on "
            f"{results.provenance_line(replica)}, with {workers} worker(s): {changed} of {len(matched)} runs "
            f"with the same configuration and seed changed their solved outcome, and {unmatched} evaluation "
            f"runs followed another tuning choice; verdicts it changes: {', '.join(moved) if moved else 'none'}. "
            f"Floating-point results depend on the CPU's instruction set, so a verdict that rests on one "
            f"seed can move with it."
        )
    return sentences


def markdown(studies: dict[str, dict | None] | None = None, replicas: dict[str, dict] | None = None) -> str:
    """The ledger as a markdown table, with the lines that say where its numbers came from and,
    for each rerun on another CPU (default: the shipped ones, when ``studies`` is too), what it
    changed."""
    if studies is None:
        studies = shipped_studies()
        replicas = shipped_replicas() if replicas is None else replicas
    lines = ["| claim | experiment | measured (longest lag of each task) | verdict |", "| --- | --- | --- | --- |"]
    lines += [f"| {e['claim']} | {e['experiment']} | {e['result']} | **{e['verdict']}** |" for e in ledger(studies)]
    sources = []
    for name, file in STUDY_FILES.items():
        result = studies.get(name)
        sources.append(
            f"`course_lstm/results/{file}`: "
            + (
                results.provenance_line(result)
                if result is not None
                else f"not shipped yet (`python -m course_lstm study --protocol {name} --workers 2 --out course_lstm/results`)"
            )
        )
    text = "\n".join(lines) + "\n\nFrom " + "; ".join(sources) + ". Verdicts by the rules in `course_lstm/ledger.py`.\n"
    for sentence in replication(studies, replicas or {}):
        text += f"\n{sentence}\n"
    return text


def write_into(path: str) -> bool:
    """Replace the text between the ledger markers of a file (the README) with ``markdown()``;
    return whether it changed. ValueError if the markers are missing."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if LEDGER_START not in text or LEDGER_END not in text:
        raise ValueError(f"{path} has no {LEDGER_START} ... {LEDGER_END} block to fill")
    head, rest = text.split(LEDGER_START, 1)
    _, tail = rest.split(LEDGER_END, 1)
    updated = f"{head}{LEDGER_START}\n{markdown()}{LEDGER_END}{tail}"
    if updated != text:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(updated)
    return updated != text
