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
from typing import NamedTuple

from course_lstm import results, stats
from course_lstm.experiments import LSTM_FORGET_BIAS, RunSpec, gradient_norms_at_init
from course_lstm.models import Kind, SequenceModel, parameter_count, width_for_budget
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
    return tuple(
        Configuration(f"{name}, lr {lr:g}" if name else f"lr {lr:g}", lr, **options)
        for name, options in inits
        for lr in LEARNING_RATES
    )


GRIDS: dict[str, tuple[Configuration, ...]] = {
    # PyTorch's init; orthogonal W_hh (Saxe et al. 2014; Arjovsky et al. 2016); identity (Le et al. 2015)
    "rnn": _grid(
        [
            ("default W_hh", {}),
            ("orthogonal W_hh", {"recurrent_init": "orthogonal"}),
            ("identity W_hh", {"recurrent_init": "identity"}),
        ]
    ),
    # forget bias 0 (PyTorch's), 1 (Jozefowicz et al. 2015), chrono (Tallec & Ollivier 2018)
    "lstm": _grid(
        [
            ("forget bias 0", {"forget_bias": 0.0}),
            ("forget bias 1", {"forget_bias": LSTM_FORGET_BIAS}),
            ("chrono", {"chrono": True}),
        ]
    ),
    # the GRU's known fixes are the RNN's: its W_hh blocks orthogonal or the identity
    "gru": _grid(
        [
            ("default W_hh", {}),
            ("orthogonal W_hh", {"recurrent_init": "orthogonal"}),
            ("identity W_hh", {"recurrent_init": "identity"}),
        ]
    ),
    # the learning rates alone: for variants whose initialisation is what the experiment varies
    "lr": _grid([("", {})]),
}


@dataclass(frozen=True)
class Model:
    """One model of an experiment: what it is, how wide, which grid it is tuned over, and what the
    experiment holds fixed for it (a removed gate, a forget bias, clipping, lengths ignored)."""

    label: str
    kind: Kind
    width: str = "same"  # "same": the protocol's hidden size; "lstm budget": the LSTM's parameter count
    grid: str | None = None  # a GRIDS key; None: the kind's own
    without_gate: str | None = None
    forget_bias: float | None = None  # used where the configuration sets none
    chrono: bool = False
    clip: float | None = 1.0
    ignore_lengths: bool = False

    @property
    def grid_name(self) -> str:
        return self.grid or self.kind


@dataclass(frozen=True)
class Protocol:
    """Everything one experiment of a study does, fixed before it runs."""

    name: str
    tasks: tuple[tuple[str, tuple[int, ...]], ...]  # (task, its lags)
    models: tuple[Model, ...]
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
    experiment: str = "lags"  # the experiment's name in rows and summaries
    reference: str = "LSTM"  # the model that every other is compared with
    shortest_fraction: float | None = None  # set: each sequence's length uniform in [fraction T, T]

    def min_length(self, lag: int) -> int | None:
        return None if self.shortest_fraction is None else max(2, round(self.shortest_fraction * lag))

    def training(self) -> Profile:
        """The training sizes as a Profile, the form ``train_run`` reads."""
        return replace(
            PROFILES["cpu"],
            name=self.name,
            hidden_size=self.hidden_size,
            batch_size=self.batch_size,
            steps=self.steps,
            eval_every=self.eval_every,
            eval_batch_size=self.eval_batch_size,
            seeds=len(self.evaluation_seeds),
            device=self.device,
            threads=1 if self.device == "cpu" else None,
        )

    def to_dict(self) -> dict:
        grids = {model.grid_name for model in self.models}
        return {**asdict(self), "grids": {name: [asdict(c) for c in GRIDS[name]] for name in GRIDS if name in grids}}


MODELS = (Model("RNN", "rnn"), Model("LSTM", "lstm"), Model("RNN (equal budget)", "rnn", width="lstm budget"))

PROTOCOLS = {
    # seconds: the tests' size, every part of the protocol at a toy scale
    "ci": Protocol(
        "ci",
        tasks=(("adding", (5,)),),
        models=MODELS[:2],
        hidden_size=8,
        batch_size=32,
        steps=40,
        eval_every=20,
        eval_batch_size=64,
        tuning_seeds=(100,),
        evaluation_seeds=(0, 1, 2, 3, 4),
        solved_fraction=0.01,
        test_size=256,
    ),
    # about half an hour on 2 cores: where the models part on two tasks
    "cpu": Protocol(
        "cpu",
        tasks=(("adding", (25, 50, 100)), ("temporal_order", (50, 100))),
        models=MODELS,
        hidden_size=32,
        batch_size=64,
        steps=2000,
        eval_every=100,
        eval_batch_size=512,
        tuning_seeds=(100, 101),
        evaluation_seeds=(0, 1, 2, 3, 4),
        solved_fraction=0.01,
        test_size=2000,
    ),
}

GATE_VARIANTS = (
    Model("LSTM", "lstm", grid="lr", forget_bias=LSTM_FORGET_BIAS),
    *(
        Model(f"no {gate} gate", "lstm", grid="lr", forget_bias=LSTM_FORGET_BIAS, without_gate=gate)
        for gate in ("forget", "input", "output")
    ),
)
BIAS_VARIANTS = (
    Model("LSTM, forget bias 0", "lstm", grid="lr", forget_bias=0.0),
    Model("LSTM, forget bias 1", "lstm", grid="lr", forget_bias=1.0),
    Model("LSTM, forget bias 3", "lstm", grid="lr", forget_bias=3.0),
    Model("LSTM, chrono", "lstm", grid="lr", chrono=True),
)


def _mechanisms(base: Protocol, long: int, order_short: int, order_long: int) -> tuple[Protocol, ...]:
    """The study's second part, at the sizes of ``base``: the GRU, each gate removed, the forget
    bias, clipping and variable lengths. ``long``: an adding-problem lag where the lag study's
    LSTM and RNN part; ``order_short`` / ``order_long``: temporal-order lags where every LSTM
    recipe solves / where the recipes part. Sized so that the lag study and this one together
    take under an hour on 2 cores."""

    def part(experiment: str, tasks, models, reference: str, **options) -> Protocol:
        return replace(
            base,
            name=f"{base.name}-mechanisms",
            experiment=experiment,
            tasks=tasks,
            models=models,
            reference=reference,
            **options,
        )

    return (
        part("gru", (("adding", (long,)),), (Model("LSTM", "lstm"), Model("GRU", "gru")), "LSTM"),
        part("gates", (("adding", (long,)), ("temporal_order", (order_short,))), GATE_VARIANTS, "LSTM"),
        part("forget bias", (("temporal_order", (order_long,)),), BIAS_VARIANTS, "LSTM, forget bias 1"),
        part(
            "clipping",
            (("adding", (long,)),),
            (Model("RNN, clipped at 1", "rnn", grid="lr"), Model("RNN, no clipping", "rnn", grid="lr", clip=None)),
            "RNN, clipped at 1",
        ),
        part(
            "lengths",
            (("adding", (long,)),),
            (
                Model("LSTM, packed", "lstm"),
                Model("LSTM, lengths ignored", "lstm", ignore_lengths=True),
                Model("RNN, packed", "rnn"),
            ),
            "LSTM, packed",
            shortest_fraction=0.2,
        ),
    )


STUDIES: dict[str, tuple[Protocol, ...]] = {
    "ci": (PROTOCOLS["ci"],),
    "cpu": (PROTOCOLS["cpu"],),
    "ci-mechanisms": _mechanisms(PROTOCOLS["ci"], long=5, order_short=10, order_long=10),
    "cpu-mechanisms": _mechanisms(PROTOCOLS["cpu"], long=50, order_short=50, order_long=100),
}
"""Each study: its experiments, run together (``run_study``) and shipped as one file,
``study-<name>.json``. ``cpu`` is the lag study; ``cpu-mechanisms`` the rest, at its sizes."""

GRADIENT_LAGS = {"ci": 5, "cpu": 100}
"""The lag at which a mechanisms study measures the gradient at initialisation (its long lag)."""


def _width(protocol: Protocol, model: Model, task_name: str, lag: int) -> int:
    if model.width == "same":
        return protocol.hidden_size
    task = make_task(task_name, lag)
    lstm = SequenceModel("lstm", task.input_size, protocol.hidden_size, task.output_size, readout=task.readout)
    return width_for_budget(model.kind, task.input_size, task.output_size, parameter_count(lstm))


def _spec(
    protocol: Protocol, model: Model, width: int, task: str, lag: int, seed: int, config: Configuration
) -> RunSpec:
    return RunSpec(
        model.label,
        model.kind,
        task,
        lag,
        seed,
        width,
        clip=model.clip,
        forget_bias=model.forget_bias if config.forget_bias is None else config.forget_bias,
        chrono=config.chrono or model.chrono,
        without_gate=model.without_gate,
        lr=config.lr,
        recurrent_init=config.recurrent_init,
        solved_fraction=protocol.solved_fraction,
        test_size=protocol.test_size,
        config=config.name,
        min_length=protocol.min_length(lag),
        ignore_lengths=model.ignore_lengths,
    )


def _cells(protocol: Protocol):
    for task, lags in protocol.tasks:
        for lag in lags:
            for model in protocol.models:
                yield task, lag, model, _width(protocol, model, task, lag)


def tuning_specs(protocol: Protocol) -> list[RunSpec]:
    """Every configuration of each model's grid, on every tuning seed, at every task and lag."""
    return [
        _spec(protocol, model, width, task, lag, seed, config)
        for task, lag, model, width in _cells(protocol)
        for config in GRIDS[model.grid_name]
        for seed in protocol.tuning_seeds
    ]


def _relative(row: dict) -> float:
    return row["final_loss"] / row["baseline"] if row["final_loss"] is not None else float("inf")


def choose(tuning_rows: list[dict], grid_name: str) -> Configuration:
    """The configuration of grid ``grid_name`` whose tuning runs solved most often (ties: lower
    median held-out loss / baseline, then the grid's order)."""

    def score(config: Configuration) -> tuple:
        runs = [row for row in tuning_rows if row["config"] == config.name]
        if not runs:
            raise ValueError(f"no tuning runs of configuration {config.name!r}")
        return (-sum(row["solved"] for row in runs), statistics.median(map(_relative, runs)))

    grid = GRIDS[grid_name]
    return min(grid, key=lambda config: (*score(config), grid.index(config)))


def experiment_of(row: dict) -> str:
    """The experiment a row belongs to ("lags" for rows of the first shipped study, which
    predates the field)."""
    return row.get("experiment", "lags")


def _key(row: dict) -> tuple:
    return experiment_of(row), row["task"], row["lag"], row["label"]


def evaluation_specs(protocol: Protocol, tuning_rows: list[dict]) -> list[RunSpec]:
    """For each task, lag and model: the chosen configuration on every evaluation seed."""
    specs = []
    for task, lag, model, width in _cells(protocol):
        mine = [row for row in tuning_rows if _key(row) == (protocol.experiment, task, lag, model.label)]
        config = choose(mine, model.grid_name)
        specs += [_spec(protocol, model, width, task, lag, seed, config) for seed in protocol.evaluation_seeds]
    return specs


def summarise(rows: list[dict]) -> list[dict]:
    """One entry per (experiment, task, lag, model) of the evaluation runs: the chosen
    configuration, solved k of n with its Wilson interval, the test loss / baseline of every seed,
    how many runs diverged, the median of their largest gradient norms, and the tuning."""
    evaluation = [row for row in rows if row["phase"] == "evaluation"]
    summary = []
    for key in dict.fromkeys(map(_key, evaluation)):
        experiment, task, lag, label = key
        runs = [row for row in evaluation if _key(row) == key]
        tuning = [row for row in rows if row["phase"] == "tuning" and _key(row) == key]
        solved = sum(row["test_solved"] for row in runs)
        low, high = stats.wilson_interval(solved, len(runs))
        steps = sorted(row["solved_at"] for row in runs if row["test_solved"] and row["solved_at"])
        norms = [row["max_grad_norm"] for row in runs if row["max_grad_norm"] is not None]
        summary.append(
            {
                "experiment": experiment,
                "task": task,
                "lag": lag,
                "model": label,
                "config": runs[0]["config"],
                "parameters": runs[0]["parameters"],
                "hidden_size": runs[0]["hidden_size"],
                "solved": solved,
                "seeds": len(runs),
                "rate": solved / len(runs),
                "interval": [low, high],
                "solved_fraction": runs[0]["solved_threshold"] / runs[0]["baseline"],
                "relative_loss": [row["test_relative_loss"] for row in runs],
                "median_steps_to_solve": statistics.median(steps) if steps else None,
                "diverged": sum(row["status"] == "diverged" for row in runs),
                "median_max_grad_norm": statistics.median(norms) if norms else None,
                "tuning": {
                    config: sum(r["solved"] for r in tuning if r["config"] == config)
                    for config in dict.fromkeys(r["config"] for r in tuning)
                },
                "tuning_runs": len(tuning),
            }
        )
    return summary


def compare(summary: list[dict], references: dict[str, str] | None = None) -> list[dict]:
    """For each experiment, task and lag, its reference model (``references[experiment]``,
    default "LSTM") against every other model: the one-sided Fisher exact p-value that the
    reference solves more often."""
    references = references or {}
    found = []
    for entry in summary:
        better = references.get(entry["experiment"], "LSTM")
        if entry["model"] == better:
            continue
        mine = next(
            (
                e
                for e in summary
                if (e["experiment"], e["task"], e["lag"], e["model"])
                == (entry["experiment"], entry["task"], entry["lag"], better)
            ),
            None,
        )
        if mine is None:
            continue
        found.append(
            {
                "experiment": entry["experiment"],
                "task": entry["task"],
                "lag": entry["lag"],
                "model": better,
                "against": entry["model"],
                "p_value": stats.fisher_exact_greater(mine["solved"], mine["seeds"], entry["solved"], entry["seeds"]),
            }
        )
    return found


def gradient_at_initialisation(protocol: Protocol, lag: int) -> list[dict]:
    """Claim 2 at initialisation: for the RNN, the LSTM and the GRU with each initialisation of
    their grids, on every evaluation seed, ||dL/dh_t|| for t = 0..T-1 on the adding problem at
    ``lag``, and ``kept``: ||dL/dh_0|| / ||dL/dh_{T-1}||, the fraction that crosses the whole lag."""
    found = []
    for kind in ("rnn", "lstm", "gru"):
        inits = dict.fromkeys((c.name.rsplit(", lr", 1)[0], c) for c in GRIDS[kind] if c.lr == LEARNING_RATES[0])
        for init, config in inits:
            for seed in protocol.evaluation_seeds:
                spec = _spec(protocol, Model(kind.upper(), kind), protocol.hidden_size, "adding", lag, seed, config)
                norms = gradient_norms_at_init(spec, protocol.training())["grad_h_init"]
                found.append(
                    {
                        "kind": kind,
                        "init": init,
                        "seed": seed,
                        "lag": lag,
                        "grad_h": norms,
                        "kept": norms[0] / norms[-1] if norms[-1] > 0 else None,
                    }
                )
    return found


def run_study(
    name: str = "cpu", workers: int = 1, cache: str | None = None, progress: bool = True, command: str | None = None
) -> dict:
    """Tune, choose, evaluate: every experiment of study ``name`` (a STUDIES key), as one result
    dict with provenance. The tuning runs of all experiments go to the workers together, then
    the evaluation runs; each row names its experiment."""
    if name not in STUDIES:
        raise ValueError(f"unknown study protocol {name!r}; expected one of {', '.join(STUDIES)}")
    parts = STUDIES[name]
    training = parts[0].training()
    if any(part.training() != training for part in parts):
        raise ValueError(f"the experiments of study {name!r} must share their training sizes")
    apply_threads(training)  # the provenance then names the threads each run had, here and in a worker
    commit, started, start = results.git_commit(), results.now(), time.perf_counter()

    def tagged(specs_of, phase: str, before: list[dict] | None = None) -> list[dict]:
        specs = [(part.experiment, spec) for part in parts for spec in specs_of(part)]
        rows = run_specs([spec for _, spec in specs], training, workers, cache, progress, phase)
        return [dict(row, experiment=experiment, phase=phase) for (experiment, _), row in zip(specs, rows, strict=True)]

    tuning = tagged(tuning_specs, "tuning")
    evaluation = tagged(lambda part: evaluation_specs(part, tuning), "evaluation")
    rows = tuning + evaluation
    summary = summarise(rows)
    result = {
        "schema": results.SCHEMA_VERSION,
        "experiment": "study",
        "config": parts[0].to_dict() if len(parts) == 1 else {p.experiment: p.to_dict() for p in parts},
        "rows": rows,
        "summary": summary,
        "comparisons": compare(summary, {part.experiment: part.reference for part in parts}),
    }
    base = name.removesuffix("-mechanisms")
    if name.endswith("-mechanisms") and base in GRADIENT_LAGS:
        result["gradient_flow"] = gradient_at_initialisation(parts[0], GRADIENT_LAGS[base])
    provenance = results.provenance(
        name,
        parts[0].device,
        time.perf_counter() - start,
        command or f"run_study({name!r}, workers={workers})",
        commit,
        started,
    )
    provenance["workers"] = workers
    result["provenance"] = provenance
    return result


def headline(summary: list[dict], task: str, experiment: str = "lags") -> str:
    """What a figure's title states: each model's solved count at the task's longest lag."""
    mine = [e for e in summary if (e.get("experiment", "lags"), e["task"]) == (experiment, task)]
    lag = max(e["lag"] for e in mine)
    found = [f"{e['model']} {e['solved']}/{e['seeds']}" for e in mine if e["lag"] == lag]
    return f"at T = {lag}, solved: " + ", ".join(found)


def format_summary(summary: list[dict]) -> str:
    """The headline table: per experiment, task, lag and model, solved k/n with its 95% interval,
    the median test loss / baseline, and the configuration the tuning chose."""
    header = (
        f"{'task':<15}{'T':>5}  {'model':<22}{'params':>7}{'solved':>8}{'95% interval':>15}"
        f"{'loss/base':>11}  chosen configuration"
    )
    lines: list[str] = []
    for experiment in dict.fromkeys(e.get("experiment", "lags") for e in summary):
        if lines:
            lines.append("")
        lines += [f"experiment: {experiment}", header, "-" * len(header)]
        for e in (e for e in summary if e.get("experiment", "lags") == experiment):
            low, high = e["interval"]
            losses = [v for v in e["relative_loss"] if v is not None]
            median = f"{statistics.median(losses):.3f}" if losses else "-"
            diverged = f" ({e['diverged']} diverged)" if e.get("diverged") else ""
            lines.append(
                f"{e['task']:<15}{e['lag']:>5}  {e['model']:<22}{e['parameters']:>7}"
                f"{e['solved']:>5}/{e['seeds']:<2}{f'[{low:.2f}, {high:.2f}]':>15}{median:>11}  "
                f"{e['config']}{diverged}"
            )
    return "\n".join(lines)


class StudyReport(NamedTuple):
    """One experiment of a shipped study: its summary entries and the provenance line to cite."""

    summary: list[dict]
    provenance: str  # results.provenance_line of the shipped file


def report(experiment: str, name: str = "cpu-mechanisms") -> StudyReport | None:
    """Print one experiment of shipped study ``name``: its table (solved k/n, 95% interval,
    loss / baseline, chosen configuration), each comparison with its test, and where the numbers
    come from. Returns its ``StudyReport`` (read from the file once, for the table and a figure's
    note alike), or None (saying so) when none ships."""
    shipped = results.shipped("study", name)
    if shipped is None:
        print(
            f"No {name} study ships with this version: `python -m course_lstm study --protocol {name} "
            f"--workers 2 --out course_lstm/results` makes it."
        )
        return None
    summary = [e for e in summarise(shipped["rows"]) if e["experiment"] == experiment]
    if not summary:
        raise ValueError(f"the shipped {name} study has no experiment {experiment!r}")
    print(format_summary(summary))
    references = {part.experiment: part.reference for part in STUDIES[name]}
    print(f"\ndoes {references.get(experiment, 'LSTM')} solve more often? one-sided Fisher exact test")
    for c in compare(summary, references):
        print(f"  {c['task']:<15} T = {c['lag']:>3}, against {c['against']}: p = {c['p_value']:.3f}")
    provenance = results.provenance_line(shipped)
    print(f"\nmeasured: {provenance}")
    return StudyReport(summary, provenance)


def format_gradient(flow: list[dict]) -> str:
    """The gradient kept over the lag at initialisation (a mechanisms study's ``gradient_flow``):
    per model and initialisation, the median over seeds and the smallest and largest seed."""
    lag = flow[0]["lag"]
    header = f"{'model':<7}{'initialisation':<18}{'median':>10}{'smallest':>10}{'largest':>10}"
    lines = [
        f"||dL/dh_0|| / ||dL/dh_T-1|| at initialisation, adding problem T = {lag}, "
        f"{len({r['seed'] for r in flow})} seeds",
        header,
        "-" * len(header),
    ]
    for kind, init in dict.fromkeys((r["kind"], r["init"]) for r in flow):
        kept = sorted(r["kept"] or 0.0 for r in flow if (r["kind"], r["init"]) == (kind, init))
        lines.append(f"{kind.upper():<7}{init:<18}{statistics.median(kept):>10.2g}{kept[0]:>10.2g}{kept[-1]:>10.2g}")
    return "\n".join(lines)
