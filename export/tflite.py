r"""TFLite (LiteRT) models of ALBERT task models, with quantization.

Conversion goes Keras model -> `keras.export.ExportArchive` SavedModel ->
`tf.lite.TFLiteConverter.from_saved_model(signature_keys=...)`: converting
a Keras 3 model through `from_concrete_functions` leaves its weights as
uninitialized variables (all-NaN outputs), the SavedModel route does not.
Every conversion here is checked for finite outputs by `verify`.

Two kinds of model:

- token ids in (signature `token_ids`): `token_ids`, `segment_ids`,
  `padding_mask` int32 `[batch, length]` (any length up to the model's
  positions) -> the model's outputs (`logits`; `start_logits`/`end_logits`;
  `sequence_output`/`pooled_output`). Every task; tokenize with
  `AlbertTokenizer` / `AlbertPreprocessor` on the host.
- raw strings in (signature `serving_default`, `string_input=True`): `text`
  (and `text_pair`) string `[batch]` -> `logits` and `probabilities`
  (classifier) or `pooled_output` (backbone). Tokenization runs in the
  model with TensorFlow Text's TFLite kernel (`export.tflite_tokenizer`);
  run it with `ai_edge_litert.interpreter.InterpreterWithCustomOps(
  custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)`
  (`verify.load_interpreter` does). Builtin ops only otherwise: no Flex.

Quantization (`QUANTIZATIONS`): `float32` (none), `float16` (weights in
float16, computed in float32), `dynamic_range` (int8 weights, float
activations), `int8` (int8 weights and activations, calibrated on a
representative dataset of real text; ids in, float outputs; every matmul
with a weight runs in int8, the ops of `INT8_FLOAT_OPS` stay float32).
16x8 quantization is not offered: the converter fails on the dynamic
sequence length.

Command line:

    python -m export.tflite --preset=/tmp/sst2 --output_dir=/tmp/sst2_tflite \
        --quantization=float32,float16,dynamic_range,int8 \
        --representative_file=../shared/data/sst2/train.tsv \
        [--string_input] [--verify_data_dir=../shared/data/sst2]

writes `<output_dir>/<task>_<quantization>.tflite` (and
`..._strings.tflite`) with `<output_dir>/task_spec.json`, the preset's task
spec (with any override flag: `--max_seq_length`, `--text_pair`, ...) the
files were built with, which `export.predict` reads; and with `--verify_data_dir` the table of
`export.verify` (`verification.json`, `verification.md`).
"""

import os
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf
from absl import flags, logging

import keras_albert_cli
from keras_albert import flag_ranges, task_spec
from keras_albert.durable_files import replace_durably
from . import saved_model, serving_signatures
from .tflite_tokenizer import TfliteAlbertTokenizer

QUANTIZATIONS = ("float32", "float16", "dynamic_range", "int8")
# The int8 model computes attention itself in float32: the masked fill of
# the scores (SELECT_V2), the softmax and the two batch matmuls. Calibrated
# on unpadded sentences, an int8 SELECT_V2 clipped the -1e9 fill of padded
# keys to an ordinary score, so in a padded batch padding got attention (SST-2
# dev, 32 sentences a batch: -1.5 points); and LiteRT's int8 BATCH_MATMUL of
# two activations runs outside XNNPACK (ALBERT-base: int8 1.26x faster with
# these ops in float32). bench/README.md, "Attention in float32, projections
# on 2-D rows".
INT8_FLOAT_OPS = ("SELECT_V2", "SOFTMAX", "BATCH_MATMUL")
TOKEN_IDS_SIGNATURE = serving_signatures.TOKEN_IDS_SIGNATURE
STRINGS_SIGNATURE = serving_signatures.DEFAULT_SIGNATURE
FEATURE_NAMES = serving_signatures.FEATURE_NAMES


def _string_function(model, tokenizer, sequence_length, text_pair):
    """Raw strings -> outputs, with builtin ops and the TFLite tokenizer only."""
    task = serving_signatures.task_of(model)
    if task not in ("text_classification", "backbone"):
        raise ValueError(
            f"A string-input TFLite model is built for text classifiers and backbones; a {type(model).__name__} "
            "needs word and character offsets that TFLite ops cannot compute. Convert its `token_ids` "
            "model and tokenize on the host (export.predict does)."
        )
    tflite_tokenizer = TfliteAlbertTokenizer(tokenizer)

    def run(texts):
        segments = [tflite_tokenizer.tokenize(text) for text in texts]
        features = tflite_tokenizer.pack(segments, sequence_length)
        longest = tf.maximum(tf.reduce_max(tf.reduce_sum(features["padding_mask"], axis=1)), 1)
        features = {name: value[:, :longest] for name, value in features.items()}
        outputs = model(features, training=False)
        if task == "backbone":
            return {"pooled_output": outputs["pooled_output"]}
        if model.num_classes == 1:
            return {"scores": outputs[:, 0]}
        return {"logits": outputs, "probabilities": tf.nn.softmax(outputs, axis=-1)}

    spec = lambda name: tf.TensorSpec([None], tf.string, name=name)
    if text_pair:
        return tf.function(lambda text, text_pair: run([text, text_pair]), input_signature=[spec("text"), spec("text_pair")])
    return tf.function(lambda text: run([text]), input_signature=[spec("text")])


def _check_quantization(quantization):
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}. Received: {quantization!r}")


def _representative_dataset(features, num_examples):
    """Calibration batches (one example each) from packed real text."""

    def generate():
        for index in range(min(num_examples, len(features["token_ids"]))):
            length = max(int(features["padding_mask"][index].sum()), 1)
            yield {name: np.asarray(features[name][index : index + 1, :length], np.int32) for name in FEATURE_NAMES}

    return generate


def _check_representative_features(features, num_examples):
    """The converter's own error for an empty calibration set names neither input."""
    missing = [name for name in FEATURE_NAMES if name not in features]
    if missing:
        raise ValueError(
            f"`representative_features` lacks {', '.join(missing)}: it needs {', '.join(FEATURE_NAMES)} "
            "(an AlbertPreprocessor's output on real text)."
        )
    if len(features["token_ids"]) == 0 or num_examples < 1:
        raise ValueError(
            f"int8 calibration needs at least one example: `representative_features` has "
            f"{len(features['token_ids'])} rows and `num_calibration_examples` is {num_examples}."
        )


def convert_to_tflite(
    model,
    quantization="float32",
    tokenizer=None,
    string_input=False,
    sequence_length=128,
    text_pair=False,
    representative_features=None,
    num_calibration_examples=300,
):
    """Converts a task model to a `.tflite` flatbuffer.

    Args:
        model: an `AlbertTextClassifier`, `AlbertTokenClassifier`,
            `AlbertQuestionAnswerer` or `AlbertBackbone`.
        quantization: one of `QUANTIZATIONS`.
        tokenizer: its `AlbertTokenizer` (for `string_input`).
        string_input: bool. Raw strings in (classifier, backbone) instead
            of token ids.
        sequence_length: int. Longest packed sequence of a string-input
            model (token-id models take any length).
        text_pair: bool. A string-input classifier of sentence pairs.
        representative_features: for `int8`: packed real examples, a dict
            of int32 arrays `[num_examples, length]` (`token_ids`,
            `segment_ids`, `padding_mask`), e.g. an `AlbertPreprocessor`'s
            output on real sentences.
        num_calibration_examples: int. Examples used to calibrate `int8`.

    Returns:
        bytes of the TFLite model.

    Example:
    ```python
    features = keras_albert.AlbertPreprocessor(tokenizer, 128)(train_texts)
    int8_model = convert_to_tflite(classifier, "int8", representative_features=features)
    open("sst2_int8.tflite", "wb").write(int8_model)
    ```
    """
    _check_quantization(quantization)
    if serving_signatures.task_of(model) == "squad_v2_question_answering":
        raise ValueError(
            f"A {type(model).__name__} (task 'squad_v2_question_answering', the original SQuAD v2.0 head) has "
            "no TFLite model: its beam (einsum over the top starts, slices adding axes) needs TensorFlow (Flex) "
            "ops that builtin TFLite lacks. Serve it as a SavedModel (export.saved_model), or train the simple "
            "head (tasks.run_squad --squad_head=simple), which converts."
        )
    if quantization == "int8" and representative_features is None:
        raise ValueError("int8 quantization needs `representative_features` (packed real text) to calibrate on.")
    if quantization == "int8" and string_input:
        raise ValueError(
            "int8 calibration runs the model in an interpreter without TensorFlow Text's kernels; "
            "quantize the token-id model to int8, or use dynamic_range for a string-input model."
        )
    if quantization == "int8":
        _check_representative_features(representative_features, num_calibration_examples)
    if string_input:
        if tokenizer is None:
            raise ValueError("A string-input model needs the `tokenizer`.")
        signature = STRINGS_SIGNATURE
        function = _string_function(model, tokenizer, sequence_length, text_pair)
    else:
        signature = TOKEN_IDS_SIGNATURE
        function = serving_signatures.token_ids_function(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(signature, function)
    with tempfile.TemporaryDirectory() as saved_model_dir:
        archive.write_out(saved_model_dir, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
        if string_input:
            # FastSentencepieceTokenize is a TensorFlow Text custom op.
            converter.allow_custom_ops = True
        representative_dataset = None
        if quantization == "int8":
            representative_dataset = _representative_dataset(representative_features, num_calibration_examples)
        return convert_quantized(converter, quantization, representative_dataset)


def convert_quantized(converter, quantization, representative_dataset=None):
    """Runs a `tf.lite.TFLiteConverter` with the options of one of `QUANTIZATIONS`.

    `representative_dataset` (for `int8`) is a callable yielding calibration
    inputs. `int8` keeps the ops of `INT8_FLOAT_OPS` in float32 through the
    converter's selective quantization (`tf.lite.experimental.
    QuantizationDebugger`'s deny-list); every other op needs an int8 kernel.

    Returns:
        bytes of the TFLite model.
    """
    _check_quantization(quantization)
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization != "int8":
        return converter.convert()
    if representative_dataset is None:
        raise ValueError("int8 quantization needs a `representative_dataset` to calibrate on.")
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with warnings.catch_warnings():
        # The debugger builds a tf.lite.Interpreter, which warns of its own deprecation; nothing here runs it.
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated", category=UserWarning)
        selective = tf.lite.experimental.QuantizationDebugger(
            converter=converter,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(INT8_FLOAT_OPS)),
        )
        return selective.get_nondebug_quantized_model()


def output_path(output_dir, task, quantization, string_input=False):
    suffix = "_strings" if string_input else ""
    return os.path.join(output_dir, f"{task}_{quantization}{suffix}.tflite")


# === Command line ===


def define_flags():
    """Defines the command line's flags (idempotent: tests run it in-process)."""
    if "quantization" in flags.FLAGS:
        return
    flags.DEFINE_string("preset", None, "Task preset directory (a task program's --output_dir).")
    flags.DEFINE_string("output_dir", None, "Where the .tflite files (and the verification table) go.")
    flags.DEFINE_list("quantization", ["float32"], f"Comma-separated, from {', '.join(QUANTIZATIONS)}.")
    flags.DEFINE_enum("task", None, ["backbone"], "Convert the preset's backbone as an embedding model.")
    flags.DEFINE_bool("string_input", False, "Also write raw-string-in models (classifier, backbone).")
    # --max_seq_length, --text_pair, ...: the preset's task_spec.json unless given.
    saved_model.define_override_flags()
    flags.DEFINE_string(
        "representative_file", None,
        "Real text for int8 calibration: a text file (a sentence per line) or a GLUE TSV (its first column).",
    )
    flags.DEFINE_integer("num_calibration_examples", 300, "Sentences used to calibrate int8.")
    flags.DEFINE_string(
        "verify_data_dir", None,
        "A GLUE SST-2 directory (dev.tsv): measure accuracy, max error against Keras, size and latency.",
    )
    flags.DEFINE_integer("max_eval_examples", None, "Verify on the first N dev examples only.")
    flags.DEFINE_integer("latency_runs", 50, "Single-sentence calls timed per format.")


def read_sentences(path, max_sentences=None):
    """Sentences of a text file, or the first column of a TSV with a header."""
    with open(path, encoding="utf-8") as file:
        lines = file.read().splitlines()
    if path.endswith(".tsv"):
        lines = [line.split("\t")[0] for line in lines[1:]]
    sentences = [line for line in lines if line.strip()]
    if not sentences:
        raise ValueError(f"{path} has no sentences.")
    return sentences[:max_sentences]


def main(argv):
    del argv
    from . import verify

    FLAGS = flags.FLAGS
    flag_ranges.check_required_flags(FLAGS, "preset", "output_dir")
    flag_ranges.check_flag_ranges(FLAGS, saved_model.FLAG_RANGES)
    for quantization in FLAGS.quantization:
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"--quantization={quantization!r} is not one of {', '.join(QUANTIZATIONS)}.")
    model, tokenizer, spec = saved_model.load_task_preset(FLAGS.preset, FLAGS.task)
    spec = saved_model.spec_with_flags(spec, model, FLAGS, task_spec.spec_path(FLAGS.preset))
    task = spec.TASK
    sequence_length = spec.sequence_length
    text_pair = getattr(spec, "text_pair", False)
    # Refused before converting: verification runs SST-2 dev sentences through a label classifier.
    if FLAGS.verify_data_dir and (task != "text_classification" or text_pair or len(spec.labels) < 2):
        if task != "text_classification":
            kind = f"a {task} model"
        else:
            kind = "a text-pair classifier" if text_pair else "a regressor"
        raise ValueError(
            f"--verify_data_dir checks a single-sentence classifier with at least 2 labels on SST-2 dev; "
            f"--preset={FLAGS.preset} is {kind} (task {task!r}). Drop --verify_data_dir."
        )
    # From here on the model sees packed features: conversion and
    # verification tokenize themselves, so Keras must not preprocess again.
    model.preprocessor = None
    representative = None
    if "int8" in FLAGS.quantization:
        if not FLAGS.representative_file:
            raise ValueError("--quantization=int8 needs --representative_file (real text to calibrate on).")
        from keras_albert.albert_preprocessor import AlbertPreprocessor

        sentences = read_sentences(FLAGS.representative_file, FLAGS.num_calibration_examples)
        features = AlbertPreprocessor(tokenizer, sequence_length=sequence_length)(tf.constant(sentences))
        representative = {name: np.asarray(value) for name, value in features.items()}
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    # What the .tflite files were built with; export.predict reads it.
    task_spec.save_task_spec(FLAGS.output_dir, spec)
    written = {}
    for quantization in FLAGS.quantization:
        kinds = [False] + ([True] if FLAGS.string_input and quantization != "int8" else [])
        for string_input in kinds:
            path = output_path(FLAGS.output_dir, task, quantization, string_input)
            with keras_albert_cli.quiet_native_logs():
                content = convert_to_tflite(
                    model, quantization, tokenizer, string_input, sequence_length, text_pair,
                    representative, FLAGS.num_calibration_examples,
                )
            # Whole files only, as the SavedModel's version directory.
            partial = path + ".partial"
            try:
                with open(partial, "wb") as file:
                    file.write(content)
                replace_durably(partial, path)
            finally:
                if os.path.exists(partial):
                    os.remove(partial)
            written[(quantization, string_input)] = path
            logging.info("Wrote %s (%d bytes)", path, len(content))
            print(path)
    if FLAGS.verify_data_dir:
        rows = verify.verify_classifier(
            model, tokenizer, written, FLAGS.verify_data_dir, sequence_length,
            label_names=getattr(spec, "labels", None), max_examples=FLAGS.max_eval_examples,
            latency_runs=FLAGS.latency_runs, preset=FLAGS.preset,
        )
        verify.write_table(rows, FLAGS.output_dir, command="python -m export.tflite " + " ".join(
            f"--{name}={getattr(FLAGS, name) if not isinstance(getattr(FLAGS, name), list) else ','.join(getattr(FLAGS, name))}"
            for name in ("preset", "output_dir", "quantization", "representative_file", "verify_data_dir")
            if getattr(FLAGS, name)
        ) + (" --string_input" if FLAGS.string_input else ""))


def run_command():
    """The command line: `python -m` this module, or its console script."""
    define_flags()
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
