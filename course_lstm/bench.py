"""Time the readable LSTM and each fast variant against torch.nn.LSTM (oneDNN on CPU, cuDNN on GPU).

``run_bench(device)`` returns a result (rows, config, provenance) that ``results.save`` writes as
JSON; ``format_table`` prints each variant's median times and their ratio to nn.LSTM.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from course_lstm import fast, layers, results

REFERENCE = "nn.LSTM"
VARIANTS: dict[str, type[nn.Module]] = {REFERENCE: nn.LSTM, "readable": layers.LSTM, **fast.VARIANTS}
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


CPU_SIZES = (Size(100, 64, 128, 128),)
FASTRNNS = Size(100, 64, 512, 512)
"""The default of PyTorch's own RNN benchmark, benchmarks/fastrnns (seqLength, miniBatch, ...)."""
GPU_SIZES = (*CPU_SIZES, FASTRNNS)
QUICK_SIZES = (Size(20, 16, 32, 32),)
FULL = {"repeats": 30, "warmup": 3}
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
    rows, kernels = [], {}
    # Full float32 everywhere: cuDNN would otherwise be allowed TF32 matmuls, our loop not.
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        for size in sizes:
            size_rows, size_kernel = _bench_size(size, names, chosen, repeats, warmup, time_it, seed)
            rows += size_rows
            kernels[size.label] = size_kernel
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    label = result_label(chosen, quick)
    config = {
        "device": str(chosen),
        "dtype": "float32",
        "tf32": False,
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "warmup": warmup,
        "seed": seed,
        "sizes": [asdict(s) | {"label": s.label} for s in sizes],
        "variants": names,
        "nn_lstm_kernel": kernels,
        "compile": (
            fast.CompiledLSTM.compiled_update.unavailable or "torch.compile (inductor)"
            if {"compiled", "cuda_graph"} & set(names)
            else None
        ),
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
            }
    return list(rows.values()), kernel


def format_table(result: dict) -> str:
    """The rows of ``run_bench`` as text: per size, each variant's median ms and ratio to nn.LSTM."""
    config, provenance = result["config"], result["provenance"]
    lines = []
    for size in config["sizes"]:
        lines.append(f"{size['label']}: nn.LSTM runs {config['nn_lstm_kernel'][size['label']]}")
        header = f"  {'variant':<12}{'forward (ms)':>22}{'forward+backward (ms)':>26}"
        lines += [header, "  " + "-" * (len(header) - 2)]
        for row in result["rows"]:
            if row["size"] != size["label"]:
                continue
            if row["status"] != "ok":
                lines.append(f"  {row['variant']:<12}{row['status']}: {row['reason']}")
                continue
            cells = [f"{row[f'{kind}_ms']:9.2f} ({row[f'{kind}_vs_nn_lstm']:5.2f}x)" for kind in ("forward", "train")]
            lines.append(f"  {row['variant']:<12}{cells[0]:>22}{cells[1]:>26}")
        lines.append("")
    lines.append(
        f"medians of {config['repeats']} runs after {config['warmup']} warm-up, float32; "
        f"ratio = time / nn.LSTM's time. {provenance['device']}, torch {provenance['torch']}, "
        f"{provenance['date']}"
    )
    return "\n".join(lines)
