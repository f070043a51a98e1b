"""Checks exported models against Keras: error, accuracy, size, latency.

`verify_classifier` measures, for a text classifier and every format it
was exported to (Keras itself, the SavedModel's string signature, and
each `.tflite` file):

- `max_abs_error`: the largest difference of any logit from Keras' on the
  dev set (Keras runs `AlbertPreprocessor` + the model; token-id TFLite
  models get the same packed ids; string models tokenize themselves);
- `finite`: whether every output is finite (a conversion that lost its
  weights gives NaN, not an exception);
- `accuracy` on GLUE SST-2 `dev.tsv`;
- `size_bytes`: the `.tflite` file, the SavedModel directory, or the Keras
  weights (float32 variables);
- `latency_ms`: median of single-sentence calls on one thread, after
  warmup. SavedModel and string-input TFLite rows include tokenization;
  Keras and token-id TFLite rows time the model on ids tokenized
  beforehand.

TFLite models run in LiteRT (`ai_edge_litert`; `tf.lite.Interpreter` is
deprecated) with TensorFlow Text's TFLite kernels registered.
"""

import json
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from ai_edge_litert.interpreter import InterpreterWithCustomOps

from keras_albert.albert_preprocessor import AlbertPreprocessor


def load_interpreter(model, num_threads=1):
    """A LiteRT interpreter for a `.tflite` path or flatbuffer bytes.

    TensorFlow Text's TFLite kernels (`FastSentencepieceTokenize`, ...)
    are registered, so string-input models run too.
    """
    kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": os.fspath(model)}
    return InterpreterWithCustomOps(
        custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS, num_threads=num_threads, **kwargs
    )


def run_tflite(interpreter, inputs, signature=None):
    """Runs a signature of an interpreter on numpy inputs (any batch size)."""
    signatures = interpreter.get_signature_list()
    if signature is None:
        if len(signatures) != 1:
            raise ValueError(f"The model has signatures {sorted(signatures)}; name one.")
        signature = next(iter(signatures))
    if signature not in signatures:
        raise ValueError(f"The model has no signature {signature!r}; it has {sorted(signatures)}.")
    expected = set(signatures[signature]["inputs"])
    if set(inputs) != expected:
        raise ValueError(f"Signature {signature!r} takes inputs {sorted(expected)}; received {sorted(inputs)}.")
    return interpreter.get_signature_runner(signature)(**inputs)


def read_sst2_dev(data_dir, max_examples=None):
    """`(sentences, labels)` of GLUE SST-2 `dev.tsv`."""
    path = os.path.join(data_dir, "dev.tsv")
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist: --verify_data_dir must hold GLUE SST-2's dev.tsv.")
    sentences, labels = [], []
    with open(path, encoding="utf-8") as file:
        header = file.readline().rstrip("\n").split("\t")
        if header[:2] != ["sentence", "label"]:
            raise ValueError(f"{path}: expected the header 'sentence<TAB>label', found {header}.")
        for line_number, line in enumerate(file, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 2 or fields[1] not in ("0", "1"):
                raise ValueError(f"{path}:{line_number}: expected 'sentence<TAB>0|1', found {line!r}.")
            sentences.append(fields[0])
            labels.append(int(fields[1]))
    return sentences[:max_examples], np.array(labels[:max_examples])


def _median_ms(call, examples, warmup=3):
    for example in examples[:warmup]:
        call(example)
    times = []
    for example in examples:
        start = time.perf_counter()
        call(example)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def _directory_size(path):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def _row(name, logits, reference, labels, size_bytes, latency_ms, path=None):
    logits = np.asarray(logits, np.float32)
    return {
        "format": name,
        "path": path,
        "size_bytes": int(size_bytes),
        "latency_ms": round(latency_ms, 3),
        "accuracy": float(np.mean(np.argmax(logits, axis=-1) == labels)),
        "max_abs_error": float(np.max(np.abs(logits - reference))) if len(logits) else 0.0,
        "finite": bool(np.all(np.isfinite(logits))),
    }


def _trim(features, index):
    length = max(int(features["padding_mask"][index].sum()), 1)
    return {name: value[index : index + 1, :length] for name, value in features.items()}


def _batches(features, batch_size):
    """Consecutive batches, each cut to its longest example."""
    num = len(features["token_ids"])
    for start in range(0, num, batch_size):
        batch = {name: value[start : start + batch_size] for name, value in features.items()}
        length = max(int(batch["padding_mask"].sum(axis=1).max()), 1)
        yield {name: value[:, :length] for name, value in batch.items()}


def verify_classifier(
    model,
    tokenizer,
    tflite_paths,
    data_dir,
    sequence_length,
    label_names=None,
    max_examples=None,
    latency_runs=50,
    batch_size=32,
    preset=None,
    saved_model=True,
):
    """The verification table of a text classifier on SST-2 dev.

    Args:
        model: the `AlbertTextClassifier`.
        tokenizer: its `AlbertTokenizer`.
        tflite_paths: dict `(quantization, string_input) -> .tflite path`.
        data_dir: directory of GLUE SST-2 `dev.tsv`.
        sequence_length: int. Packed length for Keras and token-id inputs.
        label_names: passed to the SavedModel export.
        max_examples: optional int, the first dev examples only.
        latency_runs: int. Single-sentence calls timed per format.
        batch_size: int. Batch size for the accuracy runs.
        preset: optional preset directory (only recorded).
        saved_model: bool. Also export and measure a SavedModel.

    Returns:
        list of dicts, one per format (see the module docstring).
    """
    from .saved_model import export_saved_model

    sentences, labels = read_sst2_dev(data_dir, max_examples)
    features = AlbertPreprocessor(tokenizer, sequence_length=sequence_length)(tf.constant(sentences))
    features = {name: np.asarray(value, np.int32) for name, value in features.items()}
    timed = list(range(min(latency_runs, len(sentences))))

    reference = np.asarray(model.predict(features, batch_size=batch_size, verbose=0), np.float32)
    keras_bytes = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in model.weights)
    rows = [
        _row(
            "keras", reference, reference, labels, keras_bytes,
            _median_ms(lambda i: model.predict_on_batch(_trim(features, i)), timed), preset,
        )
    ]

    if saved_model:
        with tempfile.TemporaryDirectory() as model_base:
            path = export_saved_model(model, tokenizer, model_base, sequence_length=sequence_length, labels=label_names)
            serve = tf.saved_model.load(path).signatures["serving_default"]
            logits = np.concatenate(
                [serve(text=tf.constant(sentences[s : s + batch_size]))["logits"].numpy() for s in range(0, len(sentences), batch_size)]
            )
            latency = _median_ms(lambda i: serve(text=tf.constant(sentences[i : i + 1])), timed)
            rows.append(_row("saved_model", logits, reference, labels, _directory_size(path), latency))

    for (quantization, string_input), path in sorted(tflite_paths.items()):
        interpreter = load_interpreter(path)
        if string_input:
            def call(batch_sentences):
                return run_tflite(interpreter, {"text": np.array(batch_sentences, dtype=object)})["logits"]

            logits = np.concatenate([call(sentences[s : s + batch_size]) for s in range(0, len(sentences), batch_size)])
            latency = _median_ms(lambda i: call(sentences[i : i + 1]), timed)
        else:
            logits = np.concatenate([run_tflite(interpreter, batch)["logits"] for batch in _batches(features, batch_size)])
            latency = _median_ms(lambda i: run_tflite(interpreter, _trim(features, i)), timed)
        name = f"tflite_{quantization}" + ("_strings" if string_input else "")
        rows.append(_row(name, logits, reference, labels, os.path.getsize(path), latency, path))
    return rows


def write_table(rows, output_dir, command=None):
    """Writes `verification.json` and `verification.md` to `output_dir`."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "verification.json"), "w", encoding="utf-8") as file:
        json.dump({"command": command, "rows": rows}, file, indent=2)
    float32_size = next((r["size_bytes"] for r in rows if r["format"] == "tflite_float32"), None)
    lines = [
        "| format | size | vs float32 .tflite | latency (ms, 1 sentence) | SST-2 dev accuracy | max abs error vs Keras |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{row['size_bytes'] / float32_size:.0%}" if float32_size and row["format"].startswith("tflite") else ""
        lines.append(
            f"| {row['format']} | {row['size_bytes'] / 1e6:.2f} MB | {ratio} | {row['latency_ms']:.2f} | "
            f"{100 * row['accuracy']:.2f} | {row['max_abs_error']:.2e}{'' if row['finite'] else ' (NOT FINITE)'} |"
        )
    if command:
        lines += ["", f"Command: `{command}`"]
    table = "\n".join(lines) + "\n"
    with open(os.path.join(output_dir, "verification.md"), "w", encoding="utf-8") as file:
        file.write(table)
    print(table)
    return table
