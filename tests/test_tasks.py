"""Tests for course_lstm.tasks: each task's structure is re-derived from x, each baseline formula is
checked against a Monte-Carlo estimate on generated data, and bad arguments fail with a message."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lstm.tasks import (
    IGNORE_INDEX,
    TASKS,
    AddingProblem,
    Batch,
    CopyMemory,
    Task,
    TemporalOrder,
    make_task,
)

FAST = settings(max_examples=25, deadline=None)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def true_lengths(task: Task, batch: Batch) -> list[int]:
    if batch.lengths is None:
        return [task.sequence_length] * batch.x.shape[0]
    return batch.lengths.tolist()


def check_padding(task: Task, batch: Batch) -> None:
    """Every step after a sequence's length is exactly zero in x and ignored in an every-step y."""
    for n, length in enumerate(true_lengths(task, batch)):
        assert torch.equal(batch.x[n, length:], torch.zeros_like(batch.x[n, length:]))
        if task.readout == "every_step":
            assert (batch.y[n, length:] == IGNORE_INDEX).all()


def tokens_of(batch: Batch) -> torch.Tensor:
    """The symbol index at each step of a one-hot x (N, T, C): (N, T)."""
    return batch.x.argmax(dim=-1)


# --- structure -----------------------------------------------------------------------------------


def check_adding(task: AddingProblem, batch: Batch) -> None:
    n_seq, full = batch.x.shape[0], task.length
    assert batch.x.shape == (n_seq, full, 2) and batch.y.shape == (n_seq, 1)
    assert batch.y.dtype == batch.x.dtype
    check_padding(task, batch)
    for n, length in enumerate(true_lengths(task, batch)):
        values, marker = batch.x[n, :length, 0], batch.x[n, :length, 1]
        assert ((values >= 0) & (values < 1)).all()
        marked = (marker == 1).nonzero().flatten().tolist()
        assert len(marked) == 2 and ((marker == 0) | (marker == 1)).all()
        first, second = marked
        assert 0 <= first < length // 2 <= second < length
        expected = values[first].item() + values[second].item()
        assert batch.y[n, 0].item() == pytest.approx(expected, abs=1e-6)


def check_copy(task: CopyMemory, batch: Batch) -> None:
    n_seq, full, k = batch.x.shape[0], task.sequence_length, task.copy_length
    assert full == task.lag + 2 * k
    assert batch.x.shape == (n_seq, full, task.n_symbols + 2)
    assert batch.y.shape == (n_seq, full) and batch.y.dtype == torch.int64
    check_padding(task, batch)
    tokens = tokens_of(batch)
    for n, length in enumerate(true_lengths(task, batch)):
        assert (batch.x[n, :length].sum(dim=-1) == 1).all()  # one-hot on every real step
        seq, target = tokens[n, :length], batch.y[n, :length]
        data = seq[:k]
        assert ((data >= 1) & (data <= task.n_symbols)).all()
        delimiter = length - k - 1  # the blank stretch shrinks with the length, the rest does not
        assert (seq[k:delimiter] == 0).all()
        assert seq[delimiter] == task.n_symbols + 1
        assert (seq[delimiter + 1 :] == 0).all()
        assert (target[: length - k] == 0).all()
        assert torch.equal(target[length - k :], data)


def check_temporal_order(task: TemporalOrder, batch: Batch) -> None:
    n_seq, full = batch.x.shape[0], task.length
    assert batch.x.shape == (n_seq, full, 8)
    assert batch.y.shape == (n_seq,) and batch.y.dtype == torch.int64
    check_padding(task, batch)
    _a, _b, _c, d, X, Y, B, E = range(8)
    tokens = tokens_of(batch)
    for n, length in enumerate(true_lengths(task, batch)):
        assert (batch.x[n, :length].sum(dim=-1) == 1).all()
        seq = tokens[n, :length]
        assert seq[0] == B and seq[-1] == E
        middle = seq[1:-1]
        relevant = ((middle == X) | (middle == Y)).nonzero().flatten() + 1
        assert len(relevant) == 2
        t1, t2 = relevant.tolist()
        assert 0.1 * length <= t1 <= 0.2 * length
        assert 0.5 * length <= t2 <= 0.6 * length
        others = torch.ones(length - 2, dtype=torch.bool)
        others[[t1 - 1, t2 - 1]] = False
        assert (middle[others] <= d).all()
        expected = {(X, X): 0, (X, Y): 1, (Y, X): 2, (Y, Y): 3}[(int(seq[t1]), int(seq[t2]))]
        assert batch.y[n].item() == expected


CHECKS = {"adding": check_adding, "copy": check_copy, "temporal_order": check_temporal_order}


@FAST
@given(
    name=st.sampled_from(sorted(TASKS)),
    length=st.integers(1, 40),
    variable=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_structure_of_every_task(name: str, length: int, variable: bool, seed: int) -> None:
    if name == "copy":
        task = CopyMemory(length, n_symbols=5, copy_length=3)
        shortest = 2 * 3 + 1
    else:
        shortest = {"adding": 2, "temporal_order": 10}[name]
        task = TASKS[name](max(length, shortest))
    if variable:
        task = dataclasses.replace(task, min_length=shortest)
    batch = task.batch(16, gen(seed))
    assert batch.x.dtype == torch.float32
    if variable:
        assert batch.lengths.dtype == torch.int64 and batch.lengths.device.type == "cpu"
        assert ((batch.lengths >= shortest) & (batch.lengths <= task.sequence_length)).all()
    else:
        assert batch.lengths is None
    CHECKS[name](task, batch)


def test_marker_positions_cover_each_half_uniformly() -> None:
    batch = AddingProblem(10).batch(4000, gen(0))
    first, second = batch.x[..., 1].nonzero()[:, 1].view(-1, 2).T
    for positions, allowed in ((first, range(0, 5)), (second, range(5, 10))):
        counts = torch.bincount(positions, minlength=10)[list(allowed)]
        assert (counts.float() / len(positions) - 1 / 5).abs().max() < 0.03


def test_temporal_order_positions_cover_their_ranges() -> None:
    task = TemporalOrder(100)
    tokens = tokens_of(task.batch(2000, gen(1)))
    relevant = ((tokens == 4) | (tokens == 5)).nonzero()[:, 1].view(-1, 2)
    assert set(relevant[:, 0].tolist()) == set(range(10, 21))
    assert set(relevant[:, 1].tolist()) == set(range(50, 61))


def test_variable_lengths_span_the_whole_range() -> None:
    task = AddingProblem(20, min_length=12)
    batch = task.batch(2000, gen(2))
    assert set(batch.lengths.tolist()) == set(range(12, 21))
    check_adding(task, batch)


def test_dtype_and_device_arguments() -> None:
    task = AddingProblem(12)
    default = task.batch(8, gen(3))
    explicit = task.batch(8, gen(3), device="cpu")
    assert torch.equal(default.x, explicit.x) and default.x.device.type == "cpu"
    double = task.batch(8, gen(3), dtype=torch.float64)
    assert double.x.dtype == double.y.dtype == torch.float64
    check_adding(task, double)


# --- baselines against Monte-Carlo estimates ------------------------------------------------------


@pytest.mark.parametrize("min_length", [None, 2])
def test_adding_baseline_is_mse_of_predicting_the_mean(min_length: int | None) -> None:
    task = AddingProblem(8, min_length=min_length)
    batch = task.batch(200_000, gen(4), dtype=torch.float64)
    assert batch.y.mean().item() == pytest.approx(1.0, abs=0.005)  # 1 is the best constant
    mse_of_one = task.loss_fn(torch.ones_like(batch.y), batch).item()
    assert mse_of_one == pytest.approx(task.baseline, abs=0.005)
    assert task.baseline == pytest.approx(1 / 6)


def memoryless_copy_logits(task: CopyMemory, batch: Batch) -> torch.Tensor:
    """Blank up to and including the delimiter, then uniform over the data symbols: (N, T, C)."""
    delimiter_step = batch.x[..., task.delimiter].argmax(dim=1, keepdim=True)  # (N, 1)
    after = torch.arange(task.sequence_length).unsqueeze(0) > delimiter_step  # (N, T)
    probabilities = torch.zeros(*after.shape, task.output_size, dtype=torch.float64)
    probabilities[..., task.blank] = (~after).double()
    probabilities[..., 1 : task.n_symbols + 1] = after.double().unsqueeze(-1) / task.n_symbols
    return probabilities.log()


def test_copy_baseline_is_loss_of_the_memoryless_predictor() -> None:
    task = CopyMemory(30, n_symbols=6, copy_length=5)
    batch = task.batch(64, gen(5))
    loss = task.loss_fn(memoryless_copy_logits(task, batch), batch).item()
    assert loss == pytest.approx(task.baseline, rel=1e-9)
    assert task.baseline == pytest.approx(5 * math.log(6) / 40)


def test_copy_baseline_for_variable_lengths_is_its_expectation() -> None:
    task = CopyMemory(50, n_symbols=8, copy_length=10, min_length=21)
    batch = task.batch(20_000, gen(6))
    loss = task.loss_fn(memoryless_copy_logits(task, batch), batch).item()
    assert loss == pytest.approx(task.baseline, rel=0.01)
    assert task.baseline != pytest.approx(dataclasses.replace(task, min_length=None).baseline)


def test_temporal_order_classes_are_equally_likely() -> None:
    task = TemporalOrder(10, min_length=10)
    batch = task.batch(40_000, gen(7))
    frequencies = torch.bincount(batch.y, minlength=4).double() / len(batch.y)
    assert (frequencies - 0.25).abs().max() < 0.01
    # The best memoryless predictor outputs the class frequencies; its loss is their entropy.
    best_constant = frequencies.log().expand(len(batch.y), 4)
    assert task.loss_fn(best_constant, batch).item() == pytest.approx(task.baseline, abs=1e-3)


def test_solved_threshold_is_below_the_baseline() -> None:
    for task in (AddingProblem(10), CopyMemory(10), TemporalOrder(10)):
        assert 0 < task.solved_threshold < task.baseline


# --- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize("task", [AddingProblem(30, min_length=5), CopyMemory(20, min_length=25), TemporalOrder(40)])
def test_same_seed_same_batch_different_seed_different(task: Task) -> None:
    first, again, other = task.batch(8, gen(11)), task.batch(8, gen(11)), task.batch(8, gen(12))
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)
    if first.lengths is not None:
        assert torch.equal(first.lengths, again.lengths)
    assert not torch.equal(first.x, other.x)


# --- loss and accuracy ---------------------------------------------------------------------------


def test_copy_loss_ignores_padding_and_averages_over_real_steps() -> None:
    task = CopyMemory(12, n_symbols=4, copy_length=3, min_length=7)
    batch = task.batch(32, gen(13))
    assert (batch.lengths < task.sequence_length).any()
    logits = torch.randn(32, task.sequence_length, task.output_size, generator=gen(14))
    padded = torch.arange(task.sequence_length).unsqueeze(0) >= batch.lengths.unsqueeze(1)
    changed = logits.clone()
    changed[padded] = 1e3 * torch.randn(int(padded.sum()), task.output_size, generator=gen(15))
    assert task.loss_fn(changed, batch).item() == pytest.approx(task.loss_fn(logits, batch).item())
    per_step = [
        F.cross_entropy(logits[n, :length], batch.y[n, :length], reduction="sum")
        for n, length in enumerate(batch.lengths.tolist())
    ]
    expected = torch.stack(per_step).sum() / batch.lengths.sum()
    assert task.loss_fn(logits, batch).item() == pytest.approx(expected.item(), rel=1e-5)


def test_fixed_length_every_step_loss_is_mean_over_all_steps() -> None:
    task = CopyMemory(6, n_symbols=3, copy_length=2)
    batch = task.batch(5, gen(16))
    logits = torch.randn(5, task.sequence_length, task.output_size, generator=gen(17))
    expected = F.cross_entropy(logits.transpose(1, 2), batch.y)
    assert task.loss_fn(logits, batch).item() == pytest.approx(expected.item())


def test_adding_accuracy_uses_the_004_tolerance() -> None:
    task = AddingProblem(10)
    batch = task.batch(100, gen(18))
    assert task.accuracy(batch.y + 0.03, batch) == 1.0
    assert task.accuracy(batch.y - 0.05, batch) == 0.0
    half_right = batch.y.clone()
    half_right[:50] += 0.5
    assert task.accuracy(half_right, batch) == 0.5


def test_copy_accuracy_counts_only_the_recalled_symbols() -> None:
    task = CopyMemory(10, n_symbols=4, copy_length=3, min_length=8)
    batch = task.batch(16, gen(19))
    perfect = F.one_hot(batch.y.clamp(min=0), task.output_size).float()
    assert task.accuracy(perfect, batch) == 1.0
    always_blank = F.one_hot(torch.zeros_like(batch.y), task.output_size).float()
    assert task.accuracy(always_blank, batch) == 0.0


def test_temporal_order_accuracy_and_loss_of_a_perfect_guess() -> None:
    task = TemporalOrder(20)
    batch = task.batch(16, gen(20))
    confident = 50 * F.one_hot(batch.y, 4).float()
    assert task.accuracy(confident, batch) == 1.0
    assert task.loss_fn(confident, batch).item() < 1e-6


# --- registry ------------------------------------------------------------------------------------


def test_registry_and_make_task() -> None:
    assert {name: cls.name for name, cls in TASKS.items()} == {name: name for name in TASKS}
    assert make_task("adding", 50) == AddingProblem(50)
    assert make_task("copy", 30, n_symbols=4, min_length=40) == CopyMemory(30, n_symbols=4, min_length=40)
    assert make_task("temporal_order", 100).sequence_length == 100
    with pytest.raises(ValueError, match=r"unknown task 'addition'.*'adding', 'copy', 'temporal"):
        make_task("addition", 10)


def test_tasks_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        AddingProblem(10).length = 20  # type: ignore[misc]


# --- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: AddingProblem(1), ValueError, r"length must be at least 2 .*got 1"),
        (lambda: AddingProblem(10.0), TypeError, r"length must be an int, got float 10.0"),
        (lambda: AddingProblem(True), TypeError, r"length must be an int, got bool"),
        (lambda: TemporalOrder(9), ValueError, r"length must be at least 10 .*got 9"),
        (lambda: CopyMemory(0), ValueError, r"lag must be at least 1 .*got 0"),
        (lambda: CopyMemory("5"), TypeError, r"lag must be an int, got str '5'"),
        (lambda: CopyMemory(5, n_symbols=1), ValueError, r"n_symbols must be at least 2 .*got 1"),
        (lambda: CopyMemory(5, copy_length=0), ValueError, r"copy_length must be at least 1 .*0"),
        (
            lambda: AddingProblem(10, min_length=11),
            ValueError,
            r"min_length must be between 2 .* full length 10, got 11",
        ),
        (
            lambda: AddingProblem(10, min_length=1),
            ValueError,
            r"min_length must be between 2 .* full length 10, got 1",
        ),
        (
            lambda: TemporalOrder(50, min_length=9),
            ValueError,
            r"min_length must be between 10 .* full length 50, got 9",
        ),
        (
            lambda: CopyMemory(5, copy_length=10, min_length=20),
            ValueError,
            r"min_length must be between 21 .* full length 25, got 20",
        ),
        (
            lambda: CopyMemory(5, copy_length=10, min_length=26),
            ValueError,
            r"min_length must be between 21 .* full length 25, got 26",
        ),
        (lambda: TemporalOrder(50, min_length=20.5), TypeError, r"min_length must be an int or"),
    ],
)
def test_bad_task_arguments(make, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, r"batch_size must be at least 1 .*got 0"),
        ({"batch_size": 2.0}, TypeError, r"batch_size must be an int, got float"),
        ({"generator": 0}, TypeError, r"generator must be a torch.Generator.*got int"),
        ({"dtype": torch.int64}, TypeError, r"dtype must be a floating-point .*got torch.int64"),
    ],
)
def test_bad_batch_arguments(kwargs: dict, error: type[Exception], message: str) -> None:
    arguments = {"batch_size": 4, "generator": gen(0)} | kwargs
    with pytest.raises(error, match=message):
        AddingProblem(10).batch(**arguments)


def test_bad_predictions() -> None:
    task = CopyMemory(5, n_symbols=3, copy_length=2)
    batch = task.batch(4, gen(0))
    with pytest.raises(ValueError, match=r"prediction must have shape \(4, 9, 5\).*got \(4, 5\)"):
        task.loss_fn(torch.zeros(4, 5), batch)
    with pytest.raises(TypeError, match="prediction must be floating point"):
        task.accuracy(torch.zeros(4, 9, 5, dtype=torch.int64), batch)
    with pytest.raises(ValueError, match=r"prediction must have shape \(4, 1\).*got \(4\)"):
        adding = AddingProblem(10)
        adding.loss_fn(torch.zeros(4), adding.batch(4, gen(0)))
