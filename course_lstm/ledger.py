"""The claims ledger: each claim made for LSTMs, the experiment that tests it, what the shipped
study measured, and the verdict, all generated from the shipped JSON by rules fixed here.

A verdict compares the LSTM with a rival at the longest lag of each task of the study: *supported*
where the LSTM solves more often with a one-sided Fisher exact p below 0.05, on every task;
*qualified* where it does on some tasks, or solves more often without reaching p < 0.05;
*not supported* otherwise; *open* where no shipped study measures the claim yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_lstm import results, stats, study

ALPHA = 0.05
LEDGER_START, LEDGER_END = "<!-- claims ledger: start -->", "<!-- claims ledger: end -->"


@dataclass(frozen=True)
class Claim:
    claim: str
    experiment: str
    rival: str | None  # the model the LSTM is compared with in the study; None: not in the study yet


CLAIMS = (
    Claim("1. LSTMs capture long-term dependencies", "study: tuned RNN against tuned LSTM of the same width, "
          "success against lag", "RNN"),
    Claim("2. LSTMs mitigate vanishing gradients", "gradient_flow (notebook 06): ‖dL/dh_t‖ through time", None),
    Claim("3. LSTMs handle variable-length sequences", "notebook 07: packed against lengths ignored", None),
    Claim("4. Long-term dependencies with fewer parameters", "study: tuned LSTM against a tuned RNN with the "
          "LSTM's parameter count", "RNN (equal budget)"),
    Claim("5. Memory cell and gates each matter", "gate_ablation, forget_bias (notebook 08)", None),
)


def _entry(summary: list[dict], task: str, lag: int, model: str) -> dict:
    return next(e for e in summary if (e["task"], e["lag"], e["model"]) == (task, lag, model))


def judge(claim: Claim, result: dict | None) -> tuple[str, str]:
    """(what was measured, verdict) for one claim from a study result (None: none ships)."""
    if claim.rival is None or result is None:
        return "no shipped study measures it yet", "open"
    summary = study.summarise(result["rows"])
    found, wins, leads = [], 0, 0
    tasks = list(dict.fromkeys(e["task"] for e in summary))
    for task in tasks:
        lag = max(e["lag"] for e in summary if e["task"] == task)
        lstm, rival = _entry(summary, task, lag, "LSTM"), _entry(summary, task, lag, claim.rival)
        p = stats.fisher_exact_greater(lstm["solved"], lstm["seeds"], rival["solved"], rival["seeds"])
        wins += p < ALPHA
        leads += lstm["rate"] > rival["rate"]
        found.append(f"{task} T = {lag}: LSTM {lstm['solved']}/{lstm['seeds']}, {claim.rival} "
                     f"{rival['solved']}/{rival['seeds']}, p = {p:.3f}")
    if wins == len(tasks):
        verdict = "supported"
    elif wins or leads:
        verdict = "qualified"
    else:
        verdict = "not supported"
    return "; ".join(found), verdict


def ledger(result: dict | None = None) -> list[dict]:
    """Every claim with its experiment, measurement and verdict (default: the shipped cpu study)."""
    result = result if result is not None else results.shipped("study", "cpu")
    return [{"claim": c.claim, "experiment": c.experiment, **dict(zip(("result", "verdict"), judge(c, result)))}
            for c in CLAIMS]


def markdown(result: dict | None = None) -> str:
    """The ledger as a markdown table, with the line that says where its numbers came from."""
    result = result if result is not None else results.shipped("study", "cpu")
    lines = ["| claim | experiment | measured (longest lag of each task) | verdict |", "| --- | --- | --- | --- |"]
    lines += [f"| {e['claim']} | {e['experiment']} | {e['result']} | **{e['verdict']}** |" for e in ledger(result)]
    source = (f"From `course_lstm/results/study-cpu.json` ({results.provenance_line(result)}); "
              f"verdicts by the rules in `course_lstm/ledger.py`." if result is not None
              else "No study ships yet: `python -m course_lstm study --protocol cpu --workers 2 "
                   "--out course_lstm/results` makes one.")
    return "\n".join(lines) + "\n\n" + source + "\n"


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
