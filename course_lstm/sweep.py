"""Run many training runs in parallel over CPU cores, each finished run cached on disk.

``run_specs(specs, profile, workers=2, cache=".cache/sweep")`` trains every ``RunSpec`` with
joblib: ``Parallel`` spreads the runs over worker processes, ``Memory`` stores each finished
row, so an interrupted sweep started again trains only what is missing. Each run is seeded and
single-threaded, so its row is the same whatever the number of workers. To go beyond one
machine, run it inside ``joblib.parallel_config(backend="dask")`` (or "ray") with a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from joblib import Memory, Parallel, delayed
from tqdm.auto import tqdm

from course_lstm.experiments import RunSpec, train_run
from course_lstm.profiles import Profile, apply_threads

CACHE_VERSION = 1
"""Part of every cached run's key: raise it when a change to training changes what a run gives."""

TIMING_FIELDS = ("seconds",)
"""Row fields that are wall-clock measurements: they differ from run to run, nothing else does."""


def _train(spec: RunSpec, profile: Profile, cache_version: int) -> dict:
    """One run in a worker process: threads as the profile says (one for cpu and ci), then train."""
    apply_threads(profile)
    return train_run(spec, profile)


def run_specs(
    specs: Sequence[RunSpec],
    profile: Profile,
    workers: int = 1,
    cache: str | Path | None = None,
    progress: bool = True,
    description: str = "runs",
) -> list[dict]:
    """Train every spec (``workers`` processes; 1: in this process) and return the rows in the
    order of ``specs``. With ``cache`` (a folder), finished runs are stored there and reused."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive whole number, got {workers!r}")
    if not all(isinstance(spec, RunSpec) for spec in specs):
        raise TypeError("specs must be RunSpec objects (course_lstm.experiments.RunSpec)")
    train = _train if cache is None else Memory(Path(cache), verbose=0).cache(_train)
    jobs = (delayed(train)(spec, profile, CACHE_VERSION) for spec in specs)
    runner = Parallel(n_jobs=workers, return_as="generator", backend="loky" if workers > 1 else "sequential")
    rows = []
    with tqdm(total=len(specs), desc=description, disable=not progress) as bar:
        for row in runner(jobs):
            rows.append(row)
            bar.update()
    return rows


def without_timings(row: dict) -> dict:
    """The row less its wall-clock fields: what must be identical between two runs of a spec."""
    return {key: value for key, value in row.items() if key not in TIMING_FIELDS}
