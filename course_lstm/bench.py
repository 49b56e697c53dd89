"""Time the readable LSTM and each fast variant against torch.nn.LSTM (oneDNN on CPU, cuDNN on GPU).

``run_bench(device)`` returns a result (rows, config, provenance) that ``results.save`` writes as
JSON: per size and thread count, each variant's median times with quartiles, their ratio to
nn.LSTM, the work done in GFLOP/s against this machine's own matrix-product rate, and a
``torch.profiler`` breakdown of one training step (``profiling``). ``run_threads`` runs it once
per thread count, each in a process of its own, and merges the results; ``format_table`` prints
one.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from course_lstm import fast, layers, profiling, results

REFERENCE = "nn.LSTM"


@contextlib.contextmanager
def onednn_disabled():
    """Inside it, torch runs no oneDNN (MKL-DNN) kernels: nn.LSTM falls back to ATen's loop."""
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = enabled


class AtenLSTM(nn.LSTM):
    """nn.LSTM with oneDNN turned off for its forward call: ATen's C++ loop, one product with h
    and one fused element-wise kernel per step, the same library products as our variants
    (PyTorch's own "aten" baseline in benchmarks/fastrnns). On a GPU it is nn.LSTM (cuDNN)."""

    def forward(self, *args, **kwargs):
        with onednn_disabled():
            return super().forward(*args, **kwargs)


VARIANTS: dict[str, type[nn.Module]] = {
    REFERENCE: nn.LSTM,
    "aten": AtenLSTM,
    "readable": layers.LSTM,
    **fast.VARIANTS,
}
"""Every implementation timed, in the order of the lesson; all share nn.LSTM's state_dict."""

KERNELS = {
    "aten.mkldnn_rnn_layer": "oneDNN",
    "aten._cudnn_rnn": "cuDNN",
    "aten.miopen_rnn": "MIOpen",
    "aten.addmm": "ATen's loop (addmm and element-wise ops per step)",
}
"""How to recognise which implementation nn.LSTM dispatched to, by the operator it calls."""


@dataclass(frozen=True)
class Size:
    """One benchmark shape: sequence length L, batch N, input size I, hidden size H (PyTorch's
    fastrnns benchmark calls them seqLength, miniBatch, inputSize, hiddenSize)."""

    seq_len: int
    batch: int
    input_size: int
    hidden_size: int

    @property
    def label(self) -> str:
        return f"L={self.seq_len} N={self.batch} I={self.input_size} H={self.hidden_size}"


FASTRNNS = Size(100, 64, 512, 512)
"""The default of PyTorch's own RNN benchmark, benchmarks/fastrnns (seqLength, miniBatch, ...)."""
COURSE_SIZES = (Size(25, 64, 32, 32), Size(100, 64, 32, 32))
"""The course's own experiments: H = 32, sequences of 25 to 100 steps, batches of 64."""
CPU_SIZES = (*COURSE_SIZES, Size(100, 64, 128, 128), FASTRNNS)
GPU_SIZES = CPU_SIZES
QUICK_SIZES = (Size(20, 16, 32, 32),)
FULL = {"repeats": 15, "warmup": 2}
QUICK = {"repeats": 5, "warmup": 1}
AGREEMENT = 1e-3
"""Largest relative difference from nn.LSTM (outputs and gradients, float32) before timing."""


def result_label(device: torch.device, quick: bool) -> str:
    """The profile part of a bench result's name: "gpu" or "cpu", with "-quick" for a smoke test."""
    return ("gpu" if device.type == "cuda" else device.type) + ("-quick" if quick else "")


def sizes_for(device: torch.device, quick: bool) -> tuple[Size, ...]:
    """The shapes timed on ``device``: CPU sizes everywhere, the fastrnns size too on a GPU."""
    if quick:
        return QUICK_SIZES
    return GPU_SIZES if device.type == "cuda" else CPU_SIZES


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device; ValueError unless it is the CPU or an available CUDA GPU."""
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}") from None
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(f"the benchmark runs on 'cpu' or 'cuda', got {device!r}")
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but torch.cuda.is_available() is False; use --device cpu")
    return chosen


def nn_lstm_kernel(reference: nn.LSTM, x: Tensor) -> str:
    """Which implementation ``reference`` (an nn.LSTM) dispatches to for ``x`` (L, N, I), read
    from the operators one forward call runs."""
    with OperatorLog() as log, torch.no_grad():
        reference(x)
    for operator, name in KERNELS.items():
        if operator in log.counts:
            return f"{name} ({operator})"
    return "unknown (" + ", ".join(sorted(log.counts)) + ")"


class OperatorLog(TorchDispatchMode):
    """Inside ``with OperatorLog() as log:``, records every ATen operator that computes: how many
    times each ran (``log.counts``, e.g. {"aten.addmm": 8}) and how many tensor elements they
    wrote in all (``log.elements_written``). Views (transpose, chunk, ...) compute nothing and are
    left out. Backward passes run inside it are recorded too."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.elements_written = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        output = func(*args, **(kwargs or {}))
        if not func.is_view:
            self.counts[str(func.overloadpacket)] += 1
            outputs = output if isinstance(output, (tuple, list)) else [output]
            self.elements_written += sum(t.numel() for t in outputs if isinstance(t, Tensor))
        return output


def _timer(device: torch.device) -> Callable[[Callable[[], object]], float]:
    """A function that runs a callable once and returns its time in ms: CUDA events on a GPU
    (the GPU's own clock, after waiting for queued work), the wall clock on a CPU."""
    if device.type == "cuda":

        def time_cuda(work: Callable[[], object]) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(device)
            start.record()
            work()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)

        return time_cuda

    def time_cpu(work: Callable[[], object]) -> float:
        start = time.perf_counter()
        work()
        return (time.perf_counter() - start) * 1e3

    return time_cpu


def _relative_difference(ours: list[Tensor], theirs: list[Tensor]) -> float:
    """max |ours - theirs| / max |theirs| over corresponding tensors, the worst one."""
    return max(((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item() for a, b in zip(ours, theirs, strict=True))


class _Contender:
    """One implementation on one size: its module, and its forward and training-step work."""

    def __init__(self, name: str, module: nn.Module, x: Tensor) -> None:
        self.name, self.module, self.x = name, module, x

    def forward(self) -> None:
        with torch.no_grad():
            self.module(self.x)

    def train_step(self) -> None:
        output, _ = self.module(self.x)
        output.sum().backward()

    def outputs_and_gradients(self) -> list[Tensor]:
        """The output, h_n, c_n and every parameter's gradient of one training step."""
        self.module.zero_grad(set_to_none=True)
        output, (h_n, c_n) = self.module(self.x)
        output.sum().backward()
        measured = [output.detach().clone(), h_n.detach().clone(), c_n.detach().clone()]
        for name, parameter in self.module.named_parameters():
            if parameter.grad is None:
                raise RuntimeError(f"parameter {name} got no gradient from the training step")
            measured.append(parameter.grad.clone())
        self.module.zero_grad(set_to_none=True)
        return measured


def _skip_reason(name: str, device: torch.device) -> str | None:
    if name == "cuda_graph" and device.type != "cuda":
        return "needs a CUDA GPU (CUDA graphs)"
    if name == "aten" and device.type != "cpu":
        return "oneDNN, which it turns off, is a CPU library: on a GPU it would be nn.LSTM again"
    return None


def run_bench(
    device: str | torch.device = "cpu",
    quick: bool = False,
    variants: list[str] | None = None,
    sizes: Sequence[Size] | None = None,
    repeats: int | None = None,
    warmup: int | None = None,
    command: str | None = None,
    seed: int = 0,
) -> dict:
    """Time forward (torch.no_grad()) and forward+backward (loss = output.sum()) of every
    variant against nn.LSTM, float32, on the same weights and inputs.

    Each variant is first checked against nn.LSTM (outputs and gradients within ``AGREEMENT``)
    and warmed up (compilation, oneDNN/cuDNN set-up, graph recording: ``warmup_s``); then
    ``repeats`` rounds time every variant once each, in turn, so that a change in the machine's
    load hits all of them alike. Rows hold medians and quartiles in ms, and ratios to nn.LSTM.
    ``variants``: names from VARIANTS (nn.LSTM is always included); ``sizes``: the shapes to time
    (default: ``sizes_for(device, quick)``). CPU threads: torch's current setting.
    """
    chosen = check_device(device)
    names = [REFERENCE] + [n for n in (variants or list(VARIANTS)) if n != REFERENCE]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; expected names from {list(VARIANTS)}")
    sizes = sizes_for(chosen, quick) if sizes is None else sizes
    if isinstance(sizes, Size) or not sizes or not all(isinstance(size, Size) for size in sizes):
        raise TypeError(f"sizes must be a non-empty list of bench.Size, got {sizes!r}")
    plan = QUICK if quick else FULL
    repeats = plan["repeats"] if repeats is None else repeats
    warmup = plan["warmup"] if warmup is None else warmup
    if repeats < 1 or warmup < 1:
        raise ValueError(f"repeats and warmup must be at least 1, got {repeats} and {warmup}")
    commit, started, start = results.git_commit(), results.now(), time.perf_counter()
    time_it = _timer(chosen)
    rows, kernels, rates = [], {}, {}
    # Full float32 everywhere: cuDNN would otherwise be allowed TF32 matmuls, our loop not.
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        for size in sizes:
            size_rows, size_kernel = _bench_size(size, names, chosen, repeats, warmup, time_it, seed)
            rows += size_rows
            kernels[size.label] = size_kernel
            rates[size.label] = profiling.matmul_rates(size, chosen, time_it)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    label = result_label(chosen, quick)
    config = {
        "device": str(chosen),
        "dtype": "float32",
        "tf32": False,
        "threads": [torch.get_num_threads()],
        "repeats": repeats,
        "warmup": warmup,
        "seed": seed,
        "sizes": [asdict(s) | {"label": s.label} for s in sizes],
        "variants": names,
        "nn_lstm_kernel": kernels,
        "matmul_gflops": {str(torch.get_num_threads()): rates},
        "compile": _compile_status(names),
        "loss": "output.sum()",
        "agreement": AGREEMENT,
    }
    return {
        "schema": results.SCHEMA_VERSION,
        "experiment": "bench",
        "config": config,
        "rows": rows,
        "provenance": results.provenance(
            label,
            str(chosen),
            time.perf_counter() - start,
            command or f"run_bench({str(chosen)!r}, quick={quick})",
            commit,
            started,
        ),
    }


COMPILED_FUNCTIONS: dict[str, list[fast.CompiledFunction]] = {
    "compiled": [fast.CompiledLSTM.compiled_update],
    "cuda_graph": [fast.CompiledLSTM.compiled_update],
    "compiled_loop": [fast.CompiledLoopLSTM.compiled_loop],
    "compiled_manual": [fast.CompiledManualLSTM.forward_step, fast.CompiledManualLSTM.backward_step],
}
"""The torch.compile'd functions each compiled variant runs."""


def _compile_status(names: list[str]) -> str | None:
    """None where no variant compiles; else "torch.compile (inductor)", or the first reason a
    compiled function that ran fell back to running uncompiled."""
    functions = [f for name in names for f in COMPILED_FUNCTIONS.get(name, [])]
    if not functions:
        return None
    return next((f.unavailable for f in functions if f.unavailable), "torch.compile (inductor)")


def _bench_size(
    size: Size,
    names: list[str],
    device: torch.device,
    repeats: int,
    warmup: int,
    time_it: Callable,
    seed: int,
) -> tuple[list[dict], str]:
    """Rows for one size, and the implementation nn.LSTM used there."""
    torch.manual_seed(seed)
    reference = nn.LSTM(size.input_size, size.hidden_size, device=device)
    x = torch.randn(size.seq_len, size.batch, size.input_size, device=device)
    kernel = nn_lstm_kernel(reference, x)
    expected = _Contender(REFERENCE, reference, x).outputs_and_gradients()

    contenders, rows = [], {}
    for name in names:
        row = {
            **asdict(size),
            "size": size.label,
            "threads": torch.get_num_threads(),
            "variant": name,
            "status": "ok",
            "reason": None,
            "max_relative_difference": None,
            "warmup_s": None,
        }
        rows[name] = row
        reason = _skip_reason(name, device)
        if reason:
            row |= {"status": "skipped", "reason": reason}
            continue
        try:
            module = (
                reference if name == REFERENCE else VARIANTS[name](size.input_size, size.hidden_size, device=device)
            )
            module.load_state_dict(reference.state_dict())
            contender = _Contender(name, module, x)
            first = time.perf_counter()
            for _ in range(warmup):
                contender.forward()
                contender.train_step()
            row["warmup_s"] = round(time.perf_counter() - first, 3)
            difference = _relative_difference(contender.outputs_and_gradients(), expected)
        except Exception as error:  # one variant failing (an untried GPU?) must not lose the others
            row |= {"status": "failed", "reason": f"{type(error).__name__}: {error}"}
            continue
        row["max_relative_difference"] = difference
        if difference > AGREEMENT:
            row |= {
                "status": "failed",
                "reason": f"differs from nn.LSTM by {difference:.1e} (relative), above {AGREEMENT:g}",
            }
            continue
        contenders.append(contender)

    times: dict[str, dict[str, list[float]]] = {c.name: {"forward": [], "train": []} for c in contenders}
    for _ in range(repeats):
        for contender in contenders:
            times[contender.name]["forward"].append(time_it(contender.forward))
            times[contender.name]["train"].append(time_it(contender.train_step))
    for contender in contenders:
        contender.module.zero_grad(set_to_none=True)
        rows[contender.name]["profile"] = profiling.breakdown(contender.train_step)
        contender.module.zero_grad(set_to_none=True)

    flops = profiling.step_flops(size)
    base = {kind: statistics.median(values) for kind, values in times.get(REFERENCE, {}).items()}
    for name, measured in times.items():
        for kind, values in measured.items():
            # with method="inclusive" the middle quartile is the median
            q1, median, q3 = (
                statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
            )
            rows[name] |= {
                f"{kind}_ms": round(median, 4),
                f"{kind}_ms_quartiles": [round(q1, 4), round(q3, 4)],
                f"{kind}_vs_nn_lstm": round(median / base[kind], 4) if base else None,
                f"{kind}_gflops_per_s": round(flops[kind] / median / 1e6, 2),
            }
    return list(rows.values()), kernel


def all_threads() -> int:
    """The CPU threads this process may use (its affinity where the OS tells, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_counts(requested: Sequence[int | str]) -> list[int]:
    """Thread counts from ``requested`` (ints, or "all" for ``all_threads()``), in order,
    duplicates dropped: [1, 2, "all"] -> [1, 2] on a 2-core machine."""
    counts: list[int] = []
    for value in requested:
        count = all_threads() if value == "all" else value
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"a thread count must be a positive int or 'all', got {value!r}")
        if count not in counts:
            counts.append(count)
    if not counts:
        raise ValueError("at least one thread count is needed, got none")
    return counts


def run_threads(
    threads: Sequence[int | str], device: str = "cpu", quick: bool = False, command: str | None = None
) -> dict:
    """``run_bench`` once per thread count, each in a fresh process (torch.compile's CPU code
    is generated for the thread count it was compiled under), merged into one result.

    Rows gain nothing: each already names its ``threads``. The provenance is this process's,
    its wall time that of the whole run; ``config["threads"]`` lists the counts."""
    counts = thread_counts(threads)
    commit, started, start = results.git_commit(), results.now(), time.perf_counter()
    label = result_label(check_device(device), quick)
    parts = []
    with tempfile.TemporaryDirectory() as folder:
        for count in counts:
            part = Path(folder) / str(count)
            script = (
                "import sys, torch; from course_lstm import bench, results; "
                f"torch.set_num_threads({count}); "
                f"results.save(bench.run_bench({device!r}, quick={quick}), sys.argv[1])"
            )
            subprocess.run([sys.executable, "-c", script, str(part)], check=True)
            parts.append(results.load(results.path_for(part, "bench", label)))
    return merge(parts, time.perf_counter() - start, command or f"run_threads({counts})", commit, started)


def merge(parts: list[dict], wall_seconds: float, command: str, commit: str, started: str) -> dict:
    """One bench result from several (one per thread count) that share sizes and variants."""
    first = parts[0]["config"]
    for part in parts[1:]:
        config = part["config"]
        if config["sizes"] != first["sizes"] or config["variants"] != first["variants"]:
            raise ValueError("bench results to merge must time the same sizes and variants")
    config = dict(first)
    config["threads"] = [t for part in parts for t in part["config"]["threads"]]
    config["matmul_gflops"] = {k: v for part in parts for k, v in part["config"]["matmul_gflops"].items()}
    provenance = results.provenance(
        parts[0]["provenance"]["profile"], config["device"], wall_seconds, command, commit, started
    )
    provenance["hardware"]["threads"] = config["threads"]
    return {
        "schema": results.SCHEMA_VERSION,
        "experiment": "bench",
        "config": config,
        "rows": [row for part in parts for row in part["rows"]],
        "provenance": provenance,
    }


def format_table(result: dict) -> str:
    """The rows of ``run_bench`` as text: per size and thread count, each variant's median ms,
    its quartiles, its ratio to nn.LSTM and its GFLOP/s."""
    config = result["config"]
    lines = []
    for size in config["sizes"]:
        for threads in config["threads"]:
            rows = [r for r in result["rows"] if r["size"] == size["label"] and r.get("threads", threads) == threads]
            if not rows:
                continue
            rate = config.get("matmul_gflops", {}).get(str(threads), {}).get(size["label"])
            peak = f"; products of this size run at {rate['step']:.0f} GFLOP/s" if rate else ""
            lines.append(
                f"{size['label']}, {threads} thread{'s' if threads != 1 else ''}: "
                f"nn.LSTM runs {config['nn_lstm_kernel'][size['label']]}{peak}"
            )
            header = f"  {'variant':<16}{'forward ms [quartiles]':>30}{'train step ms [quartiles]':>34}{'GFLOP/s':>9}"
            lines += [header, "  " + "-" * (len(header) - 2)]
            for row in rows:
                if row["status"] != "ok":
                    lines.append(f"  {row['variant']:<16}{row['status']}: {row['reason']}")
                    continue
                cells = []
                for kind in ("forward", "train"):
                    q1, q3 = row[f"{kind}_ms_quartiles"]
                    cells.append(f"{row[f'{kind}_ms']:8.2f} [{q1:.1f}, {q3:.1f}] {row[f'{kind}_vs_nn_lstm']:5.2f}x")
                gflops = row.get("train_gflops_per_s")
                lines.append(
                    f"  {row['variant']:<16}{cells[0]:>30}{cells[1]:>34}"
                    + (f"{gflops:9.1f}" if gflops is not None else "")
                )
            lines.append("")
    lines.append(
        f"medians of {config['repeats']} runs after {config['warmup']} warm-up, float32; "
        f"ratio = time / nn.LSTM's time; GFLOP/s of the train step's products. " + results.provenance_line(result)
    )
    return "\n".join(lines)
