"""fit/evaluate: determinism, the NaN guard, clipping records, early stop when solved, bad options."""

import math

import pytest
import torch

from course_lstm.models import SequenceModel, set_recurrent_gain
from course_lstm.tasks import AddingProblem, CopyMemory
from course_lstm.training import TrainingDiverged, evaluate, fit


def small_model(seed=0, kind="lstm", task=None):
    task = task or AddingProblem(8)
    torch.manual_seed(seed)
    return SequenceModel(kind, task.input_size, 8, task.output_size, readout=task.readout, implementation="torch")


def quick_fit(model, task=None, **options):
    settings = {"batch_size": 16, "eval_every": 10, "eval_batch_size": 64, "progress": False}
    return fit(model, task or AddingProblem(8), **{"steps": 20, **settings, **options})


def test_seeded_runs_reproduce_exactly():
    first = quick_fit(small_model(seed=3), seed=5)
    second = quick_fit(small_model(seed=3), seed=5)
    assert first.loss == second.loss and first.eval_loss == second.eval_loss
    third = quick_fit(small_model(seed=3), seed=6)  # other data, same initial weights
    assert third.loss != first.loss


def test_history_records_every_step_and_evaluation():
    history = quick_fit(small_model(), steps=25, clip=None)
    assert history.steps == 25 == len(history.grad_norm) == len(history.clipped)
    assert history.eval_step == [10, 20, 25]
    assert not any(history.clipped)
    assert history.status == "finished" and all(math.isfinite(v) for v in history.loss)


def test_clipping_is_recorded_and_measured_before_clipping():
    history = quick_fit(small_model(), clip=1e-3)
    assert all(history.clipped)
    assert min(history.grad_norm) > 1e-3  # the norm before clipping, not after


def test_training_reduces_the_loss():
    task = AddingProblem(5)
    model = small_model(task=task)
    before, _ = evaluate(model, task, task.batch(256, torch.Generator().manual_seed(1)))
    history = quick_fit(model, task, steps=300, lr=1e-2, stop_when_solved=False)
    assert history.final_eval_loss < before / 2


def test_stops_early_when_solved():
    task = AddingProblem(5)
    history = quick_fit(small_model(task=task), task, steps=2000, lr=1e-2, eval_every=25)
    assert history.status == "solved" and history.solved
    assert history.steps == history.solved_at < 2000
    assert history.final_eval_loss < task.solved_threshold


def test_nan_guard_raises_with_the_step():
    model = small_model()
    with torch.no_grad():
        model.head.weight.fill_(math.nan)
    with pytest.raises(TrainingDiverged, match=r"training stopped at step 1: the loss is nan"):
        quick_fit(model)


def test_nan_guard_can_stop_instead_and_parameters_stay_clean():
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.head.bias.fill_(math.inf)
    history = quick_fit(model, on_nonfinite="stop")
    assert history.status == "diverged" and "step 1" in history.message
    assert history.steps == 0
    # no optimizer step was taken on the garbage gradients
    assert torch.equal(model.core.weight_hh_l0, before["core.weight_hh_l0"])


def test_every_step_task_and_variable_lengths():
    copy = CopyMemory(3, copy_length=2)
    history = quick_fit(small_model(task=copy), copy)
    assert history.status == "finished" and history.final_eval_accuracy is not None
    varied = AddingProblem(12, min_length=4)
    assert quick_fit(small_model(task=varied), varied).status == "finished"


def test_readable_and_torch_cores_train_identically():
    """The readable LSTM is state_dict-equal to nn.LSTM, so training follows the same path."""
    task = AddingProblem(6)
    torch.manual_seed(0)
    readable = SequenceModel("lstm", 2, 4, 1, implementation="readable").double()
    fast = SequenceModel("lstm", 2, 4, 1, implementation="torch").double()
    fast.load_state_dict(readable.state_dict())
    a = quick_fit(readable, task, steps=10)
    b = quick_fit(fast, task, steps=10)
    assert a.loss == pytest.approx(b.loss, rel=1e-9)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"steps": 0}, "steps must be a positive int, got 0"),
        ({"lr": -1.0}, "lr must be a finite positive number, got -1.0"),
        ({"clip": 0}, "clip must be a finite positive number, got 0"),
        ({"optimizer": "adamw"}, "optimizer must be one of"),
        ({"on_nonfinite": "ignore"}, "on_nonfinite must be 'raise' or 'stop'"),
    ],
)
def test_bad_options(option, message):
    with pytest.raises(ValueError, match=message):
        quick_fit(small_model(), **option)


def test_recurrent_gain_sets_every_singular_value_of_every_gate_block():
    for kind, blocks in (("rnn", 1), ("lstm", 4)):
        core = SequenceModel(kind, 2, 6, 1).double().core
        set_recurrent_gain(core, 1.7, torch.Generator().manual_seed(0))
        for block in core.weight_hh_l0.detach().chunk(blocks):
            torch.testing.assert_close(torch.linalg.svdvals(block), torch.full((6,), 1.7, dtype=torch.float64))


@pytest.mark.parametrize(
    ("option", "error", "message"),
    [
        ({"lr": math.nan}, ValueError, "lr must be a finite positive number, got nan"),
        ({"lr": math.nan, "optimizer": "sgd"}, ValueError, "lr must be a finite positive number, got nan"),
        ({"lr": math.inf}, ValueError, "lr must be a finite positive number, got inf"),
        ({"lr": -math.inf}, ValueError, "lr must be a finite positive number, got -inf"),
        ({"lr": "1e-3"}, TypeError, "lr must be a finite positive number, got str '1e-3'"),
        (
            {"clip": math.nan},
            ValueError,
            "clip must be a finite positive number, got nan; clip=None trains without clipping",
        ),
        ({"clip": math.inf}, ValueError, r"clip must be a finite positive number, got inf; clip=None"),
        ({"clip": -1.0}, ValueError, "clip must be a finite positive number, got -1.0"),
        ({"steps": 2.5}, TypeError, "steps must be a positive int, got float 2.5"),
        ({"steps": True}, TypeError, "steps must be a positive int, got bool True"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
        ({"eval_every": -5}, ValueError, "eval_every must be a positive int, got -5"),
        ({"eval_batch_size": 0}, ValueError, "eval_batch_size must be a positive int, got 0"),
        ({"seed": 1.5}, TypeError, "seed must be an int, got float 1.5"),
        ({"solved_threshold": math.nan}, ValueError, "solved_threshold must be a finite positive number, got nan"),
    ],
)
def test_bad_numbers_are_refused_before_any_step(option, error, message):
    model = small_model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with pytest.raises(error, match=message):
        quick_fit(model, **option)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), f"{name} was trained before the refusal"


def test_whole_numbers_of_other_integer_types_are_accepted():
    import numpy as np

    history = quick_fit(small_model(), steps=np.int64(3), eval_every=np.int64(3), lr=np.float32(1e-3))
    assert history.steps == 3 and history.status == "finished"
