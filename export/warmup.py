"""TF Serving warmup requests (`assets.extra/tf_serving_warmup_requests`).

TF Serving replays these `PredictionLog` records when it loads a model
version, before the version takes traffic, so that the first real requests
do not pay for graph optimization and kernel initialization. The file is a
TFRecord file of serialized `tensorflow_serving.apis.PredictionLog` protos
(at most 1000 records), as in TF Serving's "SavedModel Warmup" guide.

Example:
```python
write_warmup_requests(
    "models/albert_sst2/1",
    [("serving_default", {"text": ["a charming film"]})],
)
read_warmup_requests("models/albert_sst2/1")
# [('serving_default', {'text': array([b'a charming film'], dtype=object)})]
```
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

ASSETS_EXTRA_DIRNAME = "assets.extra"
WARMUP_FILENAME = "tf_serving_warmup_requests"
# TF Serving reads no more than this many records (`kMaxNumRecords`).
MAX_WARMUP_RECORDS = 1000


def warmup_path(saved_model_dir):
    """Where TF Serving looks for the warmup file of a SavedModel directory."""
    return os.path.join(saved_model_dir, ASSETS_EXTRA_DIRNAME, WARMUP_FILENAME)


def predict_log(signature_name, inputs, model_name=None):
    """A `PredictionLog` holding one Predict request.

    Args:
        signature_name: str.
        inputs: dict of input name -> array-like (strings as str or bytes).
        model_name: optional str; TF Serving ignores it during warmup.
    """
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name or "", signature_name=signature_name)
    )
    for name, value in inputs.items():
        array = np.asarray(value)
        if array.dtype.kind == "U":
            array = np.char.encode(array, "utf-8").astype(object)
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def write_warmup_requests(saved_model_dir, requests, model_name=None):
    """Writes `assets.extra/tf_serving_warmup_requests` into a SavedModel.

    Args:
        saved_model_dir: the version directory (`<model_base>/<version>`).
        requests: list of `(signature_name, inputs)` pairs, `inputs` a dict
            of input name -> array-like.
        model_name: optional str stored in the requests' model specs.

    Returns:
        The path of the written file.
    """
    requests = list(requests)
    if not requests:
        raise ValueError("`requests` is empty: a warmup file needs at least one request.")
    if len(requests) > MAX_WARMUP_RECORDS:
        raise ValueError(
            f"TF Serving reads at most {MAX_WARMUP_RECORDS} warmup records; received {len(requests)}."
        )
    path = warmup_path(saved_model_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name, inputs in requests:
            writer.write(predict_log(signature_name, inputs, model_name).SerializeToString())
    return path


def read_warmup_requests(saved_model_dir):
    """The `(signature_name, {input name: numpy array})` pairs of a warmup file."""
    path = warmup_path(saved_model_dir)
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist: the SavedModel has no warmup file.")
    requests = []
    for index, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if not log.HasField("predict_log"):
            raise ValueError(f"{path}: record {index} is a {log.WhichOneof('log_type')}, not a predict_log.")
        request = log.predict_log.request
        requests.append(
            (
                request.model_spec.signature_name,
                {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()},
            )
        )
    return requests
