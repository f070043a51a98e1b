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
    --null_score_diff_threshold), `task_spec.json` (the window sizes, version
    and threshold, which export reads), and `checkpoint.weights.h5` after
    every epoch;
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
from keras_albert.question_answering import decode_answer, null_odds_for_json
from keras_albert.squad_v2_answers import decode_beam_answer
from keras_albert.task_spec import QuestionAnsweringSpec, SquadV2QuestionAnsweringSpec
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


def _check_files(config):
    if config.do_train and not config.train_file:
        raise ValueError("--do_train needs --train_file.")
    if (config.do_eval or config.do_predict) and not config.predict_file:
        raise ValueError("--do_eval and --do_predict need --predict_file.")


def squad_head_of(requested, preset):
    """The head's name: `requested` (--squad_head), else the head `preset` was saved with, else simple."""
    if requested:
        return requested
    for name, model_class in SQUAD_HEADS.items():
        if preset and common.is_task_preset(preset, model_class):
            return name
    return "simple"


def spec_from_flags(flag_values, squad_head):
    """The QA spec the flags ask for: what this run packs, decodes and saves.

    --max_seq_length defaults to SQuAD's 384 here, and that is the length
    every check and window uses.
    """
    fields = dict(
        sequence_length=flag_values.max_seq_length if flag_values["max_seq_length"].present else SQUAD_MAX_SEQ_LENGTH,
        doc_stride=flag_values.doc_stride,
        max_query_length=flag_values.max_query_length,
        n_best_size=flag_values.n_best_size,
        max_answer_length=flag_values.max_answer_length,
        version_2_with_negative=flag_values.version_2_with_negative,
        null_score_diff_threshold=flag_values.null_score_diff_threshold,
    )
    if squad_head == "original":
        return SquadV2QuestionAnsweringSpec(
            **fields, start_n_top=flag_values.start_n_top, end_n_top=flag_values.end_n_top
        )
    return QuestionAnsweringSpec(**fields)


def _read(path, max_examples, labeled=True):
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist.")
    examples = squad.read_squad_examples(path, max_examples=max_examples, labeled=labeled)
    if not examples:
        raise ValueError(f"{path} has no questions.")
    if labeled:
        num_unanswerable = sum(not example.answers for example in examples)
        logging.info("Read %d questions (%d unanswerable) from %s", len(examples), num_unanswerable, path)
    else:
        logging.info("Read %d questions from %s", len(examples), path)
    return examples


def _encode(tokenizer, examples, spec, is_training, path):
    return squad.encode_examples(
        tokenizer,
        examples,
        max_seq_length=spec.sequence_length,
        doc_stride=spec.doc_stride,
        max_query_length=spec.max_query_length,
        is_training=is_training,
        path=path,
        version_2_with_negative=spec.version_2_with_negative,
    )


def _training_data(features, spec, config):
    """`(dataset, steps per epoch)`; the original head also reads the gold start as input."""
    is_original_head = isinstance(spec, SquadV2QuestionAnsweringSpec)
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
        features, labels, config.train_batch_size, spec.sequence_length, seed=config.seed
    )
    if is_original_head:
        dataset = dataset.map(lambda x, y: ({**x, "start_positions": y["start_log_probs"]}, y))
    steps_per_epoch = common.num_length_bucketed_batches(features, config.train_batch_size, spec.sequence_length)
    return dataset, steps_per_epoch


def predict_answers(model, examples, features, spec, batch_size):
    """Decodes every question: `{question id: decode_answer(...) result}`.

    The original head's beam is decoded by `decode_beam_answer`.
    """
    outputs = common.predict_in_length_order(model, features, batch_size, spec.sequence_length)
    windows_of = [[] for _ in examples]
    for window_index, example_index in enumerate(features["example_index"]):
        windows_of[example_index].append(window_index)
    options = dict(
        n_best_size=spec.n_best_size,
        max_answer_length=spec.max_answer_length,
        version_2_with_negative=spec.version_2_with_negative,
        null_score_diff_threshold=spec.null_score_diff_threshold,
    )
    answers = {}
    for example, window_indices in zip(examples, windows_of):
        windows = [features["windows"][i] for i in window_indices]
        if isinstance(model, AlbertSquadV2QuestionAnswerer):
            window_outputs = {name: value[window_indices] for name, value in outputs.items()}
            answers[example.question_id] = decode_beam_answer(example.context, windows, window_outputs, **options)
        else:
            answers[example.question_id] = decode_answer(
                example.context,
                windows,
                outputs["start_logits"][window_indices],
                outputs["end_logits"][window_indices],
                **options,
            )
    return answers


def write_prediction_files(output_dir, answers):
    """Writes predictions.json, nbest_predictions.json and null_odds.json."""
    os.makedirs(output_dir, exist_ok=True)
    for file_name, value in (
        ("predictions.json", lambda answer: answer["text"]),
        ("nbest_predictions.json", lambda answer: answer["nbest"]),
        ("null_odds.json", lambda answer: null_odds_for_json(answer["null_odds"])),
    ):
        common.write_json(
            os.path.join(output_dir, file_name), {qid: value(answer) for qid, answer in answers.items()}
        )
    logging.info("Wrote predictions for %d questions to %s", len(answers), output_dir)


def evaluate(examples, answers, spec):
    """The official SQuAD metrics of `answers` (v2.0 with the threshold search)."""
    gold = squad.gold_answers(examples)
    if not spec.version_2_with_negative:
        return squad_metrics.evaluate_v1(gold, {qid: a["text"] for qid, a in answers.items()})
    # The best span of every question with its null odds: the official
    # script then scores the predictions at `threshold` and searches the best.
    return squad_metrics.evaluate_v2(
        gold,
        {qid: a["best_non_null_text"] for qid, a in answers.items()},
        na_probs={qid: a["null_odds"] for qid, a in answers.items()},
        na_prob_thresh=spec.null_score_diff_threshold,
    )


@common.stops_cleanly
def main(argv):
    del argv
    config = common.RunConfig.from_flags(FLAGS)
    _check_files(config)
    squad_head = squad_head_of(FLAGS.squad_head, config.preset)
    spec = spec_from_flags(FLAGS, squad_head)
    if config.do_eval or config.do_predict:
        # Read before training, so that a bad file does not wait for the end of a long run.
        max_examples = (
            config.max_eval_examples if config.max_eval_examples is not None else config.max_predict_examples
        )
        predict_examples = _read(config.predict_file, max_examples, labeled=config.do_eval)
        unanswerable = [example.question_id for example in predict_examples if not example.answers]
        if config.do_eval and unanswerable and not spec.version_2_with_negative:
            raise ValueError(
                f"{config.predict_file} has {len(unanswerable)} questions without answers (e.g. "
                f"{unanswerable[0]!r}): evaluate SQuAD v2.0 files with --version_2_with_negative."
            )
    strategy = common.watch_workers(common.configure_runtime(config))
    tokenizer = common.load_tokenizer(config)
    with strategy.scope():
        model = common.build_task_model(
            SQUAD_HEADS[squad_head], config, spec.sequence_length,
            length_is_program_default=not FLAGS["max_seq_length"].present,
        )
    common.check_vocabulary(tokenizer, model.backbone)
    # A preset's tuned threshold (and beam sizes) unless the flags are given.
    if FLAGS["null_score_diff_threshold"].present:
        model.null_score_diff_threshold = spec.null_score_diff_threshold
    spec = spec.replace(null_score_diff_threshold=float(model.null_score_diff_threshold))
    if squad_head == "original":
        for name in ("start_n_top", "end_n_top"):  # Beam sizes: not weights, set at will.
            if FLAGS[name].present:
                setattr(model, name, getattr(spec, name))
        spec = spec.replace(start_n_top=model.start_n_top, end_n_top=model.end_n_top)

    if config.do_train:
        examples = _read(config.train_file, config.max_train_examples)
        features = _encode(tokenizer, examples, spec, is_training=True, path=config.train_file)
        dataset, steps_per_epoch = _training_data(features, spec, config)
        common.train_model(model, dataset, steps_per_epoch, config, strategy)
        common.save_trained_model(model, config.output_dir, tokenizer, spec)

    if config.do_eval or config.do_predict:
        examples = predict_examples
        features = _encode(tokenizer, examples, spec, is_training=False, path=config.predict_file)
        answers = predict_answers(model, examples, features, spec, config.predict_batch_size)
        write_prediction_files(config.output_dir, answers)
        if config.do_eval:
            results = evaluate(examples, answers, spec)
            results["null_score_diff_threshold"] = spec.null_score_diff_threshold
            for name in ("num_examples", "num_windows", "num_questions_truncated"):
                results[name] = features["stats"][name]
            common.write_eval_results(config.output_dir, results)


def run_command():
    """The command line: `python -m` this module, or its console script."""
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
