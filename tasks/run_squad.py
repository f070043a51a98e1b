r"""Fine-tunes and evaluates ALBERT on SQuAD v1.1 / v2.0 (extractive QA).

Questions are read from SQuAD JSON files (`tasks.squad`), their contexts cut
into windows of --max_seq_length tokens every --doc_stride tokens, and the
answer decoded from the span logits of all windows
(`keras_albert.question_answering`, shared with serving).

--squad_head picks the head: "simple" (`AlbertQuestionAnswerer`, start and
end logits of one dense layer, as HuggingFace checkpoints and the original
`run_squad_v1.py`) or "original" (`AlbertSquadV2QuestionAnswerer`, the head of
the original `run_squad_v2.py` that gave ALBERT's SQuAD 2.0 results: end
logits conditioned on the start, a --start_n_top x --end_n_top beam, and an
answer-class logit as the null score, compared with
--null_score_diff_threshold; `keras_albert.squad_v2_answers`). Default: the
head of a --preset saved from a task model, else "simple".

Writes to --output_dir:
  - with --do_train: the fine-tuned `AlbertQuestionAnswerer` (or
    `AlbertSquadV2QuestionAnswerer`) as a preset
    with its tokenizer (`AlbertQuestionAnswerer.from_preset(output_dir)`, or
    `--preset=output_dir` here; the preset keeps
    --null_score_diff_threshold), `task_metadata.json` (the window sizes and
    version), and `checkpoint.weights.h5` after every epoch;
  - with --do_predict or --do_eval, for --predict_file: `predictions.json`
    (`{question id: answer text}`, "" for no answer), `nbest_predictions.json`
    (the --n_best_size best answers with probabilities and logits) and
    `null_odds.json` (`{question id: null_score - best_span_score}`, with
    the original head the answer-class logit; with
    --version_2_with_negative the question is predicted unanswerable when
    above --null_score_diff_threshold, in v1.1 it is only reported);
  - with --do_eval: `eval_results.json`, the official metrics: v1.1
    `exact_match`, `f1`; v2.0 `exact`, `f1`, `total`, `HasAns_*`, `NoAns_*`,
    and the threshold search `best_exact`, `best_exact_thresh`, `best_f1`,
    `best_f1_thresh` (pass `--null_score_diff_threshold=<best_f1_thresh>`
    to predict with it); plus `null_score_diff_threshold` (the one used),
    `num_examples`, `num_windows` and `num_questions_truncated`.

Example (a tiny model from scratch on the two SQuAD parts):

    python -m tasks.run_squad --version_2_with_negative \
      --train_file=squad_v1.1_part_a/dev-v1.1-part-a.json \
      --predict_file=squad_v2.0_part_a/dev-v2.0-part-a.json \
      --spm_model_file=30k-clean.model --albert_config_file=albert_config.json \
      --output_dir=/tmp/squad --do_train --do_eval --max_seq_length=384 \
      --doc_stride=128 --max_query_length=64 --train_batch_size=32 \
      --learning_rate=3e-5 --num_train_epochs=2
"""

import os

from absl import flags, logging

import keras_albert_cli
import keras_albert
from keras_albert.albert_squad_v2_question_answerer import AlbertSquadV2QuestionAnswerer
from keras_albert.question_answering import decode_answer
from keras_albert.squad_v2_answers import decode_beam_answer
from . import common, squad, squad_metrics

common.define_common_flags()
# --train_file (SQuAD JSON to train on) and --predict_file (SQuAD JSON to
# predict, and with --do_eval to evaluate) are among the common flags.
flags.DEFINE_bool(
    "version_2_with_negative", False, "SQuAD v2.0: questions may have no answer (predicted as \"\")."
)
flags.DEFINE_integer("doc_stride", 128, "Context tokens between the starts of two windows.")
flags.DEFINE_integer("max_query_length", 64, "Questions are cut to this many tokens.")
flags.DEFINE_integer("n_best_size", 20, "Best starts, ends and answers kept per question.")
flags.DEFINE_integer("max_answer_length", 30, "Longest answer, in tokens.")
flags.DEFINE_float(
    "null_score_diff_threshold",
    0.0,
    "v2.0: predict no answer when null_score - best_span_score exceeds this. Defaults to the "
    "--preset's value (0.0 for a new model); tune it with eval_results.json's best_f1_thresh.",
)
flags.DEFINE_enum(
    "squad_head",
    None,
    ["simple", "original"],
    "simple: start/end logits of one dense layer (HuggingFace-style checkpoints). original: the "
    "run_squad_v2.py head (start-conditioned end logits, beam search, answer class). Default: the "
    "--preset's head, else simple.",
)
flags.DEFINE_integer("start_n_top", 5, "--squad_head=original: best starts kept in the beam.")
flags.DEFINE_integer("end_n_top", 5, "--squad_head=original: best ends kept per start.")
FLAGS = flags.FLAGS

SQUAD_HEADS = {"simple": keras_albert.AlbertQuestionAnswerer, "original": AlbertSquadV2QuestionAnswerer}

# SQuAD's usual window (the common flag's default suits sentence tasks).
SQUAD_MAX_SEQ_LENGTH = 384


def _max_seq_length():
    return FLAGS.max_seq_length if FLAGS["max_seq_length"].present else SQUAD_MAX_SEQ_LENGTH


def _check_squad_flags():
    if FLAGS.do_train and not FLAGS.train_file:
        raise ValueError("--do_train needs --train_file.")
    if (FLAGS.do_eval or FLAGS.do_predict) and not FLAGS.predict_file:
        raise ValueError("--do_eval and --do_predict need --predict_file.")


def _squad_head():
    """The --squad_head name: the flag, else the head a --preset was saved with."""
    if FLAGS.squad_head:
        return FLAGS.squad_head
    for name, model_class in SQUAD_HEADS.items():
        if FLAGS.preset and common._is_task_preset(FLAGS.preset, model_class):
            return name
    return "simple"


def _read(path, max_examples):
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist.")
    examples = squad.read_squad_examples(path, max_examples=max_examples)
    if not examples:
        raise ValueError(f"{path} has no questions.")
    num_unanswerable = sum(not example.answers for example in examples)
    logging.info("Read %d questions (%d unanswerable) from %s", len(examples), num_unanswerable, path)
    return examples


def _encode(tokenizer, examples, is_training):
    return squad.encode_examples(
        tokenizer,
        examples,
        max_seq_length=_max_seq_length(),
        doc_stride=FLAGS.doc_stride,
        max_query_length=FLAGS.max_query_length,
        is_training=is_training,
        path=FLAGS.train_file if is_training else FLAGS.predict_file,
        version_2_with_negative=FLAGS.version_2_with_negative,
    )


def _training_data(features, is_original_head):
    """`(dataset, steps per epoch)`; the original head also reads the gold start as input."""
    if is_original_head:
        labels = {
            "start_log_probs": features["start_positions"],
            "end_log_probs": features["end_positions"],
            # A window without the answer targets [CLS], as unanswerable questions.
            "cls_logits": (features["start_positions"] == 0).astype("float32"),
        }
    else:
        labels = {"start_logits": features["start_positions"], "end_logits": features["end_positions"]}
    dataset = common.training_dataset(
        features, labels, FLAGS.train_batch_size, _max_seq_length(), seed=FLAGS.seed
    )
    if is_original_head:
        dataset = dataset.map(lambda x, y: ({**x, "start_positions": y["start_log_probs"]}, y))
    steps_per_epoch = common.num_length_bucketed_batches(features, FLAGS.train_batch_size, _max_seq_length())
    return dataset, steps_per_epoch


def predict_answers(model, examples, features, threshold):
    """Decodes every question: `{question id: decode_answer(...) result}`.

    The original head's beam is decoded by `decode_beam_answer`.
    """
    outputs = common.predict_in_length_order(
        model, features, FLAGS.predict_batch_size, _max_seq_length()
    )
    windows_of = [[] for _ in examples]
    for window_index, example_index in enumerate(features["example_index"]):
        windows_of[example_index].append(window_index)
    answers = {}
    for example, window_indices in zip(examples, windows_of):
        if isinstance(model, AlbertSquadV2QuestionAnswerer):
            answers[example.question_id] = decode_beam_answer(
                example.context,
                [features["windows"][i] for i in window_indices],
                {name: value[window_indices] for name, value in outputs.items()},
                n_best_size=FLAGS.n_best_size,
                max_answer_length=FLAGS.max_answer_length,
                version_2_with_negative=FLAGS.version_2_with_negative,
                null_score_diff_threshold=threshold,
            )
            continue
        answers[example.question_id] = decode_answer(
            example.context,
            [features["windows"][i] for i in window_indices],
            outputs["start_logits"][window_indices],
            outputs["end_logits"][window_indices],
            n_best_size=FLAGS.n_best_size,
            max_answer_length=FLAGS.max_answer_length,
            version_2_with_negative=FLAGS.version_2_with_negative,
            null_score_diff_threshold=threshold,
        )
    return answers


def write_prediction_files(output_dir, answers):
    """Writes predictions.json, nbest_predictions.json and null_odds.json."""
    os.makedirs(output_dir, exist_ok=True)
    for file_name, key in (
        ("predictions.json", "text"),
        ("nbest_predictions.json", "nbest"),
        ("null_odds.json", "null_odds"),
    ):
        common.write_json(
            os.path.join(output_dir, file_name), {qid: answer[key] for qid, answer in answers.items()}
        )
    logging.info("Wrote predictions for %d questions to %s", len(answers), output_dir)


def evaluate(examples, answers, threshold):
    """The official SQuAD metrics of `answers` (v2.0 with the threshold search)."""
    gold = squad.gold_answers(examples)
    if not FLAGS.version_2_with_negative:
        return squad_metrics.evaluate_v1(gold, {qid: a["text"] for qid, a in answers.items()})
    # The best span of every question with its null odds: the official
    # script then scores the predictions at `threshold` and searches the best.
    return squad_metrics.evaluate_v2(
        gold,
        {qid: a["best_non_null_text"] for qid, a in answers.items()},
        na_probs={qid: a["null_odds"] for qid, a in answers.items()},
        na_prob_thresh=threshold,
    )


def main(argv):
    del argv
    common.check_flags(FLAGS)
    _check_squad_flags()
    strategy = common.configure_runtime(FLAGS)
    tokenizer = common.load_tokenizer(FLAGS)
    with strategy.scope():
        squad_head = _squad_head()
        model = common.build_task_model(SQUAD_HEADS[squad_head], FLAGS)
    common.check_max_seq_length(
        model.backbone, _max_seq_length(), program_default=not FLAGS["max_seq_length"].present
    )
    common.check_vocabulary(tokenizer, model.backbone)
    for name in ("start_n_top", "end_n_top"):  # Beam sizes: not weights, set at will.
        if squad_head == "original" and FLAGS[name].present:
            setattr(model, name, FLAGS[name].value)
    if FLAGS["null_score_diff_threshold"].present:
        model.null_score_diff_threshold = FLAGS.null_score_diff_threshold
    threshold = model.null_score_diff_threshold

    if FLAGS.do_train:
        examples = _read(FLAGS.train_file, FLAGS.max_train_examples)
        features = _encode(tokenizer, examples, is_training=True)
        dataset, steps_per_epoch = _training_data(features, squad_head == "original")
        common.train_model(model, dataset, steps_per_epoch, FLAGS, strategy)
        common.save_trained_model(
            model,
            FLAGS.output_dir,
            tokenizer,
            metadata={
                "version_2_with_negative": FLAGS.version_2_with_negative,
                "max_seq_length": _max_seq_length(),
                "doc_stride": FLAGS.doc_stride,
                "max_query_length": FLAGS.max_query_length,
                "n_best_size": FLAGS.n_best_size,
                "max_answer_length": FLAGS.max_answer_length,
            },
        )

    if FLAGS.do_eval or FLAGS.do_predict:
        max_examples = (
            FLAGS.max_eval_examples if FLAGS.max_eval_examples is not None else FLAGS.max_predict_examples
        )
        examples = _read(FLAGS.predict_file, max_examples)
        unanswerable = [example.question_id for example in examples if not example.answers]
        if FLAGS.do_eval and unanswerable and not FLAGS.version_2_with_negative:
            raise ValueError(
                f"{FLAGS.predict_file} has {len(unanswerable)} questions without answers (e.g. "
                f"{unanswerable[0]!r}): evaluate SQuAD v2.0 files with --version_2_with_negative."
            )
        features = _encode(tokenizer, examples, is_training=False)
        answers = predict_answers(model, examples, features, threshold)
        write_prediction_files(FLAGS.output_dir, answers)
        if FLAGS.do_eval:
            results = evaluate(examples, answers, threshold)
            results["null_score_diff_threshold"] = threshold
            for name in ("num_examples", "num_windows", "num_questions_truncated"):
                results[name] = features["stats"][name]
            common.write_eval_results(FLAGS.output_dir, results)


def run_command():
    """The command line: `python -m` this module, or its console script."""
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
