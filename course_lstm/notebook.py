"""The first cell of every notebook: seeds, deterministic kernels, tidy printing, figure style.

``profile = setup()`` makes a notebook's numbers identical from run to run on the CPU and
returns the sizes (ci, cpu or gpu) it should use.
"""

from __future__ import annotations

import os
import random
import warnings

import matplotlib
import numpy as np
import torch

from course_lstm.profiles import Profile, active_profile, apply_threads


def setup(seed: int = 0) -> Profile:
    """Seed Python, NumPy and torch, ask torch for deterministic algorithms, print tensors with
    4 decimals, set the course's figure style, use the profile's CPU threads, and return the
    active profile."""
    # cuBLAS needs this workspace setting for deterministic matmuls on a GPU (read at CUDA start)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_printoptions(precision=4, sci_mode=False)
    np.set_printoptions(precision=4, suppress=True)
    matplotlib.rcParams.update(
        {
            "figure.figsize": (7.0, 3.6),
            "figure.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
        }
    )
    # tqdm.auto falls back to text when ipywidgets is missing and says so: not a lesson
    warnings.filterwarnings("ignore", message="IProgress not found")
    profile = active_profile()
    apply_threads(profile)
    return profile


# The largest difference that counts as rounding, by dtype: two or more decades above what
# float64 (about 1e-16 per operation) and float32 (about 1e-7) rounding give in these
# computations, so that any CPU's kernels land on the same side of it.
ROUNDING = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 1e-1, torch.float16: 1e-2}


def rounding_bound(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """The rounding bound of the less precise of the two dtypes; 0 for integers and booleans."""
    return max(ROUNDING.get(ours.dtype, 0.0), ROUNDING.get(reference.dtype, 0.0))


def _agreement(ours: torch.Tensor, reference: torch.Tensor) -> tuple[bool, float, float]:
    """(allclose, largest difference, rounding bound) of two tensors of the same shape."""
    bound = rounding_bound(ours, reference)
    dtype = torch.promote_types(ours.dtype, reference.dtype)
    close = torch.allclose(ours.to(dtype), reference.to(dtype), rtol=1e-5, atol=1e-7)
    difference = (ours.to(dtype) - reference.to(dtype)).abs().max().item() if ours.numel() else 0.0
    return close, difference, bound


def compare(name: str, ours: torch.Tensor, reference: torch.Tensor) -> str:
    """One line in the spirit of Karpathy's cmp(): allclose, and the largest difference.

    ours, reference: tensors of the same shape (e.g. our LSTM's output and nn.LSTM's).
    A difference within rounding is reported as the bound it stays under (``< 1e-12`` in
    float64, ``< 1e-05`` in float32), never to the digit: whether two computations agree
    bit for bit, and their last digits, depend on the CPU's kernels, and the line must read
    the same on any machine. A larger difference is printed with its value.
    """
    if ours.shape != reference.shape:
        return f"{name:<24} shapes differ: {tuple(ours.shape)} vs {tuple(reference.shape)}"
    return _line(name, *_agreement(ours, reference))


def _line(name: str, close: bool, difference: float, bound: float) -> str:
    if difference <= bound:
        shown = f"< {bound:.0e}" if bound else "0"
    else:
        shown = f"= {difference:.1e}"
    return f"{name:<24} allclose: {close!s:<5}  max diff {shown}"


def agree(name: str, ours: torch.Tensor, reference: torch.Tensor) -> None:
    """Print ``compare``'s line and stop the notebook (AssertionError) unless the two agree to
    rounding: the one visible line that shows, and checks, that a hand-built piece equals the
    reference."""
    if ours.shape != reference.shape:
        line, agrees = compare(name, ours, reference), False
    else:
        close, difference, bound = _agreement(ours, reference)
        line, agrees = _line(name, close, difference, bound), difference <= bound
    print(line)
    if not agrees:
        raise AssertionError(f"{name} does not match the reference to rounding: {line}")
