"""tasks/squad.py: reading SQuAD JSON files, bad input, features for training and prediction."""

import json

import numpy as np
import pytest

from tasks.squad import SquadExample, encode_examples, gold_answers, read_squad_examples


def write_squad(tmp_path, paragraphs, name="squad.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]}))
    return path


def question(qid, answers=(), **fields):
    return {"id": qid, "question": "Where is Normandy?", "answers": [dict(a) for a in answers], **fields}


CONTEXT = "Normandy is a region in France."
FRANCE = {"text": "France", "answer_start": 24}


def test_reads_the_real_squad_parts_with_their_question_counts(shared_data_dir):
    v1 = read_squad_examples(shared_data_dir / "squad_v1.1_part_a" / "dev-v1.1-part-a.json")
    v2 = read_squad_examples(shared_data_dir / "squad_v2.0_part_a" / "dev-v2.0-part-a.json")
    assert len(v1) == 5696 and len(v2) == 3029
    assert sum(example.is_impossible for example in v2) == 1621
    assert all(not example.answers for example in v2 if example.is_impossible)
    first = v1[0]
    assert first.question_id == "56be4db0acb8001400a502ec"
    assert first.answers[0] == ("Denver Broncos", 177)
    assert first.context[177 : 177 + len("Denver Broncos")] == "Denver Broncos"
    assert len(read_squad_examples(shared_data_dir / "squad_v1.1_part_a" / "dev-v1.1-part-a.json", max_examples=7)) == 7


def test_gold_answers_maps_question_ids_to_answer_texts():
    examples = [
        SquadExample("a", "q", CONTEXT, [("France", 24), ("in France", 21)], False),
        SquadExample("b", "q", CONTEXT, [], True),
    ]
    assert gold_answers(examples) == {"a": ["France", "in France"], "b": []}


def test_invalid_json_is_reported_with_file_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"data": [\n  {"paragraphs": [}\n]}')
    with pytest.raises(ValueError, match=r"broken.json: invalid JSON at line 2, column 19: Expecting value"):
        read_squad_examples(path)


@pytest.mark.parametrize(
    "paragraphs, message",
    [
        ([{"qas": [question("q1")]}], r"paragraph 0 has no field 'context'"),
        ([{"context": CONTEXT, "qas": [{"id": "q1", "answers": []}]}], r"question 'q1' has no field 'question'"),
        ([{"context": CONTEXT, "qas": [question("q1", [{"text": "France", "answer_start": "24"}])]}],
         r"question 'q1', answer 0: field 'answer_start' must be int, got str"),
        ([{"context": CONTEXT, "qas": [question("q1", [{"answer_start": 24}])]}],
         r"question 'q1', answer 0 has no field 'text'"),
        ([{"context": CONTEXT, "qas": [question("q1", [FRANCE], is_impossible=True)]}],
         r"question 'q1' is marked 'is_impossible' but has 1 'answers'"),
        ([{"context": CONTEXT, "qas": [question("q1", is_impossible="no")]}],
         r"question 'q1': field 'is_impossible' must be true or false"),
        ([{"context": "  \n", "qas": [question("q1", [FRANCE])]}], r"question 'q1': its paragraph's 'context' is empty"),
        ([{"context": CONTEXT, "qas": [dict(question("q1"), question=" ")]}], r"question 'q1': field 'question' is empty"),
        ([{"context": CONTEXT, "qas": [question("q1")]}, {"context": CONTEXT, "qas": [question("q1")]}],
         r"question id 'q1' appears twice"),
        ([{"context": CONTEXT, "qas": {"id": "q1"}}], r"paragraph 0: field 'qas' must be list, got dict"),
    ],
)
def test_malformed_records_name_the_file_the_question_and_the_field(tmp_path, paragraphs, message):
    path = write_squad(tmp_path, paragraphs)
    with pytest.raises(ValueError, match=f"squad.json: .*{message}"):
        read_squad_examples(path)


def test_training_features_target_the_answer_tokens_and_cls_when_unanswerable(albert_tokenizer):
    examples = [
        SquadExample("a", "Where is Normandy?", CONTEXT, [("France", 24)], False),
        SquadExample("b", "Who ruled?", CONTEXT, [], True),
    ]
    features = encode_examples(albert_tokenizer, examples, max_seq_length=64, is_training=True, version_2_with_negative=True)
    assert list(features["example_index"]) == [0, 1]
    window = features["windows"][0]
    start, end = features["start_positions"][0], features["end_positions"][0]
    assert CONTEXT[window["token_offsets"][start, 0] : window["token_offsets"][end, 1]] == "France"
    assert (features["start_positions"][1], features["end_positions"][1]) == (0, 0)
    np.testing.assert_array_equal(features["token_ids"][0], window["token_ids"])
    assert features["stats"]["num_windows"] == 2 and features["stats"]["num_examples"] == 2


def test_training_skips_and_counts_answers_that_do_not_match_their_start(albert_tokenizer, caplog):
    examples = [
        SquadExample("good", "Where?", CONTEXT, [("France", 24)], False),
        SquadExample("shifted", "Where?", CONTEXT, [("France", 23)], False),
        SquadExample("blank", "Where?", CONTEXT, [(" ", 8)], False),
    ]
    features = encode_examples(albert_tokenizer, examples, max_seq_length=64, is_training=True)
    assert list(features["example_index"]) == [0]
    assert features["stats"]["num_skipped_answer_mismatch"] == 2
    # Prediction does not look at answer_start: every question gets windows.
    predicted = encode_examples(albert_tokenizer, examples, max_seq_length=64)
    assert list(predicted["example_index"]) == [0, 1, 2]


def test_training_on_unanswerable_questions_needs_version_2(albert_tokenizer):
    examples = [SquadExample("b", "Who ruled?", CONTEXT, [], True)]
    with pytest.raises(ValueError, match="'b' has no answer.*--version_2_with_negative"):
        encode_examples(albert_tokenizer, examples, max_seq_length=64, is_training=True)


def test_long_contexts_give_several_windows_per_question_and_count_cut_questions(albert_tokenizer):
    context = " ".join(f"Sentence {i} tells about Normandy and France." for i in range(30))
    examples = [SquadExample("a", "Where is Normandy? " * 10, context, [], True)]
    features = encode_examples(albert_tokenizer, examples, max_seq_length=48, doc_stride=16, max_query_length=12)
    assert features["stats"]["num_questions_truncated"] == 1
    assert len(features["windows"]) > 3
    assert all(len(ids) <= 48 for ids in features["token_ids"])
    assert set(features["example_index"]) == {0}


def test_a_question_whose_context_has_no_tokens_is_named_in_the_error(albert_tokenizer):
    examples = [SquadExample("q7", "Who?", "\u0301\u0301", [], True)]
    with pytest.raises(ValueError, match="question 'q7': The context has no tokens"):
        encode_examples(albert_tokenizer, examples, max_seq_length=64)
