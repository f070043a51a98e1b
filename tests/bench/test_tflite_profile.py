"""The op-level TFLite profile cuts ops out faithfully and accounts for every op; speed is never asserted."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from ai_edge_litert.tools import flatbuffer_utils

from bench import tflite_profile
from export import tflite


@pytest.fixture(scope="module")
def small_model():
    """token ids -> embedding -> dense (GELU) -> dense -> LayerNorm, informative weights, dynamic length."""
    keras.utils.set_random_seed(3)
    token_ids = keras.Input((None,), dtype="int32", name="token_ids", batch_size=1)
    x = keras.layers.Embedding(50, 16, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.2))(token_ids)
    dense = dict(kernel_initializer=keras.initializers.RandomNormal(stddev=0.2), bias_initializer="random_normal")
    x = keras.layers.Dense(32, activation="gelu", **dense)(x)
    x = keras.layers.Dense(16, **dense)(x)
    x = keras.layers.LayerNormalization(gamma_initializer=keras.initializers.RandomUniform(0.5, 1.5))(x)
    model = keras.Model(token_ids, x)

    def convert(quantization):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        rng = np.random.default_rng(0)
        calibration = lambda: ([rng.integers(0, 50, (1, 7)).astype(np.int32)] for _ in range(20))  # noqa: E731
        return tflite.convert_quantized(converter, quantization, calibration)

    return {quantization: convert(quantization) for quantization in ("float32", "int8")}


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_every_one_op_model_reproduces_its_op_in_the_whole_model(small_model, quantization):
    content = small_model[quantization]
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    interpreter = Interpreter(model_content=content)
    (signature,) = interpreter.get_signature_list()
    inputs = tflite_profile.sentence_inputs(interpreter.get_signature_list()[signature]["inputs"], 7, 50)
    values = tflite_profile.capture_tensors(content, inputs)
    operators = model.subgraphs[0].operators
    assert len(operators) >= 5
    for op in operators:
        op_content, feed = tflite_profile.single_op_model(model, op, values)
        single = Interpreter(
            model_content=op_content,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        single.allocate_tensors()
        for detail, value in zip(single.get_input_details(), feed):
            assert tuple(detail["shape"]) == value.shape
            single.set_tensor(detail["index"], value)
        single.invoke()
        for output_detail, index in zip(single.get_output_details(), op.outputs):
            np.testing.assert_array_equal(single.get_tensor(output_detail["index"]), values[index])


def test_profile_accounts_for_every_op_and_reports_by_type(small_model):
    content = small_model["int8"]
    result = tflite_profile.profile(content, length=7, num_threads=1, repeats=3, whole_model_repeats=3)
    num_ops = len(flatbuffer_utils.read_model_from_bytearray(bytearray(content)).subgraphs[0].operators)
    assert result["num_ops"] == num_ops
    assert sum(row["count"] for row in result["ops"]) == num_ops
    assert sum(entry["count"] for entry in result["op_types"].values()) == num_ops
    assert "FULLY_CONNECTED" in result["op_types"]
    assert sum(entry["share"] for entry in result["op_types"].values()) == pytest.approx(1.0)
    assert result["sum_of_ops_ms"] == pytest.approx(sum(row["ms_total"] for row in result["ops"]))
    fully_connected = [row for row in result["ops"] if row["type"] == "FULLY_CONNECTED"]
    assert {tuple(row["input_shapes"][0]) for row in fully_connected} == {(7, 16), (7, 32)}
    report = tflite_profile.format_report("small int8", result)
    assert "| FULLY_CONNECTED |" in report and "whole model" in report


def test_a_missing_model_file_is_refused_by_flag(tmp_path, capsys):
    with pytest.raises(SystemExit):
        tflite_profile.main([f"--model={tmp_path / 'absent.tflite'}"])
    assert f"--model={tmp_path / 'absent.tflite'}: no such file" in capsys.readouterr().err


def test_interleaved_latency_times_every_model_at_every_length(small_model):
    models = [("float32", small_model["float32"]), ("int8", small_model["int8"])]
    latencies = tflite_profile.interleaved_latency(models, lengths=[3, 9], rounds=2, num_threads=1)
    assert list(latencies) == ["float32", "int8"]
    assert all(milliseconds > 0 for milliseconds in latencies.values())
