"""course_lstm.validation's scalar checks: one convention for every module that uses them.

TypeError for a wrong type (bool is not an int, an int is not a bool), ValueError for a wrong
value (0, negative, NaN, inf, an unknown choice); every message names the argument, what was
expected and what came.
"""

import math
import re

import numpy as np
import pytest

from course_lstm import validation


@pytest.mark.parametrize(
    ("check", "value", "error", "message"),
    [
        (validation.positive_int, 0, ValueError, "size must be a positive int, got 0"),
        (validation.positive_int, -3, ValueError, "size must be a positive int, got -3"),
        (validation.positive_int, 2.0, TypeError, "size must be a positive int, got float 2.0"),
        (validation.positive_int, True, TypeError, "size must be a positive int, got bool True"),
        (validation.positive_int, "4", TypeError, "size must be a positive int, got str '4'"),
        (validation.positive_int, np.int64(4), TypeError, "got int64"),
        (validation.non_negative_int, -1, ValueError, "size must be a non-negative int, got -1"),
        (validation.non_negative_int, False, TypeError, "got bool False"),
        (validation.boolean, 1, TypeError, r"size must be a bool \(True or False\), got int 1"),
        (validation.boolean, "False", TypeError, "got str 'False'"),
        (validation.boolean, None, TypeError, "got NoneType None"),
        (validation.finite_float, math.nan, ValueError, "size must be a finite number, got nan"),
        (validation.finite_float, -math.inf, ValueError, "size must be a finite number, got -inf"),
        (validation.finite_float, "0.1", TypeError, "size must be a finite number, got str '0.1'"),
        (validation.finite_float, True, TypeError, "got bool True"),
        pytest.param(
            validation.finite_float,
            10**400,
            ValueError,
            "size must be a finite number, got 1000",
            id="int-beyond-float",
        ),
    ],
)
def test_scalar_checks_refuse(check, value, error, message):
    with pytest.raises(error, match=message):
        check("size", value)


def test_scalar_checks_return_the_value():
    assert validation.positive_int("n", 3) == 3
    assert validation.non_negative_int("n", 0) == 0
    assert validation.boolean("flag", False) is False
    assert validation.finite_float("lr", 1) == 1.0 and isinstance(validation.finite_float("lr", 1), float)
    assert validation.finite_float("lr", np.float32(0.5)) == 0.5
    assert validation.integer("step", 11, 0, 11) == 11
    assert validation.one_of("nonlinearity", "relu", ("tanh", "relu")) == "relu"


def test_bounds_are_inclusive_and_named():
    with pytest.raises(ValueError, match="step must be an int from 0 to 11, got 12"):
        validation.integer("step", 12, 0, 11)
    with pytest.raises(ValueError, match="length must be an int of at least 11, got 5"):
        validation.integer("length", 5, 11)
    with pytest.raises(ValueError, match=r"p must be a number from 0 to 1, got 1.5"):
        validation.finite_float("p", 1.5, 0, 1)
    with pytest.raises(ValueError, match=r"p must be a number from 0 to 1, got nan"):
        validation.finite_float("p", math.nan, 0, 1)
    with pytest.raises(ValueError, match=r"lr must be a number of at least 0, got -1"):
        validation.finite_float("lr", -1, 0)


def test_expected_words_the_message():
    with pytest.raises(ValueError, match=r"dropout must be a probability in \[0, 1\], got 2"):
        validation.finite_float("dropout", 2, 0, 1, expected="a probability in [0, 1]")
    with pytest.raises(TypeError, match=r"step must be a whole number, got float 1.0"):
        validation.integer("step", 1.0, 0, expected="a whole number")


def test_one_of_words_two_choices_and_more():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'Tanh'"):
        validation.one_of("nonlinearity", "Tanh", ("tanh", "relu"))
    with pytest.raises(ValueError, match="kind must be one of 'a', 'b', 'c', got 'd'"):
        validation.one_of("kind", "d", ("a", "b", "c"))


def test_one_of_does_not_let_equal_values_of_another_type_through():
    # True == 1 and 1.0 == 1 in Python; a choice of ints is not answered by a bool or a float
    for value in (True, 1.0):
        with pytest.raises(TypeError, match=f"got {type(value).__name__} {value!r}"):
            validation.one_of("level", value, (0, 1, 2))
    with pytest.raises(TypeError, match="nonlinearity must be 'tanh' or 'relu', got int 1"):
        validation.one_of("nonlinearity", 1, ("tanh", "relu"))


def test_a_wrong_type_is_also_a_value_error():
    # the explorers raised ValueError for every bad value before there was one convention; a
    # wrong type is a TypeError now, and still a ValueError for code that catches that
    with pytest.raises(ValueError):
        validation.positive_int("n", "3")
    assert issubclass(validation.ArgumentTypeError, TypeError)


def test_check_like_names_both_tensors():
    import torch

    x = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"h has dtype torch.float32 but x has torch.float64"):
        validation.check_like("h", torch.zeros(2, 4), "x", x)
    with pytest.raises(ValueError, match="h is on device meta but x is on cpu"):
        validation.check_like("h", torch.zeros(2, 4, dtype=torch.float64, device="meta"), "x", x)
    with pytest.raises(TypeError, match=r"x must be a floating-point tensor, got dtype torch.int64"):
        validation.check_floating("x", torch.zeros(2, 3, dtype=torch.int64))


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, ValueError, "lr must be a finite positive number, got 0; try 1e-3"),
        (-1.5, ValueError, "lr must be a finite positive number, got -1.5; try 1e-3"),
        (float("nan"), ValueError, "lr must be a finite positive number, got nan; try 1e-3"),
        (float("inf"), ValueError, "lr must be a finite positive number, got inf; try 1e-3"),
        ("0.1", TypeError, "lr must be a finite positive number, got str '0.1'"),
        (True, TypeError, "lr must be a finite positive number, got bool True"),
    ],
)
def test_positive_float_refuses_what_is_not_a_finite_positive_number(value, error, message):
    with pytest.raises(error, match=re.escape(message)):
        validation.positive_float("lr", value, "; try 1e-3")


def test_positive_float_returns_a_float():
    assert validation.positive_float("lr", 3) == 3.0 and isinstance(validation.positive_float("lr", 3), float)
