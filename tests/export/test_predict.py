"""`python -m export.predict` runs SavedModels and .tflite files on text from files or stdin."""

import numpy as np
import pytest
from absl import flags
from conftest import LABEL_NAMES, SEQUENCE_LENGTH, json_lines, run_python

from export import predict


def run_in_process(argv, capsys):
    # Own flag values: the task programs' flags live in the global ones.
    flag_values = flags.FlagValues()
    predict.define_flags(flag_values)
    flag_values(["predict", *argv])
    predict.predict(flag_values)
    return json_lines(capsys.readouterr().out)


def test_predict_runs_a_saved_model_on_a_file(classifier_model_base, keras_classifier_logits, sst2_dev_sentences, tmp_path, capsys):
    sentences = sst2_dev_sentences[:5] + ["", "Crème brûlée"]
    (tmp_path / "input.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    rows = run_in_process(
        [f"--model={classifier_model_base / '1'}", f"--input={tmp_path / 'input.txt'}", "--batch_size=3"], capsys
    )
    assert len(rows) == len(sentences)
    np.testing.assert_allclose([row["logits"] for row in rows], keras_classifier_logits(sentences), atol=1e-5)
    assert all(set(row) == set(predict.RESPONSE_FIELDS["text_classification"]) for row in rows)
    assert [row["label"] for row in rows] == [LABEL_NAMES[i] for i in np.argmax(keras_classifier_logits(sentences), axis=-1)]


def test_predict_runs_a_token_ids_tflite_with_the_tokenizer(text_classifier, albert_tokenizer, spm_model_path, keras_classifier_logits, sst2_dev_sentences, tmp_path, capsys):
    from export.tflite import convert_to_tflite
    from keras_albert.task_spec import TextClassificationSpec, save_task_spec

    path = tmp_path / "classifier.tflite"
    path.write_bytes(convert_to_tflite(text_classifier, "float32"))
    sentences = sst2_dev_sentences[:4]
    (tmp_path / "input.txt").write_text("\n".join(sentences), encoding="utf-8")
    argv = [f"--model={path}", f"--input={tmp_path / 'input.txt'}", f"--spm_model_file={spm_model_path}"]
    with pytest.raises(ValueError, match=r"no task_spec\.json beside it .* pass --preset"):
        run_in_process(argv, capsys)
    save_task_spec(tmp_path, TextClassificationSpec(labels=tuple(LABEL_NAMES), sequence_length=SEQUENCE_LENGTH))
    rows = run_in_process(argv, capsys)
    np.testing.assert_allclose([row["logits"] for row in rows], keras_classifier_logits(sentences), atol=1e-5)
    assert [row["label_id"] for row in rows] == np.argmax(keras_classifier_logits(sentences), axis=-1).tolist()
    assert all(set(row) == set(predict.RESPONSE_FIELDS["text_classification"]) for row in rows)


def test_predict_keeps_within_the_saved_models_serving_limits(text_classifier, albert_tokenizer, tmp_path, capsys):
    from export.saved_model import export_saved_model
    from export.serving_signatures import ServingLimits

    path = export_saved_model(
        text_classifier, albert_tokenizer, str(tmp_path / "models"), sequence_length=SEQUENCE_LENGTH,
        limits=ServingLimits(max_batch_size=2, max_text_chars=20),
    )
    (tmp_path / "input.txt").write_text("a fine film\nx\n" + "é" * 21 + "\n", encoding="utf-8")
    argv = [f"--model={path}", f"--input={tmp_path / 'input.txt'}"]
    with pytest.raises(ValueError, match=r"--batch_size=3 exceeds the SavedModel's max_batch_size=2"):
        run_in_process([*argv, "--batch_size=3"], capsys)
    with pytest.raises(ValueError, match=r"input line 3: 21 characters in text, more than the SavedModel's max_text_chars=20"):
        run_in_process([*argv, "--batch_size=2"], capsys)
    capsys.readouterr()  # The rows of lines 1-2, written before line 3 was read.
    (tmp_path / "input.txt").write_text("a fine film\nx\n" + "é" * 20 + "\n", encoding="utf-8")
    assert len(run_in_process([*argv, "--batch_size=2"], capsys)) == 3


def test_predict_explains_what_it_cannot_run(tmp_path, capsys):
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(ValueError, match="neither a SavedModel directory nor a .tflite"):
        run_in_process([f"--model={tmp_path / 'model.onnx'}"], capsys)
    with pytest.raises(ValueError, match="has no saved_model.pb"):
        run_in_process([f"--model={tmp_path}"], capsys)


def test_two_input_signatures_need_tab_separated_lines():
    columns = predict.split_fields(["Who?\tAnn wrote it."], ("question", "context"))
    assert columns == {"question": ["Who?"], "context": ["Ann wrote it."]}
    with pytest.raises(ValueError, match="input line 7: expected 2 tab-separated fields"):
        predict.split_fields(["no tab here"], ("question", "context"), first_line_number=7)


def test_multiple_choice_lines_take_every_remaining_field_as_a_choice():
    names = predict.INPUT_NAMES["multiple_choice"]
    columns = predict.split_fields(["ctx\tWho _?\tAnn\tBob\tCy", "\tq\ta\tb\tc"], names)
    assert columns == {"context": ["ctx", ""], "question": ["Who _?", "q"], "choices": [["Ann", "Bob", "Cy"], ["a", "b", "c"]]}
    with pytest.raises(ValueError, match="input line 3: expected at least 4 tab-separated fields"):
        predict.split_fields(["ctx\tq"], names, first_line_number=3)
    with pytest.raises(ValueError, match="the same number of choices"):
        predict.split_fields(["c\tq\ta\tb", "c\tq\ta\tb\tc"], names)


@pytest.mark.heavy
def test_predict_reads_stdin_in_a_fresh_process(classifier_model_base):
    rows = json_lines(run_python(None, "-m", "export.predict", f"--model={classifier_model_base / '1'}", stdin="good\nbad\n"))
    assert len(rows) == 2 and all(row["label"] in LABEL_NAMES for row in rows)


@pytest.mark.heavy
def test_predict_replaces_bytes_that_are_not_utf8_on_stdin_as_in_a_file(classifier_model_base, tmp_path, capsys):
    data = b"good\n\xff\xfe bad \xc3\n"
    rows = json_lines(run_python(None, "-m", "export.predict", f"--model={classifier_model_base / '1'}", stdin=data))
    (tmp_path / "input.txt").write_bytes(data)
    expected = run_in_process([f"--model={classifier_model_base / '1'}", f"--input={tmp_path / 'input.txt'}"], capsys)
    assert len(rows) == 2 and [row["label"] for row in rows] == [row["label"] for row in expected]
    np.testing.assert_allclose([row["logits"] for row in rows], [row["logits"] for row in expected], atol=1e-5)


def test_a_token_ids_tflite_answers_an_empty_context_with_no_answer(albert_tokenizer):
    from keras_albert.task_spec import QuestionAnsweringSpec

    predictor = object.__new__(predict.TfliteTokenIdsPredictor)
    predictor.spec, predictor.tokenizer = QuestionAnsweringSpec(sequence_length=32, doc_stride=8, max_query_length=8), albert_tokenizer
    predictor.run = lambda inputs: pytest.fail("a context without tokens has no window to run")
    rows = predictor({"question": ["Where?", "Who?"], "context": ["", "  \t "]})
    assert [(row["answer_text"], row["has_answer"]) for row in rows] == [("", False)] * 2
    assert all(row["null_odds"] > 1e300 for row in rows)  # Strict JSON, above every threshold.
