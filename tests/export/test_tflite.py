"""TFLite models run in LiteRT, equal Keras in float32 and stay close when quantized."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    LABEL_NAMES,
    SEQUENCE_LENGTH,
    assert_outputs_match,
    informative_weights,
    json_lines,
    run_python,
    tiny_backbone,
)
from tensorflow.lite.python.schema_py_generated import TensorType

from bench import tflite_profile
from export.tflite import INT8_FLOAT_OPS, QUANTIZATIONS, convert_quantized, convert_to_tflite
from export.verify import load_interpreter, run_tflite
from keras_albert.albert_preprocessor import AlbertPreprocessor

# Real text plus what normalization and truncation must handle.
EXTRA_TEXTS = ["Crème BRÛLÉE cost $1,000, ``ok''", "", "word " * 300]


@pytest.fixture(scope="module")
def texts(sst2_dev_sentences):
    return sst2_dev_sentences[:60] + EXTRA_TEXTS


@pytest.fixture(scope="module")
def features(albert_tokenizer, texts):
    packed = AlbertPreprocessor(albert_tokenizer, sequence_length=SEQUENCE_LENGTH)(tf.constant(texts))
    return {name: np.asarray(value) for name, value in packed.items()}


def test_float32_token_ids_classifier_equals_keras_in_litert(text_classifier, features):
    content = convert_to_tflite(text_classifier, "float32")
    outputs = run_tflite(load_interpreter(content), features)
    assert_outputs_match(outputs, text_classifier.predict(features, verbose=0), atol=1e-5)
    # Any batch size and length: one example cut to its own length.
    length = int(features["padding_mask"][0].sum())
    single = run_tflite(load_interpreter(content), {k: v[:1, :length] for k, v in features.items()})
    np.testing.assert_allclose(single["logits"][0], outputs["logits"][0], atol=1e-5)


def test_conversion_options_are_checked(text_classifier, albert_tokenizer):
    import keras_albert

    with pytest.raises(ValueError, match="quantization"):
        convert_to_tflite(text_classifier, "int4")
    with pytest.raises(ValueError, match="representative_features"):
        convert_to_tflite(text_classifier, "int8")
    with pytest.raises(ValueError, match="dynamic_range"):
        convert_to_tflite(text_classifier, "int8", albert_tokenizer, string_input=True, representative_features={})
    with pytest.raises(ValueError, match="lacks segment_ids, padding_mask"):
        convert_to_tflite(text_classifier, "int8", representative_features={"token_ids": np.ones((2, 4), np.int32)})
    empty = {name: np.zeros((0, 8), np.int32) for name in ("token_ids", "segment_ids", "padding_mask")}
    with pytest.raises(ValueError, match="at least one example: `representative_features` has 0 rows"):
        convert_to_tflite(text_classifier, "int8", representative_features=empty)
    reader = keras_albert.AlbertQuestionAnswerer(tiny_backbone(albert_tokenizer))
    with pytest.raises(ValueError, match="token_ids"):
        convert_to_tflite(reader, "float32", albert_tokenizer, string_input=True)


def test_quantization_options_name_what_is_wrong():
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="`quantization` must be one of"):
        convert_quantized(converter, "int4")
    with pytest.raises(ValueError, match="representative_dataset"):
        convert_quantized(converter, "int8")
    convert_quantized(converter, "float16")
    assert converter.optimizations == [tf.lite.Optimize.DEFAULT]
    assert converter.target_spec.supported_types == [tf.float16]


def _output_types_by_op(content):
    """`{op name: {TensorType of its first output}}` of a flatbuffer."""
    types = {}
    for name, op, tensors in tflite_profile.operators(content):
        types.setdefault(name, set()).add(tensors[op.outputs[0]].type)
    return types


def test_int8_classifier_runs_its_weight_matmuls_in_int8_and_attention_in_float32(text_classifier, features):
    types = _output_types_by_op(convert_to_tflite(text_classifier, "int8", representative_features=features))
    assert types["FULLY_CONNECTED"] == {TensorType.INT8}
    for name in INT8_FLOAT_OPS:
        assert TensorType.FLOAT32 in types[name] and TensorType.INT8 not in types[name], name


def test_int8_classifier_keeps_padding_masked_in_a_padded_batch(text_classifier, features):
    """Calibrated one unpadded sentence at a time, the masked scores' fill
    (-1e9) is outside every calibrated range: in int8 it would be clipped to
    an ordinary score and padding would get attention."""
    interpreter = load_interpreter(convert_to_tflite(text_classifier, "int8", representative_features=features))
    lengths = features["padding_mask"].sum(axis=1)
    batch = np.flatnonzero(lengths < lengths.max() // 2)[:8]
    padded = run_tflite(interpreter, {name: value[batch] for name, value in features.items()})["logits"]
    for row, index in enumerate(batch):
        alone = run_tflite(interpreter, {name: value[index : index + 1, : lengths[index]] for name, value in features.items()})
        np.testing.assert_allclose(padded[row], alone["logits"][0], atol=0.05 * np.abs(alone["logits"]).max())


@pytest.mark.heavy
@pytest.mark.parametrize(
    "task", ["text_classification", "token_classification", "question_answering", "multiple_choice", "pretraining", "backbone"]
)
def test_float32_token_ids_model_of_every_task_equals_keras_in_a_fresh_process(albert_tokenizer, features, task, tmp_path):
    import keras_albert

    backbone = tiny_backbone(albert_tokenizer, seed=4)
    model = {
        "text_classification": lambda: keras_albert.AlbertTextClassifier(backbone, num_classes=3),
        "token_classification": lambda: keras_albert.AlbertTokenClassifier(backbone, num_classes=5),
        "question_answering": lambda: keras_albert.AlbertQuestionAnswerer(backbone),
        "multiple_choice": lambda: keras_albert.AlbertMultipleChoice(backbone),
        "pretraining": lambda: keras_albert.AlbertPretrainer(backbone),
        "backbone": lambda: backbone,
    }[task]()
    informative_weights(model, seed=4)
    inputs = {name: value[:60] for name, value in features.items()}
    if task == "multiple_choice":  # 20 questions of 3 choices.
        inputs = {name: value.reshape(20, 3, -1) for name, value in inputs.items()}
    elif task == "pretraining":
        inputs["mask_positions"] = np.tile(np.array([[1, 4, 2]], np.int32), (60, 1))
    (tmp_path / "model.tflite").write_bytes(convert_to_tflite(model, "float32"))
    np.savez(tmp_path / "inputs.npz", **inputs)
    code = (
        "import sys, numpy as np\n"
        "from export.verify import load_interpreter, run_tflite\n"
        "outputs = run_tflite(load_interpreter(sys.argv[1]), dict(np.load(sys.argv[2])))\n"
        "np.savez(sys.argv[3], **outputs)\n"
    )
    run_python(code, str(tmp_path / "model.tflite"), str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz"))
    assert_outputs_match(dict(np.load(tmp_path / "outputs.npz")), model.predict(inputs, verbose=0), atol=1e-5)


@pytest.mark.heavy
def test_string_input_classifier_tokenizes_in_litert_and_equals_keras(text_classifier, albert_tokenizer, features, texts):
    content = convert_to_tflite(text_classifier, "float32", albert_tokenizer, string_input=True, sequence_length=SEQUENCE_LENGTH)
    interpreter = load_interpreter(content)
    outputs = run_tflite(interpreter, {"text": np.array(texts, dtype=object)})
    expected = text_classifier.predict(features, verbose=0)
    np.testing.assert_allclose(outputs["logits"], expected, atol=1e-5)
    np.testing.assert_allclose(outputs["probabilities"], tf.nn.softmax(expected).numpy(), atol=1e-6)
    bad = run_tflite(interpreter, {"text": np.array([b"\xff\xfe broken", b""], dtype=object)})
    assert bad["logits"].shape == (2, 2) and np.all(np.isfinite(bad["logits"]))


@pytest.mark.heavy
@pytest.mark.parametrize("quantization", [q for q in QUANTIZATIONS if q != "float32"])
def test_quantized_classifier_is_finite_close_to_keras_and_smaller(text_classifier, features, quantization):
    float32_size = len(convert_to_tflite(text_classifier, "float32"))
    content = convert_to_tflite(text_classifier, quantization, representative_features=features)
    outputs = run_tflite(load_interpreter(content), features)
    expected = text_classifier.predict(features, verbose=0)
    assert np.all(np.isfinite(outputs["logits"]))
    # Loose bounds for a random tiny model; accuracy on real data is
    # measured by export.verify on a fine-tuned one (see README).
    tolerance = {"float16": 1e-2, "dynamic_range": 0.2, "int8": 0.5}[quantization]
    np.testing.assert_allclose(outputs["logits"], expected, atol=tolerance * max(1.0, np.abs(expected).max()))
    assert len(content) < float32_size


@pytest.mark.heavy
def test_command_line_converts_verifies_and_writes_the_table(classifier_preset, shared_data_dir, tmp_path):
    preset = classifier_preset
    output_dir = tmp_path / "tflite"
    run_python(
        None, "-m", "export.tflite", f"--preset={preset}", f"--output_dir={output_dir}",
        "--quantization=float32,dynamic_range", "--string_input",
        f"--verify_data_dir={shared_data_dir / 'sst2'}", "--max_eval_examples=40", "--latency_runs=5",
    )
    rows = {row["format"]: row for row in json.loads((output_dir / "verification.json").read_text())["rows"]}
    assert set(rows) == {
        "keras", "saved_model", "tflite_float32", "tflite_float32_strings", "tflite_dynamic_range", "tflite_dynamic_range_strings",
    }
    for name in ("saved_model", "tflite_float32", "tflite_float32_strings"):
        assert rows[name]["finite"] and rows[name]["max_abs_error"] < 1e-5, name
        assert rows[name]["accuracy"] == rows["keras"]["accuracy"]
    assert rows["tflite_dynamic_range"]["size_bytes"] < rows["tflite_float32"]["size_bytes"]
    assert "| tflite_float32 |" in (output_dir / "verification.md").read_text()
    # And `predict` runs what was written, from stdin.
    lines = json_lines(run_python(
        None, "-m", "export.predict", f"--model={output_dir / 'text_classification_float32_strings.tflite'}",
        stdin="a charming film\n\nwhat a bore\n",
    ))
    assert len(lines) == 3 and all(len(line["probabilities"]) == 2 and line["label"] in LABEL_NAMES for line in lines)


def test_verify_data_dir_is_refused_before_converting_a_model_it_cannot_verify(classifier_preset, shared_data_dir, tmp_path):
    code = (
        "import sys\nfrom absl import flags\nfrom export import tflite\ntflite.define_flags()\nflags.FLAGS(sys.argv)\n"
        "try:\n    tflite.main([])\nexcept ValueError as error:\n    print('ValueError:', error)\n"
    )
    output_dir = tmp_path / "tflite"
    stdout = run_python(
        code, f"--preset={classifier_preset}", f"--output_dir={output_dir}", "--text_pair",
        f"--verify_data_dir={shared_data_dir / 'sst2'}", timeout=300,
    )
    assert "ValueError: --verify_data_dir checks a single-sentence classifier" in stdout
    assert "is a text-pair classifier (task 'text_classification')" in stdout
    assert not output_dir.exists()  # Nothing converted.
