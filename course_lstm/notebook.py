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
    matplotlib.rcParams.update({
        "figure.figsize": (7.0, 3.6), "figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
    })
    # tqdm.auto falls back to text when ipywidgets is missing and says so: not a lesson
    warnings.filterwarnings("ignore", message="IProgress not found")
    profile = active_profile()
    apply_threads(profile)
    return profile


def compare(name: str, ours: torch.Tensor, reference: torch.Tensor) -> str:
    """One line in the spirit of Karpathy's cmp(): exact / allclose / max difference.

    ours, reference: tensors of the same shape (e.g. our LSTM's output and nn.LSTM's).
    The difference is reported against fixed bounds (1e-12, the scale of float64 rounding in
    these computations; 1e-6, that of float32) rather than to the last digit, which depends on
    the CPU and BLAS: the line reads the same on any machine.
    """
    if ours.shape != reference.shape:
        return f"{name:<24} shapes differ: {tuple(ours.shape)} vs {tuple(reference.shape)}"
    exact = torch.equal(ours, reference)
    close = torch.allclose(ours, reference, rtol=1e-5, atol=1e-7)
    difference = (ours - reference).abs().max().item()
    if difference == 0:
        bound = "0"
    elif difference <= 1e-12:
        bound = "< 1e-12"
    elif difference <= 1e-6:
        bound = "< 1e-6"
    else:
        bound = f"= {difference:.1e}"
    return f"{name:<24} exact: {exact!s:<5}  allclose: {close!s:<5}  max diff {bound}"


def agree(name: str, ours: torch.Tensor, reference: torch.Tensor) -> None:
    """Print ``compare``'s line and stop the notebook (AssertionError) if the two differ: the
    one visible line that shows, and checks, that a hand-built piece equals the reference."""
    line = compare(name, ours, reference)
    print(line)
    if "allclose: True" not in line:
        raise AssertionError(f"{name} does not match the reference: {line}")
