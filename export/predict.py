r"""Runs an exported model on text from a file or stdin; JSON lines out.

    python -m export.predict --model=/models/albert_sst2/1 < sentences.txt
    python -m export.predict --model=sst2_int8.tflite --preset=/tmp/sst2 --input=sentences.txt
    echo -e "Who wrote it?\tIt was written by Ann." | python -m export.predict --model=/models/squad/1

One example per line; a model with two text inputs (`text`/`text_pair`,
`question`/`context`) takes them separated by a tab. Each output line is
a JSON object for one input line, in order.

- A SavedModel (a version directory of `export.saved_model`) or a
  string-input `.tflite` runs its `serving_default` signature: tokenization
  and post-processing happen in the model. Per-word and per-entity outputs
  are cut to `num_words` / `num_entities`.
- A token-id `.tflite` (signature `token_ids`) needs the tokenizer:
  `--preset` (a task program's output directory: tokenizer, labels, task)
  or `--spm_model_file`. The text is tokenized and the outputs
  post-processed on the host with the task programs' own code
  (`AlbertPreprocessor`; `token_labels` windows and entity spans;
  `question_answering` windows and `decode_answer`), so the answers are
  those of the task programs.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf
from absl import flags

import keras_albert_cli
from . import serving_signatures

# Two-input signatures, in the order their fields appear on a line.
_INPUT_ORDERS = (("question", "context"), ("text", "text_pair"), ("text",))


def define_flags(flag_values=flags.FLAGS):
    """Defines the command line's flags in `flag_values` (tests pass their own)."""
    flags.DEFINE_string("model", None, "A SavedModel version directory or a .tflite file.", flag_values=flag_values)
    flags.DEFINE_string("input", "-", "Text file, one example per line ('-': stdin).", flag_values=flag_values)
    flags.DEFINE_string("output", "-", "JSON lines file ('-': stdout).", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 32, "Examples per model call.", flag_values=flag_values)
    flags.DEFINE_string("preset", None, "Token-id .tflite: the task preset (tokenizer, labels, task).", flag_values=flag_values)
    flags.DEFINE_string("spm_model_file", None, "Token-id .tflite: the SentencePiece model (without --preset).", flag_values=flag_values)
    flags.DEFINE_bool("do_lower_case", True, "With --spm_model_file: lower-case text.", flag_values=flag_values)
    flags.DEFINE_integer("max_seq_length", 128, "Token-id .tflite: packed length.", flag_values=flag_values)
    flags.DEFINE_integer("doc_stride", 128, "Token-id QA .tflite: context tokens between windows.", flag_values=flag_values)
    flags.DEFINE_integer("max_query_length", 64, "Token-id QA .tflite: question tokens kept.", flag_values=flag_values)
    flags.DEFINE_bool("version_2_with_negative", False, "Token-id QA .tflite: allow 'no answer'.", flag_values=flag_values)


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value] if value.ndim else _jsonable(value.item())
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def rows_of(outputs):
    """Per-example dicts from batched outputs, padding cut by the counts."""
    num_rows = len(next(iter(outputs.values())))
    rows = []
    for index in range(num_rows):
        row = {}
        for name, value in outputs.items():
            item = value[index]
            if name.startswith("word") and "num_words" in outputs:
                item = item[: int(outputs["num_words"][index])]
            elif name.startswith("entity_") and "num_entities" in outputs:
                item = item[: int(outputs["num_entities"][index])]
            row[name] = _jsonable(item)
        rows.append(row)
    return rows


def split_fields(lines, input_names, first_line_number=1):
    columns = {name: [] for name in input_names}
    for number, line in enumerate(lines, start=first_line_number):
        fields = line.split("\t") if len(input_names) > 1 else [line]
        if len(fields) != len(input_names):
            raise ValueError(
                f"input line {number}: expected {len(input_names)} tab-separated fields "
                f"({', '.join(input_names)}), found {len(fields)}."
            )
        for name, field in zip(input_names, fields):
            columns[name].append(field)
    return columns


def _ordered_inputs(names):
    for order in _INPUT_ORDERS:
        if set(order) == set(names):
            return order
    raise ValueError(f"The signature takes {sorted(names)}; expected one of {_INPUT_ORDERS}.")


class SavedModelPredictor:
    """`serving_default` of a SavedModel (string in, post-processed out)."""

    def __init__(self, path):
        import tensorflow_text  # noqa: F401  (the signature's text ops)

        self.function = tf.saved_model.load(path).signatures[serving_signatures.DEFAULT_SIGNATURE]
        self.input_names = _ordered_inputs(self.function.structured_input_signature[1])

    def __call__(self, columns):
        outputs = self.function(**{name: tf.constant(columns[name], tf.string) for name in self.input_names})
        return rows_of({name: value.numpy() for name, value in outputs.items()})


class TfliteStringPredictor:
    """`serving_default` of a string-input `.tflite`."""

    def __init__(self, interpreter):
        from .verify import run_tflite

        self.run = lambda inputs: run_tflite(interpreter, inputs, serving_signatures.DEFAULT_SIGNATURE)
        names = interpreter.get_signature_list()[serving_signatures.DEFAULT_SIGNATURE]["inputs"]
        self.input_names = _ordered_inputs(names)

    def __call__(self, columns):
        outputs = self.run({name: np.array(columns[name], dtype=object) for name in self.input_names})
        rows = rows_of(outputs)
        for row in rows:
            if "probabilities" in row:
                row["label_id"] = int(np.argmax(row["probabilities"]))
        return rows


class TfliteTokenIdsPredictor:
    """A token-id `.tflite` with host-side tokenization and post-processing."""

    def __init__(self, interpreter, FLAGS):
        from .verify import run_tflite
        from keras_albert.albert_preprocessor import AlbertPreprocessor
        from keras_albert.albert_tokenizer import AlbertTokenizer

        self.run = lambda inputs: run_tflite(interpreter, inputs, serving_signatures.TOKEN_IDS_SIGNATURE)
        self.FLAGS = FLAGS
        self.label_names = None
        task_class = None
        if FLAGS.preset:
            from .saved_model import read_label_names

            self.tokenizer = AlbertTokenizer.from_preset(FLAGS.preset)
            self.label_names = read_label_names(FLAGS.preset)
            task_json = os.path.join(FLAGS.preset, "task.json")
            if os.path.isfile(task_json):
                with open(task_json, encoding="utf-8") as file:
                    task_class = json.load(file).get("class_name")
        elif FLAGS.spm_model_file:
            self.tokenizer = AlbertTokenizer(FLAGS.spm_model_file, lower_case=FLAGS.do_lower_case)
        else:
            raise ValueError("A token-id .tflite needs --preset or --spm_model_file to tokenize the text.")
        self.preprocessor = AlbertPreprocessor(self.tokenizer, sequence_length=FLAGS.max_seq_length)
        outputs = interpreter.get_signature_list()[serving_signatures.TOKEN_IDS_SIGNATURE]["outputs"]
        if "start_logits" in outputs:
            self.task, self.input_names = "question_answerer", ("question", "context")
        elif "pooled_output" in outputs:
            self.task, self.input_names = "embeddings", ("text",)
        elif task_class == "AlbertTokenClassifier":
            self.task, self.input_names = "token_classifier", ("text",)
        else:
            self.task, self.input_names = "text_classifier", ("text",)

    def _run_padded(self, windows):
        """The model on unpadded windows (dicts of 1-D arrays), batched."""
        length = max(len(w["token_ids"]) for w in windows)
        features = {
            name: np.array([np.pad(w[name], (0, length - len(w[name]))) for w in windows], np.int32)
            for name in serving_signatures.FEATURE_NAMES
        }
        return self.run(features)

    def __call__(self, columns):
        if self.task == "question_answerer":
            return [self._answer(q, c) for q, c in zip(columns["question"], columns["context"])]
        if self.task == "token_classifier":
            return [self._tag(text) for text in columns["text"]]
        features = self.preprocessor(tf.constant(columns["text"]))
        length = max(int(np.max(np.sum(features["padding_mask"], axis=1))), 1)
        outputs = self.run({name: np.asarray(value)[:, :length] for name, value in features.items()})
        if self.task == "embeddings":
            return rows_of({"pooled_output": outputs["pooled_output"]})
        logits = outputs["logits"]
        if logits.shape[-1] == 1:
            return rows_of({"scores": logits[:, 0]})
        probabilities = tf.nn.softmax(logits).numpy()
        rows = rows_of({"probabilities": probabilities, "label_ids": np.argmax(logits, axis=-1), "logits": logits})
        if self.label_names:
            for row in rows:
                row["labels"] = self.label_names[row["label_ids"]]
        return rows

    def _tag(self, text):
        from keras_albert import token_labels

        words = text.split()
        if not words:
            return {"words": [], "word_tags": [], "entities": []}
        pieces, _ = token_labels.tokenize_words(self.tokenizer, words)
        windows = token_labels.windows_for_words(
            pieces, self.FLAGS.max_seq_length, self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        )
        logits = self._run_padded(
            [{"token_ids": w.token_ids, "segment_ids": np.zeros_like(w.token_ids), "padding_mask": np.ones_like(w.token_ids)} for w in windows]
        )["logits"]
        tag_ids = token_labels.merge_window_predictions(windows, np.argmax(logits, axis=-1), len(words))
        labels = self.label_names or [str(i) for i in range(logits.shape[-1])]
        tags = [labels[i] for i in tag_ids]
        entities = token_labels.tags_to_spans(tags) if self.label_names else []
        return {
            "words": words,
            "word_tags": tags,
            "entities": [
                {"type": e.type, "start_word": e.start_word, "end_word": e.end_word, "text": " ".join(words[e.start_word : e.end_word + 1])}
                for e in entities
            ],
        }

    def _answer(self, question, context):
        from keras_albert import question_answering

        if not context.split():
            return {"answer_text": "", "has_answer": False}
        windows, _ = question_answering.encode_question_and_context(
            self.tokenizer, question, context, self.FLAGS.max_seq_length, self.FLAGS.doc_stride, self.FLAGS.max_query_length
        )
        outputs = self._run_padded(windows)
        answer = question_answering.decode_answer(
            context, windows, outputs["start_logits"], outputs["end_logits"],
            version_2_with_negative=self.FLAGS.version_2_with_negative,
        )
        return {"answer_text": answer["text"], "has_answer": bool(answer["text"]), "null_odds": answer["null_odds"]}


def make_predictor(FLAGS):
    path = FLAGS.model
    if not path or not os.path.exists(path):
        raise ValueError(f"--model={path!r} does not exist.")
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"--model={path} has no saved_model.pb: pass a version directory (<model_base>/<version>).")
        return SavedModelPredictor(path)
    if not path.endswith(".tflite"):
        raise ValueError(f"--model={path} is neither a SavedModel directory nor a .tflite file.")
    from .verify import load_interpreter

    interpreter = load_interpreter(path)
    if serving_signatures.DEFAULT_SIGNATURE in interpreter.get_signature_list():
        return TfliteStringPredictor(interpreter)
    return TfliteTokenIdsPredictor(interpreter, FLAGS)


def predict(FLAGS):
    """Runs the model `FLAGS.model` on every line of `FLAGS.input`."""
    if FLAGS.batch_size < 1:
        raise ValueError(f"--batch_size must be positive; got {FLAGS.batch_size}.")
    predictor = make_predictor(FLAGS)
    source = sys.stdin if FLAGS.input == "-" else open(FLAGS.input, encoding="utf-8", errors="replace")
    sink = sys.stdout if FLAGS.output == "-" else open(FLAGS.output, "w", encoding="utf-8")
    try:
        lines = [line.rstrip("\n").rstrip("\r") for line in source]
        for start in range(0, len(lines), FLAGS.batch_size):
            columns = split_fields(lines[start : start + FLAGS.batch_size], predictor.input_names, start + 1)
            for row in predictor(columns):
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
        sink.flush()
    finally:
        if source is not sys.stdin:
            source.close()
        if sink is not sys.stdout:
            sink.close()


def main(argv):
    del argv
    predict(flags.FLAGS)


def run_command():
    """The command line: `python -m` this module, or its console script."""
    define_flags()
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
