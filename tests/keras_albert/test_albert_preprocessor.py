import json

from ai_edge_litert.interpreter import InterpreterWithCustomOps

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from keras_albert.albert_backbone import AlbertBackbone
from keras_albert.albert_preprocessor import AlbertPreprocessor
from keras_albert.albert_tokenizer import AlbertTokenizer
from keras_albert.text_normalization import normalize_text

CLS, SEP, PAD = 2, 3, 0


def truncate_seq_pair(tokens_a, tokens_b, max_length):
    """`_truncate_seq_pair` of google-research/albert `classifier_utils.py`."""
    while True:
        total_length = len(tokens_a) + len(tokens_b)
        if total_length <= max_length:
            break
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def truncate_longest_first(segments, budget):
    """Any number of segments: drop from the longest, the last one on ties."""
    if len(segments) == 1:
        del segments[0][budget:]
    elif len(segments) == 2:
        truncate_seq_pair(*segments, budget)
    while sum(map(len, segments)) > budget:
        longest = max(map(len, segments))
        [s for s in segments if len(s) == longest][-1].pop()


def truncate_round_robin(segments, budget):
    kept = [0] * len(segments)
    while budget and any(k < len(s) for k, s in zip(kept, segments)):
        for i, segment in enumerate(segments):
            if budget and kept[i] < len(segment):
                kept[i] += 1
                budget -= 1
    for k, segment in zip(kept, segments):
        del segment[k:]


TRUNCATE = {
    "longest_first": truncate_longest_first,
    "round_robin": truncate_round_robin,
}


def reference_pack(segments, sequence_length, truncate):
    """[CLS] a [SEP] b [SEP], as the original `convert_single_example`."""
    segments = [list(s) for s in segments]
    TRUNCATE[truncate](segments, sequence_length - 1 - len(segments))
    token_ids, segment_ids = [CLS], [0]
    for index, segment in enumerate(segments):
        token_ids += segment + [SEP]
        segment_ids += [index] * (len(segment) + 1)
    padding = [0] * (sequence_length - len(token_ids))
    return {
        "token_ids": token_ids + [PAD] * len(padding),
        "segment_ids": segment_ids + padding,
        "padding_mask": [1] * len(token_ids) + padding,
    }


def as_lists(x):
    return {name: np.asarray(value).tolist() for name, value in x.items()}


def stack(examples):
    return {name: [e[name] for e in examples] for name in examples[0]}


@pytest.fixture(scope="module")
def pairs(sst2_dev_sentences):
    return sst2_dev_sentences[:60], sst2_dev_sentences[60:120]


def test_hand_packing(albert_tokenizer):
    a, b = albert_tokenizer.tokenize_python(["the movie", "was great"])
    preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=12)
    x = as_lists(preprocessor(("the movie", "was great")))
    assert x == {
        "token_ids": [2, *a, 3, *b, 3] + [0] * (9 - len(a) - len(b)),
        "segment_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1) + [0] * (9 - len(a) - len(b)),
        "padding_mask": [1] * (len(a) + len(b) + 3) + [0] * (9 - len(a) - len(b)),
    }
    # A lone tuple is segments, never (x, y); `x=` says the same.
    assert as_lists(preprocessor(x=("the movie", "was great"))) == x
    single = as_lists(preprocessor("the movie"))
    assert single["token_ids"] == [2, *a, 3] + [0] * (10 - len(a))
    assert single["segment_ids"] == [0] * 12
    # A pair truncated to the 3 special tokens and one token each at 5.
    short = as_lists(AlbertPreprocessor(albert_tokenizer, sequence_length=5)(("the movie", "was great")))
    assert short == {
        "token_ids": [2, a[0], 3, b[0], 3],
        "segment_ids": [0, 0, 0, 1, 1],
        "padding_mask": [1, 1, 1, 1, 1],
    }


@pytest.mark.parametrize("truncate", ["longest_first", "round_robin"])
@pytest.mark.parametrize("sequence_length", [3, 8, 17, 40])
def test_truncation_matches_python_reference(albert_tokenizer, pairs, truncate, sequence_length):
    first, second = pairs
    ids_first = albert_tokenizer.tokenize_python(first)
    ids_second = albert_tokenizer.tokenize_python(second)
    preprocessor = AlbertPreprocessor(
        albert_tokenizer, sequence_length=sequence_length, truncate=truncate
    )
    got = as_lists(preprocessor((first, second)))
    expected = [reference_pack(s, sequence_length, truncate) for s in zip(ids_first, ids_second)]
    assert got == stack(expected)
    got = as_lists(preprocessor(first))
    assert got == stack([reference_pack([s], sequence_length, truncate) for s in ids_first])


@pytest.mark.parametrize("truncate", ["longest_first", "round_robin"])
def test_three_segments(albert_tokenizer, pairs, truncate):
    first, second = pairs
    segments = (first[:20], second[:20], first[20:40])
    ids = [albert_tokenizer.tokenize_python(list(s)) for s in segments]
    got = as_lists(AlbertPreprocessor(albert_tokenizer, 16, truncate=truncate)(segments))
    assert got == stack([reference_pack(s, 16, truncate) for s in zip(*ids)])


def test_tf_data_matches_eager(albert_tokenizer, pairs):
    first, second = pairs
    labels = np.arange(len(first)) % 2
    preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=24)
    eager_x, eager_y = preprocessor((first, second), labels)
    dataset = tf.data.Dataset.from_tensor_slices(((first, second), labels))
    unbatched = list(dataset.map(preprocessor).as_numpy_iterator())
    assert unbatched[0][0]["token_ids"].shape == (24,)
    assert [y for _, y in unbatched] == labels.tolist()
    assert stack([as_lists(x) for x, _ in unbatched]) == as_lists(eager_x)
    batched_dataset = dataset.batch(16).map(preprocessor)
    batched = list(batched_dataset.as_numpy_iterator())
    assert np.concatenate([x["segment_ids"] for x, _ in batched]).tolist() == as_lists(eager_x)["segment_ids"]
    spec = batched_dataset.element_spec[0]
    assert {name: (s.shape.as_list(), s.dtype) for name, s in spec.items()} == {
        name: ([None, 24], tf.int32) for name in ("token_ids", "segment_ids", "padding_mask")
    }
    assert np.asarray(eager_y).tolist() == labels.tolist()
    # Unlabeled pairs: a 1-tuple element, which tf.data passes as one tuple.
    unlabeled = tf.data.Dataset.from_tensor_slices(((first, second),)).batch(60)
    assert as_lists(next(iter(unlabeled.map(preprocessor)))) == as_lists(eager_x)


def test_input_forms_and_passthrough(albert_tokenizer):
    preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=10)
    expected = as_lists(preprocessor(["a good film", "bad"]))
    assert as_lists(preprocessor(tf.constant(["a good film", "bad"]))) == expected
    assert as_lists(preprocessor("bad")) == {k: v[1] for k, v in expected.items()}
    x, y, sample_weight = preprocessor((["a good film"],), [1], [0.5])
    assert as_lists(x) == {k: v[:1] for k, v in expected.items()}
    assert np.asarray(y).tolist() == [1] and np.asarray(sample_weight).tolist() == [0.5]
    assert all(value.dtype == "int32" for value in x.values())


def test_invalid_arguments(albert_tokenizer):
    with pytest.raises(ValueError, match="`sequence_length` must be at least 3"):
        AlbertPreprocessor(albert_tokenizer, sequence_length=2)
    with pytest.raises(ValueError, match="`truncate` must be one of"):
        AlbertPreprocessor(albert_tokenizer, truncate="longest")


def test_more_segments_than_num_segments_are_refused_naming_both_counts(albert_tokenizer, pairs):
    first, second = pairs
    preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=16, num_segments=2)
    three = (first[:4], second[:4], first[4:8])
    with pytest.raises(ValueError, match="has 2 segment types .* received 3"):
        preprocessor(three)
    with pytest.raises(ValueError, match="has 2 segment types .* received 3"):
        tf.data.Dataset.from_tensor_slices((three,)).map(preprocessor)
    # Up to the limit packs as without one.
    unlimited = AlbertPreprocessor(albert_tokenizer, sequence_length=16)
    assert as_lists(preprocessor((first[:4], second[:4]))) == as_lists(unlimited((first[:4], second[:4])))
    assert as_lists(preprocessor(first[:4])) == as_lists(unlimited(first[:4]))
    with pytest.raises(ValueError, match="`num_segments` must be a positive int or None"):
        AlbertPreprocessor(albert_tokenizer, num_segments=0)


def test_num_segments_round_trips_through_the_config(albert_tokenizer):
    preprocessor = AlbertPreprocessor(albert_tokenizer, sequence_length=16, num_segments=2)
    assert preprocessor.get_config()["num_segments"] == 2
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(preprocessor))
    assert isinstance(restored, AlbertPreprocessor) and restored.num_segments == 2
    assert AlbertPreprocessor.from_config(AlbertPreprocessor(albert_tokenizer).get_config()).num_segments is None


def test_preset_preprocessor_takes_its_backbones_num_segments(spm_model_path, pairs, tmp_path):
    """A preprocessor saved without a limit, or not saved at all (built from
    the preset's tokenizer), refuses segments the preset's backbone has no
    embedding for."""
    tokenizer = AlbertTokenizer(spm_model_path)
    backbone = AlbertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, embedding_dim=8,
        hidden_dim=16, intermediate_dim=32, max_sequence_length=20, num_segments=3,
    )  # fmt: skip
    backbone.save_to_preset(tmp_path)
    tokenizer.save_to_preset(tmp_path)
    four = (pairs[0][:2], pairs[1][:2], pairs[0][2:4], pairs[1][2:4])
    from_tokenizer = AlbertPreprocessor.from_preset(str(tmp_path))
    assert from_tokenizer.num_segments == 3
    with pytest.raises(ValueError, match="has 3 segment types .* received 4"):
        from_tokenizer(four)
    AlbertPreprocessor(tokenizer, sequence_length=20).save_to_preset(tmp_path)
    restored = AlbertPreprocessor.from_preset(str(tmp_path))
    assert restored.num_segments == 3
    assert max(as_lists(restored(four[:3]))["segment_ids"][0]) == 2
    assert AlbertPreprocessor.from_preset(str(tmp_path), num_segments=None).num_segments is None


def test_preset_round_trip(spm_model_path, pairs, tmp_path):
    tokenizer = AlbertTokenizer(spm_model_path, lower_case=False)
    preprocessor = AlbertPreprocessor(tokenizer, sequence_length=20, truncate="longest_first")
    backbone = AlbertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        embedding_dim=8,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=20,
    )
    backbone.save_to_preset(tmp_path)
    preprocessor.save_to_preset(tmp_path)
    assert (tmp_path / "assets" / "tokenizer" / "vocabulary.spm").read_bytes() == tokenizer.proto
    assert json.loads((tmp_path / "tokenizer.json").read_text())["config"]["lower_case"] is False

    restored = AlbertPreprocessor.from_preset(str(tmp_path))
    assert isinstance(restored, AlbertPreprocessor)
    assert (restored.sequence_length, restored.truncate) == (20, "longest_first")
    assert restored.tokenizer.lower_case is False
    texts = (pairs[0][:5], ["Some Cased TEXT, with 1,000, commas"] * 5)
    assert as_lists(restored(x=texts)) == as_lists(preprocessor(x=texts))
    restored_tokenizer = AlbertTokenizer.from_preset(str(tmp_path))
    assert restored_tokenizer.tokenize_python(texts[1]) == tokenizer.tokenize_python(texts[1])
    # The restored pair feeds the restored backbone.
    outputs = AlbertBackbone.from_preset(str(tmp_path))(restored(x=texts))
    assert outputs["pooled_output"].shape == (5, 16)


@pytest.mark.heavy
def test_tflite_graph_with_normalize_false(spm_model_path, pairs):
    """Tokenizer + packing run in TFLite: builtins and TF Text kernels only."""
    tokenizer = AlbertTokenizer(spm_model_path, normalize=False)
    preprocessor = AlbertPreprocessor(tokenizer, sequence_length=24)

    class Module(tf.Module):
        def __init__(self):
            self.preprocessor = preprocessor

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2)
        def pack(self, a, b):
            return self.preprocessor(x=(a, b))

    module = Module()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.pack.get_concrete_function()], module
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True
    interpreter = InterpreterWithCustomOps(
        model_content=converter.convert(),
        custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS,
    )
    a = np.array([normalize_text(s) for s in pairs[0][:8]], dtype=object)
    b = np.array([normalize_text(s) for s in pairs[1][:8]], dtype=object)
    got = interpreter.get_signature_runner()(a=a, b=b)
    # The ids of the normalizing preprocessor on the raw text.
    normalizing = AlbertPreprocessor(AlbertTokenizer(spm_model_path), sequence_length=24)
    expected = as_lists(normalizing(x=(pairs[0][:8], pairs[1][:8])))
    assert as_lists(preprocessor(x=(a, b))) == expected
    assert {name: value.tolist() for name, value in got.items()} == expected
