"""Serving limits: a request over a limit is refused fast, naming the limit; one within answers as before."""

import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import replay_warmup_requests, run_python, sharpen_head, tiny_backbone

from export.saved_model import export_saved_model, read_serving_config, read_serving_limits
from export.serving_signatures import ServingLimits

TAGS = ("B-person", "I-person", "O")
LIMITS = ServingLimits(max_batch_size=4, max_text_chars=2000, max_windows_per_request=12)


@pytest.fixture(scope="module")
def tagger_exports(albert_tokenizer, tmp_path_factory):
    """One tiny tagger exported twice: with `LIMITS`, and with the defaults."""
    import keras_albert
    from keras_albert.task_spec import TokenClassificationSpec

    tagger = keras_albert.AlbertTokenClassifier(tiny_backbone(albert_tokenizer, seed=3), num_classes=len(TAGS))
    sharpen_head(tagger, "logits")
    spec = TokenClassificationSpec(labels=TAGS, sequence_length=16)
    base = tmp_path_factory.mktemp("ner_limits")
    limited = export_saved_model(tagger, albert_tokenizer, str(base / "limited"), spec=spec, limits=LIMITS)
    default = export_saved_model(tagger, albert_tokenizer, str(base / "default"), spec=spec)
    load = lambda path: tf.saved_model.load(path).signatures["serving_default"]
    return limited, load(limited), load(default)


def refused_quickly(signature, match, **inputs):
    start = time.monotonic()
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        signature(**{name: tf.constant(value) for name, value in inputs.items()})
    return time.monotonic() - start


def test_the_limits_are_recorded_in_the_export(tagger_exports):
    path, _, _ = tagger_exports
    assert read_serving_config(path)["limits"] == {
        "max_batch_size": 4, "max_text_chars": 2000, "max_windows_per_request": 12,
    }
    assert read_serving_limits(path) == LIMITS


def test_a_request_within_the_limits_answers_as_without_them(tagger_exports):
    _, limited, default = tagger_exports
    texts = ["John Smith met Mary Jones in Paris yesterday .", "", "word " * 40]
    got, expected = limited(text=tf.constant(texts)), default(text=tf.constant(texts))
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name].numpy(), expected[name].numpy(), err_msg=name)
    assert int(got["num_words"][2]) == 40


def test_a_100k_character_text_is_refused_before_tagging_naming_the_limit_and_length(tagger_exports):
    _, limited, _ = tagger_exports
    seconds = refused_quickly(limited, r"100000.*characters in one text, more than max_text_chars=2000", text=["abcd " * 20000])
    assert seconds < 5  # Without the limit this tags 20,000 words.


def test_too_many_windows_or_rows_are_refused_naming_the_limit(tagger_exports):
    _, limited, _ = tagger_exports
    # 200 one-piece words in windows of 14 pieces every 7: 28 windows, within 2000 characters.
    refused_quickly(limited, r"windows, more than max_windows_per_request=12", text=["a " * 200])
    refused_quickly(limited, r"\b5\b.*rows, more than max_batch_size=4", text=["a"] * 5)
    assert int(limited(text=tf.constant(["a " * 40]))["num_words"][0]) == 40  # 10 windows: within.


def test_token_ids_signature_is_capped_at_the_batch_limit(tagger_exports):
    path, _, _ = tagger_exports
    token_ids = tf.saved_model.load(path).signatures["token_ids"]
    features = lambda rows: {name: tf.ones([rows, 8], tf.int32) for name in ("token_ids", "segment_ids", "padding_mask")}
    assert token_ids(**features(4))["logits"].shape == (4, 8, len(TAGS))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"rows, more than max_batch_size=4"):
        token_ids(**features(5))


def test_multiple_choice_options_count_as_windows(albert_tokenizer, tmp_path):
    import keras_albert

    chooser = keras_albert.AlbertMultipleChoice(tiny_backbone(albert_tokenizer, seed=7))
    path = export_saved_model(chooser, albert_tokenizer, str(tmp_path), limits=ServingLimits(max_windows_per_request=6))
    choose = tf.saved_model.load(path).signatures["serving_default"]
    request = lambda rows, options: dict(context=["The cat sat."] * rows, question=["Where?"] * rows,
                                         choices=[["mat", "hat", "bed"][:options]] * rows)
    assert choose(**{k: tf.constant(v) for k, v in request(2, 3).items()})["choice_ids"].shape == (2,)
    refused_quickly(choose, r"\b8\b.*windows, more than max_windows_per_request=6", **request(4, 2))


def test_warmup_requests_fit_the_window_limit(tagger_exports):
    path, _, _ = tagger_exports
    requests = replay_warmup_requests(path)  # Windows of 14 pieces every 7, at most 12 a request.
    assert max(len(inputs["text"]) for _, inputs in requests) > 1


def test_warmup_of_multiple_choice_fits_one_window_per_request(albert_tokenizer, tmp_path):
    import keras_albert

    chooser = keras_albert.AlbertMultipleChoice(tiny_backbone(albert_tokenizer, seed=7))
    path = export_saved_model(chooser, albert_tokenizer, str(tmp_path), limits=ServingLimits(max_windows_per_request=1))
    assert all(inputs["choices"].shape == (1, 1) for _, inputs in replay_warmup_requests(path))


@pytest.mark.parametrize("limit", [0, -3, True, 2.5])
def test_limits_must_be_positive_ints_naming_the_flag(limit):
    with pytest.raises(ValueError, match=r"max_text_chars \(--max_text_chars\) must be a positive int"):
        ServingLimits(max_text_chars=limit)


@pytest.mark.heavy
def test_command_line_limit_flags_are_recorded_and_enforced_in_a_fresh_process(classifier_preset, tmp_path):
    stdout = run_python(
        None, "-m", "export.saved_model", f"--preset={classifier_preset}", f"--model_base={tmp_path}",
        "--max_batch_size=3", "--max_text_chars=50", "--max_windows_per_request=9",
    )
    path = stdout.strip().splitlines()[-1]
    assert read_serving_limits(path) == ServingLimits(max_batch_size=3, max_text_chars=50, max_windows_per_request=9)
    code = (
        "import sys, tensorflow as tf, tensorflow_text\n"
        "f = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "print(f(text=tf.constant(['fine', 'x' * 50]))['labels'].shape)\n"
        "try:\n    f(text=tf.constant(['x' * 51]))\n"
        "except tf.errors.InvalidArgumentError as error:\n    print('INVALID_ARGUMENT', 'max_text_chars=50' in error.message)\n"
    )
    assert run_python(code, path, timeout=300).split()[-3:] == ["(2,)", "INVALID_ARGUMENT", "True"]


def test_export_predict_names_the_input_lines_of_a_request_over_the_window_limit(tagger_exports, tmp_path):
    from absl import flags

    from export import predict

    (tmp_path / "input.txt").write_text("Bob lives here\n" + "a " * 200 + "\n", encoding="utf-8")
    flag_values = flags.FlagValues()
    predict.define_flags(flag_values)
    flag_values(["predict", f"--model={tagger_exports[0]}", f"--input={tmp_path / 'input.txt'}",
                 f"--output={tmp_path / 'rows.jsonl'}", "--batch_size=2"])
    with pytest.raises(ValueError, match=r"^input lines 1-2: Serving limit exceeded: the request has \d+ windows, more "
                                         r"than max_windows_per_request=12 .* Pass a smaller --batch_size"):
        predict.predict(flag_values)
