"""The exercise checkers: the reference passes, each known mistake gets its own hint, stubs and
crashes get a friendly message and never a traceback."""

import pytest
import torch

from course_lstm.checks import EXERCISES, Verdict, check


@pytest.mark.parametrize("name", EXERCISES)
def test_reference_passes(name):
    verdict = check(name, EXERCISES[name].reference)
    assert verdict and verdict.message.startswith("Correct:")


@pytest.mark.parametrize(("name", "hint"), [(name, hint) for name, ex in EXERCISES.items() for hint in ex.mistakes])
def test_each_mistake_gets_its_own_hint(name, hint):
    verdict = check(name, EXERCISES[name].mistakes[hint])
    assert not verdict
    assert verdict.message == f"Not yet: {hint}."


@pytest.mark.parametrize("name", EXERCISES)
def test_stub_is_not_written_yet(name):
    def stub(*args):
        raise NotImplementedError

    verdict = check(name, stub)
    assert not verdict and verdict.message.startswith("Not written yet")


def test_a_crash_is_reported_not_raised():
    def broken(x, h, W_ih, W_hh, b):
        return x @ W_ih + h @ W_hh.T  # x (N, I) @ W_ih (H, I): wrong orientation

    verdict = check("rnn_step", broken)
    assert not verdict
    assert "raised RuntimeError" in verdict.message and "Inputs: a tensor of shape (4, 3)" in verdict.message
    assert "of your code" in verdict.message


def test_wrong_shape_is_named():
    verdict = check("unroll_rnn", lambda xs, h0, *w: torch.zeros(xs.shape[1], 6))
    assert verdict.message.startswith("Not yet: on test case 1 expected shape (5, 4, 6), got (4, 6)")


def test_wrong_values_without_a_known_mistake():
    verdict = check("cec_step", lambda x, c, W, b: c)
    assert "the values are off" in verdict.message


def test_wrong_type_is_named():
    verdict = check("lstm_step", lambda *args: args[1])
    assert "expected a tuple of 2, got a tensor of shape (4, 5)" in verdict.message


def test_float_count_is_not_an_int():
    verdict = check("lstm_parameter_count", lambda i, h, n: float(EXERCISES["lstm_parameter_count"].reference(i, h, n)))
    assert not verdict and "expected an int, got float 16.0" in verdict.message


def test_unknown_exercise_and_non_function():
    assert "no exercise called 'nope'" in check("nope", print).message
    assert "needs your function, got int 3" in check("rnn_step", 3).message


def test_verdict_displays_its_message():
    verdict = Verdict(True, "Correct: yes")
    assert repr(verdict) == "Correct: yes" and bool(verdict)


def test_a_float_answer_is_compared_with_a_tolerance():
    from course_lstm.diagnostics import decay_rate

    assert check("decay_per_step", lambda norms: decay_rate(norms) * (1 + 1e-9))
    assert check("decay_per_step", lambda norms: torch.tensor(decay_rate(norms)))
    verdict = check("decay_per_step", lambda norms: decay_rate(norms) * 1.01)
    assert not verdict and "0.79" not in verdict.message and "your answer 0.80" in verdict.message
    assert "too large" in verdict.message
    assert not check("decay_per_step", lambda norms: True)
