"""The one packer: Python reference, graph twin, and the original truncation rules."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from keras_hub.layers import MultiSegmentPacker

from keras_albert.packing import (
    pack_segments,
    pack_segments_tf,
    place_segment,
    place_segment_tf,
    truncated_lengths,
    truncated_lengths_tf,
)

CLS, SEP, PAD = 2, 3, 0


def reference_truncate_seq_pair(tokens_a, tokens_b, max_length):
    """The original ALBERT/BERT `_truncate_seq_pair`, written out again."""
    tokens_a, tokens_b = list(tokens_a), list(tokens_b)
    while len(tokens_a) + len(tokens_b) > max_length:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()
    return tokens_a, tokens_b


def random_segments(rng, num_segments, batch_size, max_length=15):
    return [[list(rng.integers(5, 99, rng.integers(0, max_length))) for _ in range(batch_size)] for _ in range(num_segments)]


def dense(rows):
    width = max([1] + [len(row) for row in rows])
    values = np.zeros((len(rows), width), np.int32)
    for index, row in enumerate(rows):
        values[index, : len(row)] = row
    return tf.constant(values), tf.constant([len(row) for row in rows], tf.int32)


def test_pack_segments_layout():
    features, starts = pack_segments([[7, 8], [9]], CLS, SEP, sequence_length=8)
    assert features["token_ids"].tolist() == [2, 7, 8, 3, 9, 3, 0, 0]
    assert features["segment_ids"].tolist() == [0, 0, 0, 0, 1, 1, 0, 0]
    assert features["padding_mask"].tolist() == [1, 1, 1, 1, 1, 1, 0, 0]
    assert starts == [1, 4]
    # Without a length: every token, no padding.
    features, starts = pack_segments([[], [9, 9, 9]], CLS, SEP)
    assert features["token_ids"].tolist() == [2, 3, 9, 9, 9, 3] and starts == [1, 2]
    assert all(value.dtype == np.int32 for value in features.values())


def test_pair_truncation_is_the_original_truncate_seq_pair():
    rng = np.random.default_rng(0)
    for _ in range(300):
        a, b = (list(rng.integers(5, 99, rng.integers(0, 20))) for _ in range(2))
        sequence_length = int(rng.integers(3, 30))
        kept_a, kept_b = reference_truncate_seq_pair(a, b, sequence_length - 3)
        features, _ = pack_segments([a, b], CLS, SEP, sequence_length)
        length = len(kept_a) + len(kept_b) + 3
        assert features["token_ids"][:length].tolist() == [CLS] + kept_a + [SEP] + kept_b + [SEP]
        assert features["padding_mask"].sum() == length


def test_truncation_of_any_number_of_segments_is_keras_hub_round_robin():
    rng = np.random.default_rng(1)
    for num_segments in (1, 2, 3):
        packer = MultiSegmentPacker(12, start_value=CLS, end_value=SEP, pad_value=PAD, truncate="round_robin")
        for _ in range(20):
            segments = random_segments(rng, num_segments, 4)
            ragged = [tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1) for rows in segments]
            token_ids, segment_ids = packer(tuple(ragged))
            for row in range(4):
                features, _ = pack_segments([segments[i][row] for i in range(num_segments)], CLS, SEP, 12)
                assert features["token_ids"].tolist() == token_ids[row].numpy().tolist()
                assert features["segment_ids"].tolist() == segment_ids[row].numpy().tolist()


def test_truncated_lengths_by_hand():
    assert truncated_lengths([10, 2, 10], 9) == [4, 2, 3]
    assert truncated_lengths([1, 1], 9) == [1, 1]
    assert truncated_lengths([5, 5], 0) == [0, 0]


@pytest.mark.parametrize("num_segments", [1, 2, 3])
def test_graph_packing_equals_the_python_reference(num_segments):
    rng = np.random.default_rng(num_segments)
    # Room for nothing, short, and long enough for everything.
    for sequence_length in [num_segments + 1, num_segments + 2, 7, 16, 50]:
        segments = random_segments(rng, num_segments, 6)
        segments[0][0] = []  # An empty text.
        expected = [pack_segments([s[row] for s in segments], CLS, SEP, sequence_length) for row in range(6)]
        for length in (sequence_length, tf.constant(sequence_length)):  # Static and computed lengths.
            got, starts = pack_segments_tf([dense(rows) for rows in segments], CLS, SEP, length)
            for name in ("token_ids", "segment_ids", "padding_mask"):
                assert got[name].numpy().tolist() == [e[0][name].tolist() for e in expected], name
            assert np.stack([s.numpy() for s in starts], 1).tolist() == [e[1] for e in expected]


def test_graph_truncated_lengths_equal_the_python_reference():
    rng = np.random.default_rng(5)
    lengths = [rng.integers(0, 30, 64) for _ in range(3)]
    for budget in (0, 1, 7, 40, 100):
        got = np.stack([k.numpy() for k in truncated_lengths_tf([tf.constant(n) for n in lengths], budget)], 1)
        assert got.tolist() == [truncated_lengths([int(n[row]) for n in lengths], budget) for row in range(64)]


def test_place_segment_in_python_and_graph():
    offsets = np.array([[0, 3], [4, 6], [7, 9]], np.int32)
    features, (_, start) = pack_segments([[7], [5, 5, 5]], CLS, SEP)
    placed = place_segment(offsets, start, len(features["token_ids"]), -1)
    assert placed.tolist() == [[-1, -1]] * 3 + offsets.tolist() + [[-1, -1]]
    values = tf.constant([[1, 2, 3], [4, 5, 6]])
    got = place_segment_tf(values, tf.constant([1, 3]), tf.constant([2, 3]), 7, -1).numpy().tolist()
    assert got == [
        place_segment([1, 2], 1, 7, -1).tolist(),
        place_segment([4, 5, 6], 3, 7, -1).tolist(),
    ] == [[-1, 1, 2, -1, -1, -1, -1], [-1, -1, -1, 4, 5, 6, -1]]


def test_no_room_for_the_special_tokens_is_refused():
    with pytest.raises(ValueError, match=r"`sequence_length=2` has no room.*2 segments need 3 positions"):
        pack_segments([[5], [6]], CLS, SEP, sequence_length=2)
    with pytest.raises(ValueError, match="`sequence_length=1`"):
        pack_segments_tf([dense([[5]])], CLS, SEP, sequence_length=1)
    with pytest.raises(ValueError, match="at least one segment"):
        pack_segments([], CLS, SEP)


def test_graph_packing_of_an_empty_batch():
    empty = (tf.zeros([0, 0], tf.int32), tf.zeros([0], tf.int32))
    features, starts = pack_segments_tf([empty, empty], CLS, SEP, 8)
    assert features["token_ids"].shape == (0, 8) and starts[1].shape == (0,)


def test_python_references_run_without_tensorflow():
    # Loaded by path: the package's own `__init__` is not what is tested here.
    code = (
        "import importlib.util, pathlib, sys\n"
        "sys.modules['tensorflow'] = None\n"
        "def load(name):\n"
        "    path = pathlib.Path('keras_albert') / f'{name}.py'\n"
        "    spec = importlib.util.spec_from_file_location(name, path)\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "    return module\n"
        "packing, windows, text = load('packing'), load('sliding_windows'), load('text_normalization')\n"
        "assert packing.pack_segments([[5], [6]], 2, 3, 6)[0]['token_ids'].tolist() == [2, 5, 3, 6, 3, 0]\n"
        "assert windows.max_context_windows(windows.window_spans(5, 3, 2), 5).tolist() == [0, 0, 0, 1, 1]\n"
        "assert text.normalize_text(' Crème ') == 'creme'\n"
        "assert 'tensorflow' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n"
    )
    repository = pathlib.Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=repository)
    assert result.returncode == 0, result.stderr
