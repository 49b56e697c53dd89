"""Synthetic long-range tasks (adding problem, copy memory, temporal order), seeded and batch-first.

Each task knows its memoryless baseline loss, so a curve can say how much of the gap memory closed.
Shapes: N batch, T the task's full (padded) sequence length, C classes per step.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lstm import validation

IGNORE_INDEX = -100
"""Target of padded steps: ``F.cross_entropy``'s default ``ignore_index``, so losses skip them."""

SOLVED_FRACTION = 0.1
"""A task counts as solved when the loss is below this fraction of the memoryless baseline."""

ADDING_TOLERANCE = 0.04
"""An adding-problem answer within this of the target is correct (Hochreiter & Schmidhuber 1997)."""


@dataclass(frozen=True)
class Batch:
    """One batch of a task: inputs ``x`` (N, T, input_size), targets ``y`` and true ``lengths``.

    ``y`` is (N, 1) float for the adding problem, (N,) int64 class indices for temporal order and
    (N, T) int64 class indices for copy memory. ``lengths`` is (N,) int64 on the CPU (what
    ``pack_padded_sequence`` wants) for a variable-length task, None when all have T steps.
    """

    x: Tensor
    y: Tensor
    lengths: Tensor | None


def _check_int(owner: str, name: str, value: object, minimum: int, why: str) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``, else raise; ``why`` says
    why the minimum, in the message."""
    label = f"{owner} {name}"
    validation.integer(label, value)  # TypeError: "... must be an int, got str '5'"
    return validation.integer(label, value, minimum, expected=f"at least {minimum} ({why})")


def _check_min_length(owner: str, min_length: object, minimum: int, full_length: int) -> None:
    """Raise unless ``min_length`` is None or an int in [minimum, full_length]."""
    if min_length is None:
        return
    label = f"{owner} min_length"
    validation.integer(label, min_length, expected="an int or None")
    validation.integer(
        label,
        min_length,
        minimum,
        full_length,
        expected=f"between {minimum} (the shortest sequence the task can hold) and the full length {full_length}",
    )


def _uniform_int(low: Tensor, high: Tensor, generator: torch.Generator) -> Tensor:
    """One integer uniform in [low[n], high[n]) for each n; low, high: (N,) int64 -> (N,) int64.

    ``torch.randint`` takes one scalar range; scaling a uniform draw gives each row its own.
    The draw is float64 so that ``u * span`` stays below ``span`` for any length we meet.
    """
    u = torch.rand(low.shape, generator=generator, device=low.device, dtype=torch.float64)
    offset = (u * (high - low)).long()
    return low + torch.minimum(offset, high - low - 1)


def _steps(lengths: Tensor, full_length: int) -> tuple[Tensor, Tensor]:
    """Time indices (1, T) and the mask of real (not padded) steps (N, T) for ``lengths`` (N,)."""
    t = torch.arange(full_length, device=lengths.device).unsqueeze(0)
    return t, t < lengths.unsqueeze(1)


class Task(abc.ABC):
    """A synthetic task: makes seeded batches and knows its loss, accuracy and baseline.

    Subclasses are frozen dataclasses with the task's length (``length`` or ``lag``) and an
    optional ``min_length``: when set, each sequence's length is uniform in
    [min_length, sequence_length] and the batch is zero-padded to ``sequence_length``.
    """

    name: ClassVar[str]
    loss: ClassVar[Literal["mse", "cross_entropy"]]
    readout: ClassVar[Literal["last", "every_step"]]
    min_length: int | None

    @property
    @abc.abstractmethod
    def input_size(self) -> int:
        """Features per step of x: a class attribute, or a property of the task's settings."""

    @property
    @abc.abstractmethod
    def output_size(self) -> int:
        """Outputs the model reads out: 1 for the adding problem, else the number of classes."""

    @property
    @abc.abstractmethod
    def sequence_length(self) -> int:
        """T, the full length of a sequence: every batch is (padded to) T steps."""

    @property
    @abc.abstractmethod
    def baseline(self) -> float:
        """The expected loss of the best memoryless predictor, from the task's definition."""

    @abc.abstractmethod
    def accuracy(self, prediction: Tensor, batch: Batch) -> float | None:
        """Fraction of answers that are right on the steps that matter (None: no such notion)."""

    @abc.abstractmethod
    def _generate(self, lengths: Tensor, generator: torch.Generator, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """Make (x, y) for sequences of ``lengths`` (N,), on the generator's device."""

    @property
    def mean_length(self) -> float:
        """The expected sequence length: T, or (min_length + T) / 2 for variable lengths."""
        if self.min_length is None:
            return float(self.sequence_length)
        return (self.min_length + self.sequence_length) / 2

    @property
    def solved_threshold(self) -> float:
        """Loss below which the task counts as solved: ``SOLVED_FRACTION`` of the baseline.

        A tenth of the baseline means the model removed 90% of the loss that no memoryless
        predictor can remove; the same rule for every task keeps a sweep over tasks comparable.
        """
        return SOLVED_FRACTION * self.baseline

    def batch(
        self,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Batch:
        """Draw ``batch_size`` sequences with ``generator``: x (N, T, input_size) of ``dtype``.

        Everything is drawn on the generator's device, so one seed gives the same batch wherever
        it is used; ``device`` (default: the generator's) is where the batch is then put.
        """
        _check_int(type(self).__name__, "batch_size", batch_size, 1, "at least one sequence")
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                "generator must be a torch.Generator, e.g. torch.Generator().manual_seed(0), got "
                f"{type(generator).__name__}"
            )
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
        full_length = self.sequence_length
        if self.min_length is None:
            lengths = torch.full((batch_size,), full_length, device=generator.device)
        else:
            lengths = torch.randint(
                self.min_length,
                full_length + 1,
                (batch_size,),
                generator=generator,
                device=generator.device,
            )
        x, y = self._generate(lengths, generator, dtype)
        target = generator.device if device is None else torch.device(device)
        return Batch(x.to(target), y.to(target), None if self.min_length is None else lengths.cpu())

    def loss_fn(self, prediction: Tensor, batch: Batch) -> Tensor:
        """The task's loss, a scalar: MSE, or cross-entropy averaged over every real step.

        prediction: (N, output_size) for readout "last" (the output at each sequence's last real
        step), (N, T, output_size) logits for "every_step"; padded steps are ignored.
        """
        target = self._check_prediction(prediction, batch)
        if self.loss == "mse":
            return F.mse_loss(prediction, target.to(prediction.dtype))
        return F.cross_entropy(
            prediction.reshape(-1, self.output_size),
            target.reshape(-1),
            ignore_index=IGNORE_INDEX,
        )

    def _check_prediction(self, prediction: Tensor, batch: Batch) -> Tensor:
        """Validate ``prediction`` against ``batch``; return the targets on its device."""
        validation.check_tensor("prediction", prediction)
        if not prediction.is_floating_point():
            raise TypeError(f"prediction must be floating point (scores or logits), got dtype {prediction.dtype}")
        n = batch.y.shape[0]
        expected: tuple[int, ...]
        if self.readout == "last":
            expected, layout = (n, self.output_size), "(batch, output_size)"
        else:
            expected = (n, self.sequence_length, self.output_size)
            layout = "(batch, seq_len, output_size)"
        validation.check_shape("prediction", prediction, expected, layout)
        return batch.y.to(prediction.device)


@dataclass(frozen=True)
class AddingProblem(Task):
    """Add the two marked numbers (Arjovsky et al. 2016; Hochreiter & Schmidhuber 1997).

    x (N, T, 2): channel 0 uniform in [0, 1], channel 1 a marker that is 1 at exactly two steps,
    one uniform in the first half of the sequence (its own length), one in the second half.
    y (N, 1): the sum of the two marked values. Readout "last", MSE loss.
    """

    length: int
    min_length: int | None = None

    name = "adding"
    loss = "mse"
    readout = "last"
    input_size = 2
    output_size = 1

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_int(owner, "length", self.length, 2, "one marker in each half")
        _check_min_length(owner, self.min_length, 2, self.length)

    @property
    def sequence_length(self) -> int:
        return self.length

    @property
    def baseline(self) -> float:
        """MSE of the best constant guess, the mean 1: Var(U1 + U2) = 2 Var(U) = 2/12 = 1/6.

        It does not depend on the length, so it holds for variable lengths too.
        """
        low, high = 0.0, 1.0
        variance_of_one_value = (high - low) ** 2 / 12  # the variance of Uniform(low, high)
        return 2 * variance_of_one_value  # the two marked values are independent

    def accuracy(self, prediction: Tensor, batch: Batch) -> float:
        """Fraction of sequences with |prediction - y| < 0.04."""
        target = self._check_prediction(prediction, batch)
        error = (prediction.detach() - target).abs()
        return (error < ADDING_TOLERANCE).float().mean().item()

    def _generate(self, lengths: Tensor, generator: torch.Generator, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        n, full_length = lengths.shape[0], self.length
        half = lengths // 2
        first = _uniform_int(torch.zeros_like(half), half, generator)
        second = _uniform_int(half, lengths, generator)
        values = torch.rand(n, full_length, generator=generator, device=lengths.device, dtype=dtype)
        _, real = _steps(lengths, full_length)
        values = torch.where(real, values, 0)
        marked = torch.stack([first, second], dim=1)  # (N, 2)
        marker = torch.zeros_like(values).scatter_(1, marked, 1)
        y = values.gather(1, marked).sum(dim=1, keepdim=True)
        return torch.stack([values, marker], dim=-1), y


@dataclass(frozen=True)
class CopyMemory(Task):
    """Recall ``copy_length`` symbols after ``lag`` steps (Arjovsky et al. 2016).

    Categories: 0 blank, 1..n_symbols data, n_symbols + 1 the delimiter. A sequence of length
    L = lag + 2 copy_length holds the data symbols, lag - 1 blanks, the delimiter and copy_length
    blanks; the target is blank except on the last copy_length steps, which hold the data.
    x (N, T, n_symbols + 2) one-hot; y (N, T) int64. With ``min_length`` a shorter sequence has
    fewer blanks before the delimiter; padded steps are zero in x and ``IGNORE_INDEX`` in y.
    """

    lag: int
    n_symbols: int = 8
    copy_length: int = 10
    min_length: int | None = None

    name = "copy"
    loss = "cross_entropy"
    readout = "every_step"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_int(owner, "lag", self.lag, 1, "the delimiter comes lag steps after the data")
        _check_int(owner, "n_symbols", self.n_symbols, 2, "one symbol leaves nothing to remember")
        _check_int(owner, "copy_length", self.copy_length, 1, "at least one symbol to copy")
        _check_min_length(owner, self.min_length, 2 * self.copy_length + 1, self.sequence_length)

    @property
    def sequence_length(self) -> int:
        return self.lag + 2 * self.copy_length

    @property
    def input_size(self) -> int:
        return self.n_symbols + 2

    @property
    def output_size(self) -> int:
        return self.n_symbols + 2

    @property
    def blank(self) -> int:
        return 0

    @property
    def delimiter(self) -> int:
        return self.n_symbols + 1

    @property
    def baseline(self) -> float:
        """Cross-entropy per step of: blank until the delimiter, then uniform over the symbols.

        copy_length steps cost ln(n_symbols) each, the others nothing: copy_length ln(n) / L.
        The loss averages over every real step of a batch, so for variable lengths L is the mean
        length (min_length + T) / 2, the large-batch limit of the loss's denominator.
        """
        return self.copy_length * math.log(self.n_symbols) / self.mean_length

    def accuracy(self, prediction: Tensor, batch: Batch) -> float:
        """Fraction of recalled symbols (the last copy_length real steps) predicted right."""
        target = self._check_prediction(prediction, batch)
        recall = target > self.blank  # data symbols; blanks and padding (-100) are not recall
        correct = prediction.detach().argmax(dim=-1) == target
        return correct[recall].float().mean().item()

    def _generate(self, lengths: Tensor, generator: torch.Generator, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        n, full_length, k = lengths.shape[0], self.sequence_length, self.copy_length
        device = lengths.device
        data = torch.randint(1, self.n_symbols + 1, (n, k), generator=generator, device=device)
        _, real = _steps(lengths, full_length)
        tokens = torch.full((n, full_length), self.blank, device=device)
        tokens[:, :k] = data
        tokens.scatter_(1, (lengths - k - 1).unsqueeze(1), self.delimiter)
        x = F.one_hot(tokens, self.input_size).to(dtype) * real.unsqueeze(-1)

        recall_steps = (lengths - k).unsqueeze(1) + torch.arange(k, device=device)  # (N, k)
        y = torch.full((n, full_length), self.blank, device=device)
        y.scatter_(1, recall_steps, data)
        y = torch.where(real, y, IGNORE_INDEX)
        return x, y


@dataclass(frozen=True)
class TemporalOrder(Task):
    """Classify the order of two relevant symbols among distractors (Hochreiter & Schmidhuber
    1997, experiment 6a).

    Symbols a, b, c, d (distractors), X, Y (relevant), B (first step), E (last step), one-hot in
    that order: x (N, T, 8). The relevant symbols sit at t1 in [0.1 L, 0.2 L] and t2 in
    [0.5 L, 0.6 L] of the sequence's own length L; y (N,) int64 is 0 XX, 1 XY, 2 YX, 3 YY.
    Readout "last", cross-entropy.
    """

    length: int
    min_length: int | None = None

    name = "temporal_order"
    loss = "cross_entropy"
    readout = "last"
    SYMBOLS: ClassVar[str] = "abcdXYBE"
    CLASSES: ClassVar[tuple[str, ...]] = ("XX", "XY", "YX", "YY")
    input_size = 8
    output_size = 4

    def __post_init__(self) -> None:
        owner = type(self).__name__
        why = "so that [0.1 T, 0.2 T] and [0.5 T, 0.6 T] each hold a step after B"
        _check_int(owner, "length", self.length, 10, why)
        _check_min_length(owner, self.min_length, 10, self.length)

    @property
    def sequence_length(self) -> int:
        return self.length

    @property
    def baseline(self) -> float:
        """Cross-entropy of the best memoryless guess, uniform over the 4 equally likely classes:
        ln 4, whatever the length."""
        return math.log(len(self.CLASSES))

    def accuracy(self, prediction: Tensor, batch: Batch) -> float:
        """Fraction of sequences whose class has the highest score."""
        target = self._check_prediction(prediction, batch)
        return (prediction.detach().argmax(dim=-1) == target).float().mean().item()

    def _generate(self, lengths: Tensor, generator: torch.Generator, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        n, full_length = lengths.shape[0], self.length
        device = lengths.device
        symbol = {s: i for i, s in enumerate(self.SYMBOLS)}
        tokens = torch.randint(
            0, 4, (n, full_length), generator=generator, device=device
        )  # distractors a..d everywhere, then the structure is written over them
        # Integer bounds of [0.1 L, 0.2 L] and [0.5 L, 0.6 L]: ceil(L / 10) .. floor(L / 5) etc.;
        # each interval is at least one step wide because L / 10 >= 1.
        t1 = _uniform_int(-(-lengths // 10), lengths // 5 + 1, generator)
        t2 = _uniform_int(-(-lengths // 2), 3 * lengths // 5 + 1, generator)
        is_y = torch.randint(0, 2, (n, 2), generator=generator, device=device)
        tokens[:, 0] = symbol["B"]
        tokens.scatter_(1, (lengths - 1).unsqueeze(1), symbol["E"])
        tokens.scatter_(1, torch.stack([t1, t2], dim=1), symbol["X"] + is_y)
        _, real = _steps(lengths, full_length)
        x = F.one_hot(tokens, self.input_size).to(dtype) * real.unsqueeze(-1)
        y = 2 * is_y[:, 0] + is_y[:, 1]
        return x, y


TASKS: dict[str, type[Task]] = {
    "adding": AddingProblem,
    "copy": CopyMemory,
    "temporal_order": TemporalOrder,
}
"""The tasks by name, as experiments and the command line refer to them."""


def make_task(name: str, length: int, **kwargs: object) -> Task:
    """The task called ``name`` at ``length``: the sequence length, or the lag for "copy".

    ``kwargs`` go to the task's constructor, e.g. ``min_length=50`` or ``n_symbols=4``.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(map(repr, TASKS))}")
    # Each task's dataclass constructor has its own fields, all taking the length (or lag) first;
    # Task itself declares no constructor, so the class is called as the callable it is.
    task_class: Callable[..., Task] = TASKS[name]
    return task_class(length, **kwargs)
