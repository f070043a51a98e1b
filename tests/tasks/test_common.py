"""Shared task helpers: flags, model building, length-aware batching, outputs."""

import dataclasses
import json
import types
import sys

import keras
import numpy as np
import pytest
import sentencepiece
from absl import flags

import keras_albert
from keras_albert import training
from tasks import common

common.define_common_flags()


def tiny_albert_config(vocab_size, **overrides):
    """An original-format albert_config.json dict for a tiny model."""
    return {
        "vocab_size": vocab_size,
        "embedding_size": 16,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "num_hidden_groups": 1,
        "inner_group_num": 1,
        **overrides,
    }


def model_flags(**values):
    defaults = dict(preset=None, albert_config_file=None, init_checkpoint=None, max_seq_length=32)
    return types.SimpleNamespace(**{**defaults, **values})


def fake_features(lengths, num_choices=None):
    """Features whose token ids are 10, 11, ... and encode the example index in the first token."""
    features = {name: [] for name in common.FEATURE_NAMES}
    for index, length in enumerate(lengths):
        shape = (length,) if num_choices is None else (num_choices, length)
        token_ids = np.broadcast_to(np.arange(10, 10 + length, dtype=np.int32), shape).copy()
        token_ids[..., 0] = 1000 + index
        features["token_ids"].append(token_ids)
        features["segment_ids"].append(np.zeros(shape, np.int32))
        features["padding_mask"].append(np.ones(shape, np.int32))
    return features


@pytest.fixture(scope="module")
def vocab_size(spm_model_path):
    return sentencepiece.SentencePieceProcessor(model_file=str(spm_model_path)).get_piece_size()


def test_common_flags_use_the_original_albert_names_and_can_be_defined_twice():
    common.define_common_flags()  # A second program in the same process.
    for name in (
        "preset", "albert_config_file", "init_checkpoint", "spm_model_file", "do_train",
        "do_eval", "do_predict", "max_seq_length", "train_batch_size", "eval_batch_size",
        "predict_batch_size", "learning_rate", "num_train_epochs", "warmup_proportion",
        "weight_decay", "output_dir", "seed", "optimizer", "distribution_strategy", "tpu",
        "num_gpus", "mixed_precision", "jit_compile", "steps_per_execution",
    ):
        assert name in flags.FLAGS


def test_run_config_from_flags_explains_what_is_missing_and_reads_every_common_flag():
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["prog", "--output_dir=/tmp/x", "--albert_config_file=c.json"])
    with pytest.raises(ValueError, match="Nothing to do"):
        common.RunConfig.from_flags(flags.FLAGS)
    flags.FLAGS(["prog", "--do_train", "--preset=p", "--output_dir=/tmp/x", "--albert_config_file=c.json"])
    with pytest.raises(ValueError, match="either --preset or --albert_config_file"):
        common.RunConfig.from_flags(flags.FLAGS)
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["prog", "--do_eval", "--preset=p", "--output_dir=/tmp/x", "--train_batch_size=7", "--optimizer=lamb"])
    config = common.RunConfig.from_flags(flags.FLAGS)
    assert (config.do_eval, config.preset, config.train_batch_size, config.optimizer) == (True, "p", 7, "lamb")
    flags.FLAGS.unparse_flags()


def test_training_batches_are_padded_to_bucket_multiples_and_hold_every_example_once():
    lengths = np.random.default_rng(0).integers(3, 65, size=90)
    features = fake_features(lengths)
    dataset = common.training_dataset(features, np.arange(90), batch_size=8, max_seq_length=64, seed=1)
    width = common.bucket_width(64)
    seen = []
    for inputs, labels in dataset:
        token_ids = inputs["token_ids"].numpy()
        assert token_ids.shape[1] % width == 0 and token_ids.shape[1] <= 64
        true_lengths = inputs["padding_mask"].numpy().sum(axis=1)
        # Length-aware: every example of a batch rounds up to the batch's width.
        assert np.all(true_lengths > token_ids.shape[1] - width)
        indices = token_ids[:, 0] - 1000
        np.testing.assert_array_equal(indices, labels.numpy())
        np.testing.assert_array_equal(true_lengths, lengths[indices])
        seen.extend(indices)
    assert sorted(seen) == list(range(90))


def test_training_dataset_knows_its_number_of_batches():
    lengths = np.random.default_rng(1).integers(3, 33, size=50)
    features = fake_features(lengths)
    dataset = common.training_dataset(features, np.zeros(50, np.int32), batch_size=4, max_seq_length=32)
    expected = common.num_length_bucketed_batches(features, 4, 32)
    assert dataset.cardinality().numpy() == expected
    assert sum(1 for _ in dataset) == expected


def test_multiple_choice_features_batch_as_batch_choices_tokens():
    features = fake_features([5, 7, 20], num_choices=4)
    batches = list(common.training_dataset(features, np.array([0, 3, 1]), batch_size=2, max_seq_length=32))
    shapes = sorted(tuple(inputs["token_ids"].shape) for inputs, _ in batches)
    assert shapes == [(1, 4, 24), (2, 4, 8)]


def test_per_token_labels_are_padded_with_the_label_padding_value():
    features = fake_features([3, 5])
    labels = [np.full(3, 7, np.int32), np.full(5, 7, np.int32)]
    (inputs, padded), = list(
        common.training_dataset(features, labels, batch_size=2, max_seq_length=16, label_padding_value=-100)
    )
    assert padded.shape == inputs["token_ids"].shape == (2, 8)
    np.testing.assert_array_equal(padded.numpy() == 7, inputs["padding_mask"].numpy() == 1)
    assert set(padded.numpy()[inputs["padding_mask"].numpy() == 0]) == {-100}


def test_predictions_come_back_in_input_order():
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    # Output: the first token, which encodes the example's index.
    first = keras.layers.Lambda(lambda ids: keras.ops.cast(ids[:, :1], "float32"))(token_ids)
    model = keras.Model({"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}, first)
    lengths = [30, 3, 17, 3, 9, 25, 4]
    outputs = common.predict_in_length_order(model, fake_features(lengths), batch_size=2, max_seq_length=32)
    np.testing.assert_array_equal(outputs[:, 0], 1000 + np.arange(len(lengths)))


def test_encode_segments_packs_pairs_and_counts_truncated_and_empty_texts(albert_tokenizer):
    tokenizer = albert_tokenizer
    texts_a = ["a good film", "", "word " * 40]
    texts_b = ["it was fun", "nothing", "more"]
    preprocessor = keras_albert.AlbertPreprocessor(tokenizer, sequence_length=16)
    features = common.encode_segments(preprocessor, [texts_a, texts_b], split="test")
    assert features["stats"] == {"num_examples": 3, "num_truncated": 1, "num_empty": 1}
    ids_a = tokenizer.tokenize_python(texts_a[0])
    ids_b = tokenizer.tokenize_python(texts_b[0])
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    np.testing.assert_array_equal(features["token_ids"][0], [cls, *ids_a, sep, *ids_b, sep])
    np.testing.assert_array_equal(features["segment_ids"][0], [0] * (len(ids_a) + 2) + [1] * (len(ids_b) + 1))
    # The empty text is kept as [CLS] [SEP] b [SEP]; the long one is cut to 16.
    assert features["token_ids"][1][:2].tolist() == [cls, sep]
    assert len(features["token_ids"][2]) == 16 and features["token_ids"][2][-1] == sep
    assert all(mask.sum() == len(mask) for mask in features["padding_mask"])


def test_build_backbone_from_an_original_albert_config_json(tmp_path):
    path = tmp_path / "albert_config.json"
    path.write_text(json.dumps(tiny_albert_config(100)))
    backbone = common.build_backbone(model_flags(albert_config_file=str(path)))
    assert (backbone.vocabulary_size, backbone.hidden_dim, backbone.embedding_dim) == (100, 32, 16)
    assert backbone.activation == "gelu_approximate"


def test_build_backbone_loads_init_checkpoint_weights(tmp_path):
    config = tmp_path / "albert_config.json"
    config.write_text(json.dumps(tiny_albert_config(100)))
    source = common.build_backbone(model_flags(albert_config_file=str(config)))
    source.save_weights(str(tmp_path / "backbone.weights.h5"))
    source.save_to_preset(str(tmp_path / "preset"))
    for checkpoint in (tmp_path / "backbone.weights.h5", tmp_path / "preset"):
        loaded = common.build_backbone(
            model_flags(albert_config_file=str(config), init_checkpoint=str(checkpoint))
        )
        for expected, actual in zip(source.get_weights(), loaded.get_weights()):
            np.testing.assert_array_equal(expected, actual)


def test_build_backbone_rejects_a_checkpoint_of_unknown_kind_and_a_too_long_max_seq_length(tmp_path):
    config = tmp_path / "albert_config.json"
    config.write_text(json.dumps(tiny_albert_config(100)))
    with pytest.raises(ValueError, match="neither a preset directory"):
        common.build_backbone(model_flags(albert_config_file=str(config), init_checkpoint=str(tmp_path / "nope")))
    backbone = common.build_backbone(model_flags(albert_config_file=str(config)))
    with pytest.raises(ValueError, match="--max_seq_length=128 exceeds the model's 64 positions"):
        common.check_sequence_length(backbone, 128)


def test_check_vocabulary_rejects_a_tokenizer_larger_than_the_embedding(tmp_path, albert_tokenizer, vocab_size):
    config = tmp_path / "albert_config.json"
    config.write_text(json.dumps(tiny_albert_config(vocab_size - 1)))
    backbone = common.build_backbone(model_flags(albert_config_file=str(config)))
    with pytest.raises(ValueError, match="does not belong to this model"):
        common.check_vocabulary(albert_tokenizer, backbone)


def test_optimizer_counts_updates_under_gradient_accumulation():
    config = common.RunConfig(
        output_dir="unused", optimizer="lamb", learning_rate=1e-3, warmup_proportion=0.1, weight_decay=0.01,
        gradient_accumulation_steps=2,
    )
    optimizer = common.create_optimizer(config, num_train_steps=100)
    assert isinstance(optimizer, training.Lamb)
    schedule = optimizer._learning_rate
    assert (schedule.decay_steps, schedule.warmup_steps) == (50, 5)
    # run_glue.sh's --warmup_step: batches, replacing the proportion.
    config = dataclasses.replace(config, warmup_step=30)
    schedule = common.create_optimizer(config, num_train_steps=100)._learning_rate
    assert (schedule.decay_steps, schedule.warmup_steps) == (50, 15)


def test_eval_results_are_json_with_null_for_nan(tmp_path):
    path = common.write_eval_results(str(tmp_path / "out"), {"accuracy": 0.5, "pearson": float("nan")})
    assert json.loads(open(path).read()) == {"accuracy": 0.5, "pearson": None}


@pytest.mark.parametrize(
    "requested, jit_compile, cpu_has_bf16, onednn, expected, warning",
    [
        ("auto", False, True, "1", "mixed_bfloat16", None),
        ("auto", False, False, "1", "float32", None),
        ("auto", False, True, "0", "float32", None),  # bf16 instructions, no kernels using them
        ("auto", True, True, "1", "mixed_bfloat16", "drop --jit_compile"),
        ("float32", True, True, "1", "float32", None),
        ("mixed_bfloat16", False, False, "1", "mixed_bfloat16", None),
        ("mixed_bfloat16", False, True, "0", "mixed_bfloat16", "bf16 is emulated"),
    ],
)
def test_auto_precision_follows_the_cpu_and_warns_when_bf16_will_not_be_fast(
    monkeypatch, requested, jit_compile, cpu_has_bf16, onednn, expected, warning
):
    from absl import logging as absl_logging

    from keras_albert import hardware

    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2"} | ({"avx512_bf16"} if cpu_has_bf16 else set())))
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)
    warnings = []
    monkeypatch.setattr(absl_logging, "warning", lambda message, *args: warnings.append(message % args))
    config = common.RunConfig(output_dir="unused", mixed_precision=requested, jit_compile=jit_compile)
    assert common.dtype_policy_of(config) == expected
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warning in warnings[0]


@pytest.mark.parametrize("onednn, hint", [("0", True), ("1", False)])
def test_auto_precision_says_how_to_get_bf16_where_the_cpu_has_it_but_the_kernels_are_off(monkeypatch, onednn, hint):
    from absl import logging as absl_logging

    from keras_albert import hardware

    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16", "amx_bf16"}))
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)
    infos = []
    monkeypatch.setattr(absl_logging, "info", lambda message, *args: infos.append(message % args))
    common.dtype_policy_of(common.RunConfig(output_dir="unused", mixed_precision="auto"))
    (line,) = [info for info in infos if info.startswith("--mixed_precision=auto")]
    assert ("TF_ENABLE_ONEDNN_OPTS=1" in line) == hint, line


def test_evaluation_results_print_as_an_aligned_table():
    table = common.results_table({"num_examples": 64, "accuracy": 0.515625, "f1": None})
    assert table.splitlines() == [
        "  accuracy      0.5156",
        "  f1            None",
        "  num_examples  64",
    ]


def test_keras_progress_is_one_line_per_epoch_in_a_log_file(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert (common.progress_verbosity(), common.progress_verbosity(inference=True)) == (2, 0)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert (common.progress_verbosity(), common.progress_verbosity(inference=True)) == (1, 1)
