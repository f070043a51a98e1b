"""Timing and memory measurement shared by every benchmark worker."""

import resource
import statistics
import time


def peak_rss_mb():
    """Peak resident set size of this process so far, in MiB (Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def warm_up(function, calls):
    """Makes `calls` untimed calls; returns the first one's seconds.

    The first call includes tracing and XLA compilation. `function` must
    block until its result is computed (return numpy or call
    `.numpy()`/`.item()`), so wall time covers the work.
    """
    if calls < 1:
        raise ValueError(f"`calls` must be at least 1. Received: calls={calls}")
    start = time.perf_counter()
    function()
    first_call_s = time.perf_counter() - start
    for _ in range(calls - 1):
        function()
    return first_call_s


def summarize(first_call_s, times):
    """Timing fields of a result: `first_call_s`, `times_s`, `median_s`, `min_s`."""
    if not times:
        raise ValueError("No timed calls to summarize.")
    return {
        "first_call_s": first_call_s,
        "times_s": list(times),
        "median_s": statistics.median(times),
        "min_s": min(times),
    }
