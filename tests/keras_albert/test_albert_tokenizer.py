from pathlib import Path

import numpy as np
import pytest
import sentencepiece
import tensorflow as tf

import keras_albert
from keras_albert.albert_tokenizer import AlbertTokenizer
from keras_albert.text_normalization import normalize_text

SPIECE_UNDERLINE = "\u2581"
DIGIT_COMMA_TEXT = "Es kostete 1,000, 2,5 und 1990, am 3/12, 2012, und 2014,"


def reference_encode_pieces(sp_model, text):
    """`encode_pieces` of google-research/albert `tokenization.py`, for str."""
    pieces = sp_model.EncodeAsPieces(text)
    new_pieces = []
    for piece in pieces:
        if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
            cur_pieces = sp_model.EncodeAsPieces(piece[:-1].replace(SPIECE_UNDERLINE, ""))
            if piece[0] != SPIECE_UNDERLINE and cur_pieces[0][0] == SPIECE_UNDERLINE:
                if len(cur_pieces[0]) == 1:
                    cur_pieces = cur_pieces[1:]
                else:
                    cur_pieces[0] = cur_pieces[0][1:]
            cur_pieces.append(piece[-1])
            new_pieces.extend(cur_pieces)
        else:
            new_pieces.append(piece)
    return new_pieces


def reference_ids(model_path, texts, lower_case=True):
    """`encode_ids` after ALBERT's normalization."""
    sp_model = sentencepiece.SentencePieceProcessor(model_file=model_path)
    return [
        [
            sp_model.PieceToId(piece)
            for piece in reference_encode_pieces(sp_model, normalize_text(text, lower_case))
        ]
        for text in texts
    ]


def to_lists(outputs):
    if isinstance(outputs, tf.RaggedTensor):
        return outputs.to_list()
    if isinstance(outputs, list):
        return outputs
    return np.asarray(outputs).tolist()


def test_special_token_ids(albert_tokenizer):
    tokenizer = albert_tokenizer
    assert tokenizer.vocabulary_size() == 6000
    assert (
        tokenizer.pad_token_id,
        tokenizer.unk_token_id,
        tokenizer.cls_token_id,
        tokenizer.sep_token_id,
        tokenizer.mask_token_id,
    ) == (0, 1, 2, 3, 4)
    assert (tokenizer.start_token_id, tokenizer.end_token_id) == (2, 3)
    assert tokenizer.get_vocabulary()[:5] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]


def test_sst2_dev_matches_sentencepiece(albert_tokenizer, spm_model_path, sst2_dev_sentences):
    expected = reference_ids(spm_model_path, sst2_dev_sentences)
    assert len(expected) == 872
    assert albert_tokenizer.tokenize_python(sst2_dev_sentences) == expected
    # Eagerly: one batch, and one sentence at a time.
    assert to_lists(albert_tokenizer(sst2_dev_sentences)) == expected
    assert [to_lists(albert_tokenizer(s)) for s in sst2_dev_sentences[:50]] == expected[:50]
    # Inside tf.data: unbatched elements, and ragged batches.
    dataset = tf.data.Dataset.from_tensor_slices(sst2_dev_sentences)
    assert [ids.tolist() for ids in dataset.map(albert_tokenizer).as_numpy_iterator()] == expected
    batches = dataset.batch(100).map(albert_tokenizer)
    assert [ids for batch in batches for ids in batch.to_list()] == expected


def test_real_30k_model_matches_sentencepiece_on_mrpc(german_spm_model_path, mrpc_dev_sentences):
    tokenizer = AlbertTokenizer(german_spm_model_path, lower_case=False)
    assert tokenizer.vocabulary_size() == 30000
    assert [tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.mask_token_id] == [0, 2, 4]
    expected = reference_ids(german_spm_model_path, mrpc_dev_sentences, lower_case=False)
    assert to_lists(tokenizer(mrpc_dev_sentences)) == expected
    assert tokenizer.tokenize_python(mrpc_dev_sentences) == expected


def test_digit_comma_resplit_matches_original(german_spm_model_path):
    tokenizer = AlbertTokenizer(german_spm_model_path, lower_case=False)
    sp_model = sentencepiece.SentencePieceProcessor(model_file=german_spm_model_path)
    text = normalize_text(DIGIT_COMMA_TEXT, lower_case=False)
    plain = sp_model.EncodeAsPieces(text)
    expected = reference_encode_pieces(sp_model, text)
    # The vocabulary has such pieces, with and without a word start.
    assert "\u25812012," in plain and "/12," in plain
    assert expected != plain
    pieces = tokenizer.tokenize_python(DIGIT_COMMA_TEXT, as_pieces=True)
    assert pieces == expected
    assert "\u25812012," not in pieces and pieces.count(",") > plain.count(",")
    expected_ids = [sp_model.PieceToId(piece) for piece in expected]
    assert to_lists(tokenizer(DIGIT_COMMA_TEXT)) == expected_ids
    dataset = tf.data.Dataset.from_tensors(DIGIT_COMMA_TEXT).map(tokenizer)
    assert next(dataset.as_numpy_iterator()).tolist() == expected_ids


def test_digit_comma_text_on_fixture_vocabulary(albert_tokenizer, spm_model_path):
    text = "1,000, 2,5 and 1990,"
    expected = reference_ids(spm_model_path, [text])
    assert [to_lists(albert_tokenizer(text))] == expected
    assert albert_tokenizer.tokenize_python([text]) == expected


def test_input_forms_and_sequence_length(albert_tokenizer, spm_model_path):
    texts = ["The movie was great.", "  Not  GOOD  at all ."]
    expected = reference_ids(spm_model_path, texts)
    scalar = albert_tokenizer(texts[0])
    assert scalar.shape.rank == 1 and scalar.dtype == "int32"
    assert to_lists(scalar) == expected[0]
    assert to_lists(albert_tokenizer(tf.constant(texts))) == expected
    nested = albert_tokenizer(tf.constant([texts, texts[::-1]]))
    assert to_lists(nested) == [expected, expected[::-1]]

    @tf.function
    def graph_tokenize(inputs):
        return albert_tokenizer(inputs)

    assert graph_tokenize(tf.constant(texts)).to_list() == expected

    padded = AlbertTokenizer(spm_model_path, sequence_length=6)(texts)
    assert to_lists(padded) == [(ids + [0] * 6)[:6] for ids in expected]


def test_detokenize(albert_tokenizer):
    ids = albert_tokenizer(["Hello  World!", "it's fine"])
    assert albert_tokenizer.detokenize(ids) == ["hello world!", "it's fine"]


def test_accepts_path_and_bytes(spm_model_path):
    proto = Path(spm_model_path).read_bytes()
    for source in (Path(spm_model_path), proto):
        assert to_lists(AlbertTokenizer(source)("a b")) == reference_ids(spm_model_path, ["a b"])[0]


def train_tiny_model(path, **options):
    sentences = ["the quick brown fox jumps over the lazy dog"] * 50
    with open(path, "wb") as f:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=f,
            vocab_size=40,
            hard_vocab_limit=False,
            minloglevel=2,
            **options,
        )
    return str(path)


def test_missing_special_pieces_raise(tmp_path):
    default = train_tiny_model(tmp_path / "default.model")
    with pytest.raises(ValueError, match=r"default\.model.*'<pad>' at id 0"):
        AlbertTokenizer(default)
    no_mask = train_tiny_model(
        tmp_path / "no_mask.model",
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        control_symbols="[CLS],[SEP]",
    )
    with pytest.raises(ValueError, match=r"no_mask\.model.*'\[MASK\]' at id 4"):
        AlbertTokenizer(no_mask)
    with pytest.raises(ValueError, match=r"passed as `proto`.*'\[MASK\]'"):
        AlbertTokenizer(Path(no_mask).read_bytes())


def test_invalid_arguments(spm_model_path):
    with pytest.raises(ValueError, match="BOS/EOS"):
        AlbertTokenizer(spm_model_path, add_bos=True)
    with pytest.raises(ValueError, match="integer dtype"):
        AlbertTokenizer(spm_model_path, dtype="string")


def test_config(albert_tokenizer, spm_model_path):
    tokenizer = AlbertTokenizer(spm_model_path, lower_case=False, keep_accents=True)
    config = tokenizer.get_config()
    assert config["lower_case"] is False and config["keep_accents"] is True
    assert config["normalize"] is True
    restored = AlbertTokenizer.from_config(config)
    restored.set_proto(spm_model_path)
    assert to_lists(restored("Été")) == to_lists(tokenizer("Été"))
    assert to_lists(restored("Été")) != to_lists(albert_tokenizer("Été"))


def test_normalize_false_takes_normalized_text(albert_tokenizer, spm_model_path, sst2_dev_sentences):
    texts = sst2_dev_sentences[:100] + ["  Crème ``Brûlée''  1,000, ΟΔΟΣ "]
    tokenizer = AlbertTokenizer(spm_model_path, normalize=False)
    assert tokenizer.get_config()["normalize"] is False
    normalized = [normalize_text(text) for text in texts]
    expected = to_lists(albert_tokenizer(texts))
    assert to_lists(tokenizer(normalized)) == expected
    assert tokenizer.tokenize_python(normalized) == expected


@pytest.mark.parametrize("preset", ["albert_base_v2", "hf://albert/albert-base-v2", "kaggle://keras/albert/x"])
def test_tokenizer_and_preprocessor_presets_never_download(preset, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_ALBERT_PRESETS", str(tmp_path))
    for cls in (keras_albert.AlbertTokenizer, keras_albert.AlbertPreprocessor):
        with pytest.raises(ValueError, match="no converted copy on this machine|never downloads"):
            cls.from_preset(preset)
