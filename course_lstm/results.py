"""Experiment results as JSON files: the numbers, the configuration, and where they came from.

``provenance()`` records profile, device, versions, git commit, date and wall time; ``load``
validates a file before anyone plots it. Full-scale results ship in ``course_lstm/results/``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import subprocess
from pathlib import Path

import torch

import course_lstm

SCHEMA_VERSION = 1
SHIPPED = Path(__file__).resolve().parent / "results"
"""Where full-scale results produced by ``python -m course_lstm experiment`` are shipped."""

REQUIRED = {"schema": int, "experiment": str, "config": dict, "rows": list, "provenance": dict}
PROVENANCE_REQUIRED = {
    "profile": str, "device": str, "torch": str, "python": str, "course_lstm": str,
    "git_commit": str, "date": str, "wall_seconds": (int, float), "command": str,
}


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
        "isa_limits": {key: os.environ[key] for key in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")
                       if key in os.environ},
    }


def git_commit() -> str:
    """The project's git commit, with "+dirty" when the working tree has changes; "unknown"
    outside a git checkout (an installed package)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def provenance(
    profile: str, device: str, wall_seconds: float, command: str, commit: str, started: str
) -> dict:
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


def validate(result: object, source: str = "result") -> dict:
    """Raise ValueError naming the first missing or mistyped field; return ``result``."""
    if not isinstance(result, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(result).__name__}")
    for fields, where in ((REQUIRED, result), (PROVENANCE_REQUIRED, result.get("provenance", {}))):
        for key, kind in fields.items():
            if key not in where:
                raise ValueError(f"{source}: missing field {key!r}")
            if not isinstance(where[key], kind) or isinstance(where[key], bool):
                expected = kind.__name__ if isinstance(kind, type) else "number"
                raise ValueError(
                    f"{source}: field {key!r} should be {expected}, got {type(where[key]).__name__}"
                )
    if result["schema"] != SCHEMA_VERSION:
        raise ValueError(f"{source}: schema {result['schema']}, this code reads {SCHEMA_VERSION}")
    if not all(isinstance(row, dict) for row in result["rows"]):
        raise ValueError(f"{source}: every row must be a JSON object")
    return result


def save(result: dict, out_dir: str | Path) -> Path:
    """Validate and write ``result`` to ``out_dir/<experiment>-<profile>.json``; return the path."""
    validate(result)
    path = Path(out_dir) / f"{result['experiment']}-{result['provenance']['profile']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    return path


def load(path: str | Path) -> dict:
    """Read and validate a result file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    return validate(data, source=str(path))


def provenance_line(result: dict) -> str:
    """One line saying where a result came from: profile, hardware, torch, date and commit."""
    p = result["provenance"]
    cpu = p.get("hardware", {})
    where = p["device"] if not (cpu and p["device"].startswith("CPU")) else (
        f"{cpu['cpu']} ({cpu['cpu_capability']}, {cpu['threads']} thread{'' if cpu['threads'] == 1 else 's'})")
    return (f"{p['profile']} profile, {where}, torch {p['torch']}, {p['date'][:10]}, "
            f"commit {p['git_commit'][:7]}")


def shipped(experiment: str, profile: str = "gpu") -> dict | None:
    """The shipped full-scale result of ``experiment``, or None where none has been produced."""
    path = SHIPPED / f"{experiment}-{profile}.json"
    return load(path) if path.exists() else None
