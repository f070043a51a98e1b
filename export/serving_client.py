"""A client for TF Serving's Predict API over gRPC or REST.

Both transports are built on `tensorflow-serving-api`'s protos (gRPC
`PredictionService`, and for REST the same `SignatureDefMap` parsed from
the metadata JSON), so the two give the same arrays for the same request.

What the client adds over a bare stub:

- batching: inputs of any length are sent in requests of at most
  `batch_size` rows (a batch of zero rows is sent as one empty request, so
  the server defines the output shapes), up to `max_concurrent_requests`
  at a time, and the outputs are put back together in input order;
- the signature is read from the server once (`GetModelMetadata`) and every
  call is checked against it before anything is sent: missing or extra
  inputs, ranks, and dtypes raise `SignatureMismatchError` naming what the
  signature takes;
- errors name the server and model: `ServerUnavailableError` (nothing
  listening, DNS, refused), `ServingTimeoutError` (past `timeout` seconds),
  `ModelNotFoundError` (no such model, version or signature) and
  `ServingError` for anything else the server reports.

Outputs that the server pads per request (e.g. the entities of a batch of
sentences, `[batch, max_entities]`) are padded again across requests with
0, `False` or `b""`, the padding the exported signatures use themselves,
and come with a count output (`num_entities`) that says how much is real.

Example:
```python
client = ServingClient("localhost:8500", "albert_sst2")          # gRPC
client = ServingClient("http://localhost:8501", "albert_sst2")   # REST
outputs = client.predict({"text": ["a charming film", "dull"]})
outputs["label"]  # array([b'1', b'0'], dtype=object)
```

The command line sends text from a file, stdin or `--text` (one example
per line, tab-separated fields as `export.predict` reads them) and writes
`export.predict`'s JSON lines, the task read from the export's task spec:

    python -m export.serving_client --server=localhost:8500 --model_name=albert_sst2 \
        --export_dir=/models/albert_sst2/1 --text="a charming film" --text="dull"
"""

import base64
import concurrent.futures
import http.client
import io
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

import grpc
import numpy as np
import tensorflow as tf
from absl import flags
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

import keras_albert_cli
from keras_albert import flag_ranges, task_spec

DEFAULT_SIGNATURE = "serving_default"


class ServingError(RuntimeError):
    """An error reported by (or about) a TF Serving server."""


class ServerUnavailableError(ServingError, ConnectionError):
    """The server could not be reached."""


class ServingTimeoutError(ServingError, TimeoutError):
    """The server did not answer within the client's timeout."""


class ModelNotFoundError(ServingError, LookupError):
    """The server does not serve the model, version or signature asked for."""


class SignatureMismatchError(ServingError, ValueError):
    """The inputs do not fit the signature the server serves."""


# numpy kinds each TF dtype accepts from callers: strings may come as str,
# bytes or object arrays; ints as any integer type (range-checked on cast).
_DTYPE_KINDS = {
    types_pb2.DT_STRING: ("U", "S", "O"),
    types_pb2.DT_INT32: ("i", "u"),
    types_pb2.DT_INT64: ("i", "u"),
    types_pb2.DT_FLOAT: ("f", "i", "u"),
    types_pb2.DT_DOUBLE: ("f", "i", "u"),
    types_pb2.DT_BOOL: ("b",),
}


def _dtype_name(dtype_enum):
    return types_pb2.DataType.Name(dtype_enum)


def _describe(tensor_infos):
    """`{name: DT_X [d0, d1]}` for error messages."""
    parts = []
    for name, info in sorted(tensor_infos.items()):
        dims = [d.size for d in info.tensor_shape.dim]
        shape = "unknown rank" if info.tensor_shape.unknown_rank else str(dims)
        parts.append(f"{name}: {_dtype_name(info.dtype)} {shape}")
    return "{" + ", ".join(parts) + "}"


def _pad_value(dtype):
    if dtype.kind in ("O", "S", "U"):
        return b""
    return np.zeros((), dtype)


def _concatenate_padded(arrays):
    """Concatenates on axis 0, padding the other axes to the largest size."""
    if len(arrays) == 1:
        return arrays[0]
    target = np.max([a.shape for a in arrays], axis=0)
    padded = []
    for array in arrays:
        widths = [(0, 0)] + [(0, int(t) - s) for t, s in zip(target[1:], array.shape[1:])]
        if any(after for _, after in widths):
            array = np.pad(array, widths, constant_values=_pad_value(array.dtype))
        padded.append(array)
    return np.concatenate(padded, axis=0)


class ServingClient:
    """Calls one signature of one model on a TF Serving server.

    Args:
        address: `"host:port"` of the gRPC API (TF Serving's
            `--port`, default 8500), or `"http://host:port"` of the REST API
            (`--rest_api_port`, usually 8501).
        model_name: str. The model's name on the server (`--model_name`).
        signature_name: str. Default `"serving_default"`.
        version: optional int. A model version; default: the server's
            latest.
        timeout: float. Seconds per request (and for reading the
            signature).
        batch_size: int. Most rows per request.
        max_concurrent_requests: int. Requests in flight at once.

    Thread-safe: one client may be shared by a thread pool.
    """

    def __init__(
        self,
        address,
        model_name,
        signature_name=DEFAULT_SIGNATURE,
        version=None,
        timeout=10.0,
        batch_size=64,
        max_concurrent_requests=4,
    ):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive int. Received: batch_size={batch_size!r}")
        if not isinstance(max_concurrent_requests, int) or max_concurrent_requests < 1:
            raise ValueError(
                "`max_concurrent_requests` must be a positive int. Received: "
                f"max_concurrent_requests={max_concurrent_requests!r}"
            )
        if timeout is None or timeout <= 0:
            raise ValueError(f"`timeout` must be a positive number of seconds. Received: timeout={timeout!r}")
        self.address = address
        self.model_name = model_name
        self.signature_name = signature_name
        self.version = version
        self.timeout = float(timeout)
        self.batch_size = batch_size
        self.max_concurrent_requests = max_concurrent_requests
        if address.startswith(("http://", "https://")):
            self.protocol = "rest"
            self._transport = _RestTransport(self)
        else:
            self.protocol = "grpc"
            self._transport = _GrpcTransport(self)
        self._signature = None
        self._executor = concurrent.futures.ThreadPoolExecutor(max_concurrent_requests)

    def __repr__(self):
        version = "latest" if self.version is None else self.version
        return (
            f"ServingClient({self.protocol} {self.address}, model={self.model_name!r}, "
            f"version={version}, signature={self.signature_name!r})"
        )

    def close(self):
        self._executor.shutdown(wait=True)
        self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def signature(self):
        """The served `SignatureDef` (read from the server once, then cached)."""
        if self._signature is None:
            signatures = self._transport.signature_defs()
            if self.signature_name not in signatures:
                raise ModelNotFoundError(
                    f"{self}: the model has no signature {self.signature_name!r}; it serves "
                    f"{sorted(signatures)}."
                )
            self._signature = signatures[self.signature_name]
        return self._signature

    def predict(self, inputs):
        """Runs the signature on `inputs`, in batches of `batch_size` rows.

        Args:
            inputs: dict of input name -> array-like with the rows on axis 0
                (lists of str or bytes for string inputs). Every input must
                have the same number of rows.

        Returns:
            dict of output name -> numpy array (strings as `bytes` objects),
            rows in input order.
        """
        inputs = self._check_inputs(inputs)
        num_rows = len(next(iter(inputs.values())))
        starts = range(0, max(num_rows, 1), self.batch_size)
        batches = [{name: value[start : start + self.batch_size] for name, value in inputs.items()} for start in starts]
        results = list(self._executor.map(self._transport.predict, batches))
        return {name: _concatenate_padded([result[name] for result in results]) for name in results[0]}

    def predict_rows(self, inputs, spec):
        """`predict`, as one response per row in `export.predict`'s schema for the task.

        Args:
            inputs: as `predict`.
            spec: the served model's `TaskSpec`, e.g.
                `export.saved_model.read_export_spec(version_dir)`.

        Returns:
            list of dicts with the fields `export.predict.RESPONSE_FIELDS[spec.TASK]`.
        """
        from .predict import response_rows

        return response_rows(spec.TASK, self.predict(inputs), spec)

    def _check_inputs(self, inputs):
        """Converts `inputs` to arrays of the signature's dtypes, or raises."""
        signature = self.signature()
        expected = dict(signature.inputs)
        if not isinstance(inputs, dict):
            raise SignatureMismatchError(
                f"{self}: inputs must be a dict of name -> rows; the signature takes {_describe(expected)}. "
                f"Received a {type(inputs).__name__}."
            )
        missing = sorted(set(expected) - set(inputs))
        extra = sorted(set(inputs) - set(expected))
        if missing or extra:
            raise SignatureMismatchError(
                f"{self}: the signature takes {_describe(expected)}; missing inputs {missing}, "
                f"unexpected inputs {extra}."
            )
        arrays = {}
        for name, info in expected.items():
            value = inputs[name]
            if info.dtype == types_pb2.DT_STRING:
                raw = np.asarray(value, dtype=object)
                array = np.empty(raw.shape, dtype=object)
                array.ravel()[:] = [v.encode("utf-8") if isinstance(v, str) else v for v in raw.ravel()]
                bad = [v for v in array.ravel() if not isinstance(v, bytes)]
                if bad:
                    raise SignatureMismatchError(
                        f"{self}: input {name!r} is {_dtype_name(info.dtype)}; received {type(bad[0]).__name__} "
                        f"values such as {bad[0]!r}."
                    )
            else:
                array = np.asarray(value)
                if array.size and array.dtype.kind not in _DTYPE_KINDS.get(info.dtype, ()):
                    raise SignatureMismatchError(
                        f"{self}: input {name!r} is {_dtype_name(info.dtype)}; received {array.dtype} values."
                    )
                target = tf.dtypes.as_dtype(info.dtype).as_numpy_dtype
                if array.dtype.kind in "iu" and np.dtype(target).kind in "iu" and array.size:
                    limits = np.iinfo(target)
                    if array.min() < limits.min or array.max() > limits.max:
                        raise SignatureMismatchError(
                            f"{self}: input {name!r} has values outside {_dtype_name(info.dtype)}'s range."
                        )
                array = array.astype(target)
            if not info.tensor_shape.unknown_rank:
                dims = [d.size for d in info.tensor_shape.dim]
                if array.ndim != len(dims) or any(d != -1 and d != s for d, s in zip(dims[1:], array.shape[1:])):
                    raise SignatureMismatchError(
                        f"{self}: input {name!r} must have shape {dims} (-1: any size); received shape "
                        f"{list(array.shape)}."
                    )
            arrays[name] = array
        row_counts = {name: len(array) for name, array in arrays.items()}
        if len(set(row_counts.values())) > 1:
            raise SignatureMismatchError(f"{self}: every input needs the same number of rows; received {row_counts}.")
        return arrays


class _GrpcTransport:
    """`PredictionService` over gRPC."""

    def __init__(self, client):
        self.client = client
        # Large batches of long texts exceed gRPC's 4 MB default.
        self.channel = grpc.insecure_channel(
            client.address,
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def _model_spec(self, message, signature=True):
        message.model_spec.name = self.client.model_name
        if self.client.version is not None:
            message.model_spec.version.value = int(self.client.version)
        if signature:
            message.model_spec.signature_name = self.client.signature_name

    def _call(self, method, request):
        try:
            return method(request, timeout=self.client.timeout)
        except grpc.RpcError as error:
            raise _grpc_error(self.client, error) from None

    def signature_defs(self):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._model_spec(request, signature=False)
        response = self._call(self.stub.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return dict(signature_map.signature_def)

    def predict(self, batch):
        request = predict_pb2.PredictRequest()
        self._model_spec(request)
        inputs = self.client.signature().inputs
        for name, array in batch.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(array, dtype=inputs[name].dtype))
        response = self._call(self.stub.Predict, request)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def _grpc_error(client, error):
    code, details = error.code(), error.details()
    message = f"{client}: {code.name}: {details}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServerUnavailableError(f"{client}: the server is unreachable ({details}).")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ServingTimeoutError(f"{client}: no answer within {client.timeout} s.")
    if code == grpc.StatusCode.NOT_FOUND:
        return ModelNotFoundError(message)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return SignatureMismatchError(message)
    return ServingError(message)


class _RestTransport:
    """TF Serving's REST API (`/v1/models/...`), JSON in the columnar format."""

    def __init__(self, client):
        self.client = client
        base = client.address.rstrip("/") + f"/v1/models/{client.model_name}"
        if client.version is not None:
            base += f"/versions/{int(client.version)}"
        self.base_url = base

    def close(self):
        pass

    def _request(self, url, body=None):
        """The JSON answer to a GET (or a POST of `body`), all of it within the client's timeout."""
        deadline = time.monotonic() + self.client.timeout
        parts = urllib.parse.urlsplit(url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.netloc, timeout=self.client.timeout)
        try:
            connection.connect()  # Bounded by the socket's timeout.
            # A socket timeout bounds one read or write only: at the deadline
            # the socket is shut, which ends whatever a server trickling its
            # answer (status line, headers or body) keeps the client waiting on.
            watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _shut_down, args=(connection.sock,))
            watchdog.daemon = True
            watchdog.start()
            try:
                connection.request(
                    "GET" if body is None else "POST",
                    urllib.parse.urlunsplit(("", "", parts.path, parts.query, "")),
                    body=None if body is None else json.dumps(body).encode("utf-8"),
                    headers={"Content-Type": "application/json"},
                )
                response = connection.getresponse()
                data = response.read()
            finally:
                watchdog.cancel()
        except (socket.timeout, TimeoutError):
            raise ServingTimeoutError(f"{self.client}: no answer within {self.client.timeout} s.") from None
        except (OSError, http.client.HTTPException) as error:
            if time.monotonic() >= deadline:  # The watchdog shut the socket.
                raise ServingTimeoutError(f"{self.client}: no answer within {self.client.timeout} s.") from None
            raise ServerUnavailableError(f"{self.client}: the server is unreachable ({error}).") from None
        finally:
            connection.close()
        if response.status >= 400:
            raise _http_error(self.client, response.status, response.reason, data)
        return json.loads(data)

    def signature_defs(self):
        metadata = self._request(self.base_url + "/metadata")
        signature_map = json_format.ParseDict(
            metadata["metadata"]["signature_def"],
            get_model_metadata_pb2.SignatureDefMap(),
            ignore_unknown_fields=True,
        )
        return dict(signature_map.signature_def)

    def predict(self, batch):
        body = {
            "signature_name": self.client.signature_name,
            "inputs": {name: _to_json(array) for name, array in batch.items()},
        }
        response = self._request(self.base_url + ":predict", body)
        outputs = self.client.signature().outputs
        values = response["outputs"]
        if not isinstance(values, dict) or set(values) != set(outputs):
            # TF Serving drops the names when a signature has one output.
            values = {next(iter(outputs)): values}
        return {name: _from_json(values[name], outputs[name].dtype) for name in outputs}


def _shut_down(sock):
    """Ends every read and write on `sock` (the REST deadline's watchdog)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # Already closed.
        pass


def _http_error(client, code, reason, body):
    try:
        details = json.loads(body).get("error", "")
    except (ValueError, AttributeError):
        details = reason
    message = f"{client}: HTTP {code}: {details}"
    if code == 404:
        return ModelNotFoundError(message)
    if code == 400:
        return SignatureMismatchError(message)
    if code in (502, 503, 504):
        return ServerUnavailableError(message)
    return ServingError(message)


def _to_json(array):
    """A JSON value for REST; bytes that are not UTF-8 go as `{"b64": ...}`."""
    if array.dtype != object:
        return array.tolist()

    def encode(value):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}

    return np.vectorize(encode, otypes=[object])(array).tolist() if array.size else array.tolist()


def _from_json(value, dtype_enum):
    if dtype_enum != types_pb2.DT_STRING:
        return np.array(value, dtype=tf.dtypes.as_dtype(dtype_enum).as_numpy_dtype)

    def decode(item):
        if isinstance(item, list):
            return [decode(i) for i in item]
        if isinstance(item, dict):
            return base64.b64decode(item["b64"])
        return item.encode("utf-8")

    decoded = decode(value)
    array = np.empty(np.shape(value), dtype=object)
    if array.size:
        array[...] = decoded
    return array


# === Command line ===

PROTOCOLS = ("grpc", "rest")
# The numeric flags (`keras_albert.flag_ranges`).
FLAG_RANGES = {
    "model_version": (0, None),
    "batch_size": (1, None),
    "max_concurrent_requests": (1, None),
    "timeout_seconds": ((0,), None),
}


def define_flags(flag_values=flags.FLAGS):
    """Defines the command line's flags in `flag_values` (tests pass their own)."""
    flags.DEFINE_string(
        "server", "localhost:8500",
        "host:port of TF Serving's gRPC API (--port, default 8500) or, with --protocol=rest, of its REST API "
        "(--rest_api_port, usually 8501).",
        flag_values=flag_values,
    )
    flags.DEFINE_enum("protocol", "grpc", PROTOCOLS, "The API --server speaks.", flag_values=flag_values)
    flags.DEFINE_string("model_name", None, "The model's name on the server (its --model_name).", flag_values=flag_values)
    flags.DEFINE_integer("model_version", None, "A model version (default: the server's latest).", flag_values=flag_values)
    flags.DEFINE_string("signature", DEFAULT_SIGNATURE, "The signature to call.", flag_values=flag_values)
    flags.DEFINE_string(
        "export_dir", None, "The served SavedModel version directory: its assets/task_spec.json says the task.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "spec", None, "The export's task_spec.json (or its directory), instead of --export_dir.", flag_values=flag_values
    )
    flags.DEFINE_multi_string(
        "text", None, "An example (repeatable), as an input line; instead of --input.", flag_values=flag_values
    )
    flags.DEFINE_string("input", "-", "Text file, one example per line ('-': stdin).", flag_values=flag_values)
    flags.DEFINE_string("output", "-", "JSON lines file ('-': stdout).", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 64, "Most examples per request.", flag_values=flag_values)
    flags.DEFINE_integer("max_concurrent_requests", 4, "Requests in flight at once.", flag_values=flag_values)
    flags.DEFINE_float("timeout_seconds", 10.0, "Seconds per request before giving up.", flag_values=flag_values)


def spec_from_flags(flag_values):
    """The served model's `TaskSpec`, from --export_dir or --spec."""
    if bool(flag_values.export_dir) == bool(flag_values.spec):
        raise ValueError("Pass exactly one of --export_dir (the served version directory) or --spec (its task_spec.json).")
    if flag_values.export_dir:
        from .saved_model import read_export_spec

        if not os.path.isdir(flag_values.export_dir):
            raise ValueError(f"--export_dir={flag_values.export_dir} is not a directory.")
        return read_export_spec(flag_values.export_dir)
    path = flag_values.spec
    if os.path.isdir(path):
        return task_spec.load_task_spec(path)
    if os.path.basename(path) != task_spec.SPEC_FILENAME or not os.path.isfile(path):
        raise ValueError(f"--spec={path}: expected a {task_spec.SPEC_FILENAME} file or a directory holding one.")
    return task_spec.load_task_spec(os.path.dirname(os.path.abspath(path)))


def server_address(flag_values):
    """--server as `ServingClient` takes it (a REST address is a URL)."""
    server = flag_values.server
    is_url = server.startswith(("http://", "https://"))
    if flag_values.protocol == "grpc" and is_url:
        raise ValueError(f"--server={server} is a URL; pass host:port for --protocol=grpc, or --protocol=rest.")
    return server if is_url or flag_values.protocol == "grpc" else f"http://{server}"


def serve_lines(flag_values, lines, sink):
    """Sends `lines` (examples as `export.predict` reads them) to the server;
    writes one JSON row per line to `sink`."""
    from .predict import input_names, split_fields

    flag_ranges.check_flag_ranges(flag_values, FLAG_RANGES)
    if not flag_values.model_name:
        raise ValueError("--model_name is required (the name the server serves the model under).")
    address = server_address(flag_values)
    spec = spec_from_flags(flag_values)
    client = ServingClient(
        address,
        flag_values.model_name,
        signature_name=flag_values.signature,
        version=flag_values.model_version,
        timeout=flag_values.timeout_seconds,
        batch_size=flag_values.batch_size,
        max_concurrent_requests=flag_values.max_concurrent_requests,
    )
    with client:
        names = input_names(spec)
        # Requests of --batch_size rows; a multiple-choice batch needs one
        # number of choices, so lines are split into columns batch by batch.
        for start in range(0, len(lines), flag_values.batch_size):
            columns = split_fields(lines[start : start + flag_values.batch_size], names, start + 1)
            for row in client.predict_rows(columns, spec):
                sink.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
    sink.flush()


def main(argv):
    del argv
    flag_values = flags.FLAGS
    flag_ranges.check_flag_ranges(flag_values, FLAG_RANGES)  # Before waiting on stdin.
    if flag_values.text and flag_values.input != "-":
        raise ValueError("Pass either --text or --input, not both.")
    if flag_values.text:
        lines = list(flag_values.text)
    elif flag_values.input == "-":
        # Bytes that are not UTF-8 become U+FFFD, from stdin as from a file.
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        lines = [line.rstrip("\r\n") for line in stdin]
        stdin.detach()  # Closing the wrapper would close stdin.
    else:
        with open(flag_values.input, encoding="utf-8", errors="replace") as source:
            lines = [line.rstrip("\r\n") for line in source]
    sink = sys.stdout if flag_values.output == "-" else open(flag_values.output, "w", encoding="utf-8")
    try:
        serve_lines(flag_values, lines, sink)
    except ServingError as error:
        raise SystemExit(f"error: {error}") from None
    finally:
        if sink is not sys.stdout:
            sink.close()


def run_command():
    """The command line: `python -m` this module, or its console script."""
    define_flags()
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
