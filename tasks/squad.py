"""SQuAD v1.1 / v2.0 JSON files: reading, checking, and features for the model.

The file format (SQuAD explorer): `{"version": ..., "data": [article]}`,
an article `{"title", "paragraphs": [{"context", "qas": [qa]}]}`, a question
`{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible"
(v2.0)}`. Written with the standard `json` module rather than a dataset
library so that every problem is reported with the file and the question id
or field, and nothing is dropped without a count in the log:

- invalid JSON or UTF-8: a `ValueError` with the file, line and column;
- a missing or mistyped field, an empty context or question, a repeated
  question id, `is_impossible` with answers: a `ValueError` naming the file,
  the question id (or article/paragraph) and the field;
- an answer whose `answer_start` does not point at its text in the context,
  or whose text covers no token: a training question with such a first
  answer is skipped, counted and logged with its id (the original
  `run_squad.py` does the same); evaluation compares texts only, as the
  official scripts, so such answers still count there. A training file
  in which no question is left raises a `ValueError` naming it.

Example:
```python
examples = read_squad_examples("dev-v2.0.json")
features = encode_examples(tokenizer, examples, max_seq_length=384, is_training=False)
```
"""

import json
from typing import NamedTuple

import numpy as np
from absl import logging

from keras_albert.question_answering import encode_question_and_context, tokenize_with_offsets
from keras_albert.text_files import read_text


class SquadExample(NamedTuple):
    """One question of a SQuAD file.

    Attributes:
        question_id: str.
        question: str.
        context: str, the paragraph.
        answers: list of `(text, answer_start)`; empty when unanswerable.
        is_impossible: bool (v2.0; False in v1.1 files).
    """

    question_id: str
    question: str
    context: str
    answers: list
    is_impossible: bool


def read_squad_examples(path, max_examples=None, labeled=True):
    """Reads and checks the questions of a SQuAD v1.1 or v2.0 JSON file.

    Args:
        path: str, a UTF-8 SQuAD JSON file.
        max_examples: optional int, keep only the first N questions.
        labeled: bool. Whether every question must have `answers` (to
            train or evaluate); questions to predict may come without.

    Returns:
        A list of `SquadExample` in file order.

    Raises:
        ValueError: invalid JSON or a malformed record (see module docstring).
    """
    try:
        document = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    articles = _field(document, "data", list, path, "the top level")
    examples, seen_ids = [], set()
    for article_index, article in enumerate(articles):
        where = f"article {article_index}"
        paragraphs = _field(article, "paragraphs", list, path, where)
        for paragraph_index, paragraph in enumerate(paragraphs):
            where = f"article {article_index}, paragraph {paragraph_index}"
            context = _field(paragraph, "context", str, path, where)
            for qa in _field(paragraph, "qas", list, path, where):
                example = _read_question(qa, context, path, where, labeled)
                if example.question_id in seen_ids:
                    raise ValueError(f"{path}: question id {example.question_id!r} appears twice.")
                seen_ids.add(example.question_id)
                examples.append(example)
                if max_examples is not None and len(examples) >= max_examples:
                    return examples
    return examples


def _field(record, name, kind, path, where):
    """`record[name]`, checked to be a `kind`; a ValueError naming file and place if not."""
    if not isinstance(record, dict):
        raise ValueError(f"{path}: {where} must be a JSON object, got {type(record).__name__}.")
    if name not in record:
        raise ValueError(f"{path}: {where} has no field {name!r}.")
    value = record[name]
    # JSON true/false are Python bools, which are also ints.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(
            f"{path}: {where}: field {name!r} must be {kind.__name__}, got {type(value).__name__} {value!r:.60}."
        )
    return value


def _read_question(qa, context, path, where, labeled):
    qid = _field(qa, "id", str, path, f"a question of {where}")
    where = f"question {qid!r}"
    question = _field(qa, "question", str, path, where)
    if not question.strip():
        raise ValueError(f"{path}: {where}: field 'question' is empty.")
    if not context.strip():
        raise ValueError(f"{path}: {where}: its paragraph's 'context' is empty.")
    answers = []
    given = _field(qa, "answers", list, path, where) if labeled or "answers" in qa else []
    for answer_index, answer in enumerate(given):
        answer_where = f"{where}, answer {answer_index}"
        text = _field(answer, "text", str, path, answer_where)
        answer_start = _field(answer, "answer_start", int, path, answer_where)
        answers.append((text, answer_start))
    is_impossible = qa.get("is_impossible", False)
    if not isinstance(is_impossible, bool):
        raise ValueError(f"{path}: {where}: field 'is_impossible' must be true or false, got {is_impossible!r}.")
    if is_impossible and answers:
        raise ValueError(
            f"{path}: {where} is marked 'is_impossible' but has {len(answers)} 'answers' "
            "(SQuAD v2.0 keeps those in 'plausible_answers')."
        )
    return SquadExample(qid, question, context, answers, is_impossible)


def gold_answers(examples):
    """`{question id: [answer texts]}`, what the official evaluation reads."""
    return {example.question_id: [text for text, _ in example.answers] for example in examples}


def encode_examples(
    tokenizer,
    examples,
    max_seq_length=384,
    doc_stride=128,
    max_query_length=64,
    is_training=False,
    version_2_with_negative=False,
    path="<examples>",
):
    """Windows of every question, as features for `tasks.common` datasets.

    Each question's context is cut into windows
    (`keras_albert.question_answering.encode_question_and_context`); a
    context shared by several questions is tokenized once. For training
    the first answer is the target; a window that does not contain it
    targets `[CLS]` (position 0), as unanswerable questions do.

    Args:
        tokenizer: `keras_albert.AlbertTokenizer`.
        examples: list of `SquadExample`.
        max_seq_length, doc_stride, max_query_length: window sizes in tokens.
        is_training: bool. Compute `start_positions` / `end_positions` and
            skip (count, log) questions whose answer cannot be located.
        version_2_with_negative: bool. Whether unanswerable questions are
            allowed in training.
        path: the examples' file, named in errors.

    Returns:
        A dict: `token_ids`, `segment_ids`, `padding_mask` (lists of int32
        arrays `[length]`, one per window), `windows` (the window dicts, for
        `decode_answer`), `example_index` (int array: the window's question
        in `examples`), `start_positions`, `end_positions` (int32 arrays),
        and `stats`: `num_examples`, `num_windows`,
        `num_questions_truncated`, `num_skipped_answer_mismatch`,
        `num_skipped_answer_not_tokenized`.

    Raises:
        ValueError: in training, an unanswerable question without
            `version_2_with_negative`, or no question with a usable answer.
    """
    features = {
        name: []
        for name in ("token_ids", "segment_ids", "padding_mask", "windows", "example_index")
    }
    stats = {
        "num_examples": len(examples),
        "num_questions_truncated": 0,
        "num_skipped_answer_mismatch": 0,
        "num_skipped_answer_not_tokenized": 0,
    }
    skipped_ids = []
    context_encoding, encoded_context = None, None
    for example_index, example in enumerate(examples):
        if example.context is not encoded_context:
            context_encoding = tokenize_with_offsets(tokenizer, example.context)
            encoded_context = example.context
        answer_char_span = None
        if is_training:
            answer_char_span = _training_answer(example, version_2_with_negative)
            if answer_char_span is None:
                stats["num_skipped_answer_mismatch"] += 1
                skipped_ids.append(example.question_id)
                continue
        try:
            windows, info = encode_question_and_context(
                tokenizer,
                example.question,
                example.context,
                max_seq_length=max_seq_length,
                doc_stride=doc_stride,
                max_query_length=max_query_length,
                answer_char_span=answer_char_span,
                context_encoding=context_encoding,
            )
        except ValueError as error:
            raise ValueError(f"question {example.question_id!r}: {error}") from None
        stats["num_questions_truncated"] += info["question_truncated"]
        if not info["answer_found"]:
            stats["num_skipped_answer_not_tokenized"] += 1
            skipped_ids.append(example.question_id)
            continue
        for window in windows:
            for name in ("token_ids", "segment_ids", "padding_mask"):
                features[name].append(window[name])
            features["windows"].append(window)
            features["example_index"].append(example_index)
    features["example_index"] = np.asarray(features["example_index"], np.int64)
    features["start_positions"] = np.array([w["start_position"] for w in features["windows"]], np.int32)
    features["end_positions"] = np.array([w["end_position"] for w in features["windows"]], np.int32)
    stats["num_windows"] = len(features["windows"])
    features["stats"] = stats
    _log_stats(stats, skipped_ids, max_query_length)
    if is_training and examples and not stats["num_windows"]:
        raise ValueError(
            f"{path}: none of the {len(examples)} training questions has a usable answer: "
            f"{stats['num_skipped_answer_mismatch']} first answers are blank or not at their "
            f"'answer_start' in the context, {stats['num_skipped_answer_not_tokenized']} cover "
            f"no token (e.g. ids {skipped_ids[:5]})."
        )
    return features


def _training_answer(example, version_2_with_negative):
    """The first answer's character span; (0, 0) if unanswerable; None if it mismatches."""
    if example.is_impossible or not example.answers:
        if not version_2_with_negative:
            raise ValueError(
                f"question {example.question_id!r} has no answer; train on unanswerable "
                "questions with --version_2_with_negative."
            )
        return (0, 0)
    text, answer_start = example.answers[0]
    answer_end = answer_start + len(text)
    # A negative start would index from the context's end and may match.
    if answer_start < 0 or not text.strip() or example.context[answer_start:answer_end] != text:
        return None
    return (answer_start, answer_end)


def _log_stats(stats, skipped_ids, max_query_length):
    logging.info(
        "%d questions -> %d windows.", stats["num_examples"], stats["num_windows"]
    )
    if stats["num_questions_truncated"]:
        logging.warning(
            "%d questions were cut to --max_query_length=%d tokens.",
            stats["num_questions_truncated"], max_query_length,
        )
    if skipped_ids:
        logging.warning(
            "Skipped %d training questions whose first answer is blank or not at its "
            "'answer_start' in the context (%d) or covers no token (%d), e.g. ids %s.",
            len(skipped_ids), stats["num_skipped_answer_mismatch"],
            stats["num_skipped_answer_not_tokenized"], skipped_ids[:5],
        )
