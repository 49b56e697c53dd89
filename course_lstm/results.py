"""Experiment results as JSON files: the numbers, the configuration, and where they came from.

``provenance()`` records profile, device, versions, git commit, date and wall time. ``save``
and ``load`` check the same things (``validate``: fields, rows, no NaN), so a file that loads is
one that could have been saved; file names are built only from fields ``name_part`` accepts,
and ``save`` replaces an existing file only when told to. Full-scale results ship in
``course_lstm/results/``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import statistics
import subprocess
from pathlib import Path

import torch

import course_lstm
from course_lstm.tasks import SOLVED_FRACTION

SCHEMA_VERSION = 1
SHIPPED = Path(__file__).resolve().parent / "results"
"""Where full-scale results produced by ``python -m course_lstm experiment`` are shipped."""

REQUIRED = {"schema": int, "experiment": str, "config": dict, "rows": list, "provenance": dict}
PROVENANCE_REQUIRED = {
    "profile": str,
    "device": str,
    "torch": str,
    "python": str,
    "course_lstm": str,
    "git_commit": str,
    "date": str,
    "wall_seconds": (int, float),
    "command": str,
}
ROW_REQUIRED = {"task": str, "lag": int, "label": str, "status": str}
"""Every row of a training result (an experiment or a study) names its task, lag and model."""
BENCH_ROW_REQUIRED = {"variant": str, "size": str, "status": str}
"""Every row of a benchmark (experiment "bench") names its variant and size."""
TEXT_ROW_REQUIRED = {"part": str, "label": str, "status": str}
"""Every row of the real-text study (experiment "text") names its part, model and status."""
NAME_PART = re.compile(r"[A-Za-z0-9_.-]+")
"""What a field that goes into a file name may hold: no separators, no spaces."""


def device_name(device: str | torch.device) -> str:
    """A human name for ``device``: the GPU's model, or the CPU's architecture and thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    threads = torch.get_num_threads()
    return f"CPU ({platform.machine()}, {threads} thread{'' if threads == 1 else 's'})"


def cpu_model() -> str:
    """The CPU's model name as the operating system reports it ("unknown" where it does not)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hardware() -> dict:
    """What a CPU result depends on: the CPU model, the instruction set ATen's kernels use, the
    threads, the MKL and oneDNN versions, and the environment variables that limit them."""
    config = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([\w.]+)", config)
    onednn = re.search(r"MKL-DNN v([\w.]+)", config)
    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "mkl": mkl.group(1) if mkl else "none",
        "onednn": onednn.group(1) if onednn else "none",
        "governor": _governor(),
        "isa_limits": {
            key: os.environ[key]
            for key in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")
            if key in os.environ
        },
    }


def _governor() -> str:
    """The CPU frequency governor (Linux), or "not readable" where the system does not say."""
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    except OSError:
        return "not readable"


def git_commit() -> str:
    """The project's git commit, with "+dirty" when the working tree has changes; "unknown"
    outside a git checkout (an installed package)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def provenance(profile: str, device: str, wall_seconds: float, command: str, commit: str, started: str) -> dict:
    """Where a result came from: hardware (``hardware()``), versions, the commit and date (UTC)
    at the start of the run (read them before running: the tree may change while it runs), and
    its wall time."""
    return {
        "profile": profile,
        "device": device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "course_lstm": course_lstm.__version__,
        "git_commit": commit,
        "date": started,
        "wall_seconds": round(wall_seconds, 1),
        "command": command,
        "hardware": hardware(),
    }


def name_part(value: object, field: str, source: str = "result") -> str:
    """``value`` if it is safe in a file name (letters, digits, ``_``, ``-``, ``.``; not starting
    with ``.``; no ``..``); else ValueError naming ``field`` and the value."""
    if not isinstance(value, str) or not NAME_PART.fullmatch(value) or value.startswith(".") or ".." in value:
        raise ValueError(
            f"{source}: field {field!r} is {value!r}; a file name is built from it, so it must be "
            "letters, digits, '_', '-' or '.' (not starting with '.', no '..')"
        )
    return value


def _check_fields(where: dict, fields: dict, source: str) -> None:
    for key, kind in fields.items():
        if key not in where:
            raise ValueError(f"{source}: missing field {key!r}")
        if not isinstance(where[key], kind) or isinstance(where[key], bool):
            expected = kind.__name__ if isinstance(kind, type) else "number"
            raise ValueError(f"{source}: field {key!r} should be {expected}, got {type(where[key]).__name__}")


def validate(result: object, source: str = "result") -> dict:
    """Raise ValueError naming the first missing or mistyped field; return ``result``.

    Checks the top-level and provenance fields, the fields every row needs (``ROW_REQUIRED``,
    or ``BENCH_ROW_REQUIRED`` for a benchmark), and that ``experiment`` and the provenance's
    ``profile`` are safe in a file name (``name_part``)."""
    if not isinstance(result, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(result).__name__}")
    _check_fields(result, REQUIRED, source)
    _check_fields(result["provenance"], PROVENANCE_REQUIRED, source)
    if result["schema"] != SCHEMA_VERSION:
        raise ValueError(f"{source}: schema {result['schema']}, this code reads {SCHEMA_VERSION}")
    name_part(result["experiment"], "experiment", source)
    name_part(result["provenance"]["profile"], "profile", source)
    row_fields = {"bench": BENCH_ROW_REQUIRED, "text": TEXT_ROW_REQUIRED}.get(result["experiment"], ROW_REQUIRED)
    for index, row in enumerate(result["rows"]):
        if not isinstance(row, dict):
            raise ValueError(f"{source}: every row must be a JSON object; row {index} is {type(row).__name__}")
        missing = next((key for key in row_fields if key not in row), None)
        if missing is not None:
            raise ValueError(
                f"{source}: row {index} has no field {missing!r} (every row needs {', '.join(map(repr, row_fields))})"
            )
        _check_fields(row, row_fields, f"{source}: row {index}")
    return result


def path_for(out_dir: str | Path, experiment: str, profile: str, tag: str | None = None) -> Path:
    """``out_dir/<experiment>-<profile>[-<tag>].json``, each part checked by ``name_part``."""
    parts = [name_part(experiment, "experiment"), name_part(profile, "profile")]
    if tag is not None:
        parts.append(name_part(tag, "tag"))
    return Path(out_dir) / ("-".join(parts) + ".json")


def save(result: dict, out_dir: str | Path, *, tag: str | None = None, overwrite: bool = False) -> Path:
    """Validate and write ``result`` to ``path_for(out_dir, experiment, profile, tag)``; return
    the path. ``tag`` names a run apart (``"steps200"`` for a shortened one). An existing file
    is replaced only with ``overwrite=True`` (FileExistsError otherwise)."""
    validate(result)
    path = path_for(out_dir, result["experiment"], result["provenance"]["profile"], tag)
    try:
        text = json.dumps(result, indent=1, allow_nan=False) + "\n"
    except ValueError as error:
        if "Out of range float" not in str(error):
            raise
        raise ValueError("result: holds NaN or infinity, which JSON cannot store; write None instead") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("w" if overwrite else "x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
    return path


def _refuse_constant(constant: str) -> None:
    raise ValueError(f"{constant} is not a number JSON allows (save refuses it too)")


def load(path: str | Path) -> dict:
    """Read and validate a result file: UTF-8 JSON without NaN or Infinity, checked by
    ``validate``. Raises ValueError naming the file and what is wrong."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return validate(data, source=str(path))


def provenance_line(result: dict) -> str:
    """One line saying where a result came from: profile, hardware, torch, date and commit."""
    p = result["provenance"]
    cpu = p.get("hardware", {})
    where = (
        p["device"]
        if not (cpu and p["device"].startswith("CPU"))
        else (f"{cpu['cpu']} ({cpu['cpu_capability']}, {_threads_text(cpu['threads'])})")
    )
    commit, plus, suffix = p["git_commit"].partition("+")  # keep "+dirty": uncommitted changes say so
    return f"{p['profile']} profile, {where}, torch {p['torch']}, {p['date'][:10]}, commit {commit[:7]}{plus}{suffix}"


def _threads_text(threads: int | list[int]) -> str:
    """1 -> "1 thread"; [1, 2] -> "1 and 2 threads" (a result timed at several counts)."""
    counts = threads if isinstance(threads, list) else [threads]
    text = " and ".join(map(str, counts))
    return f"{text} thread{'' if counts == [1] else 's'}"


def shipped(experiment: str, profile: str = "gpu") -> dict | None:
    """The shipped full-scale result of ``experiment``, or None where none has been produced."""
    path = path_for(SHIPPED, experiment, profile)
    return load(path) if path.exists() else None


def success_table(rows: list[dict]) -> list[dict]:
    """Rows grouped by (task, lag, model): seeds run, success rate, median steps to solve, and
    the mean final accuracy (progress short of solving shows there).

    The median is over the runs that solved (None if none did); of an even count it is the mean
    of the two middle values (``statistics.median``), so it can end in .5.
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["lag"], row["label"]), []).append(row)
    table = []
    for (task, lag, label), runs in groups.items():
        solved_steps = [r["solved_at"] for r in runs if r["solved"]]
        table.append(
            {
                "task": task,
                "lag": lag,
                "model": label,
                "seeds": len(runs),
                "success_rate": len(solved_steps) / len(runs),
                "median_steps_to_solve": statistics.median(solved_steps) if solved_steps else None,
                "diverged": sum(r["status"] == "diverged" for r in runs),
                "mean_accuracy": _mean([r["final_accuracy"] for r in runs]),
                "parameters": runs[0]["parameters"],
            }
        )
    return table


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _format_accuracy(accuracy: float | None) -> str:
    return f"{'-' if accuracy is None else f'{accuracy:.2f}':>10}"


def _format_steps(steps: float | None) -> str:
    """A median step count as text: "-" for None, no ".0" on a whole number (400.0 -> "400")."""
    if steps is None:
        return "-"
    return str(int(steps)) if float(steps).is_integer() else f"{steps:.1f}"


def format_table(table: list[dict]) -> str:
    """``success_table`` as aligned text, one line per (task, lag, model)."""
    header = f"{'task':<15}{'T':>5}  {'model':<22}{'params':>8}{'solved':>9}{'median steps':>14}{'accuracy':>10}"
    lines = [header, "-" * len(header)]
    for entry in table:
        steps = entry["median_steps_to_solve"]
        solved = f"{round(entry['success_rate'] * entry['seeds'])}/{entry['seeds']}"
        lines.append(
            f"{entry['task']:<15}{entry['lag']:>5}  {entry['model']:<22}{entry['parameters']:>8}"
            f"{solved:>9}{_format_steps(steps):>14}{_format_accuracy(entry['mean_accuracy'])}"
        )
    adding = " (adding: |error| < 0.04)" if any(entry["task"] == "adding" for entry in table) else ""
    lines.append(
        f"solved: held-out loss below {SOLVED_FRACTION:.0%} of the memoryless baseline; "
        f"accuracy: mean over seeds{adding}"
    )
    return "\n".join(lines)
