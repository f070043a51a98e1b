"""Timing and memory measurement shared by every benchmark worker."""

import resource
import statistics
import time


def peak_rss_mb():
    """Peak resident set size of this process so far, in MiB (Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_calls(function, warmup, repeats):
    """Times `repeats` calls of `function` after `warmup` untimed calls.

    `function` must block until its result is computed (return numpy or
    call `.numpy()`/`.item()`), so wall time covers the work.

    Returns:
        dict: `first_call_s` (the first warm-up call, which includes
        tracing and XLA compilation), `times_s` (the timed calls),
        `median_s`, `min_s`.
    """
    if repeats < 1:
        raise ValueError(f"`repeats` must be at least 1. Received: repeats={repeats}")
    first_call_s = None
    for _ in range(warmup):
        start = time.perf_counter()
        function()
        if first_call_s is None:
            first_call_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return {
        "first_call_s": first_call_s,
        "times_s": times,
        "median_s": statistics.median(times),
        "min_s": min(times),
    }
