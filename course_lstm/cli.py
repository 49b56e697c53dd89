"""The command line: ``python -m course_lstm doctor | experiment NAME | study | student | bench``.

``doctor`` tells a learner whether the course will run and how to fix what is missing;
``experiment`` runs a named sweep and writes its JSON result with provenance; ``study`` runs the
study's fixed protocol (tuning, then evaluation seeds) in parallel, cached; ``student`` writes
the student copies of the notebooks, solutions stubbed out; ``bench`` times the fast LSTM
against torch.nn.LSTM.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys
from pathlib import Path

import torch

from course_lstm import experiments, profiles, results

SETUP_FIX = "run `make lab` in the course folder (it installs everything pinned into .venv)"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def doctor_report() -> list[tuple[str, bool, str]]:
    """(what, ok, detail or fix) for everything the course needs."""
    checks = []
    python = platform.python_version()
    checks.append(("Python", sys.version_info[:2] == (3, 11),
                   python if sys.version_info[:2] == (3, 11)
                   else f"{python}; the course is pinned for 3.11: {SETUP_FIX} with Python 3.11"))
    checks.append(("PyTorch", True, torch.__version__))
    if torch.cuda.is_available():
        device = f"CUDA GPU: {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device = "Apple GPU (MPS)"
    else:
        device = "CPU only (fine: every notebook runs on a CPU in the cpu and ci profiles)"
    checks.append(("Device", True, device))
    for name, package in (("JupyterLab", "jupyterlab"), ("ipywidgets", "ipywidgets"),
                          ("widgets frontend", "jupyterlab_widgets")):
        version = _version(package)
        checks.append((name, version is not None,
                       version or f"not installed; sliders will not show: {SETUP_FIX}"))
    try:
        profile = profiles.active_profile()
        checks.append(("Profile", True, f"{profile.name} (set {profiles.ENVIRONMENT_VARIABLE}=ci|cpu|gpu to change)"))
    except ValueError as error:
        checks.append(("Profile", False, str(error)))
    return checks


def doctor() -> int:
    report = doctor_report()
    width = max(len(what) for what, _, _ in report)
    for what, ok, detail in report:
        print(f"{'ok ' if ok else 'FIX'}  {what:<{width}}  {detail}")
    missing = sum(not ok for _, ok, _ in report)
    print("Everything the course needs is here." if not missing
          else f"{missing} thing(s) to fix, see FIX above.")
    return 0 if not missing else 1


def experiment(name: str, profile: str | None, out: Path, steps: int | None, command: str) -> int:
    overrides = {} if steps is None else {"steps": steps}
    result = experiments.run_experiment(name, profile, command=command, **overrides)
    path = results.save(result, out)
    print(experiments.format_table(experiments.success_table(result["rows"])))
    provenance = result["provenance"]
    seconds = provenance["wall_seconds"]
    took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    print(f"\n{len(result['rows'])} runs in {took} on "
          f"{provenance['device']} (profile {provenance['profile']}); wrote {path}")
    return 0


def _writable(out: Path) -> None:
    """Refuse an --out folder that cannot be written before any minute of work is spent."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".course_lstm_write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise SystemExit(f"cannot write results to {out}: {error.strerror or error}") from None


def study(protocol: str, workers: int, cache: Path | None, out: Path, command: str) -> int:
    from course_lstm import study as the_study  # here: joblib is needed by this command only

    if workers < 1:
        raise SystemExit(f"--workers must be at least 1, got {workers}")
    if protocol not in the_study.STUDIES:
        raise SystemExit(f"unknown --protocol {protocol!r}; expected one of {', '.join(the_study.STUDIES)}")
    _writable(out)
    result = the_study.run_study(protocol, workers, None if cache is None else str(cache), command=command)
    path = results.save(result, out)
    print(the_study.format_summary(result["summary"]))
    seconds = result["provenance"]["wall_seconds"]
    print(f"\n{len(result['rows'])} runs in {seconds / 60:.1f} min with {workers} worker(s); wrote {path}")
    return 0


def student(notebooks: Path, out: Path) -> int:
    # Imported here: doctor must run even where nbformat is missing.
    from course_lstm.student import write_student_copies

    written = write_student_copies(notebooks, out)
    for path, exercises in written:
        print(f"{path}  ({exercises} exercise{'s' if exercises != 1 else ''} stubbed)")
    print(f"{len(written)} student notebooks in {out}/: solutions replaced by stubs, outputs cleared.")
    return 0


def bench(device: str | None, quick: bool, threads: int | None, out: Path, command: str) -> int:
    from course_lstm import bench as benchmark  # here: the other commands need none of it

    if threads is not None:
        if threads < 1:
            raise SystemExit(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        result = benchmark.run_bench(device, quick=quick, command=command)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    path = results.save(result, out)
    print(benchmark.format_table(result))
    failed = [f"{r['variant']} ({r['size']})" for r in result["rows"] if r["status"] == "failed"]
    print(f"\nwrote {path}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lstm", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check the environment and say how to fix it")
    run = commands.add_parser("experiment", help="run a named experiment and write its JSON result")
    run.add_argument("name", choices=list(experiments.EXPERIMENTS))
    run.add_argument("--profile", choices=list(profiles.PROFILES),
                     help=f"default: ${profiles.ENVIRONMENT_VARIABLE}, else gpu if CUDA is there, else cpu")
    run.add_argument("--out", type=Path, default=Path("results"), help="folder for the JSON (default: results/)")
    run.add_argument("--steps", type=int, help="override the profile's training steps per run")
    survey = commands.add_parser("study", help="the study's protocol: tune each model, evaluate on fresh seeds")
    survey.add_argument("--protocol", default="cpu", help="ci (seconds, a smoke test), cpu (the lag study, default), ci-mechanisms or cpu-mechanisms (the rest)")
    survey.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    survey.add_argument("--cache", type=Path, help="folder caching every finished run: a rerun resumes")
    survey.add_argument("--out", type=Path, default=Path("results"), help="folder for the JSON (default: results/)")
    claims = commands.add_parser("ledger", help="the claims ledger, from the shipped study")
    claims.add_argument("--write", type=Path, help="fill the ledger block of this file (the README) instead of printing")
    copies = commands.add_parser("student", help="write student copies of the notebooks, solutions stubbed out")
    copies.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="default: notebooks/")
    copies.add_argument("--out", type=Path, default=Path("student"), help="default: student/")
    timing = commands.add_parser("bench", help="time the fast LSTM's variants against torch.nn.LSTM")
    timing.add_argument("--device", help="cpu or cuda (default: cuda if available, else cpu)")
    timing.add_argument("--quick", action="store_true", help="tiny sizes and few repeats: a smoke test")
    timing.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's own)")
    timing.add_argument("--out", type=Path, default=Path("results"), help="folder for the JSON (default: results/)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor()
    if args.command == "student":
        return student(args.notebooks, args.out)
    command = " ".join([parser.prog, *argv])
    if args.command == "bench":
        return bench(args.device, args.quick, args.threads, args.out, command)
    if args.command == "ledger":
        from course_lstm import ledger

        if args.write is None:
            print(ledger.markdown(), end="")
            return 0
        try:
            changed = ledger.write_into(str(args.write))
        except (OSError, ValueError) as error:
            raise SystemExit(str(error)) from None
        print(f"{args.write}: ledger {'updated' if changed else 'already up to date'}")
        return 0
    if args.command == "study":
        return study(args.protocol, args.workers, args.cache, args.out, command)
    return experiment(args.name, args.profile, args.out, args.steps, command)
