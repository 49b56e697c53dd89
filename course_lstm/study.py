"""The study behind the course's claims: a protocol fixed in code before any run, a fair tuning
budget for every model, verdicts on fresh seeds with an interval on every rate.

For each task and lag, each model gets the same tuning budget: every configuration of its own
grid (the same number for every model: its known fixes crossed with the same learning rates),
trained on the tuning seeds. The configuration that solved the most tuning runs (ties: the
lower median held-out loss / baseline, then grid order) is trained again on the evaluation
seeds, and only those runs count. A run is *solved* when its loss on fresh test sequences is
below ``solved_fraction`` of the memoryless baseline (1%: on the adding problem an RMS error of
0.041, the 0.04 tolerance of Hochreiter & Schmidhuber 1997). Each success rate comes with its
95% Wilson interval; "LSTM beats this RNN" is read from a one-sided Fisher exact test.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, replace

from course_lstm import results, stats
from course_lstm.experiments import LSTM_FORGET_BIAS, RunSpec
from course_lstm.models import SequenceModel, parameter_count, width_for_budget
from course_lstm.profiles import PROFILES, Profile, apply_threads
from course_lstm.sweep import run_specs
from course_lstm.tasks import make_task

LEARNING_RATES = (1e-2, 1e-3)


@dataclass(frozen=True)
class Configuration:
    """One point of a model's tuning grid: a learning rate and an initialisation."""

    name: str
    lr: float
    recurrent_init: str | None = None  # RNN: None (PyTorch's), "orthogonal" or "identity" W_hh
    forget_bias: float | None = None  # LSTM
    chrono: bool = False  # LSTM: chrono initialisation (Tallec & Ollivier 2018)


def _grid(inits: list[tuple[str, dict]]) -> tuple[Configuration, ...]:
    return tuple(Configuration(f"{name}, lr {lr:g}", lr, **options) for name, options in inits
                 for lr in LEARNING_RATES)


GRIDS: dict[str, tuple[Configuration, ...]] = {
    # PyTorch's init; orthogonal W_hh (Saxe et al. 2014; Arjovsky et al. 2016); identity (Le et al. 2015)
    "rnn": _grid([("default W_hh", {}), ("orthogonal W_hh", {"recurrent_init": "orthogonal"}),
                  ("identity W_hh", {"recurrent_init": "identity"})]),
    # forget bias 0 (PyTorch's), 1 (Jozefowicz et al. 2015), chrono (Tallec & Ollivier 2018)
    "lstm": _grid([("forget bias 0", {"forget_bias": 0.0}), ("forget bias 1", {"forget_bias": LSTM_FORGET_BIAS}),
                   ("chrono", {"chrono": True})]),
}


@dataclass(frozen=True)
class Protocol:
    """Everything a study run does, fixed before it runs."""

    name: str
    tasks: tuple[tuple[str, tuple[int, ...]], ...]  # (task, its lags)
    models: tuple[tuple[str, str, str], ...]  # (label, kind, width: "same" or "lstm budget")
    hidden_size: int
    batch_size: int
    steps: int
    eval_every: int
    eval_batch_size: int
    tuning_seeds: tuple[int, ...]
    evaluation_seeds: tuple[int, ...]
    solved_fraction: float
    test_size: int
    device: str = "cpu"

    def training(self) -> Profile:
        """The training sizes as a Profile, the form ``train_run`` reads."""
        return replace(PROFILES["cpu"], name=self.name, hidden_size=self.hidden_size,
                       batch_size=self.batch_size, steps=self.steps, eval_every=self.eval_every,
                       eval_batch_size=self.eval_batch_size, seeds=len(self.evaluation_seeds),
                       device=self.device, threads=1 if self.device == "cpu" else None)

    def to_dict(self) -> dict:
        return {**asdict(self), "grids": {kind: [asdict(c) for c in grid] for kind, grid in GRIDS.items()}}


MODELS = (("RNN", "rnn", "same"), ("LSTM", "lstm", "same"), ("RNN (equal budget)", "rnn", "lstm budget"))

PROTOCOLS = {
    # seconds: the tests' size, every part of the protocol at a toy scale
    "ci": Protocol("ci", tasks=(("adding", (5,)),), models=MODELS[:2], hidden_size=8, batch_size=32,
                   steps=40, eval_every=20, eval_batch_size=64, tuning_seeds=(100,),
                   evaluation_seeds=(0, 1, 2, 3, 4), solved_fraction=0.01, test_size=256),
    # about half an hour on 2 cores: where the models part on two tasks
    "cpu": Protocol("cpu", tasks=(("adding", (25, 50, 100)), ("temporal_order", (50, 100))),
                    models=MODELS, hidden_size=32, batch_size=64, steps=2000, eval_every=100,
                    eval_batch_size=512, tuning_seeds=(100, 101), evaluation_seeds=(0, 1, 2, 3, 4),
                    solved_fraction=0.01, test_size=2000),
}


def _width(protocol: Protocol, kind: str, rule: str, task_name: str, lag: int) -> int:
    if rule == "same":
        return protocol.hidden_size
    task = make_task(task_name, lag)
    lstm = SequenceModel("lstm", task.input_size, protocol.hidden_size, task.output_size, readout=task.readout)
    return width_for_budget(kind, task.input_size, task.output_size, parameter_count(lstm))


def _spec(protocol: Protocol, label: str, kind: str, width: int, task: str, lag: int, seed: int,
          config: Configuration) -> RunSpec:
    return RunSpec(label, kind, task, lag, seed, width, forget_bias=config.forget_bias, chrono=config.chrono,
                   lr=config.lr, recurrent_init=config.recurrent_init,
                   solved_fraction=protocol.solved_fraction, test_size=protocol.test_size, config=config.name)


def _cells(protocol: Protocol):
    for task, lags in protocol.tasks:
        for lag in lags:
            for label, kind, rule in protocol.models:
                yield task, lag, label, kind, _width(protocol, kind, rule, task, lag)


def tuning_specs(protocol: Protocol) -> list[RunSpec]:
    """Every configuration of each model's grid, on every tuning seed, at every task and lag."""
    return [_spec(protocol, label, kind, width, task, lag, seed, config)
            for task, lag, label, kind, width in _cells(protocol)
            for config in GRIDS[kind] for seed in protocol.tuning_seeds]


def _relative(row: dict) -> float:
    return row["final_loss"] / row["baseline"] if row["final_loss"] is not None else float("inf")


def choose(tuning_rows: list[dict], kind: str) -> Configuration:
    """The configuration whose tuning runs solved most often (ties: lower median held-out loss /
    baseline, then the grid's order)."""
    def score(config: Configuration) -> tuple:
        runs = [row for row in tuning_rows if row["config"] == config.name]
        if not runs:
            raise ValueError(f"no tuning runs of configuration {config.name!r}")
        return (-sum(row["solved"] for row in runs), statistics.median(map(_relative, runs)))
    grid = GRIDS[kind]
    return min(grid, key=lambda config: (*score(config), grid.index(config)))


def evaluation_specs(protocol: Protocol, tuning_rows: list[dict]) -> list[RunSpec]:
    """For each task, lag and model: the chosen configuration on every evaluation seed."""
    specs = []
    for task, lag, label, kind, width in _cells(protocol):
        mine = [row for row in tuning_rows if (row["task"], row["lag"], row["label"]) == (task, lag, label)]
        config = choose(mine, kind)
        specs += [_spec(protocol, label, kind, width, task, lag, seed, config) for seed in protocol.evaluation_seeds]
    return specs


def summarise(rows: list[dict]) -> list[dict]:
    """One entry per (task, lag, model) of the evaluation runs: the chosen configuration, solved
    k of n with its Wilson interval, the test loss / baseline of every seed, and the tuning."""
    evaluation = [row for row in rows if row["phase"] == "evaluation"]
    keys = list(dict.fromkeys((row["task"], row["lag"], row["label"]) for row in evaluation))
    summary = []
    for task, lag, label in keys:
        runs = [row for row in evaluation if (row["task"], row["lag"], row["label"]) == (task, lag, label)]
        tuning = [row for row in rows if row["phase"] == "tuning"
                  and (row["task"], row["lag"], row["label"]) == (task, lag, label)]
        solved = sum(row["test_solved"] for row in runs)
        low, high = stats.wilson_interval(solved, len(runs))
        steps = sorted(row["solved_at"] for row in runs if row["test_solved"] and row["solved_at"])
        summary.append({
            "task": task, "lag": lag, "model": label, "config": runs[0]["config"],
            "parameters": runs[0]["parameters"], "hidden_size": runs[0]["hidden_size"],
            "solved": solved, "seeds": len(runs), "rate": solved / len(runs), "interval": [low, high],
            "solved_fraction": runs[0]["solved_threshold"] / runs[0]["baseline"],
            "relative_loss": [row["test_relative_loss"] for row in runs],
            "median_steps_to_solve": statistics.median(steps) if steps else None,
            "tuning": {config: sum(r["solved"] for r in tuning if r["config"] == config)
                       for config in dict.fromkeys(r["config"] for r in tuning)},
            "tuning_runs": len(tuning),
        })
    return summary


def compare(summary: list[dict], better: str = "LSTM") -> list[dict]:
    """For each task and lag, ``better`` against every other model: the one-sided Fisher exact
    p-value that it solves more often."""
    found = []
    for entry in summary:
        if entry["model"] == better:
            continue
        mine = next(e for e in summary if (e["task"], e["lag"], e["model"]) == (entry["task"], entry["lag"], better))
        found.append({"task": entry["task"], "lag": entry["lag"], "model": better, "against": entry["model"],
                      "p_value": stats.fisher_exact_greater(mine["solved"], mine["seeds"],
                                                            entry["solved"], entry["seeds"])})
    return found


def run_study(name: str = "cpu", workers: int = 1, cache: str | None = None, progress: bool = True,
              command: str | None = None) -> dict:
    """Tune, choose, evaluate: the whole protocol ``name``, as a result dict with provenance."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown study protocol {name!r}; expected one of {', '.join(PROTOCOLS)}")
    protocol = PROTOCOLS[name]
    training = protocol.training()
    apply_threads(training)  # the provenance then names the threads each run had, here and in a worker
    commit, started, start = results.git_commit(), results.now(), time.perf_counter()
    tuning = run_specs(tuning_specs(protocol), training, workers, cache, progress, "tuning")
    evaluation = run_specs(evaluation_specs(protocol, tuning), training, workers, cache, progress, "evaluation")
    rows = [dict(row, phase="tuning") for row in tuning] + [dict(row, phase="evaluation") for row in evaluation]
    summary = summarise(rows)
    provenance = results.provenance(name, protocol.device, time.perf_counter() - start,
                                    command or f"run_study({name!r}, workers={workers})", commit, started)
    provenance["workers"] = workers
    return {"schema": results.SCHEMA_VERSION, "experiment": "study", "config": protocol.to_dict(),
            "rows": rows, "summary": summary, "comparisons": compare(summary), "provenance": provenance}


def headline(summary: list[dict], task: str) -> str:
    """What a figure's title states: each model's solved count at the task's longest lag."""
    lag = max(e["lag"] for e in summary if e["task"] == task)
    found = [f"{e['model']} {e['solved']}/{e['seeds']}" for e in summary if (e["task"], e["lag"]) == (task, lag)]
    return f"at T = {lag}, solved: " + ", ".join(found)


def format_summary(summary: list[dict]) -> str:
    """The headline table: per task, lag and model, solved k/n with its 95% interval, the median
    test loss / baseline, and the configuration the tuning chose."""
    header = (f"{'task':<15}{'T':>5}  {'model':<20}{'params':>7}{'solved':>8}{'95% interval':>15}"
              f"{'loss/base':>11}  chosen configuration")
    lines = [header, "-" * len(header)]
    for e in summary:
        low, high = e["interval"]
        losses = [v for v in e["relative_loss"] if v is not None]
        median = f"{statistics.median(losses):.3f}" if losses else "-"
        lines.append(f"{e['task']:<15}{e['lag']:>5}  {e['model']:<20}{e['parameters']:>7}"
                     f"{e['solved']:>5}/{e['seeds']:<2}{f'[{low:.2f}, {high:.2f}]':>15}{median:>11}  {e['config']}")
    return "\n".join(lines)
