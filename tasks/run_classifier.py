r"""Fine-tunes, evaluates and predicts ALBERT on a GLUE task.

Tasks: cola, sst-2, mrpc, sts-b (regression), qqp, mnli, qnli, rte, read
from the official GLUE TSV files in --data_dir (`tasks.glue`).

Writes to --output_dir:
  - the fine-tuned classifier as a preset (`AlbertTextClassifier.from_preset
    (output_dir)`, or `--preset=output_dir` here), with its tokenizer, and
    `task_metadata.json` (task name and label names in class-id order);
    `checkpoint.weights.h5` after every epoch;
  - `eval_results.json`: metric name -> value on the dev set (MNLI: matched,
    and mismatched with the prefix `mismatched_`), plus `loss`,
    `num_examples` and `num_truncated`;
  - GLUE submission files (`SST-2.tsv`, `MNLI-m.tsv`, ...): a header
    `index<TAB>prediction`, then the test file's index and the predicted
    label (STS-B: the score).

Example (a tiny model from scratch; --max_train_examples caps the data):

    python -m tasks.run_classifier --task_name=sst-2 \
      --data_dir=/path/to/glue/SST-2 --spm_model_file=30k-clean.model \
      --albert_config_file=albert_config.json --output_dir=/tmp/sst2 \
      --do_train --do_eval --do_predict --max_seq_length=128 \
      --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3
"""

import os

import numpy as np
from absl import flags, logging

import keras_albert_cli
import keras_albert
from . import common, glue, metrics

common.define_common_flags()
flags.DEFINE_string("task_name", None, f"GLUE task, one of: {', '.join(glue.TASKS)}.")
FLAGS = flags.FLAGS


def _read(task, file_name, labeled, max_examples):
    path = os.path.join(FLAGS.data_dir, file_name)
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist (--data_dir={FLAGS.data_dir}, --task_name={task.name}).")
    examples = glue.read_examples(task, path, labeled=labeled, max_examples=max_examples)
    if not examples:
        raise ValueError(f"{path} has no examples.")
    logging.info("Read %d examples from %s", len(examples), path)
    return examples


def _encode(preprocessor, task, examples, split):
    segments = [[example.text_a for example in examples]]
    if task.text_b_column:
        segments.append([example.text_b for example in examples])
    return common.encode_segments(preprocessor, segments, split)


def _label_ids(task, examples):
    dtype = np.float32 if task.is_regression else np.int32
    return np.array([task.label_id(example.label) for example in examples], dtype=dtype)


def write_submission(path, task, examples, outputs):
    """Writes GLUE's submission TSV: `index<TAB>prediction` per test example."""
    predictions = outputs.reshape(-1) if task.is_regression else np.argmax(outputs, axis=-1)
    with open(path, "w", encoding="utf-8") as f:
        f.write("index\tprediction\n")
        for example, prediction in zip(examples, predictions):
            f.write(f"{example.guid}\t{task.label_name(prediction)}\n")
    logging.info("Wrote %d predictions to %s", len(examples), path)


def main(argv):
    del argv
    common.check_flags(FLAGS)
    if not FLAGS.task_name or not FLAGS.data_dir:
        raise ValueError("--task_name and --data_dir are required.")
    ignored = [f"--{name}" for name in ("train_file", "eval_file", "predict_file") if FLAGS[name].value]
    if ignored:
        raise ValueError(
            f"run_classifier reads the GLUE files of --data_dir; it does not take {', '.join(ignored)}."
        )
    task = glue.get_task(FLAGS.task_name)
    strategy = common.configure_runtime(FLAGS)
    tokenizer = common.load_tokenizer(FLAGS)
    with strategy.scope():
        model = common.build_task_model(
            keras_albert.AlbertTextClassifier, FLAGS, num_classes=task.num_classes
        )
    common.check_vocabulary(tokenizer, model.backbone)
    preprocessor = keras_albert.AlbertPreprocessor(tokenizer, sequence_length=FLAGS.max_seq_length)

    if FLAGS.do_train:
        examples = _read(task, task.train_file, True, FLAGS.max_train_examples)
        features = _encode(preprocessor, task, examples, "train")
        dataset = common.training_dataset(
            features,
            _label_ids(task, examples),
            FLAGS.train_batch_size,
            FLAGS.max_seq_length,
            seed=FLAGS.seed,
        )
        steps_per_epoch = common.num_length_bucketed_batches(
            features, FLAGS.train_batch_size, FLAGS.max_seq_length
        )
        common.train_model(model, dataset, steps_per_epoch, FLAGS, strategy)
        common.save_trained_model(
            model,
            FLAGS.output_dir,
            tokenizer,
            preprocessor=preprocessor,
            metadata={"task_name": task.name, "labels": task.labels},
        )

    if FLAGS.do_eval:
        results = {}
        for file_name, prefix in task.eval_files:
            examples = _read(task, file_name, True, FLAGS.max_eval_examples)
            features = _encode(preprocessor, task, examples, file_name)
            outputs = common.predict_in_length_order(
                model, features, FLAGS.eval_batch_size, FLAGS.max_seq_length
            )
            results.update(metrics.compute_metrics(task.metrics, _label_ids(task, examples), outputs, prefix))
            results[prefix + "num_truncated"] = features["stats"]["num_truncated"]
        common.write_eval_results(FLAGS.output_dir, results)

    if FLAGS.do_predict:
        os.makedirs(FLAGS.output_dir, exist_ok=True)
        for file_name, submission_name in task.predict_files:
            examples = _read(task, file_name, False, FLAGS.max_predict_examples)
            features = _encode(preprocessor, task, examples, file_name)
            outputs = common.predict_in_length_order(
                model, features, FLAGS.predict_batch_size, FLAGS.max_seq_length
            )
            write_submission(os.path.join(FLAGS.output_dir, submission_name), task, examples, outputs)


def run_command():
    """The command line: `python -m` this module, or its console script."""
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
