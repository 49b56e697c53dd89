"""Named experiments, one per claim the course tests, each a sweep over task x model x lag x seed.

``run_experiment(name, profile)`` returns a result dict (rows, config, provenance) that
``results.save`` writes as JSON; ``success_table`` summarises rows over seeds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from tqdm.auto import tqdm

from course_lstm import diagnostics, results
from course_lstm.models import (
    Implementation,
    Kind,
    LengthsIgnored,
    SequenceModel,
    parameter_count,
    set_chrono_bias,
    set_recurrent_gain,
    width_for_budget,
)
from course_lstm.profiles import Profile, apply_threads, get_profile

# The tables live with the results they summarise; notebooks call them from here too.
from course_lstm.results import format_table, success_table
from course_lstm.tasks import Task, make_task
from course_lstm.training import evaluate, fit

LSTM_FORGET_BIAS = 1.0
"""Jozefowicz et al. 2015: forget bias 1 by default, so the cells start out remembering."""


@dataclass(frozen=True)
class RunSpec:
    """One training run: which model, on which task and lag, with which seed and options."""

    label: str  # how tables and plots name the model, e.g. "LSTM" or "RNN (equal budget)"
    kind: Kind
    task: str
    lag: int
    seed: int
    hidden_size: int
    clip: float | None = 1.0
    forget_bias: float | None = None
    chrono: bool = False
    without_gate: str | None = None
    implementation: Implementation | None = None  # None: the profile's
    measure_gradients: bool = False  # record ||dL/dh_t|| (and ||dL/dc_t||) before and after
    lr: float | None = None  # None: the profile's
    recurrent_init: str | None = None  # None: PyTorch's; "orthogonal" or "identity" W_hh (RNN, GRU)
    solved_fraction: float | None = None  # None: the task's (tasks.SOLVED_FRACTION of the baseline)
    test_size: int = 0  # > 0: after training, the loss and accuracy on that many fresh sequences
    config: str = ""  # the study's name for this run's tuning configuration
    min_length: int | None = None  # set: each sequence's length uniform in [min_length, lag], padded
    ignore_lengths: bool = False  # True: the model runs over the padding and reads output[:, -1]


RECURRENT_INITS = ("orthogonal", "identity")


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _task(spec: RunSpec) -> Task:
    return make_task(spec.task, spec.lag, **({} if spec.min_length is None else {"min_length": spec.min_length}))


def build_model(spec: RunSpec, task: Task) -> SequenceModel:
    """The model ``spec`` describes, initialised from its seed as every run of it is; its
    ``implementation`` must be set (``train_run`` sets it from the profile)."""
    if spec.implementation is None:
        raise ValueError("spec.implementation is None: set it, e.g. to the profile's (as train_run does)")
    torch.manual_seed(spec.seed)
    model_class = LengthsIgnored if spec.ignore_lengths else SequenceModel
    model = model_class(
        spec.kind,
        task.input_size,
        spec.hidden_size,
        task.output_size,
        readout=task.readout,
        implementation=spec.implementation,
        forget_bias=spec.forget_bias,
        without_gate=spec.without_gate,
    )
    if spec.chrono:
        set_chrono_bias(model.core, task.sequence_length, torch.Generator().manual_seed(spec.seed))
    _init_recurrent(model, spec)
    return model


def gradient_norms_at_init(spec: RunSpec, profile: Profile) -> dict:
    """``grad_h_init`` (and ``grad_c_init``) of the model ``spec`` describes, untrained, on the
    probe batch its run would use: no training step is taken."""
    spec = replace(spec, implementation=spec.implementation or profile.implementation)
    task = _task(spec)
    model = build_model(spec, task).to(profile.device)
    probe = task.batch(profile.batch_size, torch.Generator().manual_seed(spec.seed + 20_000), device=profile.device)
    return _gradient_norms(model, task, probe, "init")


def train_run(spec: RunSpec, profile: Profile) -> dict:
    """Train one model as ``spec`` says and return its row: outcome, curve and wall time."""
    spec = replace(spec, implementation=spec.implementation or profile.implementation)
    task = _task(spec)
    model = build_model(spec, task)
    model.to(profile.device)
    probe = task.batch(profile.batch_size, torch.Generator().manual_seed(spec.seed + 20_000), device=profile.device)
    gradients: dict[str, list[float]] = {}
    if spec.measure_gradients:
        gradients |= _gradient_norms(model, task, probe, "init")
    start = time.perf_counter()
    threshold = task.solved_threshold if spec.solved_fraction is None else spec.solved_fraction * task.baseline
    history = fit(
        model,
        task,
        profile.steps,
        batch_size=profile.batch_size,
        lr=spec.lr or profile.lr,
        clip=spec.clip,
        seed=spec.seed,
        eval_every=profile.eval_every,
        eval_batch_size=profile.eval_batch_size,
        on_nonfinite="stop",
        progress=False,
        solved_threshold=threshold,
    )
    test = _test(model, task, spec.test_size, spec.seed, threshold, profile.device) if spec.test_size else {}
    return {
        **asdict(spec),
        "parameters": parameter_count(model),
        "baseline": task.baseline,
        "solved_threshold": threshold,
        "solved": history.solved,
        "solved_at": history.solved_at,
        "status": history.status,
        "steps": history.steps,
        "final_loss": _finite_or_none(history.final_eval_loss),
        "final_accuracy": history.final_eval_accuracy,
        "max_grad_norm": _finite_or_none(max(history.grad_norm, default=math.nan)),
        "clipped_fraction": sum(history.clipped) / max(history.steps, 1),
        "eval_step": history.eval_step,
        "eval_loss": [_finite_or_none(v) for v in history.eval_loss],
        "seconds": round(time.perf_counter() - start, 2),
        **test,
        **gradients,
        **(_gradient_norms(model, task, probe, "trained") if spec.measure_gradients else {}),
    }


def _init_recurrent(model: SequenceModel, spec: RunSpec) -> None:
    """Replace PyTorch's W_hh by an orthogonal matrix or the identity (every gate block), the
    known fixes for a vanishing RNN gradient (Saxe et al. 2014; Le et al. 2015)."""
    if spec.recurrent_init is None:
        return
    if spec.recurrent_init not in RECURRENT_INITS:
        raise ValueError(f"recurrent_init must be one of {RECURRENT_INITS} or None, got {spec.recurrent_init!r}")
    if spec.recurrent_init == "orthogonal":
        set_recurrent_gain(model.core, 1.0, torch.Generator().manual_seed(spec.seed))
        return
    weight = model.core.get_parameter("weight_hh_l0")
    hidden = weight.shape[1]
    with torch.no_grad():
        weight.copy_(torch.eye(hidden, dtype=weight.dtype).repeat(weight.shape[0] // hidden, 1))


def _test(model: SequenceModel, task, size: int, seed: int, threshold: float, device: str) -> dict:
    """Loss, loss / baseline and accuracy on ``size`` fresh sequences, drawn from a seed no
    training or validation batch uses; "test_solved": that loss is below ``threshold``."""
    batch = task.batch(size, torch.Generator().manual_seed(seed + 30_000), device=device)
    with torch.no_grad():
        loss, accuracy = evaluate(model, task, batch)
    return {
        "test_loss": _finite_or_none(loss),
        "test_relative_loss": _finite_or_none(loss / task.baseline),
        "test_accuracy": accuracy,
        "test_solved": bool(math.isfinite(loss) and loss < threshold),
    }


def _gradient_norms(model, task, batch, when: str) -> dict:
    """``grad_h_<when>`` (and ``grad_c_<when>``): mean ||dL/dh_t|| for t = 0..T-1, as lists."""
    flow = diagnostics.gradient_through_time(model, task, batch)
    norms = {f"grad_h_{when}": flow.h.tolist()}
    if flow.c is not None:
        norms[f"grad_c_{when}"] = flow.c.tolist()
    return norms


# --- the experiments: each returns the runs of its grid --------------------------------------


def _seeds(profile: Profile) -> range:
    return range(profile.seeds)


def gradient_flow(profile: Profile) -> list[RunSpec]:
    """Claim 2: how much gradient reaches each step, RNN against LSTM, on the adding problem at
    the probe lag, at initialisation and after training (rows hold the norms per step)."""
    models: tuple[tuple[str, Kind], ...] = (("RNN", "rnn"), ("LSTM", "lstm"))
    return [
        RunSpec(
            label,
            kind,
            "adding",
            profile.probe_lag,
            seed,
            profile.hidden_size,
            forget_bias=LSTM_FORGET_BIAS if kind == "lstm" else None,
            measure_gradients=True,
        )
        for label, kind in models
        for seed in _seeds(profile)
    ]


def _over_lags(profile: Profile, models: tuple[tuple[str, Kind], ...]) -> list[RunSpec]:
    """Each (label, kind) of ``models`` at the same width on the adding problem at each of the
    profile's lags and the copy task at each copy lag, every seed; LSTMs with forget bias 1."""
    grid = [("adding", lag) for lag in profile.lags] + [("copy", lag) for lag in profile.copy_lags]
    return [
        RunSpec(
            label, kind, task, lag, seed, profile.hidden_size, forget_bias=LSTM_FORGET_BIAS if kind == "lstm" else None
        )
        for task, lag in grid
        for label, kind in models
        for seed in _seeds(profile)
    ]


def lag_sweep(profile: Profile) -> list[RunSpec]:
    """Claim 1: success against lag T, tanh RNN (clipped) against LSTM (forget bias 1), on the
    adding problem and the copy task."""
    return _over_lags(profile, (("RNN", "rnn"), ("LSTM", "lstm")))


def equal_budget(profile: Profile) -> list[RunSpec]:
    """Claim 4: LSTM against an RNN of the same width (a quarter of the parameters) and against
    an RNN widened to the LSTM's parameter count, on the adding problem at each lag."""
    task = make_task("adding", profile.probe_lag)
    lstm_total = SequenceModel("lstm", task.input_size, profile.hidden_size, task.output_size)
    wide = width_for_budget("rnn", task.input_size, task.output_size, parameter_count(lstm_total))
    models: tuple[tuple[str, Kind, int], ...] = (
        ("LSTM", "lstm", profile.hidden_size),
        ("RNN (equal width)", "rnn", profile.hidden_size),
        ("RNN (equal budget)", "rnn", wide),
    )
    return [
        RunSpec(label, kind, "adding", lag, seed, hidden, forget_bias=LSTM_FORGET_BIAS if kind == "lstm" else None)
        for lag in profile.lags
        for label, kind, hidden in models
        for seed in _seeds(profile)
    ]


def gate_ablation(profile: Profile) -> list[RunSpec]:
    """Claim 5: the LSTM with each gate removed (fixed to 1, Greff et al. 2017), on the adding
    problem and the temporal order problem at the probe lag. On the profile's core: the torch
    core removes a gate by pinning it (``models.pin_gate``), equal to ``AblatedLSTM``."""
    variants = [("LSTM", None)] + [(f"no {gate} gate", gate) for gate in ("forget", "input", "output")]
    return [
        RunSpec(
            label,
            "lstm",
            task,
            profile.probe_lag,
            seed,
            profile.hidden_size,
            forget_bias=LSTM_FORGET_BIAS,
            without_gate=gate,
        )
        for task in ("adding", "temporal_order")
        for label, gate in variants
        for seed in _seeds(profile)
    ]


def forget_bias(profile: Profile) -> list[RunSpec]:
    """Claim 5: forget-gate bias 0 (gate near 0.5), 1, 3, and chrono initialisation, on the copy
    task, a pure-memory task, at each copy lag."""
    variants = [("bias 0", 0.0, False), ("bias 1", 1.0, False), ("bias 3", 3.0, False), ("chrono", None, True)]
    return [
        RunSpec(f"LSTM, {label}", "lstm", "copy", lag, seed, profile.hidden_size, forget_bias=bias, chrono=chrono)
        for lag in profile.copy_lags
        for label, bias, chrono in variants
        for seed in _seeds(profile)
    ]


def clipping(profile: Profile) -> list[RunSpec]:
    """Claim 2: the tanh RNN with and without gradient clipping on the adding problem; the
    rows record the largest gradient norm and whether training diverged."""
    return [
        RunSpec(label, "rnn", "adding", lag, seed, profile.hidden_size, clip=clip)
        for lag in profile.lags
        for label, clip in (("RNN, clipped at 1", 1.0), ("RNN, no clipping", None))
        for seed in _seeds(profile)
    ]


def gru_comparison(profile: Profile) -> list[RunSpec]:
    """The GRU (Cho et al. 2014) against the LSTM at the same width on the lag sweep's tasks:
    the adding problem at each lag and the copy task at each copy lag."""
    return _over_lags(profile, (("GRU", "gru"), ("LSTM", "lstm")))


EXPERIMENTS: dict[str, Callable[[Profile], list[RunSpec]]] = {
    "gradient_flow": gradient_flow,
    "lag_sweep": lag_sweep,
    "equal_budget": equal_budget,
    "gate_ablation": gate_ablation,
    "forget_bias": forget_bias,
    "clipping": clipping,
    "gru_comparison": gru_comparison,
}


def run_experiment(
    name: str,
    profile: str | Profile | None = None,
    progress: bool = True,
    command: str | None = None,
    **overrides: Any,
) -> dict:
    """Run every training run of experiment ``name`` in ``profile`` and return the result dict.

    ``overrides`` replace profile fields for this run only (e.g. ``steps=200``); they are
    recorded in the result's config. Sets torch's CPU threads to the profile's.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {', '.join(EXPERIMENTS)}")
    chosen = profile if isinstance(profile, Profile) else get_profile(profile)
    chosen = replace(chosen, **overrides) if overrides else chosen
    specs = EXPERIMENTS[name](chosen)
    apply_threads(chosen)
    commit, started, start = results.git_commit(), results.now(), time.perf_counter()
    rows = []
    bar = tqdm(specs, desc=name, disable=not progress)
    for spec in bar:
        bar.set_postfix_str(f"{spec.label}, {spec.task} T={spec.lag}, seed {spec.seed}")
        rows.append(train_run(spec, chosen))
    bar.close()
    return {
        "schema": results.SCHEMA_VERSION,
        "experiment": name,
        "config": chosen.to_dict(),
        "rows": rows,
        "provenance": results.provenance(
            chosen.name,
            chosen.device,
            time.perf_counter() - start,
            command or f"run_experiment({name!r}, {chosen.name!r})",
            commit,
            started,
        ),
    }


def report_shipped(name: str, profile: str = "gpu") -> dict | None:
    """Print the shipped result of experiment ``name`` in ``profile`` (its success table and
    where it came from) and return it; or say that none ships, and which command makes it."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {', '.join(EXPERIMENTS)}")
    shipped = results.shipped(name, profile)
    if shipped is None:
        print(
            f"{name}: no {profile}-profile result ships with this version of the course; produce it "
            f"with `python -m course_lstm experiment {name} --profile {profile} --out course_lstm/results`."
        )
        return None
    print(format_table(success_table(shipped["rows"])))
    print(f"measured in the {results.provenance_line(shipped)}")
    return shipped
