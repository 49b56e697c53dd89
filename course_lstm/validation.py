"""Input checks with messages a learner can act on.

Every public module calls these before any arithmetic, so a wrong shape, dtype or length is
reported as "expected X, got Y" instead of a matmul error from deep inside PyTorch.

One convention: a wrong type raises TypeError (a bool is not an int, an int or a str is not a
bool), a wrong value ValueError (0 or a negative size, NaN, inf, an unknown choice). Every
message reads "<name> must be <what was expected>, got <what came>". The scalar checks return
the value, so a constructor can write ``self.hidden_size = validation.positive_int(...)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TypeVar

import torch

T = TypeVar("T")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a TypeError, as torch.nn raises for ``bias=1``.

    It is also a ValueError, because before this convention the explorers (and torch.nn for
    ``dropout``) raised ValueError for a value of the wrong type; code that catches ValueError
    keeps working.
    """


class ShapeError(ValueError, RuntimeError):
    """A tensor of the wrong shape or size: a ValueError, and also the RuntimeError that torch.nn
    raises for most of these (``input has inconsistent input_size``), so that code written
    against torch.nn catches ours too."""


def _type_error(name: str, expected: str, value: object) -> ArgumentTypeError:
    return ArgumentTypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")


def _bounds(kind: str, low: float | None, high: float | None) -> str:
    """'an int from 0 to 11', 'a number of at least 0.01', ...: the expected range in words."""

    def text(bound: float) -> str:
        return f"{bound:g}" if isinstance(bound, float) else str(bound)

    if low is not None and high is not None:
        return f"{kind} from {text(low)} to {text(high)}"
    if low is not None:
        return f"{kind} of at least {text(low)}"
    if high is not None:
        return f"{kind} of at most {text(high)}"
    return kind


def integer(
    name: str,
    value: object,
    low: int | None = None,
    high: int | None = None,
    *,
    expected: str | None = None,
    integral: bool = False,
) -> int:
    """``value`` if it is an int in [low, high] (either bound optional), else raise.

    TypeError for anything but an int (a bool, a float such as 2.0, a numpy integer: torch.nn's
    sizes accept only int); ValueError outside the bounds. ``expected`` replaces the words for
    what was expected, e.g. "a whole number from 0 to 11". ``integral=True`` also accepts other
    integer types (numpy's, for a count from an array) and returns them as an int.
    """
    if expected is None and high is None and low in (0, 1):
        expected = "a positive int" if low == 1 else "a non-negative int"
    elif expected is None:
        expected = _bounds("an int", low, high)
    accepted = numbers.Integral if integral else int
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise _type_error(name, expected, value)
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{name} must be {expected}, got {number}")
    return number


def positive_int(name: str, value: object, *, integral: bool = False) -> int:
    """``value`` if it is an int >= 1 (a size, a count of layers), else raise; ``integral`` as in
    ``integer``."""
    return integer(name, value, 1, integral=integral)


def non_negative_int(name: str, value: object) -> int:
    """``value`` if it is an int >= 0 (an index, a count that may be 0), else raise."""
    return integer(name, value, 0)


def finite_float(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    expected: str | None = None,
) -> float:
    """``value`` as a float if it is a finite real number in [low, high], else raise.

    Ints and floats (numpy's too) are accepted, bools are not (TypeError); NaN, inf and values
    outside the bounds are a ValueError. ``expected`` replaces the words for what was expected.
    """
    if expected is None:
        expected = _bounds("a number", low, high) if (low, high) != (None, None) else "a finite number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _type_error(name, expected, value)
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = -math.inf if value < 0 else math.inf
    if not math.isfinite(number) or (low is not None and number < low) or (high is not None and number > high):
        shown = value if type(value) in (int, float) else number  # not numpy's repr
        raise ValueError(f"{name} must be {expected}, got {shown!r}")
    return number


def positive_float(name: str, value: object, hint: str = "") -> float:
    """``value`` as a float if it is a finite real number > 0 (a learning rate, a threshold), else
    raise: TypeError for a wrong type, ValueError for NaN, inf, 0 or below. ``hint`` is appended
    to the ValueError's message (e.g. what to pass instead)."""
    expected = "a finite positive number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _type_error(name, expected, value)
    number = finite_float(name, value, expected=expected) if math.isfinite(value) else math.nan
    if not number > 0:
        raise ValueError(f"{name} must be {expected}, got {value!r}{hint}")
    return number


def boolean(name: str, value: object) -> bool:
    """``value`` if it is True or False, else TypeError: torch.nn refuses ``bias=1`` the same
    way, and a string such as "False" would otherwise be taken as true."""
    if not isinstance(value, bool):
        raise _type_error(name, "a bool (True or False)", value)
    return value


def one_of(name: str, value: object, choices: Sequence[T]) -> T:
    """The choice equal to ``value`` (and of its type), else raise.

    The spelling is exact: "Tanh" is not "tanh". TypeError when ``value``'s type is none of the
    choices' (1 for a string choice, True or 1.0 for an int choice), ValueError otherwise.
    """
    words = " or ".join(map(repr, choices)) if len(choices) == 2 else ("one of " + ", ".join(map(repr, choices)))
    if not any(type(value) is type(choice) for choice in choices):
        raise _type_error(name, words, value)
    for choice in choices:
        if type(value) is type(choice) and value == choice:
            return choice
    raise ValueError(f"{name} must be {words}, got {value!r}")


def shape_str(shape: Sequence[int]) -> str:
    """Format a shape as ``(5, 3, 8)``, the way the docstrings write shapes."""
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"


def check_tensor(name: str, value: object) -> torch.Tensor:
    """Raise TypeError unless ``value`` is a tensor."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_like_parameters(name: str, tensor: torch.Tensor, reference: torch.Tensor) -> None:
    """Raise unless ``tensor`` is floating point and has the dtype and device of ``reference``.

    ``reference`` is one of the module's parameters. Mixing float32 inputs with float64 weights,
    or CPU inputs with CUDA weights, is reported here rather than as a matmul error.
    """
    if not tensor.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor ({reference.dtype}, like the module's "
            f"parameters), got dtype {tensor.dtype}; convert it with .to({reference.dtype})"
        )
    if tensor.dtype != reference.dtype:  # torch.nn raises ValueError here; this is both
        raise ArgumentTypeError(
            f"{name} has dtype {tensor.dtype} but the module's parameters are {reference.dtype}; "
            f"convert one of them, e.g. {name}.to({reference.dtype}) or module.to({tensor.dtype})"
        )
    if tensor.device != reference.device:
        raise ValueError(
            f"{name} is on device {tensor.device} but the module's parameters are on "
            f"{reference.device}; move one of them with .to(device)"
        )


def check_floating(name: str, tensor: torch.Tensor) -> None:
    """Raise TypeError unless ``tensor`` is floating point (the recurrences use sigmoid, tanh)."""
    if not tensor.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {tensor.dtype}; convert it with "
            f".to(torch.float32) or .to(torch.float64)"
        )


def check_like(name: str, tensor: torch.Tensor, reference_name: str, reference: torch.Tensor) -> None:
    """Raise unless ``tensor`` has the dtype (TypeError) and device (ValueError) of
    ``reference``, another argument of the same call; both are named in the message."""
    if tensor.dtype != reference.dtype:
        raise ArgumentTypeError(
            f"{name} has dtype {tensor.dtype} but {reference_name} has {reference.dtype}; "
            f"convert one of them, e.g. {name}.to({reference.dtype})"
        )
    if tensor.device != reference.device:
        raise ValueError(
            f"{name} is on device {tensor.device} but {reference_name} is on {reference.device}; "
            "move one of them with .to(device)"
        )


def check_rank(name: str, tensor: torch.Tensor, ranks: tuple[int, ...], layout: str) -> None:
    """Raise ShapeError unless ``tensor.dim()`` is one of ``ranks``; ``layout`` names the axes."""
    if tensor.dim() not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ShapeError(
            f"{name} must be {expected} {layout}, got a {tensor.dim()}-D tensor of shape {shape_str(tensor.shape)}"
        )


def check_size(name: str, tensor: torch.Tensor, dim: int, expected: int, what: str) -> None:
    """Raise ShapeError unless ``tensor.shape[dim] == expected``; ``what`` names that axis."""
    if tensor.shape[dim] != expected:
        raise ShapeError(
            f"{name} must have {what} = {expected} in dimension {dim % tensor.dim()}, got "
            f"{tensor.shape[dim]} (shape {shape_str(tensor.shape)})"
        )


def check_shape(name: str, tensor: torch.Tensor, expected: Sequence[int], layout: str) -> None:
    """Raise ShapeError unless ``tensor`` has exactly the shape ``expected`` (no broadcasting)."""
    if tuple(tensor.shape) != tuple(expected):
        raise ShapeError(f"{name} must have shape {shape_str(expected)} {layout}, got {shape_str(tensor.shape)}")


def check_lengths(lengths: object, batch_size: int, max_length: int) -> torch.Tensor:
    """Validate per-sequence lengths and return them as a 1-D int64 CPU tensor.

    Each length must be a whole number with ``1 <= length <= max_length`` and there must be one
    per sequence in the batch. torch.nn.utils.rnn.pack_padded_sequence accepts lengths longer
    than the padded tensor, or too few lengths, without a word; here both are errors.
    """
    tensor = torch.as_tensor(lengths)
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"lengths must be whole numbers (an integer tensor), got dtype {tensor.dtype}")
    if tensor.dim() != 1:
        raise ValueError(f"lengths must be 1-D, one length per sequence, got shape {shape_str(tensor.shape)}")
    if tensor.numel() != batch_size:
        raise ValueError(f"lengths must hold one length per sequence: expected {batch_size}, got {tensor.numel()}")
    tensor = tensor.to(device="cpu", dtype=torch.int64)
    too_short = (tensor < 1).nonzero().flatten()
    if too_short.numel():
        k = int(too_short[0])
        raise ValueError(f"every length must be at least 1, got lengths[{k}] = {int(tensor[k])}")
    too_long = (tensor > max_length).nonzero().flatten()
    if too_long.numel():
        k = int(too_long[0])
        raise ValueError(
            f"every length must be at most the padded sequence length {max_length}, got lengths[{k}] = {int(tensor[k])}"
        )
    return tensor
