"""Input checks with messages a learner can act on.

Every public module calls these before any arithmetic, so a wrong shape, dtype or length is
reported as "expected X, got Y" instead of a matmul error from deep inside PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


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
    if tensor.dtype != reference.dtype:
        raise TypeError(
            f"{name} has dtype {tensor.dtype} but the module's parameters are {reference.dtype}; "
            f"convert one of them, e.g. {name}.to({reference.dtype}) or module.to({tensor.dtype})"
        )
    if tensor.device != reference.device:
        raise ValueError(
            f"{name} is on device {tensor.device} but the module's parameters are on "
            f"{reference.device}; move one of them with .to(device)"
        )


def check_rank(name: str, tensor: torch.Tensor, ranks: tuple[int, ...], layout: str) -> None:
    """Raise ValueError unless ``tensor.dim()`` is one of ``ranks``; ``layout`` names the axes."""
    if tensor.dim() not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(
            f"{name} must be {expected} {layout}, got a {tensor.dim()}-D tensor of shape "
            f"{shape_str(tensor.shape)}"
        )


def check_size(name: str, tensor: torch.Tensor, dim: int, expected: int, what: str) -> None:
    """Raise ValueError unless ``tensor.shape[dim] == expected``; ``what`` names that axis."""
    if tensor.shape[dim] != expected:
        raise ValueError(
            f"{name} must have {what} = {expected} in dimension {dim % tensor.dim()}, got "
            f"{tensor.shape[dim]} (shape {shape_str(tensor.shape)})"
        )


def check_shape(name: str, tensor: torch.Tensor, expected: Sequence[int], layout: str) -> None:
    """Raise ValueError unless ``tensor`` has exactly the shape ``expected`` (no broadcasting)."""
    if tuple(tensor.shape) != tuple(expected):
        raise ValueError(
            f"{name} must have shape {shape_str(expected)} {layout}, got {shape_str(tensor.shape)}"
        )


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
        raise ValueError(
            f"lengths must be 1-D, one length per sequence, got shape {shape_str(tensor.shape)}"
        )
    if tensor.numel() != batch_size:
        raise ValueError(
            f"lengths must hold one length per sequence: expected {batch_size}, got {tensor.numel()}"
        )
    tensor = tensor.to(device="cpu", dtype=torch.int64)
    too_short = (tensor < 1).nonzero().flatten()
    if too_short.numel():
        k = int(too_short[0])
        raise ValueError(f"every length must be at least 1, got lengths[{k}] = {int(tensor[k])}")
    too_long = (tensor > max_length).nonzero().flatten()
    if too_long.numel():
        k = int(too_long[0])
        raise ValueError(
            f"every length must be at most the padded sequence length {max_length}, got "
            f"lengths[{k}] = {int(tensor[k])}"
        )
    return tensor
