"""Task specs: one versioned file per task preset, validated against the weights."""

import json

import pytest

import keras_albert
from keras_albert import task_spec
from keras_albert.task_spec import (
    QuestionAnsweringSpec,
    TaskSpecError,
    TextClassificationSpec,
    TokenClassificationSpec,
    load_task_spec,
    save_task_spec,
)


def tiny_backbone(max_sequence_length=32):
    return keras_albert.AlbertBackbone(
        vocabulary_size=40, num_layers=1, num_heads=2, embedding_dim=8, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=max_sequence_length,
    )


SPECS = [
    TextClassificationSpec(labels=("no", "yes"), text_pair=True, sequence_length=24),
    TokenClassificationSpec(labels=("B-x", "I-x", "O"), tag_scheme="BIOES", sequence_length=16, window_stride=5),
    QuestionAnsweringSpec(sequence_length=32, doc_stride=8, max_query_length=6, version_2_with_negative=True,
                          null_score_diff_threshold=-1.25),
    task_spec.MultipleChoiceSpec(num_choices=3, sequence_length=20),
    task_spec.PretrainingSpec(sequence_length=30, top_k=7),
    task_spec.BackboneSpec(sequence_length=12),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.TASK)
def test_every_spec_round_trips_through_its_file(spec, tmp_path):
    save_task_spec(tmp_path, spec)
    content = json.loads((tmp_path / "task_spec.json").read_text())
    assert content["version"] == task_spec.SPEC_VERSION and content["task"] == spec.TASK
    assert load_task_spec(tmp_path) == spec


def test_registry_names_every_task_model_once():
    assert set(task_spec.TASKS) == {
        "backbone", "pretraining", "text_classification", "token_classification", "question_answering",
        "squad_v2_question_answering", "multiple_choice",
    }
    backbone = tiny_backbone()
    assert task_spec.task_of(keras_albert.AlbertQuestionAnswerer(backbone)) == "question_answering"
    assert task_spec.task_of(keras_albert.AlbertSquadV2QuestionAnswerer(backbone)) == "squad_v2_question_answering"
    assert task_spec.task_of(backbone) == "backbone"


def write(tmp_path, content):
    (tmp_path / "task_spec.json").write_text(content if isinstance(content, str) else json.dumps(content))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.pop("version"), r"field 'version': missing"),
        (lambda c: c.update(version=2), r"field 'version': 2 is not a known version"),
        (lambda c: c.update(task="ranking"), r"field 'task': unknown task 'ranking'"),
        (lambda c: c["spec"].pop("doc_stride"), r"field 'spec.doc_stride': missing"),
        (lambda c: c["spec"].update(stride=3), r"field 'spec.stride': unknown for task 'question_answering'"),
        (lambda c: c["spec"].update(doc_stride="128"), r"field 'doc_stride': expected an integer, found '128'"),
        (lambda c: c["spec"].update(version_2_with_negative=1), r"field 'version_2_with_negative': expected true or false"),
        (lambda c: c["spec"].update(n_best_size=0), r"field 'n_best_size': must be a positive integer"),
        (lambda c: c["spec"].update(max_query_length=30), r"field 'max_query_length': 30 leaves no room"),
    ],
)
def test_a_malformed_spec_is_refused_naming_the_file_and_field(tmp_path, mutate, message):
    content = SPECS[2].to_json()
    mutate(content)
    write(tmp_path, content)
    with pytest.raises(TaskSpecError, match=rf"task_spec\.json: {message}"):
        load_task_spec(tmp_path)


def test_a_missing_or_invalid_json_file_is_named(tmp_path):
    with pytest.raises(TaskSpecError, match=r"task_spec\.json not found"):
        load_task_spec(tmp_path)
    assert load_task_spec(tmp_path, required=False) is None
    write(tmp_path, '{"version": 1,')
    with pytest.raises(TaskSpecError, match=r"task_spec\.json is not valid JSON"):
        load_task_spec(tmp_path)
    write(tmp_path, "[1]")
    with pytest.raises(TaskSpecError, match=r"task_spec\.json: expected a JSON object, found list"):
        load_task_spec(tmp_path)


def test_a_spec_inconsistent_with_the_weights_is_refused_naming_both_values(tmp_path):
    backbone = tiny_backbone(max_sequence_length=32)
    tagger = keras_albert.AlbertTokenClassifier(backbone, num_classes=4)
    save_task_spec(tmp_path, SPECS[1])  # 3 tags.
    with pytest.raises(TaskSpecError, match=r"task_spec\.json: field 'labels': 3 tags for a head of 4 units"):
        load_task_spec(tmp_path, model=tagger)
    save_task_spec(tmp_path, TokenClassificationSpec(labels=("a", "b", "c", "d"), sequence_length=64))
    with pytest.raises(TaskSpecError, match=r"field 'sequence_length': 64 exceeds the model's 32 positions"):
        load_task_spec(tmp_path, model=tagger)
    save_task_spec(tmp_path, SPECS[0])
    with pytest.raises(TaskSpecError, match=r"field 'task': 'text_classification', but the model is a AlbertTokenClassifier"):
        load_task_spec(tmp_path, model=tagger)
    save_task_spec(tmp_path, TokenClassificationSpec(labels=("a", "b", "c", "d"), sequence_length=32))
    assert load_task_spec(tmp_path, model=tagger).labels == ("a", "b", "c", "d")


def test_a_window_stride_longer_than_the_window_is_refused():
    with pytest.raises(TaskSpecError, match=r"field 'window_stride': 15 exceeds the window of 14 pieces"):
        TokenClassificationSpec(labels=("O",), sequence_length=16, window_stride=15)


def test_default_spec_of_a_model_without_one():
    backbone = tiny_backbone(max_sequence_length=32)
    spec = task_spec.default_spec(keras_albert.AlbertTextClassifier(backbone, num_classes=3))
    assert spec == TextClassificationSpec(labels=("0", "1", "2"), sequence_length=32)
    reader = keras_albert.AlbertQuestionAnswerer(backbone, null_score_diff_threshold=-2.5)
    assert task_spec.default_spec(reader) == QuestionAnsweringSpec(
        sequence_length=32, max_query_length=16, null_score_diff_threshold=-2.5
    )
    with pytest.raises(TaskSpecError, match="A token classifier needs its task spec"):
        task_spec.default_spec(keras_albert.AlbertTokenClassifier(backbone, num_classes=3))
