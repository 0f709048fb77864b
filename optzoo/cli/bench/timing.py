"""Interleaved timing: every implementation timed in turn inside each round."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable


def time_interleaved(
    runners: dict[str, Callable[[], None]], repeats: int, sample_s: float, warmup: int
) -> dict[str, list[float]]:
    """Median-ready samples of seconds per call, each runner timed in turn per round.

    Each sample runs a runner ``inner`` times in a row (enough calls to last about
    ``sample_s``) and records the mean; the order of runners is shuffled every round.
    """
    names = list(runners)
    inner = {}
    for n in names:
        for _ in range(warmup):
            runners[n]()
        t0 = time.perf_counter()
        runners[n]()
        one = max(time.perf_counter() - t0, 1e-7)
        inner[n] = max(1, min(1000, int(sample_s / one)))
    samples: dict[str, list[float]] = {n: [] for n in names}
    rng = random.Random(0)
    for r in range(repeats):
        # a fresh order each round, so that no runner always follows the same one
        # (torch's and XLA's worker threads spin for a while after a parallel loop
        # and slow down whatever runs next), plus a short pause to let them sleep
        order = names[:]
        rng.shuffle(order)
        for n in order:
            run, k = runners[n], inner[n]
            time.sleep(0.002)
            t0 = time.perf_counter()
            for _ in range(k):
                run()
            samples[n].append((time.perf_counter() - t0) / k)
    return samples


def rel_spread(xs: list[float]) -> float:
    """Median absolute deviation relative to the median."""
    med = statistics.median(xs)
    return statistics.median(abs(x - med) for x in xs) / med if med else 0.0
