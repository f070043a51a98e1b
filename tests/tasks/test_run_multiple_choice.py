"""Multiple-choice readers (RACE-style JSONL, SWAG CSV) and the program, with a tiny model."""

import json

import numpy as np
import pytest

import keras_albert
from tasks import common, multiple_choice, run_multiple_choice

STORIES = [
    ("Tom has a red ball and a blue kite.", "What color is the ball?", ["red", "blue", "green"], 0),
    ("The shop opens at nine and closes at five.", "The shop closes at _ .", ["nine", "five", "noon"], "B"),
    ("Anna drinks tea every morning.", "What does Anna drink?", ["coffee", "milk", "tea"], 2),
    ("It rained all day, so the game was cancelled.", "Why was the game cancelled?", ["rain", "snow", "wind"], 0),
    ("The cat sleeps on the warm mat.", "Where does the cat sleep?", ["on the roof", "on the mat", "in a box"], 1),
    ("Paris is the capital of France.", "Paris is the capital of _ .", ["Spain", "Italy", "France"], "C"),
]
SWAG_CSV = (
    ",video-id,fold-ind,startphrase,sent1,sent2,gold-source,ending0,ending1,ending2,ending3,label\n"
    '0,anetv_jkn6uvmqwh4,3416,"Members of the procession walk down the street holding small horn brass instruments. '
    'A drum line","Members of the procession walk down the street holding small horn brass instruments.",'
    'A drum line,gold,"passes by walking down the street playing their instruments.",'
    '"has heard approaching them.","arrives and they\'re outside dancing and asleep.",'
    '"turns the lead singer watches the performance.",0\n'
)


def write_jsonl(path, stories, with_labels=True):
    with open(path, "w", encoding="utf-8") as f:
        for index, (context, question, options, label) in enumerate(stories):
            record = {"id": f"q{index}", "context": context, "question": question, "options": options}
            if with_labels:
                record["label"] = label
            f.write(json.dumps(record) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def tiny_model_files(tmp_path_factory, write_tiny_albert_config):
    folder = tmp_path_factory.mktemp("mc_model")
    write_tiny_albert_config(folder)
    return folder


def test_jsonl_reader_accepts_index_and_letter_labels(tmp_path):
    examples = multiple_choice.read_examples(write_jsonl(tmp_path / "d.jsonl", STORIES), labeled=True)
    assert [e.label for e in examples] == [0, 1, 2, 0, 1, 2]
    assert examples[0].guid == "q0" and examples[0].options == ("red", "blue", "green")


def test_an_option_fills_the_question_blank_or_follows_the_question(tmp_path):
    examples = multiple_choice.read_examples(write_jsonl(tmp_path / "d.jsonl", STORIES), labeled=True)
    assert examples[1].question_with_option(1) == "The shop closes at five ."
    assert examples[0].question_with_option(2) == "What color is the ball? green"


def test_jsonl_errors_name_file_and_line(tmp_path):
    bad_label = STORIES[:1] + [("ctx", "q?", ["a", "b", "c"], 3)]
    with pytest.raises(ValueError, match=r"d.jsonl:2: label 3 is not an option index in 0..2"):
        multiple_choice.read_examples(write_jsonl(tmp_path / "d.jsonl", bad_label), labeled=True)
    uneven = STORIES[:1] + [("ctx", "q?", ["a", "b"], 0)]
    with pytest.raises(ValueError, match=r"e.jsonl:2: 2 options, but earlier examples have 3"):
        multiple_choice.read_examples(write_jsonl(tmp_path / "e.jsonl", uneven), labeled=True)
    (tmp_path / "f.jsonl").write_text('{"question": "q", "options": ["a", "b"], "label": 0}\n{oops\n')
    with pytest.raises(ValueError, match=r"f.jsonl:2: not a JSON object"):
        multiple_choice.read_examples(str(tmp_path / "f.jsonl"), labeled=True)
    with pytest.raises(ValueError, match=r"g.jsonl:1: missing field\(s\) \['label'\]"):
        multiple_choice.read_examples(write_jsonl(tmp_path / "g.jsonl", STORIES, with_labels=False), labeled=True)


def test_swag_csv_reader_takes_sent1_as_context_and_sent2_as_question(tmp_path):
    (tmp_path / "val.csv").write_text(SWAG_CSV)
    (example,) = multiple_choice.read_examples(str(tmp_path / "val.csv"), labeled=True)
    assert example.context.startswith("Members of the procession")
    assert example.question == "A drum line"
    assert example.options[0] == "passes by walking down the street playing their instruments."
    assert example.label == 0 and example.guid == "0"
    assert example.question_with_option(0) == "A drum line passes by walking down the street playing their instruments."


def test_choices_are_packed_as_one_sequence_each(tmp_path, albert_tokenizer):
    tokenizer = albert_tokenizer
    examples = multiple_choice.read_examples(write_jsonl(tmp_path / "d.jsonl", STORIES[:2]), labeled=True)
    preprocessor = keras_albert.AlbertPreprocessor(tokenizer, sequence_length=32)
    features = run_multiple_choice.encode_choices(preprocessor, examples, "test")
    token_ids = features["token_ids"][1]
    assert token_ids.shape[0] == 3
    context = tokenizer.tokenize_python(STORIES[1][0])
    filled = tokenizer.tokenize_python("The shop closes at five .")
    row = token_ids[1][features["padding_mask"][1][1] == 1]
    expected = [tokenizer.cls_token_id, *context, tokenizer.sep_token_id, *filled, tokenizer.sep_token_id]
    np.testing.assert_array_equal(row, expected)


def test_program_trains_evaluates_predicts_and_reloads_its_preset(tmp_path, tiny_model_files, spm_model_path):
    train = write_jsonl(tmp_path / "train.jsonl", STORIES)
    test = write_jsonl(tmp_path / "test.jsonl", STORIES[:4], with_labels=False)
    output_dir = tmp_path / "out"
    common.run_program(
        run_multiple_choice.main,
        [
            "run_multiple_choice",
            f"--train_file={train}", f"--eval_file={train}", f"--predict_file={test}",
            f"--spm_model_file={spm_model_path}",
            f"--albert_config_file={tiny_model_files / 'albert_config.json'}",
            f"--output_dir={output_dir}", "--do_train", "--do_eval", "--do_predict",
            "--max_seq_length=32", "--train_batch_size=4", "--eval_batch_size=4",
            "--num_train_epochs=2", "--learning_rate=1e-3",
        ],
    )
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert results["num_examples"] == len(STORIES)
    assert 0.0 <= results["accuracy"] <= 1.0 and results["loss"] > 0
    predictions = [json.loads(line) for line in (output_dir / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == ["q0", "q1", "q2", "q3"]
    for p in predictions:
        assert p["prediction"] == int(np.argmax(p["probabilities"]))
        assert sum(p["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    # The saved preset reproduces the evaluation.
    reloaded_dir = tmp_path / "reloaded"
    common.run_program(
        run_multiple_choice.main,
        [
            "run_multiple_choice", f"--eval_file={train}", f"--preset={output_dir}",
            f"--output_dir={reloaded_dir}", "--do_eval", "--max_seq_length=32",
        ],
    )
    reloaded = json.loads((reloaded_dir / "eval_results.json").read_text())
    assert reloaded["accuracy"] == results["accuracy"]
    assert reloaded["loss"] == pytest.approx(results["loss"], rel=1e-5)


def test_a_bad_predict_file_is_reported_before_training(tmp_path, tiny_model_files, spm_model_path):
    train = write_jsonl(tmp_path / "train.jsonl", STORIES)
    (tmp_path / "test.jsonl").write_text('{"question": "q", "options": "not a list"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"test.jsonl:1: `options` must be a list of strings"):
        common.run_program(
            run_multiple_choice.main,
            [
                "run_multiple_choice", f"--train_file={train}", f"--predict_file={tmp_path / 'test.jsonl'}",
                f"--spm_model_file={spm_model_path}", f"--albert_config_file={tiny_model_files / 'albert_config.json'}",
                f"--output_dir={tmp_path / 'out'}", "--do_train", "--do_predict", "--max_seq_length=32",
            ],
        )
    assert not (tmp_path / "out").exists()  # Nothing was trained.
