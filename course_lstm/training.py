"""Train and evaluate a sequence model on a task: progress bar, clipping, a NaN guard, history.

``fit`` draws a fresh seeded batch every step, so one seed gives one exact run on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lstm import validation
from course_lstm.tasks import Batch, Task

OPTIMIZERS = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}


class TrainingDiverged(FloatingPointError):
    """The loss or the gradient norm became inf or NaN; ``step`` says when."""

    def __init__(self, step: int, what: str, value: float) -> None:
        self.step, self.what, self.value = step, what, value
        super().__init__(
            f"training stopped at step {step}: the {what} is {value} (not finite). "
            "Lower the learning rate, or clip gradients (clip=1.0), and train again."
        )


@dataclass
class History:
    """What happened in one ``fit``: one entry per step, one per evaluation, and the outcome.

    ``grad_norm`` is the norm before clipping; ``clipped`` says whether clipping scaled it down.
    ``status`` is "solved" (stopped early), "finished" (ran every step) or "diverged".
    """

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    clipped: list[bool] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    eval_accuracy: list[float | None] = field(default_factory=list)
    status: Literal["running", "solved", "finished", "diverged"] = "running"
    message: str = ""
    solved_at: int | None = None

    @property
    def steps(self) -> int:
        return len(self.loss)

    @property
    def solved(self) -> bool:
        return self.solved_at is not None

    @property
    def final_eval_loss(self) -> float:
        return self.eval_loss[-1] if self.eval_loss else math.nan

    @property
    def final_eval_accuracy(self) -> float | None:
        return self.eval_accuracy[-1] if self.eval_accuracy else None


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def predict(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The model's output for a batch, passing the true lengths of a variable-length batch."""
    return model(batch.x) if batch.lengths is None else model(batch.x, batch.lengths)


def draw(task: Task, batch_size: int, generator: torch.Generator, model: nn.Module) -> Batch:
    """A batch drawn on the CPU (the same data on every device) and moved to the model."""
    parameter = next(model.parameters())
    return task.batch(batch_size, generator, device=parameter.device, dtype=parameter.dtype)


@torch.no_grad()
def evaluate(model: nn.Module, task: Task, batch: Batch) -> tuple[float, float | None]:
    """(loss, accuracy) of ``model`` on ``batch``, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        prediction = predict(model, batch)
        return task.loss_fn(prediction, batch).item(), task.accuracy(prediction, batch)
    finally:
        model.train(was_training)


def fit(
    model: nn.Module,
    task: Task,
    steps: int,
    *,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    clip: float | None = 1.0,
    seed: int = 0,
    eval_every: int = 50,
    eval_batch_size: int = 512,
    stop_when_solved: bool = True,
    solved_threshold: float | None = None,
    on_nonfinite: Literal["raise", "stop"] = "raise",
    progress: bool = True,
    description: str | None = None,
) -> History:
    """Train ``model`` on fresh batches of ``task`` for up to ``steps`` steps.

    clip: clip the gradient norm to this value (None: no clipping). Every ``eval_every`` steps
    (and after the last) the model is evaluated on one fixed held-out batch; when that loss is
    below ``solved_threshold`` (default ``task.solved_threshold``) the task is solved, and
    training stops if ``stop_when_solved``. A non-finite loss or gradient norm raises ``TrainingDiverged``
    (``on_nonfinite="raise"``) or ends the run with status "diverged" (``"stop"``), before the
    optimizer step, so the parameters never hold garbage.

    Every number is checked before the first step: whole numbers (``steps``, ``batch_size``,
    ``eval_every``, ``eval_batch_size`` > 0; ``seed``), and finite numbers > 0 (``lr``, ``clip``
    unless None, the threshold). A wrong type raises TypeError, a wrong value (0, NaN, inf)
    ValueError, both naming the argument and the value.
    """
    for name, count in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("eval_every", eval_every),
        ("eval_batch_size", eval_batch_size),
    ):
        validation.positive_int(name, count, integral=True)  # numpy's ints too: counts from arrays
    validation.integer("seed", seed, integral=True)
    validation.positive_float("lr", lr)
    if clip is not None:
        validation.positive_float("clip", clip, "; clip=None trains without clipping")
    threshold = task.solved_threshold if solved_threshold is None else solved_threshold
    validation.positive_float("solved_threshold", threshold)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
    if on_nonfinite not in ("raise", "stop"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'stop', got {on_nonfinite!r}")

    train_data = torch.Generator().manual_seed(seed)
    held_out = draw(task, eval_batch_size, torch.Generator().manual_seed(seed + 10_000), model)
    optim = OPTIMIZERS[optimizer](model.parameters(), lr=lr)
    parameters = [p for p in model.parameters() if p.requires_grad]
    history = History()
    model.train()
    bar = tqdm(range(1, steps + 1), desc=description or task.name, disable=not progress, leave=False)
    for step in bar:
        batch = draw(task, batch_size, train_data, model)
        loss = task.loss_fn(predict(model, batch), batch)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        # max_norm=inf measures the norm without changing the gradients
        norm = nn.utils.clip_grad_norm_(parameters, clip if clip is not None else math.inf).item()
        loss_value = loss.item()
        for what, value in (("loss", loss_value), ("gradient norm", norm)):
            if not math.isfinite(value):
                error = TrainingDiverged(step, what, value)
                if on_nonfinite == "raise":
                    bar.close()
                    raise error
                history.status, history.message = "diverged", str(error)
                bar.close()
                return history
        optim.step()
        history.loss.append(loss_value)
        history.grad_norm.append(norm)
        history.clipped.append(clip is not None and norm > clip)

        if step % eval_every == 0 or step == steps:
            eval_loss, accuracy = evaluate(model, task, held_out)
            history.eval_step.append(step)
            history.eval_loss.append(eval_loss)
            history.eval_accuracy.append(accuracy)
            bar.set_postfix(loss=f"{eval_loss:.4f}", baseline=f"{task.baseline:.4f}")
            if eval_loss < threshold and history.solved_at is None:
                history.solved_at = step
                if stop_when_solved:
                    history.status = "solved"
                    history.message = f"solved at step {step}: held-out loss {eval_loss:.4g}"
                    break
    bar.close()
    if history.status == "running":
        history.status = "finished"
        history.message = f"ran {steps} steps; held-out loss {history.final_eval_loss:.4g}"
    return history
