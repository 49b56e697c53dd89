"""The statistics behind the study's verdicts: an interval on every success rate, and a test.

Success rates over a handful of seeds are counts, k of n: ``wilson_interval`` gives the 95%
Wilson score interval (exact enough at n = 5, unlike the normal approximation), and
``fisher_exact_greater`` the one-sided p-value that one model succeeds more often than another.
"""

from __future__ import annotations

import itertools
import math


def _check_counts(k: int, n: int) -> None:
    if not (isinstance(k, int) and isinstance(n, int)) or isinstance(k, bool) or isinstance(n, bool):
        raise TypeError(f"k and n must be integers, got {type(k).__name__} and {type(n).__name__}")
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"expected 0 <= k <= n and n >= 1, got k = {k}, n = {n}")


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval (95% for the default z) for a rate of k successes in n trials."""
    _check_counts(k, n)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def fisher_exact_greater(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided Fisher exact test: the probability, with the margins fixed and no difference
    between the groups, of group 1 having k1 or more of all k1 + k2 successes (hypergeometric)."""
    _check_counts(k1, n1)
    _check_counts(k2, n2)
    total, successes = n1 + n2, k1 + k2
    ways = math.comb(total, successes)
    tail = sum(math.comb(n1, k) * math.comb(n2, successes - k) for k in range(k1, min(n1, successes) + 1))
    return tail / ways


def mann_whitney_greater(first: list[float], second: list[float]) -> float:
    """One-sided exact Mann–Whitney U test: the probability, under every equally likely split of
    the pooled values into groups of the two sizes, of a U statistic for ``first`` at least the
    observed one (ties count one half). Exact by enumeration; at most 20 values in all."""
    n1, n2 = len(first), len(second)
    if n1 < 1 or n2 < 1:
        raise ValueError(f"both groups need at least one value, got {n1} and {n2}")
    if n1 + n2 > 20:
        raise ValueError(f"the exact test enumerates every split: at most 20 values, got {n1 + n2}")
    pooled = [float(v) for v in (*first, *second)]
    if not all(math.isfinite(v) for v in pooled):
        raise ValueError("the values must be finite numbers")

    def u(chosen: tuple[int, ...]) -> float:
        inside = set(chosen)
        rest = [pooled[j] for j in range(len(pooled)) if j not in inside]
        return sum((a > b) + 0.5 * (a == b) for a in (pooled[i] for i in chosen) for b in rest)

    observed = u(tuple(range(n1)))
    splits = list(itertools.combinations(range(n1 + n2), n1))
    return sum(u(split) >= observed - 1e-9 for split in splits) / len(splits)


T_975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281)
"""Student's t quantile t_{0.975, df} for df = 1..10: the 95% two-sided critical values."""


def t_interval(values: list[float]) -> tuple[float, float]:
    """The 95% Student t interval for the mean of 2 to 11 values (seeds): mean ± t s / sqrt(n)."""
    n = len(values)
    if not 2 <= n <= len(T_975) + 1:
        raise ValueError(f"a t interval here needs 2 to {len(T_975) + 1} values, got {n}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError("the values must be finite numbers")
    mean = sum(values) / n
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = T_975[n - 2] * spread / math.sqrt(n)
    return mean - half, mean + half
