r"""Fine-tunes, evaluates and predicts ALBERT on a GLUE task.

Tasks: cola, sst-2, mrpc, sts-b (regression), qqp, mnli, qnli, rte, read
from the official GLUE TSV files in --data_dir (`tasks.glue`).

Writes to --output_dir:
  - the fine-tuned classifier as a preset (`AlbertTextClassifier.from_preset
    (output_dir)`, or `--preset=output_dir` here), with its tokenizer, and
    `task_spec.json` (label names in class-id order, whether inputs are
    sentence pairs, the sequence length);
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
from keras_albert import flag_ranges, task_spec
from keras_albert.task_spec import TextClassificationSpec
from . import common, glue, metrics

common.define_common_flags()
flags.DEFINE_string("task_name", None, f"GLUE task, one of: {', '.join(glue.TASKS)}.")
FLAGS = flags.FLAGS


def _read(task, data_dir, file_name, labeled, max_examples):
    path = os.path.join(data_dir, file_name)
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist (--data_dir={data_dir}, --task_name={task.name}).")
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


def spec_of(task, sequence_length):
    """The classifier's spec for a GLUE task (a regressor's one label: "score")."""
    return TextClassificationSpec(
        labels=("score",) if task.is_regression else tuple(str(label) for label in task.labels),
        text_pair=bool(task.text_b_column),
        sequence_length=sequence_length,
    )


def check_preset_task(config, spec, task_name):
    """Refuses to evaluate or predict with a classifier preset fine-tuned
    for another task (other labels, or pairs against single sentences)."""
    preset = config.preset
    if not preset or config.init_checkpoint or not common.is_task_preset(preset, keras_albert.AlbertTextClassifier):
        return
    saved = task_spec.load_task_spec(preset, required=False)
    if not isinstance(saved, TextClassificationSpec):
        return
    differences = [
        f"{name} {getattr(saved, name)!r} (--task_name={task_name}: {getattr(spec, name)!r})"
        for name in ("labels", "text_pair")
        if getattr(saved, name) != getattr(spec, name)
    ]
    if not differences:
        return
    message = f"--preset={preset} is a classifier fine-tuned with {' and '.join(differences)}"
    if not config.do_train:
        raise ValueError(f"{message}. Pass --do_train to fine-tune it on this task.")
    logging.warning("%s; fine-tuning it on this task.", message)


@common.stops_cleanly
def main(argv):
    del argv
    config = common.RunConfig.from_flags(FLAGS)
    flag_ranges.check_required_flags(FLAGS, "task_name", "data_dir")
    ignored = [f"--{name}" for name in ("train_file", "eval_file", "predict_file") if FLAGS[name].value]
    if ignored:
        raise ValueError(
            f"run_classifier reads the GLUE files of --data_dir; it does not take {', '.join(ignored)}."
        )
    task = glue.get_task(FLAGS.task_name)
    spec = spec_of(task, FLAGS.max_seq_length)
    check_preset_task(config, spec, FLAGS.task_name)
    # Every file is read before the model is built, so that a missing or
    # malformed one does not wait for the end of training.
    train_examples = (
        _read(task, config.data_dir, task.train_file, True, config.max_train_examples) if config.do_train else None
    )
    eval_sets = [
        (file_name, prefix, _read(task, config.data_dir, file_name, True, config.max_eval_examples))
        for file_name, prefix in (task.eval_files if config.do_eval else ())
    ]
    predict_sets = [
        (file_name, submission_name, _read(task, config.data_dir, file_name, False, config.max_predict_examples))
        for file_name, submission_name in (task.predict_files if config.do_predict else ())
    ]
    strategy = common.watch_workers(common.configure_runtime(config))
    tokenizer = common.load_tokenizer(config)
    with strategy.scope():
        model = common.build_task_model(
            keras_albert.AlbertTextClassifier, config, spec.sequence_length, num_classes=task.num_classes
        )
    common.check_vocabulary(tokenizer, model.backbone)
    preprocessor = keras_albert.AlbertPreprocessor(tokenizer, sequence_length=spec.sequence_length)

    if config.do_train:
        features = _encode(preprocessor, task, train_examples, "train")
        dataset = common.training_dataset(
            features,
            _label_ids(task, train_examples),
            config.train_batch_size,
            spec.sequence_length,
            seed=config.seed,
        )
        steps_per_epoch = common.num_length_bucketed_batches(
            features, config.train_batch_size, spec.sequence_length
        )
        common.train_model(model, dataset, steps_per_epoch, config, strategy)
        common.save_trained_model(
            model,
            config.output_dir,
            tokenizer,
            spec,
            preprocessor=preprocessor,
        )

    if config.do_eval:
        results = {}
        for file_name, prefix, examples in eval_sets:
            features = _encode(preprocessor, task, examples, file_name)
            outputs = common.predict_in_length_order(
                model, features, config.eval_batch_size, spec.sequence_length
            )
            results.update(metrics.compute_metrics(task.metrics, _label_ids(task, examples), outputs, prefix))
            results[prefix + "num_truncated"] = features["stats"]["num_truncated"]
        common.write_eval_results(config.output_dir, results)

    if config.do_predict:
        os.makedirs(config.output_dir, exist_ok=True)
        for file_name, submission_name, examples in predict_sets:
            features = _encode(preprocessor, task, examples, file_name)
            outputs = common.predict_in_length_order(
                model, features, config.predict_batch_size, spec.sequence_length
            )
            write_submission(os.path.join(config.output_dir, submission_name), task, examples, outputs)


def run_command():
    """The command line: `python -m` this module, or its console script."""
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
