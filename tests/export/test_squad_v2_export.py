"""The original SQuAD v2.0 head (beam, answer class) exported with raw-text signatures."""

import json

import numpy as np
import pytest
from conftest import informative_weights, json_lines, run_python, tiny_backbone

SEQUENCE_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH = 48, 16, 12


def window_features(windows):
    features = {name: np.zeros((len(windows), SEQUENCE_LENGTH), np.int32) for name in ("token_ids", "segment_ids", "padding_mask")}
    for row, window in enumerate(windows):
        for name in features:
            features[name][row, : len(window[name])] = window[name]
    return features


@pytest.mark.heavy
def test_original_head_exported_with_only_its_preset_answers_as_decode_beam_answer(albert_tokenizer, shared_data_dir, tmp_path):
    from keras_albert import question_answering
    from keras_albert.albert_preprocessor import AlbertPreprocessor
    from keras_albert.albert_squad_v2_question_answerer import AlbertSquadV2QuestionAnswerer
    from keras_albert.squad_v2_answers import decode_beam_answer
    from keras_albert.task_spec import SquadV2QuestionAnsweringSpec, save_task_spec

    reader = AlbertSquadV2QuestionAnswerer(tiny_backbone(albert_tokenizer, seed=4), start_n_top=3, end_n_top=2)
    informative_weights(reader, seed=4)
    with open(shared_data_dir / "squad_v2.0_part_a" / "dev-v2.0-part-a.json", encoding="utf-8") as f:
        data = json.load(f)["data"]
    examples = [(q["question"], p["context"]) for p in data[0]["paragraphs"][:5] for q in p["qas"][:3]]
    beams = []
    for question, context in examples:
        windows, _ = question_answering.encode_question_and_context(
            albert_tokenizer, question, context, SEQUENCE_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH
        )
        beams.append((context, windows, reader.predict(window_features(windows), verbose=0)))
    # A threshold between the questions' null scores: some are answered, some not.
    threshold = float(np.median([beam["cls_logits"].min() for _, _, beam in beams]))
    options = dict(n_best_size=20, max_answer_length=30, version_2_with_negative=True, null_score_diff_threshold=threshold)
    expected = [decode_beam_answer(context, windows, beam, **options) for context, windows, beam in beams]
    assert 0 < sum(bool(answer["text"]) for answer in expected) < len(expected)

    preset = tmp_path / "preset"
    reader.preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=SEQUENCE_LENGTH)
    reader.save_to_preset(str(preset))
    save_task_spec(preset, SquadV2QuestionAnsweringSpec(
        sequence_length=SEQUENCE_LENGTH, doc_stride=DOC_STRIDE, max_query_length=MAX_QUERY_LENGTH,
        start_n_top=3, end_n_top=2, **options,
    ))
    stdout = run_python(None, "-m", "export.saved_model", f"--preset={preset}", f"--model_base={tmp_path / 'base'}")
    path = stdout.strip().splitlines()[-1]

    # export.predict in a fresh process: the question_answering schema.
    requests = [{"question": q, "context": c} for q, c in examples] + [{"question": "Where?", "context": ""}]
    stdout = run_python(
        None, "-m", "export.predict", f"--model={path}",
        stdin="".join(f"{request['question']}\t{request['context']}\n" for request in requests),
    )
    rows = json_lines(stdout)
    assert len(rows) == len(requests)
    for row, answer in zip(rows, expected):
        assert set(row) == {"answer_text", "has_answer", "null_odds"}
        assert row["answer_text"] == answer["text"]
        assert row["has_answer"] == bool(answer["text"])
        np.testing.assert_allclose(row["null_odds"], answer["null_odds"], rtol=1e-4, atol=1e-4)
    assert rows[-1]["answer_text"] == "" and not rows[-1]["has_answer"]


def test_original_head_tflite_is_refused_naming_the_head_and_the_way_to_serve_it(albert_tokenizer):
    # Its token-id conversion fails: Einsum and StridedSlice need Flex ops.
    from export import tflite
    from keras_albert.albert_squad_v2_question_answerer import AlbertSquadV2QuestionAnswerer

    reader = AlbertSquadV2QuestionAnswerer(tiny_backbone(albert_tokenizer, seed=5), start_n_top=3, end_n_top=2)
    with pytest.raises(ValueError, match=r"'squad_v2_question_answering'.*no TFLite model.*export\.saved_model"):
        tflite.convert_to_tflite(reader, "float32")
