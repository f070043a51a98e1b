"""The TF Serving client over gRPC and REST, against an in-process PredictionService double."""

import concurrent.futures
import socket

import numpy as np
import pytest
# At import: collection imports every folder's conftest.py as `conftest`, the last one stays.
from conftest import json_lines, run_python
from serving_double import GrpcServingDouble, RestServingDouble, Servable

from export.serving_client import (
    ModelNotFoundError,
    ServerUnavailableError,
    ServingClient,
    ServingTimeoutError,
    SignatureMismatchError,
)

PROTOCOLS = ["grpc", "rest"]


def start(protocol, servable):
    return (GrpcServingDouble if protocol == "grpc" else RestServingDouble)(servable)


@pytest.fixture(scope="module", params=PROTOCOLS)
def word_server(request, word_splitter_model_base):
    server = start(request.param, Servable("words", str(word_splitter_model_base)))
    yield server
    server.stop()


@pytest.fixture(scope="module", params=PROTOCOLS)
def classifier_server(request, classifier_model_base):
    server = start(request.param, Servable("albert_sst2", str(classifier_model_base)))
    yield server
    server.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_replayed_the_exported_warmup_requests(classifier_server):
    assert classifier_server.servable.num_warmup_requests >= 2


def test_classifier_answers_equal_keras_through_the_server(classifier_server, keras_classifier_logits, sst2_dev_sentences):
    sentences = sst2_dev_sentences[:20]
    with ServingClient(classifier_server.address, "albert_sst2", batch_size=8) as client:
        outputs = client.predict({"text": sentences})
    np.testing.assert_allclose(outputs["logits"], keras_classifier_logits(sentences), atol=1e-5)
    assert outputs["labels"].dtype == object and set(outputs["labels"]) <= {b"negative", b"positive"}
    assert outputs["label_names"].shape == (20, 2)


def test_client_rows_have_the_schema_of_export_predict(classifier_server, classifier_model_base, keras_classifier_logits, sst2_dev_sentences):
    from export.predict import RESPONSE_FIELDS
    from export.saved_model import read_export_spec

    sentences = sst2_dev_sentences[:5]
    with ServingClient(classifier_server.address, "albert_sst2") as client:
        rows = client.predict_rows({"text": sentences}, read_export_spec(str(classifier_model_base / "1")))
    assert all(set(row) == set(RESPONSE_FIELDS["text_classification"]) for row in rows)
    logits = keras_classifier_logits(sentences)
    assert [row["label_id"] for row in rows] == np.argmax(logits, axis=-1).tolist()
    np.testing.assert_allclose([row["logits"] for row in rows], logits, atol=1e-5)


def test_requests_are_batched_and_reassembled_in_order(word_server):
    texts = [" ".join(["w"] * n) for n in range(11)]  # Outputs of growing width.
    before = word_server.servable.num_predict_calls
    with ServingClient(word_server.address, "words", batch_size=3, max_concurrent_requests=2) as client:
        outputs = client.predict({"text": texts})
    assert word_server.servable.num_predict_calls - before == 4
    np.testing.assert_array_equal(outputs["num_words"], np.arange(11))
    assert outputs["words"].shape == (11, 10)
    # Padded across requests as the server pads within one.
    assert outputs["words"][2].tolist() == [b"w", b"w"] + [b""] * 8
    np.testing.assert_array_equal(outputs["lengths"], [len(t) for t in texts])


def test_a_batch_of_zero_rows_gets_empty_outputs(word_server):
    with ServingClient(word_server.address, "words") as client:
        outputs = client.predict({"text": []})
    assert outputs["num_words"].shape == (0,) and outputs["words"].shape[0] == 0


def test_invalid_utf8_and_unicode_text_reach_the_model_intact(word_server):
    texts = [b"\xff\xfe bad", "Crème brûlée 😀", ""]
    with ServingClient(word_server.address, "words") as client:
        outputs = client.predict({"text": texts})
    np.testing.assert_array_equal(outputs["lengths"], [6, len("Crème brûlée 😀".encode()), 0])
    assert outputs["words"][1][:2].tolist() == ["Crème".encode(), "brûlée".encode()]


def test_concurrent_callers_sharing_a_client_all_get_their_answers(word_server):
    with ServingClient(word_server.address, "words", batch_size=2, max_concurrent_requests=4) as client:
        def call(n):
            return n, client.predict({"text": [("x " * n).strip(), "a b"]})

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(call, range(24)))
    for n, outputs in results:
        np.testing.assert_array_equal(outputs["num_words"], [n, 2])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unreachable_server_raises_server_unavailable_naming_it(protocol):
    port = free_port()
    address = f"127.0.0.1:{port}" if protocol == "grpc" else f"http://127.0.0.1:{port}"
    with ServingClient(address, "words", timeout=5) as client:
        with pytest.raises(ServerUnavailableError, match=str(port)):
            client.predict({"text": ["a"]})


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_slow_server_raises_a_timeout(protocol, word_splitter_model_base):
    servable = Servable("words", str(word_splitter_model_base))
    server = start(protocol, servable)
    try:
        with ServingClient(server.address, "words", timeout=1.0) as client:
            client.signature()  # Metadata answers at once; Predict is slow.
            servable.delay_seconds = 3.0
            with pytest.raises(ServingTimeoutError, match="1.0 s"):
                client.predict({"text": ["a"]})
    finally:
        servable.delay_seconds = 0.0
        server.stop()


@pytest.mark.parametrize("trickled", ["headers", "body"])
def test_a_rest_server_trickling_its_answer_raises_a_timeout_at_the_deadline(trickled):
    import http.server
    import threading
    import time

    class Trickle(http.server.BaseHTTPRequestHandler):
        """The headers or the body one byte every 0.3 s (each read is quick)."""

        def log_message(self, *args):
            pass

        def trickle(self, data):
            for byte in data:
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:  # The client hung up.
                    return
                time.sleep(0.3)

        def do_GET(self):
            if trickled == "headers":
                self.trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 100 + b"\r\n\r\n")
                return
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.trickle(b" " * 100)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with ServingClient(f"http://127.0.0.1:{server.server_address[1]}", "words", timeout=1.0) as client:
            start = time.monotonic()
            with pytest.raises(ServingTimeoutError, match="1.0 s"):
                client.signature()
            assert time.monotonic() - start < 2.0
    finally:
        server.shutdown()
        server.server_close()


def test_inputs_that_do_not_fit_the_signature_raise_naming_what_it_takes(word_server):
    with ServingClient(word_server.address, "words") as client:
        with pytest.raises(SignatureMismatchError, match=r"text: DT_STRING \[-1\].*missing inputs \['text'\].*\['sentence'\]"):
            client.predict({"sentence": ["a"]})
        with pytest.raises(SignatureMismatchError, match="DT_STRING; received int"):
            client.predict({"text": [1, 2]})
        with pytest.raises(SignatureMismatchError, match=r"shape \[-1\]"):
            client.predict({"text": [["a", "b"]]})


def test_an_unknown_model_or_signature_raises_model_not_found(word_server):
    with ServingClient(word_server.address, "no_such_model") as client:
        with pytest.raises(ModelNotFoundError, match="no_such_model"):
            client.predict({"text": ["a"]})
    with ServingClient(word_server.address, "words", signature_name="classify") as client:
        with pytest.raises(ModelNotFoundError, match="serving_default"):
            client.predict({"text": ["a"]})
    with ServingClient(word_server.address, "words", version=3) as client:
        with pytest.raises(ModelNotFoundError):
            client.predict({"text": ["a"]})


def test_a_pinned_version_is_sent_to_the_server(word_server):
    with ServingClient(word_server.address, "words", version=7) as client:
        assert client.predict({"text": ["a b"]})["num_words"].tolist() == [2]


def test_client_arguments_are_checked():
    with pytest.raises(ValueError, match="batch_size"):
        ServingClient("127.0.0.1:1", "m", batch_size=0)
    with pytest.raises(ValueError, match="timeout"):
        ServingClient("127.0.0.1:1", "m", timeout=0)


# === The command line ===


def client_flags(*argv):
    from absl import flags

    from export.serving_client import define_flags

    flag_values = flags.FlagValues()
    define_flags(flag_values)
    flag_values(["albert-serving-client", *argv])
    return flag_values


def test_command_prints_the_rows_of_export_predict(classifier_server, classifier_model_base, sst2_dev_sentences):
    import io
    import json

    from export.predict import SavedModelPredictor
    from export.serving_client import serve_lines

    sentences = sst2_dev_sentences[:7]
    host_port = classifier_server.address.split("://")[-1]
    protocol = "rest" if classifier_server.address.startswith("http") else "grpc"
    version_dir = str(classifier_model_base / "1")
    expected = SavedModelPredictor(version_dir)({"text": sentences})
    for spec_flag in (f"--export_dir={version_dir}", f"--spec={version_dir}/assets/task_spec.json"):
        flag_values = client_flags(
            f"--server={host_port}", f"--protocol={protocol}", "--model_name=albert_sst2", spec_flag,
            "--batch_size=3", "--timeout_seconds=30",
        )
        sink = io.StringIO()
        serve_lines(flag_values, sentences, sink)
        rows = [json.loads(line) for line in sink.getvalue().splitlines()]
        assert [row["label"] for row in rows] == [row["label"] for row in expected]
        assert [set(row) for row in rows] == [set(row) for row in expected]
        np.testing.assert_allclose([row["logits"] for row in rows], [row["logits"] for row in expected], atol=1e-5)
    # 7 lines in requests of at most 3.
    assert classifier_server.servable.num_predict_calls >= 3


def test_command_replaces_bytes_that_are_not_utf8_on_stdin(classifier_server, classifier_model_base):
    from export.predict import SavedModelPredictor

    version_dir = str(classifier_model_base / "1")
    protocol = "rest" if classifier_server.address.startswith("http") else "grpc"
    stdout = run_python(
        None, "-m", "export.serving_client", f"--server={classifier_server.address.split('://')[-1]}",
        f"--protocol={protocol}", "--model_name=albert_sst2", f"--export_dir={version_dir}", "--timeout_seconds=30",
        stdin=b"good\n\xff\xfe bad \xc3\n", timeout=300,
    )
    expected = SavedModelPredictor(version_dir)({"text": ["good", "\ufffd\ufffd bad \ufffd"]})
    rows = json_lines(stdout)
    assert [row["label"] for row in rows] == [row["label"] for row in expected]
    np.testing.assert_allclose([row["logits"] for row in rows], [row["logits"] for row in expected], atol=1e-5)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model_name=m"], "Pass exactly one of --export_dir"),
        (["--model_name=m", "--spec=/nowhere/task_spec.json"], "--spec=/nowhere/task_spec.json: expected a task_spec.json"),
        (["--model_name=m", "--export_dir=/nowhere"], "--export_dir=/nowhere is not a directory"),
        (["--spec=x"], "--model_name is required"),
        (["--model_name=m", "--export_dir=.", "--server=http://h:1"], "--server=http://h:1 is a URL"),
        (["--model_name=m", "--export_dir=.", "--batch_size=0"], "--batch_size must be at least 1. Got 0."),
        (["--model_name=m", "--export_dir=.", "--timeout_seconds=nan"], "--timeout_seconds must be above 0. Got nan."),
    ],
)
def test_command_flags_that_cannot_work_are_named(argv, message):
    import io

    from export.serving_client import serve_lines

    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        serve_lines(client_flags(*argv), ["text"], io.StringIO())


def test_command_names_an_unreachable_server_and_exits_nonzero(tmp_path, classifier_model_base):
    import os
    import pathlib
    import subprocess
    import sys

    repo = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo), KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [sys.executable, "-m", "export.serving_client", f"--server=127.0.0.1:{free_port()}", "--model_name=albert_sst2",
         f"--export_dir={classifier_model_base / '1'}", "--text=a film", "--timeout_seconds=5"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert "the server is unreachable" in result.stderr and "albert_sst2" in result.stderr
