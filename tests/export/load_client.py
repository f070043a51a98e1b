"""A bounded load test of an exported SavedModel, run as its own serving process.

    python tests/export/load_client.py <version_dir> <requests.json> <threads>

`requests.json` holds a list of requests, each `{input name: [strings]}`.
Each request is answered once alone (sequentially), then all of them by
`threads` concurrent clients calling the loaded `serving_default`; every
concurrent answer must equal its sequential one. Prints one JSON line:
`requests`, `threads`, `mismatches` (request indices), `p50_ms`, `p99_ms`
(the concurrent calls' latencies), `seconds` (the concurrent phase).
Bounded: a fixed number of requests, and every wait has a timeout.
"""

import concurrent.futures
import json
import sys
import time

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the signature's text ops)

REQUEST_TIMEOUT_SECONDS = 60


def same(value, expected):
    """Equal, floats up to summation order (threads may split kernels differently)."""
    if value.dtype.kind == "f":
        return value.shape == expected.shape and np.allclose(value, expected, atol=1e-5)
    return np.array_equal(value, expected)


def main(version_dir, requests_path, threads):
    signature = tf.saved_model.load(version_dir).signatures["serving_default"]
    with open(requests_path, encoding="utf-8") as file:
        requests = json.load(file)

    def call(request):
        start = time.perf_counter()
        outputs = signature(**{name: tf.constant(values) for name, values in request.items()})
        return {name: value.numpy() for name, value in outputs.items()}, time.perf_counter() - start

    sequential = [call(request)[0] for request in requests]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(call, request) for request in requests]
        concurrent_results = [future.result(timeout=REQUEST_TIMEOUT_SECONDS) for future in futures]
    seconds = time.perf_counter() - start
    mismatches = [
        index
        for index, ((outputs, _), expected) in enumerate(zip(concurrent_results, sequential))
        if set(outputs) != set(expected) or not all(same(outputs[name], expected[name]) for name in expected)
    ]
    latencies_ms = np.array([latency for _, latency in concurrent_results]) * 1000
    print(json.dumps({
        "requests": len(requests),
        "threads": threads,
        "mismatches": mismatches,
        "p50_ms": round(float(np.percentile(latencies_ms, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies_ms, 99)), 2),
        "seconds": round(seconds, 2),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
