"""`BeamAnswerSpanDecoder` (TF graph) against `decode_beam_answer` (Python), on random beams."""

import numpy as np
import pytest
import tensorflow as tf

from keras_albert.graph_beam_answer_spans import BeamAnswerSpanDecoder
from keras_albert.squad_v2_answers import decode_beam_answer

T = 14
START_N_TOP, END_N_TOP = 4, 3


def make_question(rng, context_words):
    """A context of one-token words (some tokens bare: no characters) and 1-3 windows over it."""
    context = " ".join(f"w{i}" for i in range(context_words))
    offsets, position = [], 0
    for i in range(context_words):
        word = f"w{i}"
        bare = rng.random() < 0.15
        offsets.append((position, position) if bare else (position, position + len(word)))
        position += len(word) + 1
    windows = []
    question_length = int(rng.integers(1, 4))
    room = T - question_length - 3
    for first in range(0, max(1, context_words - room + 1), 5)[:3]:
        window_offsets = offsets[first : first + room]
        length = question_length + len(window_offsets) + 3
        token_offsets = np.full((length, 2), -1, np.int32)
        token_offsets[question_length + 2 : length - 1] = window_offsets
        is_max_context = np.zeros(length, bool)
        is_max_context[question_length + 2 : length - 1] = rng.random(len(window_offsets)) < 0.8
        windows.append({"token_offsets": token_offsets, "token_is_max_context": is_max_context})
    return context, windows


def random_beam(rng, num_windows):
    # Log-probs rounded to one decimal: equal scores test the tie order.
    return {
        "start_top_index": rng.integers(0, T, (num_windows, START_N_TOP)).astype("int32"),
        "start_top_log_probs": np.round(-rng.random((num_windows, START_N_TOP)) * 3, 1).astype("float32"),
        "end_top_index": rng.integers(0, T, (num_windows, START_N_TOP * END_N_TOP)).astype("int32"),
        "end_top_log_probs": np.round(-rng.random((num_windows, START_N_TOP * END_N_TOP)) * 3, 1).astype("float32"),
        "cls_logits": rng.normal(0, 2, num_windows).astype("float32"),
    }


@pytest.mark.parametrize("version_2_with_negative", [True, False])
def test_graph_decoder_gives_python_decodings_answers(version_2_with_negative):
    rng = np.random.default_rng(3)
    questions = [make_question(rng, int(rng.integers(3, 25))) for _ in range(40)]
    beams = [random_beam(rng, len(windows)) for _, windows in questions]
    for question_beam in beams[::4]:  # Null scores at the threshold answer.
        question_beam["cls_logits"][:] = 0.5
    token_offsets, is_max_context, question_ids = [], [], []
    for question_index, (_, windows) in enumerate(questions):
        for window in windows:
            padding = T - len(window["token_offsets"])
            token_offsets.append(np.pad(window["token_offsets"], [(0, padding), (0, 0)], constant_values=-1))
            is_max_context.append(np.pad(window["token_is_max_context"], [(0, padding)]))
            question_ids.append(question_index)
    beam = {name: np.concatenate([b[name] for b in beams]) for name in beams[0]}
    decoder = BeamAnswerSpanDecoder(
        max_answer_length=4, version_2_with_negative=version_2_with_negative, null_score_diff_threshold=0.5
    )
    outputs = decoder(
        {name: tf.constant(value) for name, value in beam.items()},
        tf.constant(np.stack(token_offsets)),
        tf.constant(np.stack(is_max_context)),
        tf.constant(question_ids, tf.int32),
        len(questions),
    )
    outputs = {name: value.numpy() for name, value in outputs.items()}

    num_answered = 0
    for index, ((context, windows), question_beam) in enumerate(zip(questions, beams)):
        expected = decode_beam_answer(
            context, windows, question_beam, n_best_size=5, max_answer_length=4,
            version_2_with_negative=version_2_with_negative, null_score_diff_threshold=0.5,
        )
        start, end = outputs["answer_char_starts"][index], outputs["answer_char_ends"][index]
        assert outputs["has_answer"][index] == bool(expected["text"])
        assert (context[start:end] if start >= 0 else "") == expected["text"]
        assert outputs["null_odds"][index] == pytest.approx(expected["null_odds"], abs=1e-6)
        if expected["text"]:
            best = expected["nbest"][0]
            best_score = best["start_log_prob"] + best["end_log_prob"]
            assert outputs["answer_scores"][index] == pytest.approx(best_score, abs=1e-5)
            num_answered += 1
    # The random beams exercise answers, "no answer" and questions without a valid pair.
    assert 5 < num_answered < len(questions)


def test_empty_batch_gives_empty_answers():
    beam = {
        "start_top_index": tf.zeros([0, 2], tf.int32), "start_top_log_probs": tf.zeros([0, 2]),
        "end_top_index": tf.zeros([0, 4], tf.int32), "end_top_log_probs": tf.zeros([0, 4]),
        "cls_logits": tf.zeros([0]),
    }
    outputs = BeamAnswerSpanDecoder()(
        beam, tf.zeros([0, 5, 2], tf.int32), tf.zeros([0, 5], tf.bool), tf.zeros([0], tf.int32), 0
    )
    assert all(value.shape == (0,) for value in outputs.values())
