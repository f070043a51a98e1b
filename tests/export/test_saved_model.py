"""SavedModels for TF Serving: layout, parity with Keras and the task programs, bad input."""

import concurrent.futures
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    LABEL_NAMES,
    SEQUENCE_LENGTH,
    assert_outputs_match,
    informative_weights,
    replay_warmup_requests,
    run_python,
    sharpen_head,
    tiny_backbone,
)

from export.saved_model import (
    WARMUP_TEXTS,
    _warmup_windows,
    export_saved_model,
    next_version,
    read_export_spec,
    read_serving_config,
)
from export.serving_signatures import ServingLimits
from keras_albert import AlbertQuestionAnswerer, question_answering
from keras_albert.task_spec import QuestionAnsweringSpec, TextClassificationSpec
from export.warmup import read_warmup_requests, warmup_path


def test_export_writes_the_layout_tf_serving_loads(classifier_model_base, albert_tokenizer):
    version_dir = classifier_model_base / "1"
    for name in ("saved_model.pb", "variables/variables.index", "assets/spiece.model", "assets/serving_config.json",
                 "assets/task_spec.json"):
        assert (version_dir / name).is_file(), name
    assert os.path.isfile(warmup_path(str(version_dir)))
    assert (version_dir / "assets" / "spiece.model").read_bytes() == albert_tokenizer.proto
    config = read_serving_config(str(version_dir))
    assert config["task"] == "text_classification"
    assert read_export_spec(str(version_dir)) == TextClassificationSpec(labels=tuple(LABEL_NAMES), sequence_length=SEQUENCE_LENGTH)
    assert config["signatures"] == ["serving_default", "token_ids"]
    assert next_version(str(classifier_model_base)) == 2
    # Nothing half-written is left beside the versions.
    assert sorted(os.listdir(classifier_model_base)) == ["1"]


def test_export_refuses_to_overwrite_an_existing_version(text_classifier, albert_tokenizer, classifier_model_base):
    with pytest.raises(ValueError, match="already exists"):
        export_saved_model(text_classifier, albert_tokenizer, str(classifier_model_base), version=1)


def test_string_signature_equals_keras_on_sst2_dev(classifier_signature, keras_classifier_logits, sst2_dev_sentences):
    sentences = sst2_dev_sentences[:200]
    expected = keras_classifier_logits(sentences)
    outputs = classifier_signature(text=tf.constant(sentences))
    np.testing.assert_allclose(outputs["logits"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(outputs["probabilities"].numpy(), tf.nn.softmax(expected).numpy(), atol=1e-6)
    label_ids = np.argmax(expected, axis=-1)
    assert len(set(label_ids)) == 2  # Both classes occur: the comparison means something.
    np.testing.assert_array_equal(outputs["label_ids"].numpy(), label_ids)
    assert [label.decode() for label in outputs["labels"].numpy()] == [LABEL_NAMES[i] for i in label_ids]
    assert outputs["label_names"].numpy()[0].tolist() == [b"negative", b"positive"]


def test_token_ids_signature_equals_keras(classifier_model_base, text_classifier, albert_tokenizer, sst2_dev_sentences):
    from keras_albert.albert_preprocessor import AlbertPreprocessor

    features = AlbertPreprocessor(albert_tokenizer, sequence_length=SEQUENCE_LENGTH)(tf.constant(sst2_dev_sentences[:32]))
    signature = tf.saved_model.load(str(classifier_model_base / "1")).signatures["token_ids"]
    np.testing.assert_allclose(
        signature(**features)["logits"].numpy(), text_classifier.predict(features, verbose=0), atol=1e-5
    )


def test_bad_inputs_get_defined_outputs(classifier_signature, keras_classifier_logits):
    empty = classifier_signature(text=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 2) and empty["labels"].shape == (0,)
    long_text = "a very long review " * 2000
    texts = [b"", b"\xff\xfe not utf-8 \xc3", long_text.encode(), "short".encode(), "Crème brûlée ``x''".encode()]
    outputs = classifier_signature(text=tf.constant(texts))
    assert np.all(np.isfinite(outputs["logits"].numpy()))
    # Invalid UTF-8 is read as `bytes.decode(errors="replace")`; long text is truncated.
    readable = [t.decode("utf-8", errors="replace") for t in texts]
    np.testing.assert_allclose(outputs["logits"].numpy(), keras_classifier_logits(readable), atol=1e-5)
    # Mixed lengths: each row as if sent alone.
    for index, text in enumerate(texts):
        alone = classifier_signature(text=tf.constant([text]))["logits"].numpy()
        np.testing.assert_allclose(alone[0], outputs["logits"].numpy()[index], atol=1e-5)


def test_concurrent_calls_all_get_their_own_answers(classifier_signature, keras_classifier_logits, sst2_dev_sentences):
    sentences = sst2_dev_sentences[:48]
    expected = keras_classifier_logits(sentences)
    batches = [sentences[i : i + 3] for i in range(0, len(sentences), 3)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda batch: classifier_signature(text=tf.constant(batch))["logits"].numpy(), batches))
    np.testing.assert_allclose(np.concatenate(results), expected, atol=1e-5)


def test_warmup_requests_run_against_the_exported_signatures(classifier_model_base):
    loaded = tf.saved_model.load(str(classifier_model_base / "1"))
    requests = read_warmup_requests(str(classifier_model_base / "1"))
    assert len(requests) >= 2
    for signature_name, inputs in requests:
        outputs = loaded.signatures[signature_name](**{k: tf.constant(v) for k, v in inputs.items()})
        assert np.all(np.isfinite(outputs["logits"].numpy()))


def test_warmup_requests_stay_within_the_exports_serving_limits(text_classifier, albert_tokenizer, tmp_path):
    limits = ServingLimits(max_batch_size=2, max_text_chars=200)
    path = export_saved_model(text_classifier, albert_tokenizer, str(tmp_path), sequence_length=SEQUENCE_LENGTH, limits=limits)
    requests = replay_warmup_requests(path)
    texts = [text for _, inputs in requests for text in inputs["text"]]
    assert max(len(inputs["text"]) for _, inputs in requests) == 2
    assert max(len(text.decode()) for text in texts) == 200  # The long warmup text, cut to the limit.


def test_question_answering_warmup_counts_the_windows_the_librarys_encoder_packs(albert_tokenizer, monkeypatch):
    # One window rule: a change to `encode_question_and_context` reaches the warmup too.
    encode = question_answering.encode_question_and_context

    def encode_with_one_more_window(*args, **kwargs):
        windows, info = encode(*args, **kwargs)
        return windows + windows[:1], info

    monkeypatch.setattr(question_answering, "encode_question_and_context", encode_with_one_more_window)
    spec = QuestionAnsweringSpec(sequence_length=48, doc_stride=16, max_query_length=12)
    row = {"question": "What is it?", "context": WARMUP_TEXTS[-1]}
    windows, _ = encode(albert_tokenizer, row["question"], row["context"], 48, 16, 12)
    assert len(windows) > 1
    assert _warmup_windows(spec, albert_tokenizer, row) == len(windows) + 1


def test_question_answering_warmup_within_one_window_per_request_runs_against_the_signature(albert_tokenizer, tmp_path):
    # The empty warmup context is one window in the signature (the Python
    # encoder refuses it), and the long context is halved until it fits.
    reader = AlbertQuestionAnswerer(tiny_backbone(albert_tokenizer, seed=2))
    limits = ServingLimits(max_windows_per_request=1)
    path = export_saved_model(
        reader, albert_tokenizer, str(tmp_path), sequence_length=48, doc_stride=16, max_query_length=12, limits=limits
    )
    requests = replay_warmup_requests(path)  # A request over the limit would be refused here.
    contexts = [[context.decode() for context in inputs["context"]] for _, inputs in requests]
    assert contexts[:2] == [[WARMUP_TEXTS[0]], [""]]
    assert len(contexts) == 3 and WARMUP_TEXTS[-1].startswith(contexts[2][0])
    assert 0 < len(contexts[2][0]) < len(WARMUP_TEXTS[-1])


@pytest.mark.parametrize("task", ["text_pair", "question_answering", "multiple_choice"])
def test_text_inputs_with_different_row_counts_are_refused_naming_them(text_classifier, albert_tokenizer, tmp_path, task):
    import keras_albert

    if task == "text_pair":
        path = export_saved_model(text_classifier, albert_tokenizer, str(tmp_path), sequence_length=SEQUENCE_LENGTH, text_pair=True)
        inputs, message = {"text": ["a", "b"], "text_pair": ["c", "d", "e"]}, r"\[2\] \[rows of text\] \[3\] \[rows of text_pair\]"
    elif task == "question_answering":
        reader = keras_albert.AlbertQuestionAnswerer(tiny_backbone(albert_tokenizer, seed=2))
        path = export_saved_model(reader, albert_tokenizer, str(tmp_path), sequence_length=48, doc_stride=16, max_query_length=12)
        inputs, message = {"question": ["Who?", "Why?"], "context": ["Ann wrote it."]}, r"\[2\] \[rows of question\] \[1\] \[rows of context\]"
    else:
        chooser = keras_albert.AlbertMultipleChoice(tiny_backbone(albert_tokenizer, seed=6))
        path = export_saved_model(chooser, albert_tokenizer, str(tmp_path), sequence_length=32)
        inputs = {"context": ["c"], "question": ["q", "r"], "choices": [["a", "b"], ["c", "d"]]}
        message = r"\[1\] \[rows of context\] \[2\] \[rows of question\] \[2\] \[rows of choices\]"
    signature = tf.saved_model.load(path).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="Inputs of different lengths.*" + message):
        signature(**{name: tf.constant(value) for name, value in inputs.items()})


@pytest.mark.heavy
def test_fresh_process_with_only_tensorflow_and_tensorflow_text_serves_it(
    classifier_model_base, keras_classifier_logits, sst2_dev_sentences, tmp_path
):
    sentences = sst2_dev_sentences[:100]
    (tmp_path / "sentences.json").write_text(json.dumps(sentences))
    code = (
        "import json, sys, numpy as np, tensorflow as tf, tensorflow_text\n"
        "assert not {'keras_albert', 'keras_hub', 'export'} & {m.split('.')[0] for m in sys.modules}\n"
        "f = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "out = f(text=tf.constant(json.load(open(sys.argv[2]))))\n"
        "print(json.dumps(out['logits'].numpy().tolist()))\n"
    )
    stdout = run_python(code, str(classifier_model_base / "1"), str(tmp_path / "sentences.json"), cwd=tmp_path)
    np.testing.assert_allclose(np.array(json.loads(stdout.splitlines()[-1])), keras_classifier_logits(sentences), atol=1e-5)


@pytest.mark.heavy
@pytest.mark.parametrize(
    "task", ["text_classification", "token_classification", "question_answering", "multiple_choice", "pretraining", "backbone"]
)
def test_every_task_model_served_in_a_fresh_process_equals_keras(albert_tokenizer, sst2_dev_sentences, tmp_path, task):
    import keras_albert
    from keras_albert.albert_preprocessor import AlbertPreprocessor

    backbone = tiny_backbone(albert_tokenizer, seed=5)
    model, options = {
        "text_classification": lambda: (keras_albert.AlbertTextClassifier(backbone, num_classes=3), {}),
        "token_classification": lambda: (
            keras_albert.AlbertTokenClassifier(backbone, num_classes=3), {"labels": ["B-x", "I-x", "O"]}
        ),
        "question_answering": lambda: (
            keras_albert.AlbertQuestionAnswerer(backbone), {"max_query_length": 16, "doc_stride": 24}
        ),
        "multiple_choice": lambda: (keras_albert.AlbertMultipleChoice(backbone), {}),
        "pretraining": lambda: (keras_albert.AlbertPretrainer(backbone), {}),
        "backbone": lambda: (backbone, {}),
    }[task]()
    informative_weights(model, seed=5)
    spec = None
    if task == "token_classification":
        from keras_albert.task_spec import TokenClassificationSpec

        spec = TokenClassificationSpec(labels=tuple(options.pop("labels")), sequence_length=SEQUENCE_LENGTH)
    path = export_saved_model(
        model, albert_tokenizer, str(tmp_path / "base"), spec=spec, sequence_length=SEQUENCE_LENGTH, **options
    )
    packed = AlbertPreprocessor(albert_tokenizer, sequence_length=SEQUENCE_LENGTH)(tf.constant(sst2_dev_sentences[:48]))
    features = {name: np.asarray(value) for name, value in packed.items()}
    if task == "multiple_choice":  # 16 questions of 3 choices.
        features = {name: value.reshape(16, 3, -1) for name, value in features.items()}
    elif task == "pretraining":
        features["mask_positions"] = np.tile(np.array([[1, 2, 3]], np.int32), (48, 1))
    np.savez(tmp_path / "features.npz", **features)
    code = (
        "import sys, numpy as np, tensorflow as tf, tensorflow_text\n"
        "f = tf.saved_model.load(sys.argv[1]).signatures['token_ids']\n"
        "features = {k: tf.constant(v) for k, v in np.load(sys.argv[2]).items()}\n"
        "np.savez(sys.argv[3], **{k: v.numpy() for k, v in f(**features).items()})\n"
    )
    run_python(code, path, str(tmp_path / "features.npz"), str(tmp_path / "outputs.npz"), cwd=tmp_path)
    assert_outputs_match(dict(np.load(tmp_path / "outputs.npz")), model.predict(features, verbose=0), atol=1e-5)


@pytest.mark.heavy
def test_saved_model_cli_shows_the_string_and_token_id_signatures(classifier_model_base):
    import subprocess
    import sys

    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run(
        [cli, "show", "--dir", str(classifier_model_base / "1"), "--all"], capture_output=True, text=True, timeout=300
    ).stdout
    assert "signature_def['serving_default']" in shown and "signature_def['token_ids']" in shown
    assert "inputs['text'] tensor_info:\n        dtype: DT_STRING" in shown
    assert "outputs['label_names']" in shown


def wnut_sentences(shared_data_dir, count):
    sentences, words = [], []
    with open(shared_data_dir / "wnut17" / "emerging.dev.conll", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                if words:
                    sentences.append(words)
                    words = []
            else:
                words.append(line.rstrip("\n").split("\t")[0])
    return sentences[:count]


@pytest.mark.heavy
def test_token_classifier_export_tags_and_chunks_as_run_ner(albert_tokenizer, shared_data_dir, tmp_path):
    import keras_albert
    from keras_albert import token_labels
    from keras_albert.task_spec import TokenClassificationSpec

    labels = ["B-location", "I-location", "B-person", "I-person", "O"]
    tagger = keras_albert.AlbertTokenClassifier(tiny_backbone(albert_tokenizer, seed=1), num_classes=len(labels))
    sharpen_head(tagger, "logits")
    sequence_length = 16  # Most sentences need several windows.
    spec = TokenClassificationSpec(labels=tuple(labels), sequence_length=sequence_length)
    path = export_saved_model(tagger, albert_tokenizer, str(tmp_path), spec=spec)
    sentences = wnut_sentences(shared_data_dir, 40) + [[]]
    outputs = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant([" ".join(s) for s in sentences]))
    num_entities = 0
    for index, words in enumerate(sentences):
        n, m = int(outputs["num_words"][index]), int(outputs["num_entities"][index])
        if words:  # What tasks/run_ner.py computes for the sentence.
            pieces, _ = token_labels.tokenize_words(albert_tokenizer, words)
            windows = token_labels.windows_for_words(pieces, sequence_length, 2, 3)
            features = {name: np.zeros((len(windows), sequence_length), np.int32) for name in ("token_ids", "segment_ids", "padding_mask")}
            for row, window in enumerate(windows):
                features["token_ids"][row, : len(window.token_ids)] = window.token_ids
                features["padding_mask"][row, : len(window.token_ids)] = 1
            class_ids = np.argmax(tagger.predict(features, verbose=0), axis=-1)
            tags = [labels[i] for i in token_labels.merge_window_predictions(windows, class_ids, len(words))]
        else:
            tags = []
        spans = token_labels.tags_to_spans(tags)
        assert [t.decode() for t in outputs["word_tags"][index, :n].numpy()] == tags
        got_spans = list(zip(
            [t.decode() for t in outputs["entity_types"][index, :m].numpy()],
            outputs["entity_start_words"][index, :m].numpy().tolist(),
            outputs["entity_end_words"][index, :m].numpy().tolist(),
        ))
        assert got_spans == [tuple(s) for s in spans]
        text = " ".join(words)
        texts = [t.decode() for t in outputs["entity_texts"][index, :m].numpy()]
        starts, ends = outputs["entity_char_starts"][index, :m].numpy(), outputs["entity_char_ends"][index, :m].numpy()
        assert texts == [" ".join(words[s.start_word : s.end_word + 1]) for s in spans]
        assert texts == [text[s:e] for s, e in zip(starts, ends)]
        num_entities += m
    assert num_entities > 10


@pytest.mark.heavy
@pytest.mark.parametrize("version_2_with_negative", [True])
def test_question_answerer_export_answers_as_decode_answer(albert_tokenizer, shared_data_dir, tmp_path, version_2_with_negative):
    import keras_albert
    from keras_albert import question_answering

    reader = keras_albert.AlbertQuestionAnswerer(tiny_backbone(albert_tokenizer, seed=2))
    sharpen_head(reader, "span_logits")
    options = dict(sequence_length=48, doc_stride=16, max_query_length=12, max_answer_length=30, n_best_size=20)
    path = export_saved_model(
        reader, albert_tokenizer, str(tmp_path), version_2_with_negative=version_2_with_negative,
        limits=ServingLimits(max_windows_per_request=1000), **options,  # 25 questions in 319 windows of 48.
    )
    with open(shared_data_dir / "squad_v2.0_part_a" / "dev-v2.0-part-a.json", encoding="utf-8") as f:
        data = json.load(f)["data"]
    examples = [(q["question"], p["context"]) for p in data[0]["paragraphs"][:6] for q in p["qas"][:4]]
    outputs = tf.saved_model.load(path).signatures["serving_default"](
        question=tf.constant([q for q, _ in examples] + ["Where?"]), context=tf.constant([c for _, c in examples] + [""])
    )
    for index, (question, context) in enumerate(examples):
        windows, _ = question_answering.encode_question_and_context(albert_tokenizer, question, context, 48, 16, 12)
        features = {name: np.zeros((len(windows), 48), np.int32) for name in ("token_ids", "segment_ids", "padding_mask")}
        for row, window in enumerate(windows):
            for name in features:
                features[name][row, : len(window[name])] = window[name]
        logits = reader.predict(features, verbose=0)
        answer = question_answering.decode_answer(
            context, windows, logits["start_logits"], logits["end_logits"], version_2_with_negative=version_2_with_negative
        )
        assert outputs["answer_texts"][index].numpy().decode() == answer["text"]
        start, end = int(outputs["answer_char_starts"][index]), int(outputs["answer_char_ends"][index])
        if answer["text"]:
            assert context[start:end] == answer["text"]
        np.testing.assert_allclose(float(outputs["null_odds"][index]), answer["null_odds"], rtol=1e-4, atol=1e-4)
    assert outputs["answer_texts"][-1].numpy() == b"" and not outputs["has_answer"][-1]


@pytest.mark.heavy
def test_embeddings_export_equals_the_backbone(albert_tokenizer, sst2_dev_sentences, tmp_path):
    from keras_albert.albert_preprocessor import AlbertPreprocessor

    backbone = tiny_backbone(albert_tokenizer, seed=3)
    path = export_saved_model(backbone, albert_tokenizer, str(tmp_path), sequence_length=SEQUENCE_LENGTH)
    sentences = sst2_dev_sentences[:50]
    outputs = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(sentences))
    expected = backbone.predict(AlbertPreprocessor(albert_tokenizer, sequence_length=SEQUENCE_LENGTH)(tf.constant(sentences)), verbose=0)
    np.testing.assert_allclose(outputs["pooled_output"].numpy(), expected["pooled_output"], atol=1e-5)
    length = outputs["sequence_output"].shape[1]
    mask = outputs["padding_mask"].numpy()[:, :, None].astype(bool)
    np.testing.assert_allclose(
        np.where(mask, outputs["sequence_output"].numpy(), 0), np.where(mask, expected["sequence_output"][:, :length], 0), atol=1e-5
    )


@pytest.mark.heavy
def test_command_line_exports_a_task_preset_with_its_spec_and_overrides_given_flags(classifier_preset, tmp_path):
    from keras_albert.task_spec import save_task_spec

    preset = classifier_preset
    save_task_spec(preset, TextClassificationSpec(labels=("bad", "good"), sequence_length=SEQUENCE_LENGTH))  # Not the fixture's.
    stdout = run_python(None, "-m", "export.saved_model", f"--preset={preset}", f"--model_base={tmp_path / 'base'}")
    version_dir = stdout.strip().splitlines()[-1]
    assert version_dir == str(tmp_path / "base" / "1")
    assert read_export_spec(version_dir) == TextClassificationSpec(labels=("bad", "good"), sequence_length=SEQUENCE_LENGTH)
    stdout = run_python(
        None, "-m", "export.saved_model", f"--preset={preset}", f"--model_base={tmp_path / 'base'}",
        "--max_seq_length=32", "--text_pair",
    )
    assert read_export_spec(stdout.strip().splitlines()[-1]) == TextClassificationSpec(
        labels=("bad", "good"), sequence_length=32, text_pair=True
    )


def test_an_override_that_contradicts_the_model_is_refused_naming_both_values(classifier_preset, tmp_path):
    from absl import flags

    from export import saved_model

    model, _, spec = saved_model.load_task_preset(str(classifier_preset))
    flag_values = flags.FlagValues()
    flags.DEFINE_integer("max_seq_length", None, "", flag_values=flag_values)
    flags.DEFINE_integer("doc_stride", None, "", flag_values=flag_values)
    flag_values(["export", "--max_seq_length=256"])
    with pytest.raises(ValueError, match=r"--max_seq_length=256 contradicts the model .*sequence_length=64.*256 exceeds the model's 128 positions"):
        saved_model.spec_with_flags(spec, model, flag_values, "preset/task_spec.json")
    flag_values(["export", "--doc_stride=8"])
    flag_values["max_seq_length"].unparse()
    with pytest.raises(ValueError, match=r"--doc_stride does not apply to a 'text_classification' model"):
        saved_model.spec_with_flags(spec, model, flag_values, "preset/task_spec.json")


def test_a_preset_without_a_spec_or_with_one_that_does_not_fit_is_refused(classifier_preset):
    from export import saved_model
    from keras_albert.task_spec import TaskSpecError, save_task_spec

    (classifier_preset / "task_spec.json").unlink()
    with pytest.raises(TaskSpecError, match=r"task_spec\.json not found"):
        saved_model.load_task_preset(str(classifier_preset))
    save_task_spec(classifier_preset, TextClassificationSpec(labels=("a", "b", "c"), sequence_length=SEQUENCE_LENGTH))
    with pytest.raises(TaskSpecError, match=r"task_spec\.json: field 'labels': 3 labels for a head of 2 units"):
        saved_model.load_task_preset(str(classifier_preset))


@pytest.mark.heavy
def test_multiple_choice_export_chooses_as_run_multiple_choice(albert_tokenizer, tmp_path):
    import keras_albert
    from keras_albert.albert_preprocessor import AlbertPreprocessor
    from keras_albert.task_spec import MultipleChoiceSpec
    from tasks.multiple_choice import ChoiceExample
    from tasks.run_multiple_choice import encode_choices

    chooser = informative_weights(keras_albert.AlbertMultipleChoice(tiny_backbone(albert_tokenizer, seed=6)), seed=6)
    spec = MultipleChoiceSpec(num_choices=3, sequence_length=32)
    path = export_saved_model(chooser, albert_tokenizer, str(tmp_path), spec=spec)
    examples = [
        ChoiceExample("q1", "The cat sat on the mat all day long.", "Where did the cat sit?", ("on the mat", "in a tree", "nowhere"), None),
        ChoiceExample("q2", "", "It rained, so _ stayed home.", ("we", "the picnic", "Crème brûlée"), None),
        ChoiceExample("q3", "A long context " * 20, "What is it?", ("a test", "", "long"), None),
    ]
    outputs = tf.saved_model.load(path).signatures["serving_default"](
        context=tf.constant([e.context for e in examples]),
        question=tf.constant([e.question for e in examples]),
        choices=tf.constant([list(e.options) for e in examples]),
    )
    packed = encode_choices(AlbertPreprocessor(albert_tokenizer, sequence_length=32), examples, "test")
    for index in range(len(examples)):
        logits = chooser.predict({name: packed[name][index][None] for name in ("token_ids", "segment_ids", "padding_mask")}, verbose=0)
        np.testing.assert_allclose(outputs["logits"][index].numpy(), logits[0], atol=1e-5)
        np.testing.assert_allclose(outputs["probabilities"][index].numpy(), tf.nn.softmax(logits[0]).numpy(), atol=1e-6)
        assert int(outputs["choice_ids"][index]) == int(np.argmax(logits[0]))
    assert len(set(outputs["choice_ids"].numpy().tolist())) > 1  # Informative weights: choices differ.


@pytest.mark.heavy
def test_fill_mask_export_gives_the_pretrainers_top_pieces_for_every_mask(albert_tokenizer, tmp_path):
    import keras_albert
    from keras_albert.task_spec import PretrainingSpec

    pretrainer = informative_weights(keras_albert.AlbertPretrainer(tiny_backbone(albert_tokenizer, seed=7)), seed=7)
    path = export_saved_model(pretrainer, albert_tokenizer, str(tmp_path), spec=PretrainingSpec(sequence_length=24, top_k=4))
    texts = ["The [MASK] sat on the [MASK].", "[MASK] brûlée", "no mask here", "x " * 40 + "[MASK]"]
    outputs = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(texts))
    assert outputs["num_masks"].numpy().tolist() == [2, 1, 0, 0]  # The last mask is cut off at 24 tokens.
    for index, text in enumerate(texts[:2]):
        # Reference: each part tokenized on its own, [MASK] between them.
        ids = [albert_tokenizer.cls_token_id]
        for number, part in enumerate(text.split("[MASK]")):
            if number:
                ids.append(albert_tokenizer.mask_token_id)
            ids.extend(np.asarray(albert_tokenizer(part)).tolist())
        ids.append(albert_tokenizer.sep_token_id)
        positions = [i for i, token in enumerate(ids) if token == albert_tokenizer.mask_token_id]
        features = {
            "token_ids": np.array([ids], np.int32), "segment_ids": np.zeros((1, len(ids)), np.int32),
            "padding_mask": np.ones((1, len(ids)), np.int32), "mask_positions": np.array([positions], np.int32),
        }
        probabilities = tf.nn.softmax(pretrainer.predict(features, verbose=0)["mlm_logits"][0]).numpy()
        for mask, row in enumerate(probabilities):
            expected_ids = np.argsort(-row, kind="stable")[:4]
            assert outputs["top_k_ids"][index, mask].numpy().tolist() == expected_ids.tolist()
            np.testing.assert_allclose(outputs["top_k_probabilities"][index, mask].numpy(), row[expected_ids], atol=1e-6)
            assert [p.decode() for p in outputs["top_k_pieces"][index, mask].numpy()] == [
                albert_tokenizer.id_to_token(int(i)) for i in expected_ids
            ]
