"""A bounded load test: concurrent clients of an exported SavedModel get the sequential answers."""

import json

import numpy as np
import pytest
from conftest import REPO_ROOT, run_python, sharpen_head, tiny_backbone

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
    report = load_test(str(classifier_model_base / "1"), requests, tmp_path)
    print(f"\nload test, classifier: {report}")


@pytest.mark.heavy
def test_concurrent_clients_of_a_question_answerer_get_the_sequential_answers(albert_tokenizer, sst2_dev_sentences, tmp_path):
    import keras_albert
    from export.saved_model import export_saved_model

    reader = keras_albert.AlbertQuestionAnswerer(tiny_backbone(albert_tokenizer, seed=6))
    sharpen_head(reader, "span_logits")
    path = export_saved_model(
        reader, albert_tokenizer, str(tmp_path / "reader"), sequence_length=48, doc_stride=16, max_query_length=12,
        version_2_with_negative=True,
    )
    rng = np.random.default_rng(1)
    requests = []
    for _ in range(NUM_REQUESTS // 2):  # 1-4 questions, contexts of 1-20 sentences: 1 to ~50 windows each.
        rows = int(rng.integers(1, 5))
        requests.append({
            "question": [str(rng.choice(sst2_dev_sentences))[:60] for _ in range(rows)],
            "context": [" ".join(rng.choice(sst2_dev_sentences, int(rng.integers(1, 21)))) for _ in range(rows)],
        })
    report = load_test(path, requests, tmp_path)
    print(f"\nload test, question answerer: {report}")


def load_test(version_dir, requests, tmp_path):
    """`load_client.py`'s report on `requests` in a fresh process, checked."""
    (tmp_path / "requests.json").write_text(json.dumps(requests))
    stdout = run_python(
        None, str(REPO_ROOT / "tests" / "export" / "load_client.py"), version_dir,
        str(tmp_path / "requests.json"), str(THREADS), timeout=600,
    )
    report = json.loads(stdout.splitlines()[-1])
    assert report["requests"] == len(requests) and report["threads"] == THREADS
    assert report["mismatches"] == []
    assert 0 < report["p50_ms"] <= report["p99_ms"]
    return report
