"""Where an LSTM's time goes: the FLOPs of a step, this machine's matrix-product rate, and a
``torch.profiler`` breakdown of one call into products, element-wise work and overhead.

Shapes follow ``bench.Size``: L sequence length, N batch, I input size, H hidden size.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch.profiler import ProfilerActivity, profile

if TYPE_CHECKING:
    from course_lstm.bench import Size

PRODUCTS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addmv", "aten::mv"}
"""The matrix-product operators, as the profiler names them."""
LIBRARY_LSTM = ("aten::mkldnn_rnn_layer", "aten::_cudnn_rnn", "aten::miopen_rnn")
"""Whole-sequence library kernels (products and element-wise work in one call), by prefix."""
COMPILED = ("Torch-Compiled Region", "CompiledFunction", "## Call CompiledFxGraph", "cpp_fused", "triton_")
"""Events that hold torch.compile's generated code (and its wrapper), by prefix."""
CATEGORIES = ("products", "library LSTM", "compiled code", "other ATen ops", "overhead")


def step_flops(size: Size) -> dict[str, int]:
    """Floating-point operations of the matrix products of one LSTM layer over ``size``.

    Forward: the input projection 2 L N I 4H and the recurrent products 2 L N H 4H. The
    training step adds their backward, twice as many (a product for the input's gradient and
    one for the weight's): 3x the forward. That counts the gradients of the input and of h0;
    autograd skips the products of those that do not require grad. Element-wise work,
    O(L N H), is left out: it is 1/H of the products or less."""
    forward = 2 * size.seq_len * size.batch * 4 * size.hidden_size * (size.input_size + size.hidden_size)
    return {"forward": forward, "train": 3 * forward}


def matmul_rates(size: Size, device: torch.device, time_it: Callable[[Callable[[], object]], float]) -> dict:
    """GFLOP/s of this machine (at torch's current thread count) on the products an LSTM over
    ``size`` runs: ``step`` (N, H) @ (H, 4H), one step's recurrent product, and ``hoisted``
    (L N, I) @ (I, 4H), every step's input projection at once. Medians of 5 timings, each of
    about 2 GFLOP of repeated products (at most 1000 of them), float32."""
    n, length, i, h = size.batch, size.seq_len, size.input_size, size.hidden_size
    shapes = {"step": (n, h, 4 * h), "hoisted": (length * n, i, 4 * h)}
    rates = {}
    for name, (m, k, cols) in shapes.items():
        a, b = torch.randn(m, k, device=device), torch.randn(k, cols, device=device)
        repeat = min(1000, max(1, 2_000_000_000 // (2 * m * k * cols)))  # ~2 GFLOP, or 1000 calls
        a @ b  # warm-up

        def products(a=a, b=b, repeat=repeat) -> None:
            for _ in range(repeat):
                a @ b

        times = [time_it(products) / repeat for _ in range(5)]
        rates[name] = float(f"{2 * m * k * cols / statistics.median(times) / 1e6:.3g}")  # 3 significant digits
    return rates


def breakdown(work: Callable[[], object]) -> dict[str, float]:
    """Milliseconds of one call of ``work`` (CPU time, as torch.profiler records it), split
    into CATEGORIES by the self time of each operator: matrix products, a library's
    whole-sequence LSTM kernel, torch.compile's generated code, the other ATen operators
    (element-wise work, copies, reductions), and the rest of the wall time, ``overhead``:
    Python, the dispatcher, the autograd engine and the profiler's own cost. ``wall_ms`` is
    the call's time under the profiler, a little longer than without it."""
    with _without_native_stderr(), profile(activities=[ProfilerActivity.CPU]) as recorded:
        start = time.perf_counter()
        work()
        wall_ms = (time.perf_counter() - start) * 1e3
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for event in recorded.key_averages():
        self_ms = event.self_cpu_time_total / 1e3
        name = event.key
        if name in PRODUCTS:
            totals["products"] += self_ms
        elif name.startswith(LIBRARY_LSTM):
            totals["library LSTM"] += self_ms
        elif name.startswith(COMPILED):
            totals["compiled code"] += self_ms
        elif name.startswith("aten::"):
            totals["other ATen ops"] += self_ms
    totals["overhead"] = max(0.0, wall_ms - sum(totals.values()))
    return {"wall_ms": round(wall_ms, 3), **{name: round(value, 3) for name, value in totals.items()}}


@contextlib.contextmanager
def _without_native_stderr():
    """Silence file descriptor 2 for a moment: the profiler's C++ side (Kineto) logs a line at
    every start and stop there, past Python's sys.stderr."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (some embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
