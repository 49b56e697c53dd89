"""The portability matrix (``make test-portability``): every notebook under strict nbval, once per
hardware setting, and each notebook assert's margin in every setting.

oneDNN, MKL and ATen choose kernels by instruction set, so trained numbers differ between CPUs;
these settings make this one CPU imitate others (and a second thread changes reduction orders).
A setting passes when strict nbval passes: what it compares as text must not depend on the
hardware, and every claim asserted must hold. Usage:
    python -m tools.portability [--settings default,sse41,avx2,threads2] [--out _build/portability]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from course_lstm import results
from tools import assert_margins

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "default": {},
    "sse41": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "MKL_CBWR": "AVX512"},
    "threads2": {"COURSE_LSTM_THREADS": "2", "OMP_NUM_THREADS": "2"},
}
NBVAL = ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg"]
STARTUP = """\
from tools import assert_margins
assert_margins.install({records!r})
"""


def run_setting(name: str, out: Path, workers: int, notebooks: list[str]) -> int:
    """Strict nbval of the notebooks under one setting, recording assert margins; its exit code."""
    folder = out / name
    ipython = folder / "ipython"
    startup = ipython / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    records = folder / "asserts.jsonl"
    records.unlink(missing_ok=True)
    (startup / "00-assert-margins.py").write_text(STARTUP.format(records=str(records)), encoding="utf-8")
    env = {
        **os.environ,
        "COURSE_LSTM_PROFILE": "ci",
        "OMP_NUM_THREADS": "1",
        "IPYTHONDIR": str(ipython),
        # the kernels run in notebooks/; the startup file imports tools.assert_margins from the root
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **SETTINGS[name],
    }
    command = [sys.executable, "-m", "pytest", *notebooks, *NBVAL, "-q", "-p", "no:cacheprovider"]
    workers = max(1, workers // int(env.get("COURSE_LSTM_THREADS", "1")))  # no more threads than cores
    if workers > 1:
        command += ["-n", str(workers), "--dist", "loadfile"]
    print(f"== {name}: {' '.join(f'{k}={v}' for k, v in SETTINGS[name].items()) or '(as the CPU is)'}", flush=True)
    with open(folder / "pytest.log", "w", encoding="utf-8") as log:
        code = subprocess.call(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    tail = (folder / "pytest.log").read_text(encoding="utf-8").strip().splitlines()[-1:]
    print(
        f"   {'passed' if code == 0 else 'FAILED'}: {tail[0] if tail else ''} (log: {folder / 'pytest.log'})",
        flush=True,
    )
    return code


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settings", default="default,sse41,avx2,threads2", help=f"comma-separated, of: {', '.join(SETTINGS)}"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "portability")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (one notebook each)")
    parser.add_argument("notebooks", nargs="*", default=["notebooks"])
    args = parser.parse_args(argv)
    names = args.settings.split(",")
    unknown = [name for name in names if name not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting(s) {', '.join(unknown)}; expected some of {', '.join(SETTINGS)}")
    commit, started = results.git_commit(), results.now()  # before the run: the tree may change
    args.out = args.out.resolve()  # the kernels run in notebooks/: a relative path would land there
    args.out.mkdir(parents=True, exist_ok=True)
    failed = [name for name in names if run_setting(name, args.out, args.workers, args.notebooks) != 0]
    unrecorded = [name for name in names if not (args.out / name / "asserts.jsonl").exists()]
    if unrecorded:
        print(f"no assert was recorded in {', '.join(unrecorded)}: the IPython startup file did not run")
        return 1
    rows = assert_margins.summarise({n: args.out / n / "asserts.jsonl" for n in names}, ROOT / "notebooks")
    report = args.out / "margins.md"
    cpu = results.hardware()
    report.write_text(
        "Smallest relative slack of each notebook assert's comparisons, per setting "
        "(negative: it failed; tightest first).\n\n"
        f"Measured on {cpu['cpu']} ({cpu['machine']}, {cpu['cpu_capability']} as it is), torch "
        f"{torch.__version__}, MKL {cpu['mkl']}, oneDNN {cpu['onednn']}, commit "
        f"{commit[:12]}, started {started}, with `python -m tools.portability "
        f"--settings {args.settings}`.\n\n" + assert_margins.markdown(rows, names),
        encoding="utf-8",
    )
    tight = [row for row in rows if row["min"] < 0.1]
    print(f"{len(rows)} asserts measured; {len(tight)} with a slack under 0.1 in some setting (table: {report})")
    for row in tight:
        print(textwrap.shorten(f"   {row['min']:+.3f}  {row['assert']}", 110))
    if failed:
        print(f"FAILED settings: {', '.join(failed)}")
        return 1
    print(f"all {len(names)} settings passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
