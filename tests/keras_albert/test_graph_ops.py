"""The graph twins (keras_albert/graph_*.py) of the task rules equal their Python originals."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_albert.graph_answer_spans import AnswerSpanDecoder
from keras_albert.graph_entity_spans import EntitySpanDecoder
from keras_albert.graph_piece_offsets import WordPieceOffsets
from keras_albert.graph_text import byte_to_char_offsets, repair_utf8, split_words
from keras_albert import question_answering, token_labels

TRICKY_TEXT = "``Crème'' brûlée\u00a0 ΟΔΟΣ ǅx ﬁne ½ 1,000, x9, 日本語x日本 a¨b İstanbul ▁ \x1cq 😀!"


def squad_contexts(shared_data_dir, count):
    with open(shared_data_dir / "squad_v2.0_part_a" / "dev-v2.0-part-a.json", encoding="utf-8") as f:
        data = json.load(f)["data"]
    return [paragraph["context"] for article in data for paragraph in article["paragraphs"]][:count]


def test_repair_utf8_replaces_invalid_bytes_as_python_decode_replace():
    cases = [b"\xff\xfeabc\xe2\x82", b"a\xed\xa0\x80b", b"\xc0\xafz", b"\xe2\x82\xe2\x82\xac", b"", "café 😀".encode()]
    repaired = repair_utf8(tf.constant(cases)).numpy()
    assert [r.decode("utf-8") for r in repaired] == [c.decode("utf-8", errors="replace") for c in cases]


def test_split_words_gives_the_character_spans_of_question_answering_split_words():
    texts = [TRICKY_TEXT, "", "   ", " a  b ", "x\u2028y\x85z"]
    words = split_words(tf.constant(texts))
    for index, text in enumerate(texts):
        spans = list(zip(words["char_starts"][index].numpy().tolist(), words["char_ends"][index].numpy().tolist()))
        assert spans == question_answering.split_words(text)
        assert [w.decode() for w in words["words"][index].numpy()] == [text[s:e] for s, e in spans]


def test_byte_to_char_offsets_counts_characters_before_each_byte():
    text = "aé😀b"
    offsets = byte_to_char_offsets(tf.constant([text]), tf.constant([[0, 1, 3, 7, 8]]))
    assert offsets.numpy().tolist() == [[0, 1, 2, 3, 4]]


@pytest.mark.parametrize("scheme", ["IOB2", "BIOES"])
def test_entity_span_decoder_chunks_random_tags_as_tags_to_spans(scheme):
    types = ["PER", "LOC", "creative-work"]
    prefixes = ["B", "I"] + (["E", "S"] if scheme == "BIOES" else [])
    labels = [f"{p}-{t}" for t in types for p in prefixes] + ["O"]
    decoder = EntitySpanDecoder(labels)
    rng = np.random.default_rng(0)
    tag_ids = rng.integers(0, len(labels), (64, 10))
    num_words = rng.integers(0, 11, 64)
    spans = decoder(tf.constant(tag_ids), tf.constant(num_words))
    for row in range(64):
        tags = [labels[i] for i in tag_ids[row, : num_words[row]]]
        got = list(
            zip(
                [t.decode() for t in spans["entity_types"][row].numpy()],
                spans["entity_start_words"][row].numpy().tolist(),
                spans["entity_end_words"][row].numpy().tolist(),
            )
        )
        assert got == [tuple(span) for span in token_labels.tags_to_spans(tags, scheme)], tags


def test_entity_span_decoder_handles_an_empty_batch():
    spans = EntitySpanDecoder(["B-x", "I-x", "O"])(tf.zeros([0, 0], tf.int32), tf.zeros([0], tf.int32))
    assert spans["entity_types"].shape[0] == 0


def test_word_piece_offsets_are_those_of_tokenize_with_offsets(albert_tokenizer, shared_data_dir):
    contexts = squad_contexts(shared_data_dir, 40) + [TRICKY_TEXT]
    words = [c[s:e] for c in contexts for s, e in question_answering.split_words(c)]
    offsets = WordPieceOffsets(albert_tokenizer)

    @tf.function
    def spans(batch):
        ids = albert_tokenizer(batch)
        return offsets(batch, ids)

    starts, ends = spans(tf.constant(words))
    starts, ends = starts.to_list(), ends.to_list()
    for index, word in enumerate(words):
        _, expected = question_answering.tokenize_with_offsets(albert_tokenizer, word)
        assert list(zip(starts[index], ends[index])) == [tuple(span) for span in expected.tolist()], word


@pytest.mark.parametrize("version_2_with_negative", [False, True])
@pytest.mark.parametrize("n_best_size", [5, 1])
def test_answer_span_decoder_answers_as_decode_answer(
    albert_tokenizer, shared_data_dir, version_2_with_negative, n_best_size
):
    contexts = squad_contexts(shared_data_dir, 5) + ["Short.", "a b c"]
    rng = np.random.default_rng(2)
    length = 32
    decoder = AnswerSpanDecoder(
        n_best_size=n_best_size, max_answer_length=6, version_2_with_negative=version_2_with_negative
    )
    all_starts, all_ends, offsets, is_max, question_ids, expected = [], [], [], [], [], []
    for question_index, context in enumerate(contexts):
        windows, _ = question_answering.encode_question_and_context(
            albert_tokenizer, "What is it?", context, length, doc_stride=9, max_query_length=8
        )
        starts = [rng.normal(size=length).astype(np.float32) * 3 for _ in windows]
        ends = [rng.normal(size=length).astype(np.float32) * 3 for _ in windows]
        answer = question_answering.decode_answer(
            context, windows, starts, ends, n_best_size=n_best_size, max_answer_length=6,
            version_2_with_negative=version_2_with_negative,
        )
        expected.append(answer)
        for window, s, e in zip(windows, starts, ends):
            pad = length - len(window["token_offsets"])
            all_starts.append(s)
            all_ends.append(e)
            offsets.append(np.pad(window["token_offsets"], [(0, pad), (0, 0)], constant_values=-1))
            is_max.append(np.pad(window["token_is_max_context"], (0, pad)))
            question_ids.append(question_index)
    got = decoder(
        tf.constant(np.array(all_starts)), tf.constant(np.array(all_ends)), tf.constant(np.array(offsets, np.int32)),
        tf.constant(np.array(is_max)), tf.constant(question_ids, tf.int32), len(contexts),
    )
    for index, (context, answer) in enumerate(zip(contexts, expected)):
        start, end = int(got["answer_char_starts"][index]), int(got["answer_char_ends"][index])
        text = context[start:end] if got["has_answer"][index] else ""
        assert text == answer["text"]
        if np.isfinite(answer["null_odds"]):
            np.testing.assert_allclose(float(got["null_odds"][index]), answer["null_odds"], rtol=1e-5, atol=1e-5)
        else:
            assert np.isinf(got["null_odds"][index])
