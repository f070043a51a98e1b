r"""Runs an exported model on text from a file or stdin; JSON lines out.

    python -m export.predict --model=/models/albert_sst2/1 < sentences.txt
    python -m export.predict --model=sst2_tflite/text_classification_int8.tflite --input=sentences.txt
    echo -e "Who wrote it?\tIt was written by Ann." | python -m export.predict --model=/models/squad/1

One example per line; a model with several text inputs takes them separated
by tabs: `text<TAB>text_pair`, `question<TAB>context`, multiple choice
`context<TAB>question<TAB>choice<TAB>choice...`. Each output line is a JSON
object for one input line, in order, of the same shape for a task whatever
the model file's format (`RESPONSE_FIELDS`):

| task | fields |
|---|---|
| text_classification | `label`, `label_id`, `probabilities`, `logits` (one label: `score`) |
| token_classification | `words`, `word_tags`, `entities` (`type`, `start_word`, `end_word` inclusive, `text`) |
| question_answering | `answer_text` ("" for no answer), `has_answer`, `null_odds` |
| multiple_choice | `choice_id`, `probabilities` |
| pretraining (fill-mask) | `masks`: per `[MASK]`, `pieces` and `probabilities` (best first) |
| backbone | `pooled_output` |

The task and its settings come from the task spec the model was exported
with: a SavedModel's `assets/task_spec.json`, or for a `.tflite` the
`task_spec.json` that `export.tflite` writes beside it (or `--preset`'s).

- A SavedModel (a version directory of `export.saved_model`) or a
  string-input `.tflite` runs its `serving_default` signature: tokenization
  (and for a SavedModel, post-processing) happen in the model.
- A token-id `.tflite` (signature `token_ids`) needs the tokenizer
  (`--preset`, or `--spm_model_file`). The text is tokenized and the outputs
  post-processed on the host with the task programs' own code
  (`AlbertPreprocessor`; `token_labels` windows and entity spans;
  `question_answering` windows and `decode_answer`), so the answers are
  those of the task programs.
"""

import io
import json
import os
import re
import sys

import numpy as np
import tensorflow as tf
from absl import flags

import keras_albert_cli
from keras_albert import flag_ranges, task_spec
from keras_albert.question_answering import null_odds_for_json
from . import serving_signatures

# The inputs of each task's `serving_default`, in the order they appear on a line.
INPUT_NAMES = {
    "text_classification": ("text",),
    "token_classification": ("text",),
    "question_answering": ("question", "context"),
    "squad_v2_question_answering": ("question", "context"),
    "multiple_choice": ("context", "question", "choices"),
    "pretraining": ("text",),
    "backbone": ("text",),
}
# The numeric flags of export.predict (`keras_albert.flag_ranges`).
FLAG_RANGES = {"batch_size": (1, None)}
# The JSON fields of a response line, per task.
RESPONSE_FIELDS = {
    "text_classification": ("label", "label_id", "probabilities", "logits"),
    "token_classification": ("words", "word_tags", "entities"),
    "question_answering": ("answer_text", "has_answer", "null_odds"),
    "squad_v2_question_answering": ("answer_text", "has_answer", "null_odds"),
    "multiple_choice": ("choice_id", "probabilities"),
    "pretraining": ("masks",),
    "backbone": ("pooled_output",),
}


def define_flags(flag_values=flags.FLAGS):
    """Defines the command line's flags in `flag_values` (tests pass their own)."""
    flags.DEFINE_string("model", None, "A SavedModel version directory or a .tflite file.", flag_values=flag_values)
    flags.DEFINE_string("input", "-", "Text file, one example per line ('-': stdin).", flag_values=flag_values)
    flags.DEFINE_string("output", "-", "JSON lines file ('-': stdout).", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 32, "Examples per model call.", flag_values=flag_values)
    flags.DEFINE_string(
        "preset", None, ".tflite: the task preset (task spec; tokenizer for a token-id model).", flag_values=flag_values
    )
    flags.DEFINE_string(
        "spm_model_file", None, "Token-id .tflite: the SentencePiece model (without --preset).", flag_values=flag_values
    )
    flags.DEFINE_bool("do_lower_case", True, "With --spm_model_file: lower-case text.", flag_values=flag_values)


def split_fields(lines, input_names, first_line_number=1):
    """Columns by input name from tab-separated lines (`choices`: all remaining
    fields, at least two)."""
    columns = {name: [] for name in input_names}
    takes_choices = input_names[-1] == "choices"
    for number, line in enumerate(lines, start=first_line_number):
        fields = line.split("\t") if len(input_names) > 1 else [line]
        too_few = len(fields) < len(input_names) + (1 if takes_choices else 0)
        if too_few or (not takes_choices and len(fields) != len(input_names)):
            expected = f"at least {len(input_names) + 1}" if takes_choices else str(len(input_names))
            raise ValueError(
                f"input line {number}: expected {expected} tab-separated fields "
                f"({', '.join(input_names)}), found {len(fields)}."
            )
        if takes_choices:
            fields = fields[: len(input_names) - 1] + [fields[len(input_names) - 1 :]]
        for name, field in zip(input_names, fields):
            columns[name].append(field)
    if takes_choices and len({len(choices) for choices in columns["choices"]}) > 1:
        raise ValueError(f"input lines {first_line_number}..: every line of a batch needs the same number of choices.")
    return columns


def check_text_chars(columns, max_text_chars, first_line_number=1):
    """Raises a `ValueError` naming the first input line with a text over the SavedModel's `max_text_chars`."""
    names = list(columns)
    for index in range(len(columns[names[0]])):
        for name in names:
            value = columns[name][index]
            longest = max(map(len, value)) if isinstance(value, list) else len(value)
            if longest > max_text_chars:
                raise ValueError(
                    f"input line {first_line_number + index}: {longest} characters in {name}, more than the "
                    f"SavedModel's max_text_chars={max_text_chars} (set at export: export.saved_model "
                    "--max_text_chars)."
                )


def input_names(spec):
    """The `serving_default` inputs of a model with task spec `spec`, in line order."""
    if spec.TASK == "text_classification" and spec.text_pair:
        return ("text", "text_pair")
    return INPUT_NAMES[spec.TASK]


def _text(value):
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _floats(values):
    return [float(v) for v in np.asarray(values).reshape(-1)]


def classification_rows(logits, labels):
    """Response rows of a classifier from its logits `[batch, classes]`."""
    logits = np.asarray(logits, np.float64)
    if logits.shape[-1] == 1:
        return [{"score": float(row[0])} for row in logits]
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=-1, keepdims=True)
    rows = []
    for row_logits, row_probabilities in zip(logits, probabilities):
        label_id = int(np.argmax(row_logits))
        rows.append({
            "label": labels[label_id], "label_id": label_id,
            "probabilities": _floats(row_probabilities), "logits": _floats(row_logits),
        })
    return rows


def entity_rows(words, spans):
    """Entities of `(type, start_word, end_word)` spans (ends inclusive), with their text."""
    return [
        {"type": entity_type, "start_word": int(start), "end_word": int(end), "text": " ".join(words[int(start) : int(end) + 1])}
        for entity_type, start, end in spans
    ]


def response_rows(task, outputs, spec):
    """Response rows (`RESPONSE_FIELDS[task]`) from a `serving_default`'s batched outputs."""
    if task == "text_classification":
        return classification_rows(outputs["logits"] if "logits" in outputs else outputs["scores"][:, None], spec.labels)
    if task == "backbone":
        return [{"pooled_output": _floats(row)} for row in outputs["pooled_output"]]
    if task in ("question_answering", "squad_v2_question_answering"):
        return [
            {"answer_text": _text(text), "has_answer": bool(has), "null_odds": null_odds_for_json(odds)}
            for text, has, odds in zip(outputs["answer_texts"], outputs["has_answer"], outputs["null_odds"])
        ]
    if task == "multiple_choice":
        return [
            {"choice_id": int(np.argmax(row)), "probabilities": _floats(row)} for row in outputs["probabilities"]
        ]
    if task == "pretraining":
        rows = []
        for index, count in enumerate(outputs["num_masks"]):
            rows.append({"masks": [
                {"pieces": [_text(p) for p in outputs["top_k_pieces"][index, mask]],
                 "probabilities": _floats(outputs["top_k_probabilities"][index, mask])}
                for mask in range(int(count))
            ]})
        return rows
    rows = []  # token_classification
    for index, num_words in enumerate(outputs["num_words"]):
        words = [_text(w) for w in outputs["words"][index, : int(num_words)]]
        num_entities = int(outputs["num_entities"][index])
        spans = zip(
            [_text(t) for t in outputs["entity_types"][index, :num_entities]],
            outputs["entity_start_words"][index, :num_entities],
            outputs["entity_end_words"][index, :num_entities],
        )
        rows.append({
            "words": words,
            "word_tags": [_text(t) for t in outputs["word_tags"][index, : int(num_words)]],
            "entities": entity_rows(words, spans),
        })
    return rows


class SavedModelPredictor:
    """`serving_default` of a SavedModel (string in, post-processed out)."""

    def __init__(self, path):
        import tensorflow_text  # noqa: F401  (the signature's text ops)

        from .saved_model import read_export_spec, read_serving_limits

        self.spec = read_export_spec(path)
        self.limits = read_serving_limits(path)
        self.input_names = input_names(self.spec)
        self.function = tf.saved_model.load(path).signatures[serving_signatures.DEFAULT_SIGNATURE]

    def __call__(self, columns):
        try:
            outputs = self.function(**{name: tf.constant(columns[name], tf.string) for name in self.input_names})
        except tf.errors.InvalidArgumentError as error:
            # The signature's own refusals (e.g. more windows than
            # max_windows_per_request) carry their message in the op error.
            refusal = next((line for line in error.message.splitlines() if "Serving limit exceeded" in line), None)
            if refusal is None:
                raise
            # "assertion failed: [Serving limit exceeded: the request has] [29] [windows, ...]"
            message = " ".join(re.findall(r"\[([^\]]*)\]", refusal))
            raise ValueError(f"{message} Pass a smaller --batch_size or shorter texts.") from None
        return response_rows(self.spec.TASK, {name: value.numpy() for name, value in outputs.items()}, self.spec)


def tflite_spec(model_path, preset):
    """The task spec of a `.tflite`: `--preset`'s, else the one export.tflite wrote beside it."""
    directory = preset or os.path.dirname(os.path.abspath(model_path))
    if not os.path.isfile(task_spec.spec_path(directory)):
        raise ValueError(
            f"--model={model_path}: no {task_spec.SPEC_FILENAME} beside it (export.tflite writes one); "
            "pass --preset=<the task preset it was converted from>."
        )
    return task_spec.load_task_spec(directory)


class TfliteStringPredictor:
    """`serving_default` of a string-input `.tflite` (classifier or backbone)."""

    def __init__(self, interpreter, spec):
        from .verify import run_tflite

        self.spec = spec
        self.run = lambda inputs: run_tflite(interpreter, inputs, serving_signatures.DEFAULT_SIGNATURE)
        names = interpreter.get_signature_list()[serving_signatures.DEFAULT_SIGNATURE]["inputs"]
        self.input_names = ("text", "text_pair") if "text_pair" in names else ("text",)

    def __call__(self, columns):
        outputs = self.run({name: np.array(columns[name], dtype=object) for name in self.input_names})
        return response_rows(self.spec.TASK, outputs, self.spec)


class TfliteTokenIdsPredictor:
    """A token-id `.tflite` with host-side tokenization and post-processing."""

    def __init__(self, interpreter, spec, tokenizer):
        from .verify import run_tflite
        from keras_albert.albert_preprocessor import AlbertPreprocessor

        if spec.TASK not in ("text_classification", "token_classification", "question_answering", "backbone"):
            raise ValueError(f"export.predict runs a token-id .tflite of a {spec.TASK!r} model only as a SavedModel.")
        self.run = lambda inputs: run_tflite(interpreter, inputs, serving_signatures.TOKEN_IDS_SIGNATURE)
        self.spec = spec
        self.tokenizer = tokenizer
        self.preprocessor = AlbertPreprocessor(tokenizer, sequence_length=spec.sequence_length)
        self.input_names = input_names(spec)

    def _run_padded(self, windows):
        """The model on unpadded windows (dicts of 1-D arrays), batched."""
        length = max(len(w["token_ids"]) for w in windows)
        features = {
            name: np.array([np.pad(w[name], (0, length - len(w[name]))) for w in windows], np.int32)
            for name in serving_signatures.FEATURE_NAMES
        }
        return self.run(features)

    def __call__(self, columns):
        task = self.spec.TASK
        if task == "question_answering":
            return [self._answer(q, c) for q, c in zip(columns["question"], columns["context"])]
        if task == "token_classification":
            return [self._tag(text) for text in columns["text"]]
        texts = [tf.constant(columns[name]) for name in self.input_names]
        features = self.preprocessor(tuple(texts) if len(texts) > 1 else texts[0])
        length = max(int(np.max(np.sum(features["padding_mask"], axis=1))), 1)
        outputs = self.run({name: np.asarray(value)[:, :length] for name, value in features.items()})
        return response_rows(task, outputs, self.spec)

    def _tag(self, text):
        from keras_albert import token_labels

        words = text.split()
        if not words:
            return {"words": [], "word_tags": [], "entities": []}
        pieces, _ = token_labels.tokenize_words(self.tokenizer, words)
        windows = token_labels.windows_for_words(
            pieces, self.spec.sequence_length, self.tokenizer.cls_token_id, self.tokenizer.sep_token_id,
            self.spec.window_stride,
        )
        logits = self._run_padded(
            [{"token_ids": w.token_ids, "segment_ids": np.zeros_like(w.token_ids), "padding_mask": np.ones_like(w.token_ids)} for w in windows]
        )["logits"]
        tag_ids = token_labels.merge_window_predictions(windows, np.argmax(logits, axis=-1), len(words))
        tags = [self.spec.labels[i] for i in tag_ids]
        spans = [(span.type, span.start_word, span.end_word) for span in token_labels.tags_to_spans(tags)]
        return {"words": words, "word_tags": tags, "entities": entity_rows(words, spans)}

    def _answer(self, question, context):
        from keras_albert import question_answering

        spec = self.spec
        context_encoding = question_answering.tokenize_with_offsets(self.tokenizer, context)
        if len(context_encoding[0]) == 0:  # No span to answer with: "no answer", as the SavedModel says.
            return {"answer_text": "", "has_answer": False, "null_odds": null_odds_for_json(float("inf"))}
        windows, _ = question_answering.encode_question_and_context(
            self.tokenizer, question, context, spec.sequence_length, spec.doc_stride, spec.max_query_length,
            context_encoding=context_encoding,
        )
        outputs = self._run_padded(windows)
        answer = question_answering.decode_answer(
            context, windows, outputs["start_logits"], outputs["end_logits"],
            n_best_size=spec.n_best_size, max_answer_length=spec.max_answer_length,
            version_2_with_negative=spec.version_2_with_negative,
            null_score_diff_threshold=spec.null_score_diff_threshold,
        )
        return {
            "answer_text": answer["text"],
            "has_answer": bool(answer["text"]),
            "null_odds": null_odds_for_json(answer["null_odds"]),
        }


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

    spec = tflite_spec(path, FLAGS.preset)
    interpreter = load_interpreter(path)
    if serving_signatures.DEFAULT_SIGNATURE in interpreter.get_signature_list():
        return TfliteStringPredictor(interpreter, spec)
    from keras_albert.albert_tokenizer import AlbertTokenizer

    if FLAGS.preset:
        tokenizer = AlbertTokenizer.from_preset(FLAGS.preset)
    elif FLAGS.spm_model_file:
        tokenizer = AlbertTokenizer(FLAGS.spm_model_file, lower_case=FLAGS.do_lower_case)
    else:
        raise ValueError("A token-id .tflite needs --preset or --spm_model_file to tokenize the text.")
    return TfliteTokenIdsPredictor(interpreter, spec, tokenizer)


def predict(FLAGS):
    """Runs the model `FLAGS.model` on every line of `FLAGS.input`."""
    flag_ranges.check_flag_ranges(FLAGS, FLAG_RANGES)
    predictor = make_predictor(FLAGS)
    # A SavedModel refuses requests over its serving limits; .tflite files have none.
    limits = getattr(predictor, "limits", None)
    if limits and FLAGS.batch_size > limits.max_batch_size:
        raise ValueError(
            f"--batch_size={FLAGS.batch_size} exceeds the SavedModel's max_batch_size={limits.max_batch_size} "
            f"(set at export: export.saved_model --max_batch_size); pass --batch_size={limits.max_batch_size} or less."
        )
    # Bytes that are not UTF-8 become U+FFFD, from stdin as from a file.
    if FLAGS.input == "-":
        source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    else:
        source = open(FLAGS.input, encoding="utf-8", errors="replace")
    sink = sys.stdout if FLAGS.output == "-" else open(FLAGS.output, "w", encoding="utf-8")
    try:
        lines = [line.rstrip("\n").rstrip("\r") for line in source]
        for start in range(0, len(lines), FLAGS.batch_size):
            batch = lines[start : start + FLAGS.batch_size]
            columns = split_fields(batch, predictor.input_names, start + 1)
            if limits:
                check_text_chars(columns, limits.max_text_chars, start + 1)
            try:
                rows = predictor(columns)
            except ValueError as error:
                raise ValueError(f"input lines {start + 1}-{start + len(batch)}: {error}") from None
            for row in rows:
                sink.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
        sink.flush()
    finally:
        if FLAGS.input == "-":
            source.detach()  # Closing the wrapper would close stdin.
        else:
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
