"""The command line: ``python -m course_lstm doctor | experiment NAME | study | text | ledger | student | bench``.

``doctor`` tells a learner whether the course will run and how to fix what is missing;
``experiment`` runs a named sweep and writes its JSON result with provenance; ``study`` runs the
study's fixed protocol (tuning, then evaluation seeds) in parallel, cached; ``student`` writes
the student copies of the notebooks, solutions stubbed out; ``bench`` times the fast LSTM
against torch.nn.LSTM.

Every argument, and the folder a command writes to, is checked before any work starts. A
mistake the CLI can foresee ends with one line on stderr and a nonzero exit status: 2 for what
argparse catches (an unknown choice, ``--steps 0``), 1 for the rest. A result file that exists
is never replaced without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import sys
import tempfile
from collections.abc import Collection
from pathlib import Path
from types import ModuleType

import torch

from course_lstm import profiles, results
from course_lstm.doctor import doctor

PROG = "python -m course_lstm"


class Refused(Exception):
    """A command refused before (or instead of) doing harm; ``main`` prints it as one line."""


# --- checks made before any work ----------------------------------------------------------------


def _positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _import(module: str) -> ModuleType:
    """``module``, or Refused naming what does not import and pointing at doctor."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise Refused(f"{module} cannot start: {error}; `{PROG} doctor` says what to install") from None


def _writable(folder: Path, what: str = "results") -> None:
    """Create ``folder`` and write (then remove) a probe file in it; Refused if either fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".course_lstm-write-test-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise Refused(f"cannot write {what} to {folder}: {error.strerror or error}") from None


def _target(out: Path, experiment: str, profile: str, tag: str | None, overwrite: bool) -> Path:
    """The result file a command will write, checked: ``out`` writable, and the file new
    unless ``overwrite``."""
    try:
        path = results.path_for(out, experiment, profile, tag)
    except ValueError as error:
        raise Refused(str(error)) from None
    _writable(out)
    if path.exists() and not overwrite:
        raise Refused(f"{path} exists; add --overwrite to replace it, or choose another --out folder")
    return path


def _save(result: dict, out: Path, tag: str | None = None, overwrite: bool = False) -> Path:
    """``results.save``; if writing fails after all, the result is kept in a temporary file."""
    try:
        return results.save(result, out, tag=tag, overwrite=overwrite)
    except OSError as error:
        handle, kept = tempfile.mkstemp(prefix=f"{result['experiment']}-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(result, file, indent=1)
        raise Refused(f"could not write the result to {out} ({error}); it is kept in {kept}") from None


def _known(value: str, option: str, choices: Collection[str]) -> None:
    if value not in choices:
        raise Refused(f"unknown {option} {value!r}; expected one of {', '.join(choices)}")


# --- the commands -----------------------------------------------------------------------------


def experiment(
    name: str, profile: str | None, out: Path, steps: int | None, command: str, overwrite: bool = False
) -> int:
    """Run experiment ``name`` and write ``out/NAME-PROFILE.json`` (``-stepsN`` with ``steps``)."""
    experiments = _import("course_lstm.experiments")
    _known(name, "experiment", experiments.EXPERIMENTS)
    try:
        chosen = profiles.get_profile(profile)
        profiles.threads_wanted(chosen)
    except ValueError as error:
        raise Refused(str(error)) from None
    tag = None if steps is None else f"steps{steps}"
    _target(out, name, chosen.name, tag, overwrite)
    overrides = {} if steps is None else {"steps": steps}
    result = experiments.run_experiment(name, chosen, command=command, **overrides)
    path = _save(result, out, tag, overwrite)
    print(experiments.format_table(experiments.success_table(result["rows"])))
    provenance = result["provenance"]
    seconds = provenance["wall_seconds"]
    took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    print(
        f"\n{len(result['rows'])} runs in {took} on "
        f"{provenance['device']} (profile {provenance['profile']}); wrote {path}"
    )
    return 0


def study(protocol: str, workers: int, cache: Path | None, out: Path, command: str, overwrite: bool = False) -> int:
    """Run the study ``protocol`` and write ``out/study-PROTOCOL.json``."""
    the_study = _import("course_lstm.study")  # here: joblib is needed by this command only
    if workers < 1:
        raise Refused(f"--workers must be at least 1, got {workers}")
    _known(protocol, "--protocol", the_study.STUDIES)
    try:
        profiles.threads_wanted(the_study.STUDIES[protocol][0].training())
    except ValueError as error:
        raise Refused(str(error)) from None
    if cache is not None:
        _writable(cache, "the run cache (--cache)")
    _target(out, "study", protocol, None, overwrite)
    result = the_study.run_study(protocol, workers, None if cache is None else str(cache), command=command)
    path = _save(result, out, overwrite=overwrite)
    print(the_study.format_summary(result["summary"]))
    seconds = result["provenance"]["wall_seconds"]
    print(f"\n{len(result['rows'])} runs in {seconds / 60:.1f} min with {workers} worker(s); wrote {path}")
    return 0


def text(protocol: str, workers: int, cache: Path | None, out: Path, command: str, overwrite: bool = False) -> int:
    """Run the real-text study ``protocol``; write ``out/text-PROTOCOL.json`` and the kept LSTM's
    weights, ``out/text-PROTOCOL-lstm.pt``."""
    text_study = _import("course_lstm.text_study")
    _known(protocol, "--protocol", text_study.PROTOCOLS)
    if cache is not None:
        _writable(cache, "the run cache (--cache)")
    path = _target(out, "text", protocol, None, overwrite)
    weights = path.with_name(path.stem + "-lstm.pt")
    if weights.exists() and not overwrite:
        raise Refused(f"{weights} exists; add --overwrite to replace it, or choose another --out folder")
    result = text_study.run_text_study(protocol, workers, None if cache is None else str(cache), command=command)
    try:
        path = text_study.save_text_study(result, out, overwrite=overwrite)
    except OSError as error:
        raise Refused(f"could not write the result to {out} ({error})") from None
    print(text_study.format_summary(results.load(path)))
    seconds = result["provenance"]["wall_seconds"]
    print(
        f"\n{len(result['rows'])} runs in {seconds / 60:.1f} min with {workers} worker(s); wrote {path} and {weights.name}"
    )
    return 0


def student(notebooks: Path, out: Path) -> int:
    """Write the student copies of ``notebooks`` into ``out`` (never over the sources)."""
    copies = _import("course_lstm.student")  # here: doctor must run even where nbformat is missing
    try:
        written = copies.write_student_copies(notebooks, out)
    except ValueError as error:
        raise Refused(str(error)) from None
    except OSError as error:
        raise Refused(
            f"cannot write the student copies to {out}: {error.strerror or error}"
            + (f" ({error.filename})" if error.filename else "")
        ) from None
    for path, exercises in written:
        print(f"{path}  ({exercises} exercise{'s' if exercises != 1 else ''} stubbed)")
    print(f"{len(written)} student notebooks in {out}/: solutions replaced by stubs, outputs cleared.")
    return 0


def bench(
    device: str | None,
    quick: bool,
    threads: list[int | str] | None,
    out: Path,
    command: str,
    overwrite: bool = False,
) -> int:
    """Time the fast LSTM against nn.LSTM and write ``out/bench-DEVICE[-quick].json``: with one
    thread count (or none: torch's own) in this process, with several in one process each."""
    benchmark = _import("course_lstm.bench")  # here: the other commands need none of it
    try:
        counts = None if threads is None else benchmark.thread_counts(threads)
    except ValueError as error:
        raise Refused(f"--threads: {error}") from None
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = benchmark.check_device(device)
    except ValueError as error:
        raise Refused(str(error)) from None
    _target(out, "bench", benchmark.result_label(chosen, quick), None, overwrite)
    try:
        if counts is not None and len(counts) > 1:
            result = benchmark.run_threads(counts, device, quick=quick, command=command)
        else:
            if counts is not None:
                torch.set_num_threads(counts[0])
            result = benchmark.run_bench(device, quick=quick, command=command)
    except ValueError as error:
        raise Refused(str(error)) from None
    path = _save(result, out, overwrite=overwrite)
    print(benchmark.format_table(result))
    failed = [f"{r['variant']} ({r['size']})" for r in result["rows"] if r["status"] == "failed"]
    print(f"\nwrote {path}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def ledger(write: Path | None) -> int:
    """Print the claims ledger, or fill its block in ``write``."""
    the_ledger = _import("course_lstm.ledger")
    try:
        if write is None:
            print(the_ledger.markdown(), end="")
            return 0
        changed = the_ledger.write_into(str(write))
    except (OSError, ValueError) as error:
        raise Refused(str(error)) from None
    print(f"{write}: ledger {'updated' if changed else 'already up to date'}")
    return 0


def _experiment_names() -> list[str] | None:
    """The experiments' names for --help; None where the training stack does not import
    (doctor must still run there, and ``experiment`` then says what is missing)."""
    try:
        from course_lstm.experiments import EXPERIMENTS
    except Exception:
        return None
    return list(EXPERIMENTS)


NAMING = (
    "A result is written as OUT/NAME-PROFILE.json; a run shortened with --steps N as "
    "OUT/NAME-PROFILE-stepsN.json, so a smoke run never takes a full run's name. An existing "
    "file is never replaced unless --overwrite is given: the command stops before running."
)


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (every command and option)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check the environment and say how to fix it")
    run = commands.add_parser("experiment", help="run a named experiment and write its JSON result", description=NAMING)
    run.add_argument("name", choices=_experiment_names())
    run.add_argument(
        "--profile",
        choices=list(profiles.PROFILES),
        help=f"default: ${profiles.ENVIRONMENT_VARIABLE}, else gpu if CUDA is there, else cpu",
    )
    run.add_argument("--out", type=Path, default=Path("results"), help="folder for the JSON (default: results/)")
    run.add_argument(
        "--steps",
        type=_positive_int,
        help="override the profile's training steps per run (a smoke test, written as NAME-PROFILE-stepsN.json)",
    )
    run.add_argument("--overwrite", action="store_true", help="replace an existing result file")
    survey = commands.add_parser(
        "study",
        help="the study's protocol: tune each model, evaluate on fresh seeds",
        description="Writes OUT/study-PROTOCOL.json; an existing file is never replaced unless --overwrite is given.",
    )
    survey.add_argument(
        "--protocol",
        default="cpu",
        help="ci (seconds, a smoke test), cpu (the lag study, default), ci-mechanisms or cpu-mechanisms (the rest)",
    )
    survey.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    survey.add_argument("--cache", type=Path, help="folder caching every finished run: a rerun resumes")
    survey.add_argument("--out", type=Path, default=Path("results"), help="folder for the JSON (default: results/)")
    survey.add_argument("--overwrite", action="store_true", help="replace an existing result file")
    reading = commands.add_parser(
        "text",
        help="the real-text study: RNN, LSTM and GRU character models on a book, and sentences",
        description="Writes OUT/text-PROTOCOL.json and OUT/text-PROTOCOL-lstm.pt; existing files are never "
        "replaced unless --overwrite is given.",
    )
    reading.add_argument(
        "--protocol", default="cpu", help="ci (seconds, a smoke test) or cpu (the shipped study, default)"
    )
    reading.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    reading.add_argument("--cache", type=Path, help="folder caching every finished run: a rerun resumes")
    reading.add_argument("--out", type=Path, default=Path("results"), help="folder for the results (default: results/)")
    reading.add_argument("--overwrite", action="store_true", help="replace existing result files")
    claims = commands.add_parser("ledger", help="the claims ledger, from the shipped study")
    claims.add_argument(
        "--write", type=Path, help="fill the ledger block of this file (the README) instead of printing"
    )
    copies = commands.add_parser(
        "student",
        help="write student copies of the notebooks, solutions stubbed out",
        description="Refuses to write over the source notebooks, or over any notebook that holds solution cells.",
    )
    copies.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="default: notebooks/")
    copies.add_argument("--out", type=Path, default=Path("student"), help="default: student/")
    timing = commands.add_parser(
        "bench",
        help="time the fast LSTM's variants against torch.nn.LSTM",
        description="Writes OUT/bench-DEVICE.json (bench-DEVICE-quick.json with "
        "--quick); an existing file is never replaced unless --overwrite is given.",
    )
    timing.add_argument("--device", help="cpu or cuda (default: cuda if available, else cpu)")
    timing.add_argument("--quick", action="store_true", help="tiny sizes and few repeats: a smoke test")
    timing.add_argument(
        "--threads",
        type=_thread_count,
        nargs="+",
        help="CPU thread counts, e.g. 1 2 all; several run one process each (default: torch's own)",
    )
    timing.add_argument("--out", type=Path, default=Path("results"), help="folder for the JSON (default: results/)")
    timing.add_argument("--overwrite", action="store_true", help="replace an existing result file")
    return parser


def _thread_count(text: str) -> int | str:
    """A --threads value: "all", or a positive whole number."""
    if text == "all":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number or 'all', got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status. A refusal raises SystemExit with one line."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    command = " ".join([parser.prog, *argv])
    try:
        if args.command == "doctor":
            return doctor()
        if args.command == "student":
            return student(args.notebooks, args.out)
        if args.command == "ledger":
            return ledger(args.write)
        if args.command == "bench":
            return bench(args.device, args.quick, args.threads, args.out, command, args.overwrite)
        if args.command == "study":
            return study(args.protocol, args.workers, args.cache, args.out, command, args.overwrite)
        if args.command == "text":
            return text(args.protocol, args.workers, args.cache, args.out, command, args.overwrite)
        return experiment(args.name, args.profile, args.out, args.steps, command, args.overwrite)
    except Refused as refusal:
        raise SystemExit(f"{PROG} {args.command}: {refusal}") from None
