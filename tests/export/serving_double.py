"""An in-process stand-in for TF Serving, for the client's tests.

No `tensorflow_model_server` binary can be installed on these machines, so
the client is tested against this double on 127.0.0.1: a gRPC
`PredictionService` (`Predict`, `GetModelMetadata`) and the REST API's
`:predict` and `/metadata`, both serving a SavedModel the way TF Serving
does: the highest numeric version under the model base path, its warmup
requests replayed at load, signatures read from `saved_model.pb`, and
TF Serving's status codes for unknown models, versions, signatures and
mismatched inputs. `delay_seconds` makes every Predict slow (timeouts);
`num_predict_calls` counts requests (batching).
"""

import base64
import concurrent.futures
import http.server
import json
import os
import re
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops of string-in SavedModels)
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from export.warmup import read_warmup_requests, warmup_path


class ServingError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code  # A grpc.StatusCode.


class Servable:
    """The latest version of a SavedModel, called as TF Serving calls it."""

    def __init__(self, model_name, model_base, delay_seconds=0.0):
        versions = [int(name) for name in os.listdir(model_base) if name.isdigit()]
        if not versions:
            raise ValueError(f"{model_base} has no version directories")
        self.model_name = model_name
        self.version = max(versions)
        path = os.path.join(model_base, str(self.version))
        self.loaded = tf.saved_model.load(path)
        saved_model = saved_model_pb2.SavedModel.FromString(open(os.path.join(path, "saved_model.pb"), "rb").read())
        self.signature_defs = {
            name: signature
            for name, signature in saved_model.meta_graphs[0].signature_def.items()
            if not name.startswith("__")
        }
        self.delay_seconds = delay_seconds
        self.num_predict_calls = 0
        self.num_warmup_requests = 0
        self._lock = threading.Lock()
        if os.path.exists(warmup_path(path)):
            for signature_name, inputs in read_warmup_requests(path):
                self.run(signature_name, inputs)
                self.num_warmup_requests += 1

    def check_spec(self, name, version):
        if name != self.model_name:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
        if version is not None and version != self.version:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({name}, {version})")

    def run(self, signature_name, inputs):
        signature_name = signature_name or "serving_default"
        if signature_name not in self.signature_defs:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f'Serving signature name: "{signature_name}" not found in signature def',
            )
        expected = set(self.signature_defs[signature_name].inputs)
        if set(inputs) != expected:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input size does not match signature: {len(inputs)}!={len(expected)} len({{{','.join(sorted(inputs))}}}) "
                f"!= len({{{','.join(sorted(expected))}}}).",
            )
        with self._lock:
            self.num_predict_calls += 1
        time.sleep(self.delay_seconds)
        function = self.loaded.signatures[signature_name]
        try:
            outputs = function(**{name: tf.constant(value) for name, value in inputs.items()})
        except (tf.errors.InvalidArgumentError, TypeError, ValueError) as error:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        return {name: value.numpy() for name, value in outputs.items()}


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, servable):
        self.servable = servable

    def _spec(self, spec):
        return spec.name, (spec.version.value if spec.HasField("version") else None)

    def Predict(self, request, context):
        try:
            self.servable.check_spec(*self._spec(request.model_spec))
            inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
            outputs = self.servable.run(request.model_spec.signature_name, inputs)
        except ServingError as error:
            context.abort(error.code, str(error))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.servable.model_name
        response.model_spec.version.value = self.servable.version
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):
        try:
            self.servable.check_spec(*self._spec(request.model_spec))
        except ServingError as error:
            context.abort(error.code, str(error))
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.servable.model_name
        response.model_spec.version.value = self.servable.version
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in self.servable.signature_defs.items():
            signature_map.signature_def[name].CopyFrom(signature)
        response.metadata["signature_def"].Pack(signature_map)
        return response


class GrpcServingDouble:
    """`PredictionService` on 127.0.0.1 (an ephemeral port); `address` is "127.0.0.1:<port>"."""

    def __init__(self, servable):
        self.servable = servable
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=8))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionService(servable), self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"
        self.server.start()

    def stop(self):
        self.server.stop(grace=None)


_HTTP_CODES = {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.INVALID_ARGUMENT: 400}
_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<rest>/metadata|:predict)$")


def _json_string(value):
    """UTF-8 text as a JSON string; other bytes as TF Serving's `{"b64": ...}`."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode("ascii")}


def _json_value(value):
    """Numpy output -> JSON as TF Serving writes it."""
    if value.dtype == object:
        return np.vectorize(_json_string, otypes=[object])(value).tolist() if value.size else value.tolist()
    return value.tolist()


def _from_json(value, dtype_enum):
    if dtype_enum != types_pb2.DT_STRING:
        return np.array(value, dtype=tf.dtypes.as_dtype(dtype_enum).as_numpy_dtype)

    def decode(item):
        if isinstance(item, list):
            return [decode(i) for i in item]
        if isinstance(item, dict):
            return base64.b64decode(item["b64"])
        return item.encode("utf-8")

    array = np.empty(np.shape(value), dtype=object)
    if array.size:
        array[...] = decode(value)
    return array


class RestServingDouble:
    """TF Serving's REST API on 127.0.0.1; `address` is "http://127.0.0.1:<port>"."""

    def __init__(self, servable):
        self.servable = servable
        double = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, code, body):
                data = json.dumps(body).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method):
                match = _PATH.match(self.path)
                if not match or (method == "GET") != (match["rest"] == "/metadata"):
                    return self._reply(404, {"error": f"Malformed request: {method} {self.path}"})
                version = int(match["version"]) if match["version"] else None
                try:
                    double.servable.check_spec(match["name"], version)
                    if match["rest"] == "/metadata":
                        signature_map = get_model_metadata_pb2.SignatureDefMap()
                        for name, signature in double.servable.signature_defs.items():
                            signature_map.signature_def[name].CopyFrom(signature)
                        return self._reply(200, {
                            "model_spec": {"name": match["name"], "version": str(double.servable.version)},
                            "metadata": {"signature_def": json_format.MessageToDict(
                                signature_map, preserving_proto_field_name=True
                            )},
                        })
                    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                    signature_name = body.get("signature_name", "serving_default")
                    signature = double.servable.signature_defs.get(signature_name)
                    if signature is None or not isinstance(body.get("inputs"), dict):
                        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"bad request for signature {signature_name!r}")
                    inputs = {
                        name: _from_json(value, signature.inputs[name].dtype if name in signature.inputs else types_pb2.DT_FLOAT)
                        for name, value in body["inputs"].items()
                    }
                    outputs = double.servable.run(signature_name, inputs)
                except ServingError as error:
                    return self._reply(_HTTP_CODES.get(error.code, 500), {"error": str(error)})
                values = {name: _json_value(value) for name, value in outputs.items()}
                if len(values) == 1:  # TF Serving drops the name of a lone output.
                    values = next(iter(values.values()))
                return self._reply(200, {"outputs": values})

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # A client that timed out and hung up is not an error here.

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
