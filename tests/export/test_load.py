"""A bounded load test: concurrent clients of an exported SavedModel get the sequential answers."""

import json

import numpy as np
import pytest
from conftest import REPO_ROOT, run_python

NUM_REQUESTS, THREADS = 200, 8


@pytest.mark.heavy
def test_concurrent_clients_of_mixed_lengths_get_the_sequential_answers(classifier_model_base, sst2_dev_sentences, tmp_path):
    rng = np.random.default_rng(0)
    requests = []
    for _ in range(NUM_REQUESTS):  # 1-8 rows of 1-30 sentences: 10 to ~3,000 characters each.
        rows = int(rng.integers(1, 9))
        requests.append({"text": [
            " ".join(rng.choice(sst2_dev_sentences, int(rng.integers(1, 31)))) for _ in range(rows)
        ]})
    (tmp_path / "requests.json").write_text(json.dumps(requests))
    stdout = run_python(
        None, str(REPO_ROOT / "tests" / "export" / "load_client.py"), str(classifier_model_base / "1"),
        str(tmp_path / "requests.json"), str(THREADS), timeout=600,
    )
    report = json.loads(stdout.splitlines()[-1])
    print(f"\nload test: {report}")
    assert report["requests"] == NUM_REQUESTS and report["threads"] == THREADS
    assert report["mismatches"] == []
    assert 0 < report["p50_ms"] <= report["p99_ms"]
