"""The one window rule: Python reference, graph twin, and the QA/NER windows built on it."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_albert import question_answering, token_labels
from keras_albert.sliding_windows import SlidingWindowsTF, max_context_windows, window_spans


def reference_doc_spans(num_tokens, capacity, stride):
    """The original run_squad.py's `doc_spans` loop, written out again."""
    spans, start = [], 0
    while start < num_tokens:
        length = min(num_tokens - start, capacity)
        spans.append((start, start + length))
        if start + length == num_tokens:
            break
        start += min(length, stride)
    return spans


def reference_is_max_context(spans, span_index, position):
    """The original `_check_is_max_context`, written out again."""
    best_score, best_span_index = None, None
    for index, (start, end) in enumerate(spans):
        if position < start or position >= end:
            continue
        score = min(position - start, end - 1 - position) + 0.01 * (end - start)
        if best_score is None or score > best_score:
            best_score, best_span_index = score, index
    return span_index == best_span_index


def test_window_spans_and_max_context_are_the_originals():
    rng = np.random.default_rng(0)
    for _ in range(300):
        capacity = int(rng.integers(1, 12))
        stride = int(rng.integers(1, capacity + 1))
        num_tokens = int(rng.integers(1, 60))
        spans = window_spans(num_tokens, capacity, stride)
        assert spans == reference_doc_spans(num_tokens, capacity, stride)
        best = max_context_windows(spans, num_tokens)
        for index, (start, end) in enumerate(spans):
            for position in range(start, end):
                assert (best[position] == index) == reference_is_max_context(spans, index, position)


def test_empty_sequences_and_bad_strides():
    assert window_spans(0, 4, 2) == [(0, 0)]
    assert window_spans(0, 4, 2, window_for_empty=False) == []
    assert max_context_windows([(0, 0)], 0).shape == (0,)
    assert window_spans(3, 4, 4) == [(0, 3)]  # Shorter than a window: one window.
    with pytest.raises(ValueError, match=r"`window_stride` must be in \[1, 4\].*window_stride=5"):
        window_spans(9, 4, 5, stride_name="window_stride")
    with pytest.raises(ValueError, match="capacity=0"):
        window_spans(9, 0, 1)


def graph_windows(lengths, capacity, stride, window_for_empty, max_capacity=None):
    windows = SlidingWindowsTF(tf.constant(lengths, tf.int32), capacity, stride, window_for_empty, max_capacity)
    return (
        windows.sequence_ids.numpy(), windows.starts.numpy(), windows.lengths.numpy(),
        windows.is_max_context().numpy(), windows,
    )


@pytest.mark.parametrize("window_for_empty", [False, True])
def test_graph_windows_equal_the_python_reference(window_for_empty):
    rng = np.random.default_rng(1)
    for _ in range(40):
        capacity = int(rng.integers(1, 9))
        stride = int(rng.integers(1, capacity + 1))
        # Empty, shorter than a window and many windows long.
        lengths = [0, int(rng.integers(1, capacity + 1))] + list(rng.integers(0, 40, 3))
        sequence_ids, starts, window_lengths, is_max, windows = graph_windows(lengths, capacity, stride, window_for_empty)
        sequences = [list(rng.integers(5, 99, n)) for n in lengths]
        dense = tf.ragged.constant(sequences, dtype=tf.int32, ragged_rank=1).to_tensor()
        tokens = windows.gather(dense, pad_value=-7).numpy()
        for row, (length, sequence) in enumerate(zip(lengths, sequences)):
            spans = window_spans(int(length), capacity, stride, window_for_empty)
            rows = np.flatnonzero(sequence_ids == row)
            assert [(s, s + n) for s, n in zip(starts[rows], window_lengths[rows])] == spans
            best = max_context_windows(spans, int(length))
            for index, (i, (start, end)) in enumerate(zip(rows, spans)):
                assert is_max[i, : end - start].tolist() == (best[start:end] == index).tolist()
                assert not is_max[i, end - start :].any()
                assert tokens[i].tolist() == sequence[start:end] + [-7] * (capacity - (end - start))


def test_graph_windows_with_a_capacity_per_sequence():
    lengths, capacity, stride = [30, 0, 7, 12], [5, 6, 3, 8], [2, 6, 3, 8]
    sequence_ids, starts, window_lengths, is_max, _ = graph_windows(lengths, capacity, stride, True, max_capacity=8)
    for row in range(len(lengths)):
        spans = window_spans(lengths[row], capacity[row], stride[row])
        rows = np.flatnonzero(sequence_ids == row)
        assert [(s, s + n) for s, n in zip(starts[rows], window_lengths[rows])] == spans
        best = max_context_windows(spans, lengths[row])
        for index, (i, (start, end)) in enumerate(zip(rows, spans)):
            assert is_max[i, : end - start].tolist() == (best[start:end] == index).tolist()


def test_graph_windows_of_an_empty_batch():
    sequence_ids, starts, window_lengths, is_max, _ = graph_windows(np.zeros([0], np.int32), 4, 2, True)
    assert sequence_ids.shape == (0,) and is_max.shape == (0, 4)


def test_graph_windows_are_the_windows_of_windows_for_words():
    rng = np.random.default_rng(1)
    for _ in range(20):
        capacity = int(rng.integers(1, 9))
        stride = int(rng.integers(1, capacity + 1))
        lengths = rng.integers(0, 25, 4)
        sequences = [list(rng.integers(5, 99, n)) for n in lengths]
        dense = tf.ragged.constant(sequences, dtype=tf.int32, ragged_rank=1).to_tensor()
        windows = SlidingWindowsTF(tf.constant(lengths), capacity, stride, window_for_empty=False)
        tokens, is_max = windows.gather(dense).numpy(), windows.is_max_context().numpy()
        sequence_ids, window_lengths = windows.sequence_ids.numpy(), windows.lengths.numpy()
        for row, sequence in enumerate(sequences):
            expected = token_labels.windows_for_words([[t] for t in sequence], capacity + 2, 2, 3, stride)
            got = [i for i in range(len(sequence_ids)) if sequence_ids[i] == row]
            assert len(got) == len(expected)
            for i, window in zip(got, expected):
                assert tokens[i, : window_lengths[i]].tolist() == window.token_ids[1:-1].tolist()
                assert is_max[i, : window_lengths[i]].tolist() == window.is_max_context[1:-1].tolist()


def test_graph_windows_are_the_windows_of_encode_question_and_context(albert_tokenizer, shared_data_dir):
    with open(shared_data_dir / "squad_v2.0_part_a" / "dev-v2.0-part-a.json", encoding="utf-8") as f:
        data = json.load(f)["data"]
    contexts = [paragraph["context"] for article in data for paragraph in article["paragraphs"]][:6]
    questions = ["Who?", "In which year was the thing that happened there built?", "", "Why", "x", "How many?"]
    max_seq_length, doc_stride, max_query_length = 40, 7, 12
    encoded = [question_answering.tokenize_with_offsets(albert_tokenizer, c)[0] for c in contexts]
    question_lengths = np.array([len(albert_tokenizer.tokenize_python(q)[:max_query_length]) for q in questions])
    capacity = max_seq_length - 3 - question_lengths
    dense = tf.ragged.constant([list(ids) for ids in encoded], dtype=tf.int32, ragged_rank=1).to_tensor()
    windows = SlidingWindowsTF(
        tf.constant([len(ids) for ids in encoded]), tf.constant(capacity, tf.int32),
        tf.minimum(tf.constant(capacity, tf.int32), doc_stride), window_for_empty=True, max_capacity=max_seq_length - 3,
    )
    tokens, is_max = windows.gather(dense).numpy(), windows.is_max_context().numpy()
    sequence_ids, window_lengths = windows.sequence_ids.numpy(), windows.lengths.numpy()
    for row, (question, context) in enumerate(zip(questions, contexts)):
        expected, _ = question_answering.encode_question_and_context(
            albert_tokenizer, question, context, max_seq_length, doc_stride, max_query_length
        )
        got = [i for i in range(len(sequence_ids)) if sequence_ids[i] == row]
        assert len(got) == len(expected) > 1
        for i, window in zip(got, expected):
            in_context = window["token_offsets"][:, 0] >= 0
            assert tokens[i, : window_lengths[i]].tolist() == window["token_ids"][in_context].tolist()
            assert is_max[i, : window_lengths[i]].tolist() == window["token_is_max_context"][in_context].tolist()
