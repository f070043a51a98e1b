r"""Fine-tunes, evaluates and predicts ALBERT on multiple-choice questions.

Data: RACE-style JSONL (`{"id", "context", "question", "options", "label"}`)
or SWAG CSV, chosen by the file extension (see `tasks.multiple_choice`).
Each option is packed as `[CLS] context [SEP] question+option [SEP]`
(an option fills the question's "_" blank when it has one), giving
`AlbertMultipleChoice` inputs `[batch, num_choices, seq_len]`. When the
pair is too long the longer segment (usually the context) is trimmed;
truncations are counted in the log and in `eval_results.json`.

Writes to --output_dir:
  - the fine-tuned model as a preset with its tokenizer
    (`AlbertMultipleChoice.from_preset(output_dir)`, or `--preset=output_dir`
    here), `task_spec.json` (number of choices, sequence length) and
    `checkpoint.weights.h5` after every epoch;
  - `eval_results.json`: `accuracy`, `loss`, `num_examples` and
    `num_truncated` (packed option sequences that were cut to fit);
  - `predictions.jsonl`: per example of --predict_file, `{"id", "prediction"
    (0-based option index), "probabilities"}`.

Example:

    python -m tasks.run_multiple_choice --train_file=train.jsonl \
      --eval_file=dev.jsonl --predict_file=test.jsonl \
      --spm_model_file=30k-clean.model --preset=albert_base_v2 \
      --output_dir=/tmp/race --do_train --do_eval --do_predict \
      --max_seq_length=384 --train_batch_size=8 --learning_rate=1e-5
"""

import json
import os

import numpy as np
import scipy.special
from absl import flags, logging

import keras_albert_cli
import keras_albert
from keras_albert.task_spec import MultipleChoiceSpec
from . import common, metrics, multiple_choice

common.define_common_flags()
FLAGS = flags.FLAGS


def _read(path, labeled, max_examples, flag_name):
    if not path:
        raise ValueError(f"--{flag_name} is required for this run.")
    examples = multiple_choice.read_examples(path, labeled=labeled, max_examples=max_examples)
    if not examples:
        raise ValueError(f"{path} has no examples.")
    logging.info("Read %d examples with %d options from %s", len(examples), len(examples[0].options), path)
    return examples


def encode_choices(preprocessor, examples, split):
    """Packs every option of every example; features are `[num_choices, length]`.

    Returns the `common.encode_segments` dict with each example's options
    stacked and padded to the longest of them.
    """
    num_choices = len(examples[0].options)
    contexts = [example.context for example in examples for _ in range(num_choices)]
    second = [example.question_with_option(i) for example in examples for i in range(num_choices)]
    packed = common.encode_segments(preprocessor, [contexts, second], split)
    features = {"stats": packed["stats"]}
    for name in common.FEATURE_NAMES:
        rows = packed[name]
        features[name] = []
        for start in range(0, len(rows), num_choices):
            options = rows[start : start + num_choices]
            length = max(len(row) for row in options)
            features[name].append(np.stack([np.pad(row, (0, length - len(row))) for row in options]))
    return features


def write_predictions(path, examples, logits):
    """Writes one JSON line per example: id, predicted option, probabilities."""
    probabilities = scipy.special.softmax(np.asarray(logits, np.float64), axis=-1)
    with open(path, "w", encoding="utf-8") as f:
        for example, probs in zip(examples, probabilities):
            record = {
                "id": example.guid,
                "prediction": int(np.argmax(probs)),
                "probabilities": [float(p) for p in probs],
            }
            f.write(json.dumps(record) + "\n")
    logging.info("Wrote %d predictions to %s", len(examples), path)


@common.stops_cleanly
def main(argv):
    del argv
    config = common.RunConfig.from_flags(FLAGS)
    sequence_length = FLAGS.max_seq_length
    # Every file is read before the model is built, so that a missing or
    # malformed one does not wait for the end of training.
    train_examples = (
        _read(config.train_file, True, config.max_train_examples, "train_file") if config.do_train else None
    )
    eval_examples = _read(config.eval_file, True, config.max_eval_examples, "eval_file") if config.do_eval else None
    predict_examples = (
        _read(config.predict_file, False, config.max_predict_examples, "predict_file") if config.do_predict else None
    )
    strategy = common.watch_workers(common.configure_runtime(config))
    tokenizer = common.load_tokenizer(config)
    with strategy.scope():
        model = common.build_task_model(keras_albert.AlbertMultipleChoice, config, sequence_length)
    common.check_vocabulary(tokenizer, model.backbone)
    preprocessor = keras_albert.AlbertPreprocessor(tokenizer, sequence_length=sequence_length)

    if config.do_train:
        examples = train_examples
        features = encode_choices(preprocessor, examples, "train")
        labels = np.array([example.label for example in examples], np.int32)
        dataset = common.training_dataset(
            features, labels, config.train_batch_size, sequence_length, seed=config.seed
        )
        steps_per_epoch = common.num_length_bucketed_batches(
            features, config.train_batch_size, sequence_length
        )
        common.train_model(model, dataset, steps_per_epoch, config, strategy)
        spec = MultipleChoiceSpec(num_choices=len(examples[0].options), sequence_length=sequence_length)
        common.save_trained_model(model, config.output_dir, tokenizer, spec)

    if config.do_eval:
        examples = eval_examples
        features = encode_choices(preprocessor, examples, "eval")
        logits = common.predict_in_length_order(model, features, config.eval_batch_size, sequence_length)
        results = metrics.compute_metrics(("accuracy",), [example.label for example in examples], logits)
        results["num_truncated"] = features["stats"]["num_truncated"]
        common.write_eval_results(config.output_dir, results)

    if config.do_predict:
        examples = predict_examples
        features = encode_choices(preprocessor, examples, "predict")
        logits = common.predict_in_length_order(
            model, features, config.predict_batch_size, sequence_length
        )
        os.makedirs(config.output_dir, exist_ok=True)
        write_predictions(os.path.join(config.output_dir, "predictions.jsonl"), examples, logits)


def run_command():
    """The command line: `python -m` this module, or its console script."""
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
