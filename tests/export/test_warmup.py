"""TF Serving warmup files: PredictionLog records written and read back."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from export.warmup import MAX_WARMUP_RECORDS, read_warmup_requests, warmup_path, write_warmup_requests


def test_warmup_file_round_trips_requests(tmp_path):
    path = write_warmup_requests(
        str(tmp_path),
        [
            ("serving_default", {"text": ["Crème brûlée", ""]}),
            ("token_ids", {"token_ids": np.array([[2, 7, 3]], np.int32), "padding_mask": np.ones((1, 3), np.int32)}),
        ],
    )
    assert path == warmup_path(str(tmp_path)) == str(tmp_path / "assets.extra" / "tf_serving_warmup_requests")
    requests = read_warmup_requests(str(tmp_path))
    assert [name for name, _ in requests] == ["serving_default", "token_ids"]
    assert requests[0][1]["text"].tolist() == ["Crème brûlée".encode(), b""]
    assert requests[1][1]["token_ids"].dtype == np.int32 and requests[1][1]["token_ids"].tolist() == [[2, 7, 3]]


def test_records_are_prediction_logs_with_predict_requests(tmp_path):
    write_warmup_requests(str(tmp_path), [("serving_default", {"text": ["a"]})], model_name="albert")
    records = list(tf.data.TFRecordDataset(warmup_path(str(tmp_path))).as_numpy_iterator())
    log = prediction_log_pb2.PredictionLog.FromString(records[0])
    assert log.WhichOneof("log_type") == "predict_log"
    assert log.predict_log.request.model_spec.name == "albert"
    assert log.predict_log.request.model_spec.signature_name == "serving_default"


def test_empty_or_too_many_requests_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one request"):
        write_warmup_requests(str(tmp_path), [])
    with pytest.raises(ValueError, match=str(MAX_WARMUP_RECORDS)):
        write_warmup_requests(str(tmp_path), [("serving_default", {"text": ["a"]})] * (MAX_WARMUP_RECORDS + 1))


def test_reading_a_saved_model_without_warmup_names_the_missing_file(tmp_path):
    with pytest.raises(ValueError, match="tf_serving_warmup_requests"):
        read_warmup_requests(str(tmp_path))
