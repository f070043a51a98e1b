r"""SavedModels for TF Serving: `<model_base>/<version>/`, string-in signatures.

`export_saved_model` writes a task model as TF Serving loads it:

```
<model_base>/<version>/saved_model.pb        signatures (see serving_signatures.py)
<model_base>/<version>/variables/
<model_base>/<version>/assets/spiece.model   the SentencePiece model
<model_base>/<version>/assets/serving_config.json   task, labels, options
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
        --model_base=/models/albert_sst2 [--version=3] [--max_seq_length=128]

Classifiers read their label names (tags for a token classifier) from the
preset's `task_metadata.json`. `--text_pair` makes a
classifier take sentence pairs; QA options (`--doc_stride`,
`--max_query_length`, `--n_best_size`, `--max_answer_length`,
`--version_2_with_negative`, `--null_score_diff_threshold`) match
`tasks/run_squad.py`; `--task=embeddings` exports the preset's backbone.
"""

import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf
from absl import flags

import keras_albert_cli
import keras_albert
from keras_albert import token_labels
from keras_albert.albert_task import read_task_metadata
from keras_albert.albert_tokenizer import AlbertTokenizer

from . import serving_signatures, warmup

SPM_ASSET_NAME = "spiece.model"
CONFIG_ASSET_NAME = "serving_config.json"

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


def _warmup_requests(task, text_pair):
    texts = list(WARMUP_TEXTS)
    if task == "question_answerer":
        inputs = {"question": ["What is it?"] * len(texts), "context": texts}
    elif text_pair:
        inputs = {"text": texts, "text_pair": texts[::-1]}
    else:
        inputs = {"text": texts}
    requests = [(serving_signatures.DEFAULT_SIGNATURE, {k: v[i : i + 1] for k, v in inputs.items()}) for i in range(len(texts))]
    requests.append((serving_signatures.DEFAULT_SIGNATURE, inputs))
    return requests


def export_saved_model(
    model,
    tokenizer,
    model_base,
    version=None,
    overwrite=False,
    **serving_options,
):
    """Writes `<model_base>/<version>/` for TF Serving.

    Args:
        model: an `AlbertTextClassifier`, `AlbertTokenClassifier`,
            `AlbertQuestionAnswerer` or `AlbertBackbone`.
        tokenizer: its `AlbertTokenizer`.
        model_base: the model's base path (TF Serving's `--model_base_path`).
        version: int; default: one more than the largest existing version.
        overwrite: bool. Replace an existing version directory.
        **serving_options: `serving_signatures.serving_functions` options
            (`sequence_length`, `label_names`, `text_pair`, QA options).

    Returns:
        The version directory.

    Example:
    ```python
    path = export_saved_model(classifier, tokenizer, "/models/albert_sst2",
                              label_names=["negative", "positive"])
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

    task = serving_signatures.task_of(model)
    serving_options["sequence_length"] = serving_signatures.resolve_sequence_length(
        model, serving_options.get("sequence_length")
    )
    functions = serving_signatures.serving_functions(model, tokenizer, **serving_options)
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
                json.dump(_serving_config(model, tokenizer, task, functions, serving_options), file, indent=2)
            # Keras' ExportArchive has no public way to add assets; its root
            # object is a plain AutoTrackable, where `tf.saved_model.Asset`s
            # are saved to `assets/` and restored as `loaded.<name>`.
            archive._tf_trackable.sentencepiece_model = tf.saved_model.Asset(spm_path)
            archive._tf_trackable.serving_config = tf.saved_model.Asset(config_path)
            archive.write_out(staging, verbose=False)
        warmup.write_warmup_requests(staging, _warmup_requests(task, serving_options.get("text_pair", False)))
        if os.path.exists(version_dir):
            shutil.rmtree(version_dir)
        os.replace(staging, version_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version_dir


def _serving_config(model, tokenizer, task, functions, serving_options):
    """What a client needs to know about the export (saved as an asset)."""
    options = {k: v for k, v in serving_options.items() if k != "label_names"}
    return {
        "task": task,
        "model_class": type(model).__name__,
        "label_names": serving_options.get("label_names"),
        "signatures": sorted(functions),
        "lower_case": tokenizer.lower_case,
        "keep_accents": tokenizer.keep_accents,
        "options": options,
    }


def read_serving_config(saved_model_dir):
    """The `serving_config.json` asset of an exported SavedModel."""
    path = os.path.join(saved_model_dir, "assets", CONFIG_ASSET_NAME)
    if not os.path.isfile(path):
        raise ValueError(f"{path} not found: {saved_model_dir} was not written by export.saved_model.")
    with open(path, encoding="utf-8") as file:
        return json.load(file)


# === Command line ===


def load_task_preset(preset, task=None):
    """`(model, tokenizer, serving_options)` from a preset directory.

    The model class comes from the preset's `task.json` (or `config.json`
    for a bare backbone, or `task="embeddings"` for a task preset's
    backbone); label names from `task_metadata.json` (required for a token
    classifier, optional for a text classifier).
    """
    if not os.path.isdir(preset):
        raise ValueError(f"--preset={preset} is not a directory.")
    task_json = os.path.join(preset, "task.json")
    if task == "embeddings" or not os.path.isfile(task_json):
        model = keras_albert.AlbertBackbone.from_preset(preset)
        class_name = "AlbertBackbone"
    else:
        with open(task_json, encoding="utf-8") as file:
            class_name = json.load(file).get("class_name")
        classes = {c.__name__: c for c in serving_signatures.TASKS.values()}
        if class_name not in classes:
            raise ValueError(f"{task_json}: cannot export a {class_name}; exportable: {sorted(classes)}.")
        model = classes[class_name].from_preset(preset)
    tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
    if tokenizer is None:
        tokenizer = AlbertTokenizer.from_preset(preset)
    options = {}
    if class_name == "AlbertTokenClassifier":
        options["label_names"], _ = token_labels.load_label_list(preset)  # Checks the tag scheme too.
    elif class_name == "AlbertTextClassifier":
        labels = read_label_names(preset)
        if labels:
            options["label_names"] = labels
    return model, tokenizer, options


def read_label_names(preset):
    """The label names in class-id order from a task preset's
    `task_metadata.json`, as strings; None without them."""
    labels = read_task_metadata(preset).get("labels")
    return [str(label) for label in labels] if labels else None


def define_flags():
    """Defines the command line's flags (idempotent: tests run it in-process)."""
    if "model_base" in flags.FLAGS:
        return
    flags.DEFINE_string("preset", None, "Task preset directory (a task program's --output_dir).")
    flags.DEFINE_string("model_base", None, "TF Serving model base path; the version goes below it.")
    flags.DEFINE_integer("version", None, "Version number (default: the next free one).")
    flags.DEFINE_bool("overwrite", False, "Replace an existing version.")
    flags.DEFINE_enum("task", None, ["embeddings"], "Export the preset's backbone as an embedding model.")
    flags.DEFINE_integer("max_seq_length", None, "Packed sequence length (default: the preset's preprocessor's, else 512).")
    flags.DEFINE_bool("text_pair", False, "The classifier takes sentence pairs (text, text_pair).")
    flags.DEFINE_integer("window_stride", None, "NER: pieces between window starts (default half a window).")
    flags.DEFINE_integer("doc_stride", 128, "QA: context tokens between window starts.")
    flags.DEFINE_integer("max_query_length", 64, "QA: questions are cut to this many tokens.")
    flags.DEFINE_integer("n_best_size", 20, "QA: starts and ends considered per window.")
    flags.DEFINE_integer("max_answer_length", 30, "QA: longest answer in tokens.")
    flags.DEFINE_bool("version_2_with_negative", False, "QA: the model may answer 'no answer' (SQuAD v2.0).")
    flags.DEFINE_float("null_score_diff_threshold", None, "QA: 'no answer' threshold (default: the model's).")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    if not FLAGS.preset or not FLAGS.model_base:
        raise ValueError("--preset and --model_base are required.")
    model, tokenizer, options = load_task_preset(FLAGS.preset, FLAGS.task)
    task = serving_signatures.task_of(model)
    options["sequence_length"] = FLAGS.max_seq_length
    if task == "text_classifier":
        options["text_pair"] = FLAGS.text_pair
    elif task == "token_classifier":
        options["window_stride"] = FLAGS.window_stride
    elif task == "question_answerer":
        options.update(
            doc_stride=FLAGS.doc_stride,
            max_query_length=FLAGS.max_query_length,
            n_best_size=FLAGS.n_best_size,
            max_answer_length=FLAGS.max_answer_length,
            version_2_with_negative=FLAGS.version_2_with_negative,
            null_score_diff_threshold=FLAGS.null_score_diff_threshold,
        )
    path = export_saved_model(model, tokenizer, FLAGS.model_base, FLAGS.version, FLAGS.overwrite, **options)
    print(path)


def run_command():
    """The command line: `python -m` this module, or its console script."""
    define_flags()
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
