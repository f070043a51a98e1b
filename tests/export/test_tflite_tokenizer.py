"""TFLite-friendly tokenization gives AlbertTokenizer's ids and AlbertPreprocessor's packing."""

import json

import numpy as np
import pytest
import sentencepiece
import tensorflow as tf

from export.tflite_tokenizer import TfliteAlbertTokenizer, fold_albert_normalization
from keras_albert.albert_preprocessor import AlbertPreprocessor
from keras_albert.albert_tokenizer import AlbertTokenizer

TRICKY = [
    "Crème  ``Brûlée''  ÀÉÎÕÜ İstanbul ǅ ﬁ ½ Ⅻ \u00a0x\u2003y",
    "ＡＢＣ１２３ it cost $1,000, then 320,000, and 9,",
    "a ¨b",
    "",
    "   ",
    "\x1cx\x85y",
]


@pytest.fixture(scope="module")
def tflite_tokenizer(albert_tokenizer):
    return TfliteAlbertTokenizer(albert_tokenizer)


def real_texts(shared_data_dir, sst2_dev_sentences):
    with open(shared_data_dir / "squad_v1.1_part_a" / "dev-v1.1-part-a.json", encoding="utf-8") as f:
        data = json.load(f)["data"]
    contexts = [p["context"] for article in data[:3] for p in article["paragraphs"]]
    with open(shared_data_dir / "wikitext2" / "wiki.test.raw", encoding="utf-8") as f:
        wiki = [line for line in f.read().splitlines() if line.strip()][:300]
    return sst2_dev_sentences[:300] + contexts + wiki + TRICKY


def ids_of(tflite_tokenizer, texts):
    ids, lengths = tf.function(tflite_tokenizer.tokenize)(tf.constant(texts))
    return [row[:n].tolist() for row, n in zip(ids.numpy(), lengths.numpy())]


def test_tflite_tokenizer_gives_albert_tokenizer_ids_on_real_text(
    tflite_tokenizer, albert_tokenizer, shared_data_dir, sst2_dev_sentences
):
    texts = real_texts(shared_data_dir, sst2_dev_sentences)
    expected = tf.function(albert_tokenizer)(tf.constant(texts)).to_list()
    assert ids_of(tflite_tokenizer, texts) == expected


def test_digit_comma_pieces_are_split_as_albert_does(german_spm_model_path):
    # A real 30k vocabulary with pieces such as "▁2014," (cased).
    tokenizer = AlbertTokenizer(german_spm_model_path, lower_case=False, keep_accents=True)
    tflite_tokenizer = TfliteAlbertTokenizer(tokenizer)
    assert tflite_tokenizer.sentence_piece.replacement_ids.shape[1] > 1  # Some pieces are re-split.
    texts = ["Im Jahr 2014, 2012, und 1,000,000, x9, 320000,", "Müller, Straße 2013,5", ""]
    assert ids_of(tflite_tokenizer, texts) == tokenizer.tokenize_python(texts)


def test_folded_model_keeps_pieces_and_only_changes_the_normalizer(albert_tokenizer):
    folded = fold_albert_normalization(albert_tokenizer.proto)
    original = sentencepiece.SentencePieceProcessor(model_proto=albert_tokenizer.proto)
    model = sentencepiece.SentencePieceProcessor(model_proto=folded)
    assert [model.id_to_piece(i) for i in range(model.get_piece_size())] == [
        original.id_to_piece(i) for i in range(original.get_piece_size())
    ]
    # The folded model normalizes by itself: raw text, ALBERT's ids.
    assert model.encode("Crème BRÛLÉE") == original.encode("creme brulee")


@pytest.mark.heavy
def test_tflite_tokenizer_gives_albert_tokenizer_ids_for_every_code_point(tflite_tokenizer, albert_tokenizer):
    texts = [f"a{chr(c)}b" for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    expected = tf.function(albert_tokenizer)(tf.constant(texts)).to_list()
    got = ids_of(tflite_tokenizer, texts)
    # Unicode 14 capitals that TF's lower-casing misses (see text_normalization).
    mismatched = [texts[i] for i in range(len(texts)) if got[i] != expected[i]]
    assert len(mismatched) <= 50, [hex(ord(t[1])) for t in mismatched[:20]]


@pytest.mark.parametrize("num_segments", [1, 2])
def test_pack_packs_as_albert_preprocessor(albert_tokenizer, tflite_tokenizer, sst2_dev_sentences, num_segments):
    sequence_length = 16
    first = sst2_dev_sentences[:40] + ["", "a"]
    second = sst2_dev_sentences[40:80][::-1] + ["b", ""]
    segments = [first, second][:num_segments]
    preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=sequence_length)
    expected = preprocessor(tuple(tf.constant(s) for s in segments) if num_segments == 2 else tf.constant(first))
    got = tf.function(lambda *texts: tflite_tokenizer.pack([tflite_tokenizer.tokenize(t) for t in texts], sequence_length))(
        *[tf.constant(s) for s in segments]
    )
    for name in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(got[name].numpy(), np.asarray(expected[name]), err_msg=name)
