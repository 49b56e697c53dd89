"""Three sizes for every experiment: ci (seconds, for CI), cpu (a laptop, minutes), gpu (full scale).

``active_profile()`` reads COURSE_LSTM_PROFILE once; without it, gpu when CUDA is there, else cpu.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from course_lstm.models import Implementation

ENVIRONMENT_VARIABLE = "COURSE_LSTM_PROFILE"
THREADS_VARIABLE = "COURSE_LSTM_THREADS"  # overrides the profile's threads (the portability matrix uses 2)


@dataclass(frozen=True)
class Profile:
    """Sizes shared by the experiments. ``lags`` are the adding problem's sequence lengths T and
    the copy task's lags; ``probe_lag`` is the one lag used by single-lag experiments.

    The ci profile is the smallest that still shows the lag sweep's result (measured: at T = 25
    the LSTM solved the adding problem in 3 of 3 seeds, median 350 steps, the RNN in 0 of 3;
    the profile runs 2 seeds to stay within CI's time)."""

    name: str
    lags: tuple[int, ...]
    copy_lags: tuple[int, ...]
    probe_lag: int
    hidden_size: int
    batch_size: int
    steps: int
    seeds: int
    lr: float
    eval_every: int
    eval_batch_size: int
    implementation: Implementation  # "torch": nn.RNN/nn.LSTM cores, state_dict-equal to the readable ones
    device: str
    threads: int | None  # CPU threads for torch; None: torch's default

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES = {
    "ci": Profile(
        name="ci",
        lags=(5, 25),
        copy_lags=(5,),
        probe_lag=25,
        hidden_size=32,
        batch_size=64,
        steps=800,
        seeds=2,
        lr=1e-2,
        eval_every=50,
        eval_batch_size=256,
        implementation="torch",
        device="cpu",
        threads=1,
    ),
    "cpu": Profile(
        name="cpu",
        lags=(10, 25, 50, 100),
        copy_lags=(10, 25),
        probe_lag=50,
        hidden_size=32,
        batch_size=64,
        steps=1500,
        seeds=3,
        lr=1e-2,
        eval_every=100,
        eval_batch_size=512,
        implementation="torch",
        device="cpu",
        threads=1,
    ),
    "gpu": Profile(
        name="gpu",
        lags=(25, 50, 100, 200, 400, 750),
        copy_lags=(25, 50, 100, 200),
        probe_lag=100,
        hidden_size=128,
        batch_size=128,
        steps=10_000,
        seeds=5,
        lr=3e-3,
        eval_every=250,
        eval_batch_size=1024,
        implementation="torch",
        device="cuda",
        threads=None,
    ),
}


def default_profile_name() -> str:
    """gpu when CUDA is available, else cpu."""
    return "gpu" if torch.cuda.is_available() else "cpu"


def get_profile(name: str | None = None) -> Profile:
    """The profile called ``name``; None: COURSE_LSTM_PROFILE, or the hardware's default."""
    chosen = name or os.environ.get(ENVIRONMENT_VARIABLE) or default_profile_name()
    source = (
        ""
        if name or not os.environ.get(ENVIRONMENT_VARIABLE)
        else (f" (from the environment variable {ENVIRONMENT_VARIABLE})")
    )
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r}{source}; expected one of {', '.join(PROFILES)}")
    profile = PROFILES[chosen]
    if profile.device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"profile {chosen!r}{source} needs a CUDA GPU, but torch.cuda.is_available() is False; "
            f"use the cpu profile (--profile cpu on the command line, {ENVIRONMENT_VARIABLE}=cpu elsewhere)"
        )
    return profile


def threads_wanted(profile: Profile) -> int | None:
    """CPU threads: COURSE_LSTM_THREADS if set (a positive integer), else the profile's."""
    value = os.environ.get(THREADS_VARIABLE)
    if value is None:
        return profile.threads
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_VARIABLE} must be a positive integer, got {value!r}")
    return int(value)


def apply_threads(profile: Profile) -> None:
    """Use the profile's number of CPU threads. The ci and cpu models are small: one thread is
    as fast as two on an idle machine, and ten times faster on a busy one (measured on 2 cores:
    the ci lag sweep took 29 s with one thread and 309 s with two while other jobs ran)."""
    threads = threads_wanted(profile)
    if threads is not None:
        torch.set_num_threads(threads)


def active_profile() -> Profile:
    """The profile a notebook or command uses when none is named."""
    return get_profile(None)
