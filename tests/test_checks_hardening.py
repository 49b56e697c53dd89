"""The checkers cannot be fooled or hung: in-place mutation, endless loops, other devices, odd
results, exit() and Ctrl-C, wrong names, floods of prints, and answers given away (issue 14)."""

import dataclasses
import inspect
import os
import re
import signal
import sys
import threading

import pytest
import torch
import torch.nn.functional as F

from course_lstm.checks import EXERCISES, check


def run_check(*args, **kwargs):
    """check(...), failing the test (instead of stopping the run) if anything escapes it."""
    try:
        return check(*args, **kwargs)
    except BaseException as error:  # the point: nothing escapes check
        pytest.fail(f"check raised {type(error).__name__}: {error}")


def assert_friendly(verdict):
    assert not verdict
    assert "Traceback" not in verdict.message


# --- 1: the reference is computed before the learner runs, on clones ------------------------


def test_rnn_step_that_zeroes_h_is_caught():
    def rnn_step(x, h, W_ih, W_hh, b):
        h.zero_()  # drops the recurrent term, and would fool a reference computed afterwards
        return torch.tanh(F.linear(x, W_ih, b) + h @ W_hh.T)

    verdict = run_check("rnn_step", rnn_step)
    assert_friendly(verdict)
    assert "changed its input h in place" in verdict.message
    assert "must not modify its inputs" in verdict.message


def test_lstm_step_that_zeroes_W_hh_is_caught():
    def lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
        W_hh.zero_()
        return EXERCISES["lstm_step"].reference(x, h, c, W_ih, W_hh, b_ih, b_hh)

    verdict = run_check("lstm_step", lstm_step)
    assert_friendly(verdict)
    assert "changed its input W_hh in place" in verdict.message


def test_correct_cec_step_with_plus_equals_is_told_about_the_mutation():
    def cec_step(x, c, W, b):
        c += torch.tanh(F.linear(x, W, b))
        return c

    verdict = run_check("cec_step", cec_step)
    assert_friendly(verdict)
    assert "changed its input c in place" in verdict.message
    assert "values are off" not in verdict.message


def test_last_step_outputs_that_decrements_lengths_is_caught():
    def last_step_outputs(output, lengths):
        lengths -= 1
        return output[torch.arange(len(lengths)), lengths]

    verdict = run_check("last_step_outputs", last_step_outputs)
    assert_friendly(verdict)
    assert "changed its input lengths in place" in verdict.message


def test_a_list_argument_changed_in_place_is_named():
    reference = EXERCISES["clip_grad_norm"].reference

    def clip_grad_norm(grads, max_norm):
        clipped = reference(grads, max_norm)
        for g, new in zip(grads, clipped, strict=True):
            g.copy_(new)
        return grads

    verdict = run_check("clip_grad_norm", clip_grad_norm)
    assert_friendly(verdict)
    assert "changed its input grads in place" in verdict.message


def test_known_mistakes_are_computed_on_untouched_inputs():
    """A mutation is reported; the mistakes and the reference never see the learner's changes."""

    def rnn_step(x, h, W_ih, W_hh, b):
        result = torch.tanh(F.linear(x, W_ih, b))  # the "recurrent term is missing" mistake
        x.mul_(0)
        return result

    verdict = run_check("rnn_step", rnn_step)
    assert "changed its input x in place" in verdict.message


# --- 2: a function that never returns -------------------------------------------------------


def test_a_function_that_never_returns_is_stopped_waiting_for():
    release = threading.Event()
    try:
        verdict = run_check("rnn_step", lambda *args: release.wait(), time_limit=0.2)
    finally:
        release.set()  # lets the abandoned thread finish
    assert_friendly(verdict)
    assert "did not return within 0.2 seconds" in verdict.message
    assert "test case 1" in verdict.message


def test_the_default_time_limit_is_generous():
    default = inspect.signature(check).parameters["time_limit"].default
    assert 10 <= default <= 30


def test_a_slow_but_finishing_function_passes():
    import time

    reference = EXERCISES["rnn_step"].reference

    def slow(*args):
        time.sleep(0.01)
        return reference(*args)

    assert run_check("rnn_step", slow, time_limit=5)


def test_the_learner_runs_with_the_callers_grad_mode():
    reference = EXERCISES["rnn_step"].reference
    modes = []

    def records(*args):
        modes.append(torch.is_grad_enabled())
        return reference(*args)

    with torch.no_grad():
        assert run_check("rnn_step", records)
    assert run_check("rnn_step", records)
    assert modes == [False] * 3 + [True] * 3


# --- 3: a result on another device ----------------------------------------------------------


def to_meta(value):
    if isinstance(value, torch.Tensor):
        return value.to("meta")
    if isinstance(value, (tuple, list)):
        return type(value)(to_meta(v) for v in value)
    if isinstance(value, float):
        return torch.tensor(value, device="meta")
    return value


@pytest.mark.parametrize(
    "name", [name for name, ex in EXERCISES.items() if name not in ("lstm_parameter_count", "rnn_width_for_budget")]
)
def test_a_result_on_another_device_gets_a_message(name):
    reference = EXERCISES[name].reference
    verdict = run_check(name, lambda *args: to_meta(reference(*args)))
    assert_friendly(verdict)
    assert "meta" in verdict.message and "cpu" in verdict.message
    assert "Hint:" not in verdict.message  # the advice is about values, not devices


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_correct_result_on_the_gpu_passes():
    reference = EXERCISES["lstm_step"].reference
    assert run_check("lstm_step", lambda *args: tuple(t.cuda() for t in reference(*args)))


# --- 4: the comparison is inside the safety net ---------------------------------------------


class BrokenTuple(tuple):
    def __len__(self):
        raise RuntimeError("len is broken")


class Unprintable:
    def __repr__(self):
        raise RuntimeError("repr is broken")


class HostileTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError("no operation allowed")


@pytest.mark.parametrize(
    ("name", "result"),
    [
        ("lstm_step", lambda *args: BrokenTuple()),
        ("lstm_parameter_count", lambda *args: Unprintable()),
        ("rnn_step", lambda x, *args: torch.zeros(4, 5).as_subclass(HostileTensor)),
    ],
)
def test_a_comparison_that_fails_is_a_message(name, result):
    verdict = run_check(name, result)
    assert_friendly(verdict)
    assert "test case 1" in verdict.message


def test_an_error_inside_the_checker_is_a_message(monkeypatch):
    def broken_reference(*args):
        raise RuntimeError("a bug in the course")

    correct = EXERCISES["rnn_step"].reference
    monkeypatch.setitem(EXERCISES, "rnn_step", dataclasses.replace(EXERCISES["rnn_step"], reference=broken_reference))
    verdict = run_check("rnn_step", correct)
    assert_friendly(verdict)
    assert "the checker itself" in verdict.message and "a bug in the course" in verdict.message


def test_an_error_whose_message_cannot_be_printed_is_a_message():
    class Mute(Exception):
        def __str__(self):
            raise RuntimeError("no str")

    def raises(*args):
        raise Mute

    verdict = run_check("rnn_step", raises)
    assert_friendly(verdict)
    assert "raised Mute" in verdict.message


# --- 5: exit() and Ctrl-C -------------------------------------------------------------------


def test_system_exit_from_the_learner_is_reported():
    def exits(*args):
        sys.exit(3)

    verdict = run_check("rnn_step", exits)
    assert_friendly(verdict)
    assert "SystemExit" in verdict.message and "exit" in verdict.message


def test_keyboard_interrupt_from_the_learner_is_reported():
    def interrupted(*args):
        raise KeyboardInterrupt

    verdict = run_check("rnn_step", interrupted)
    assert_friendly(verdict)
    assert verdict.message.startswith("Interrupted")


@pytest.mark.skipif(
    os.name != "posix" or threading.current_thread() is not threading.main_thread(),
    reason="needs POSIX signals, handled in the main thread",
)
def test_ctrl_c_while_waiting_is_reported():
    """The kernel's stop button sends SIGINT to the main thread, which is waiting for the learner."""
    release = threading.Event()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def waits(*args):
        os.kill(os.getpid(), signal.SIGINT)
        release.wait(5)

    try:
        verdict = run_check("rnn_step", waits, time_limit=5)
    finally:
        release.set()
        signal.signal(signal.SIGINT, previous)
    assert_friendly(verdict)
    assert verdict.message.startswith("Interrupted")


# --- 6: a name that is not a string ---------------------------------------------------------


def test_a_list_as_the_name_is_a_message():
    verdict = run_check(["rnn_step"], lambda *args: None)
    assert_friendly(verdict)
    assert "exercise's name as a string" in verdict.message and "a list of 1" in verdict.message
    assert all(name in verdict.message for name in EXERCISES)


def test_swapped_arguments_are_a_message():
    verdict = run_check(EXERCISES["rnn_step"].reference, "rnn_step")
    assert_friendly(verdict)
    assert 'check("rnn_step", your_function)' in verdict.message


# --- 7: what the learner prints -------------------------------------------------------------


def test_printed_lines_are_captured_and_capped(capsys):
    reference = EXERCISES["rnn_step"].reference

    def chatty(*args):
        for k in range(20_000 // 3 + 1):
            print("line", k)
        return reference(*args)

    verdict = run_check("rnn_step", chatty)
    assert verdict, verdict.message
    shown = capsys.readouterr().out.splitlines()
    assert len(shown) <= 25
    assert shown[0] == "line 0"
    assert "more lines" in shown[-1] and "20" in shown[-1]


def test_a_few_printed_lines_are_all_shown(capsys):
    reference = EXERCISES["cec_step"].reference

    def debugging(x, c, W, b):
        print("shape", tuple(x.shape), end="")
        print()
        return reference(x, c, W, b)

    assert run_check("cec_step", debugging)
    assert capsys.readouterr().out.splitlines() == ["shape (4, 3)", "shape (2, 1)", "shape (3, 6)"]


# --- 8: hints point at the mistake without giving the answer --------------------------------


def numeric_exercises():
    for name, exercise in EXERCISES.items():
        args = exercise.cases(torch.Generator().manual_seed(0))[0]
        value = exercise.reference(*args)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield name, value


@pytest.mark.parametrize(("name", "expected"), list(numeric_exercises()))
@pytest.mark.parametrize("direction", [1, -1])
def test_a_wrong_number_is_not_given_away(name, expected, direction):
    reference = EXERCISES[name].reference
    if isinstance(expected, int):
        wrong = lambda *args: reference(*args) + direction * 1000  # noqa: E731
        shown = str(expected)
    else:
        wrong = lambda *args: reference(*args) * (1 + direction * 0.3)  # noqa: E731
        shown = f"{expected:.2g}"
    verdict = run_check(name, wrong)
    assert not verdict
    said = re.sub(r"test case \d+|Inputs: .*", "", verdict.message)
    assert not re.search(rf"(?<![\d.]){re.escape(shown)}(?![\d])", said), verdict.message
    assert ("too large" if direction > 0 else "too small") in verdict.message
    assert "Hint:" in verdict.message


def test_the_count_hint_asks_about_the_biases():
    verdict = run_check("lstm_parameter_count", lambda i, h, n: 1)
    assert "too small" in verdict.message and "bias" in verdict.message


def test_a_float_count_does_not_show_the_expected_value():
    reference = EXERCISES["lstm_parameter_count"].reference
    verdict = run_check("lstm_parameter_count", lambda i, h, n: float(reference(i, h, n)) + 1)
    assert "expected an int, got float 17.0" in verdict.message and "16" not in verdict.message
