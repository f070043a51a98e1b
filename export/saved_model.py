r"""SavedModels for TF Serving: `<model_base>/<version>/`, string-in signatures.

`export_saved_model` writes a task model as TF Serving loads it:

```
<model_base>/<version>/saved_model.pb        signatures (see serving_signatures.py)
<model_base>/<version>/variables/
<model_base>/<version>/assets/spiece.model   the SentencePiece model
<model_base>/<version>/assets/serving_config.json   task, model class, signatures, tokenizer options, serving limits
<model_base>/<version>/assets/task_spec.json        the task spec served (keras_albert.task_spec)
<model_base>/<version>/assets.extra/tf_serving_warmup_requests
```

The tokenizer runs inside the graph (TensorFlow Text ops), so the serving
process must `import tensorflow_text` before loading (TF Serving's
standard build has the ops; a Python process without the import fails
with `Op type not registered 'FastSentencepieceTokenize'`). The
SentencePiece model is also packed as an asset for clients that tokenize
themselves and call the `token_ids` signature.

Command line (a task preset written by the task programs, e.g.
`tasks/run_classifier.py --output_dir=...`):

    python -m export.saved_model --preset=/tmp/sst2 \
        --model_base=/models/albert_sst2 [--version=3]

The task and its settings (labels, text pair, sequence length, NER window
stride, QA windows, v2.0 and null threshold, ...) come from the preset's
`task_spec.json` (`keras_albert.task_spec`), so no task flag is needed. A
flag given explicitly (`--max_seq_length`, `--text_pair`, `--window_stride`,
`--doc_stride`, `--max_query_length`, `--n_best_size`,
`--max_answer_length`, `--version_2_with_negative`,
`--null_score_diff_threshold`, `--top_k`) overrides the spec and is refused
when it does not fit the model. The spec used is saved with the export
(`assets/task_spec.json`); `--task=backbone` exports the preset's backbone.

Every request is capped (`serving_signatures.ServingLimits`, recorded in
`serving_config.json` as `limits`): `--max_batch_size` rows (default 64),
`--max_text_chars` characters per text (default 20000) and
`--max_windows_per_request` packed sequences (default 256: NER and QA
windows, multiple-choice options). A request over a limit is refused with
INVALID_ARGUMENT naming the limit and its value, before the model runs.
"""

import dataclasses
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf
from absl import flags

import keras_albert_cli
import keras_albert
from . import serving_signatures, warmup
from keras_albert import flag_ranges, question_answering, task_spec, token_labels
from keras_albert.albert_tokenizer import AlbertTokenizer


SPM_ASSET_NAME = "spiece.model"
CONFIG_ASSET_NAME = "serving_config.json"
SPEC_ASSET_NAME = task_spec.SPEC_FILENAME

# Requests TF Serving replays on load: short, long, empty and non-ASCII text.
WARMUP_TEXTS = (
    "A charming and often affecting journey.",
    "",
    "Crème brûlée, 1,000 times — ＡＬＢＥＲＴ “rocks”. " * 8,
)


def next_version(model_base):
    """1 + the largest numeric version under `model_base` (1 if none)."""
    if not os.path.isdir(model_base):
        return 1
    versions = [int(name) for name in os.listdir(model_base) if name.isdigit()]
    return max(versions, default=0) + 1


def _warmup_requests(spec, tokenizer, limits):
    """`serving_default` requests for TF Serving to replay, each within `limits`.

    TF Serving does not load a version whose warmup fails, so texts are cut
    to `max_text_chars`, a text in more windows than `max_windows_per_request`
    is halved until it fits, and the batched request holds only the rows
    that fit `max_batch_size` and the window limit together.
    """
    rows = []
    for index, text in enumerate(WARMUP_TEXTS):
        while True:
            row = _warmup_row(spec, text, WARMUP_TEXTS[-1 - index], limits)
            windows = _warmup_windows(spec, tokenizer, row)
            if windows <= limits.max_windows_per_request:
                break
            text = text[: len(text) // 2]
        rows.append((row, windows))
    requests = [(serving_signatures.DEFAULT_SIGNATURE, {k: [v] for k, v in row.items()}) for row, _ in rows]
    batch, batch_windows = [], 0
    for row, windows in rows[: limits.max_batch_size]:
        if batch_windows + windows > limits.max_windows_per_request:
            break
        batch.append(row)
        batch_windows += windows
    if len(batch) > 1:
        requests.append((serving_signatures.DEFAULT_SIGNATURE, {k: [row[k] for row in batch] for k in batch[0]}))
    return requests


def _warmup_row(spec, text, other_text, limits):
    """One row of `serving_default` inputs, every string cut to `limits.max_text_chars`."""
    if isinstance(spec, task_spec.QuestionAnsweringSpec):  # Also the original SQuAD v2.0 head's.
        row = {"question": "What is it?", "context": text}
    elif spec.TASK == "multiple_choice":  # Every option is a window.
        choices = ["this", "that"][: limits.max_windows_per_request]
        row = {"context": text, "question": "Which is it?", "choices": choices}
    elif spec.TASK == "pretraining":
        row = {"text": text + " [MASK]"}
    elif getattr(spec, "text_pair", False):
        row = {"text": text, "text_pair": other_text}
    else:
        row = {"text": text}
    cut = lambda value: [cut(v) for v in value] if isinstance(value, list) else value[: limits.max_text_chars]
    return {name: cut(value) for name, value in row.items()}


def _warmup_windows(spec, tokenizer, row):
    """The windows `serving_default` packs for `row`, by the Python references of its rules."""
    if spec.TASK == "token_classification":
        pieces, _ = token_labels.tokenize_words(tokenizer, row["text"].split())
        return len(token_labels.windows_for_words(
            pieces, spec.sequence_length, tokenizer.cls_token_id, tokenizer.sep_token_id, spec.window_stride
        ))
    if isinstance(spec, task_spec.QuestionAnsweringSpec):
        context_encoding = question_answering.tokenize_with_offsets(tokenizer, row["context"])
        context_ids, _ = context_encoding
        if len(context_ids) == 0:
            # The signature answers a token-less context (the empty warmup
            # text) from one empty window; the Python reference refuses it.
            return 1
        windows, _ = question_answering.encode_question_and_context(
            tokenizer, row["question"], row["context"], spec.sequence_length, spec.doc_stride,
            spec.max_query_length, context_encoding=context_encoding,
        )
        return len(windows)
    if spec.TASK == "multiple_choice":
        return len(row["choices"])
    return 0


def export_saved_model(model, tokenizer, model_base, version=None, overwrite=False, spec=None, limits=None, **overrides):
    """Writes `<model_base>/<version>/` for TF Serving.

    Args:
        model: a model of `keras_albert.task_spec.TASKS`.
        tokenizer: its `AlbertTokenizer`.
        model_base: the model's base path (TF Serving's `--model_base_path`).
        version: int; default: one more than the largest existing version.
        overwrite: bool. Replace an existing version directory.
        spec: the model's `TaskSpec` (a preset's `task_spec.json`);
            default `keras_albert.task_spec.default_spec(model)`.
        limits: the `serving_signatures.ServingLimits` of every request;
            default `ServingLimits()`.
        **overrides: spec fields to change (`sequence_length=96`,
            `labels=[...]`, `version_2_with_negative=True`, ...); the
            result is checked against the model.

    Returns:
        The version directory. The spec used is saved in it as
        `assets/task_spec.json`.

    Example:
    ```python
    path = export_saved_model(classifier, tokenizer, "/models/albert_sst2",
                              labels=["negative", "positive"])
    loaded = tf.saved_model.load(path)  # after `import tensorflow_text`
    loaded.signatures["serving_default"](text=tf.constant(["great film"]))
    ```
    """
    if version is None:
        version = next_version(model_base)
    if not isinstance(version, int) or version < 0:
        raise ValueError(f"`version` must be a non-negative int (TF Serving's version directories). Received: {version!r}")
    version_dir = os.path.join(model_base, str(version))
    if os.path.exists(version_dir) and not overwrite:
        raise ValueError(f"{version_dir} already exists; pass a new version or overwrite=True.")

    spec = task_spec.default_spec(model) if spec is None else spec
    if "labels" in overrides and overrides["labels"] is not None:
        overrides["labels"] = tuple(str(label) for label in overrides["labels"])
    spec = spec.replace(**overrides)
    limits = limits or serving_signatures.ServingLimits()
    functions = serving_signatures.serving_functions(model, tokenizer, spec, limits)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, function in functions.items():
        archive.add_endpoint(name, function)

    # Written next to the final directory and renamed into place, so TF
    # Serving, which polls `model_base`, never sees half a version.
    os.makedirs(model_base, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{version}.", dir=model_base)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            spm_path = os.path.join(scratch, SPM_ASSET_NAME)
            with open(spm_path, "wb") as file:
                file.write(tokenizer.proto)
            config_path = os.path.join(scratch, CONFIG_ASSET_NAME)
            with open(config_path, "w", encoding="utf-8") as file:
                json.dump(_serving_config(model, tokenizer, functions, limits), file, indent=2)
            task_spec.save_task_spec(scratch, spec)
            # Keras' ExportArchive has no public way to add assets; its root
            # object is a plain AutoTrackable, where `tf.saved_model.Asset`s
            # are saved to `assets/` and restored as `loaded.<name>`.
            archive._tf_trackable.sentencepiece_model = tf.saved_model.Asset(spm_path)
            archive._tf_trackable.serving_config = tf.saved_model.Asset(config_path)
            archive._tf_trackable.task_spec = tf.saved_model.Asset(task_spec.spec_path(scratch))
            archive.write_out(staging, verbose=False)
        warmup.write_warmup_requests(staging, _warmup_requests(spec, tokenizer, limits))
        if os.path.exists(version_dir):
            shutil.rmtree(version_dir)
        os.replace(staging, version_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version_dir


def _serving_config(model, tokenizer, functions, limits):
    """What a client needs to know beside the task spec (saved as an asset)."""
    return {
        "limits": limits.to_config(),
        "task": serving_signatures.task_of(model),
        "model_class": type(model).__name__,
        "signatures": sorted(functions),
        "lower_case": tokenizer.lower_case,
        "keep_accents": tokenizer.keep_accents,
    }


def read_serving_config(saved_model_dir):
    """The `serving_config.json` asset of an exported SavedModel."""
    path = os.path.join(saved_model_dir, "assets", CONFIG_ASSET_NAME)
    if not os.path.isfile(path):
        raise ValueError(f"{path} not found: {saved_model_dir} was not written by export.saved_model.")
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def read_serving_limits(saved_model_dir):
    """The `ServingLimits` an exported SavedModel enforces."""
    return serving_signatures.ServingLimits(**read_serving_config(saved_model_dir)["limits"])


def read_export_spec(saved_model_dir):
    """The `TaskSpec` an exported SavedModel was built with (`assets/task_spec.json`)."""
    return task_spec.load_task_spec(os.path.join(saved_model_dir, "assets"))


# === Command line ===


def load_task_preset(preset, task=None):
    """`(model, tokenizer, spec)` from a task preset directory.

    The model class and settings come from the preset's `task_spec.json`
    (checked against the weights); `task="backbone"` loads the preset's
    backbone only, as does a preset holding just a backbone.
    """
    if not os.path.isdir(preset):
        raise ValueError(f"--preset={preset} is not a directory.")
    spec = task_spec.load_task_spec(preset, required=task != "backbone" and os.path.isfile(os.path.join(preset, "task.json")))
    if task == "backbone" or spec is None:
        model = keras_albert.AlbertBackbone.from_preset(preset)
        spec = task_spec.BackboneSpec(
            sequence_length=min(spec.sequence_length if spec else 512, model.max_sequence_length)
        )
    else:
        model = task_spec.TASKS[spec.TASK].model_class.from_preset(preset)
        task_spec.check_spec_for_model(spec, model, task_spec.spec_path(preset))
    tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
    if tokenizer is None:
        tokenizer = AlbertTokenizer.from_preset(preset)
    return model, tokenizer, spec


# Flags that override a spec field of the same meaning: flag name -> field.
OVERRIDE_FLAGS = {
    "max_seq_length": "sequence_length",
    "text_pair": "text_pair",
    "window_stride": "window_stride",
    "doc_stride": "doc_stride",
    "max_query_length": "max_query_length",
    "n_best_size": "n_best_size",
    "max_answer_length": "max_answer_length",
    "version_2_with_negative": "version_2_with_negative",
    "null_score_diff_threshold": "null_score_diff_threshold",
    "top_k": "top_k",
}


def spec_with_flags(spec, model, flag_values, where):
    """`spec` with the override flags given explicitly, checked against `model`.

    A flag for a field the task does not have, or a value that does not fit
    the model, is refused naming the flag, its value and the spec's.
    """
    fields = {field.name for field in dataclasses.fields(spec)}
    for flag, field in OVERRIDE_FLAGS.items():
        if flag not in flag_values or not flag_values[flag].present:
            continue
        value = flag_values[flag].value
        if field not in fields:
            raise ValueError(f"--{flag} does not apply to a {spec.TASK!r} model ({where}).")
        try:
            updated = dataclasses.replace(spec, **{field: value})
            task_spec.check_spec_for_model(updated, model, where)
        except task_spec.TaskSpecError as error:
            raise ValueError(
                f"--{flag}={value} contradicts the model ({where} has {field}={getattr(spec, field)!r}): {error}"
            ) from None
        spec = updated
    return spec


# The numeric flags of export.saved_model and export.tflite (`keras_albert.flag_ranges`).
FLAG_RANGES = {
    "version": (0, None),
    "max_batch_size": (1, None),
    "max_text_chars": (1, None),
    "max_windows_per_request": (1, None),
    "max_seq_length": (3, None),  # [CLS] x [SEP]
    "window_stride": (1, None),
    "doc_stride": (1, None),
    "max_query_length": (1, None),
    "n_best_size": (1, None),
    "max_answer_length": (1, None),
    "top_k": (1, None),
    "num_calibration_examples": (1, None),
    "max_eval_examples": (1, None),
    "latency_runs": (1, None),
}


def define_flags():
    """Defines the command line's flags (idempotent: tests run it in-process)."""
    if "model_base" in flags.FLAGS:
        return
    flags.DEFINE_string("preset", None, "Task preset directory (a task program's --output_dir).")
    flags.DEFINE_string("model_base", None, "TF Serving model base path; the version goes below it.")
    flags.DEFINE_integer("version", None, "Version number (default: the next free one).")
    flags.DEFINE_bool("overwrite", False, "Replace an existing version.")
    flags.DEFINE_enum("task", None, ["backbone"], "Export the preset's backbone as an embedding model.")
    defaults = serving_signatures.ServingLimits()
    flags.DEFINE_integer("max_batch_size", defaults.max_batch_size, "Serving limit: rows per request.")
    flags.DEFINE_integer("max_text_chars", defaults.max_text_chars, "Serving limit: characters in any one text.")
    flags.DEFINE_integer(
        "max_windows_per_request", defaults.max_windows_per_request,
        "Serving limit: packed sequences per request (NER/QA windows, multiple-choice options).",
    )
    define_override_flags()


def define_override_flags():
    """The flags that override the preset's task spec (shared with export.tflite)."""
    if "doc_stride" in flags.FLAGS:
        return
    overrides = "Overrides the preset's task_spec.json."
    flags.DEFINE_integer("max_seq_length", None, f"Packed sequence length. {overrides}")
    flags.DEFINE_bool("text_pair", None, f"Classifier: sentence pairs (text, text_pair). {overrides}")
    flags.DEFINE_integer("window_stride", None, f"NER: pieces between window starts. {overrides}")
    flags.DEFINE_integer("doc_stride", None, f"QA: context tokens between window starts. {overrides}")
    flags.DEFINE_integer("max_query_length", None, f"QA: questions are cut to this many tokens. {overrides}")
    flags.DEFINE_integer("n_best_size", None, f"QA: starts and ends considered per window. {overrides}")
    flags.DEFINE_integer("max_answer_length", None, f"QA: longest answer in tokens. {overrides}")
    flags.DEFINE_bool("version_2_with_negative", None, f"QA: the model may answer 'no answer'. {overrides}")
    flags.DEFINE_float("null_score_diff_threshold", None, f"QA: 'no answer' threshold. {overrides}")
    flags.DEFINE_integer("top_k", None, f"Fill-mask: pieces returned per [MASK]. {overrides}")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    flag_ranges.check_required_flags(FLAGS, "preset", "model_base")
    flag_ranges.check_flag_ranges(FLAGS, FLAG_RANGES)
    model, tokenizer, spec = load_task_preset(FLAGS.preset, FLAGS.task)
    spec = spec_with_flags(spec, model, FLAGS, task_spec.spec_path(FLAGS.preset))
    limits = serving_signatures.ServingLimits(
        **{name: FLAGS[name].value for name in serving_signatures.ServingLimits.__dataclass_fields__}
    )
    path = export_saved_model(model, tokenizer, FLAGS.model_base, FLAGS.version, FLAGS.overwrite, spec=spec, limits=limits)
    print(path)


def run_command():
    """The command line: `python -m` this module, or its console script."""
    define_flags()
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
