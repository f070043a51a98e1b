"""Mutation check: the parity tests catch the ALBERT bugs they exist for.

Each mutant is a known way to get ALBERT wrong, injected with `monkeypatch`
(so the library is untouched afterwards, and has no mutation hooks). Each
test case runs one real parity test of the suite under one mutant and
asserts that it fails; its id reads `<mutant>-killed_by-<check>`, so the
test output says which mutant each check kills. A mutant every check
survives means the checks are too weak (e.g. weights too small to tell a
right model from a wrong one), not that the mutant is harmless. Unmutated,
every check passes as its own test in the suite.
"""

import dataclasses
import functools
import os
import sys

import keras
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

# The checks are the suite's own parity tests, imported from their modules
# (pytest puts each test folder on sys.path; the converter and layer
# tests' folders are added here for running this file alone).
for folder in ("convert", "layers"):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), folder))
import test_albert_backbone  # noqa: E402
import test_huggingface_conversion  # noqa: E402
import test_keras_hub_conversion  # noqa: E402
import test_tf1_conversion  # noqa: E402
import test_tensorflow_fusions  # noqa: E402

from keras_albert.convert import huggingface, keras_hub_preset, tf1  # noqa: E402
from keras_albert.layers import activations, factorized_embedding, transformer_layer, tensorflow_fusions  # noqa: E402
from keras_albert.layers.shared_group_encoder import SharedGroupEncoder  # noqa: E402

AlbertTransformerLayer = transformer_layer.AlbertTransformerLayer


# === Checks: the suite's parity tests, called as functions ===


def backbone_vs_huggingface(tmp_path, monkeypatch):
    # Every configuration: groups, E == H (no-op-looking projection), GELUs.
    for case in sorted(test_albert_backbone.PARITY_CONFIGS):
        test_albert_backbone.test_outputs_match_huggingface_albert_model_within_1e5(case)


def question_answerer_from_huggingface(tmp_path, monkeypatch):
    test_huggingface_conversion.test_every_head_converts_to_a_preset_matching_huggingface(
        "AlbertForQuestionAnswering", tmp_path
    )


def ours_to_huggingface_to_ours(tmp_path, monkeypatch):
    test_huggingface_conversion.test_ours_to_huggingface_to_ours_is_bit_exact(
        "question_answering", {}, tmp_path
    )


def text_classifier_from_tf1(tmp_path, monkeypatch):
    test_tf1_conversion.test_classifier_checkpoint_restores_its_head_from_the_preset(tmp_path)


def ours_to_tf1_to_ours(tmp_path, monkeypatch):
    test_tf1_conversion.test_ours_to_tf1_to_ours_is_bit_exact(
        "text_classification", {"num_classes": 3}, tmp_path
    )


def backbone_from_keras_hub(tmp_path, monkeypatch):
    test_keras_hub_conversion.test_keras_hub_backbone_preset_converts_and_matches_keras_hub(tmp_path)


def classifier_exported_to_keras_hub(tmp_path, monkeypatch):
    test_keras_hub_conversion.test_exported_keras_hub_model_gives_our_outputs(
        "text_classification", {"num_classes": 3}
    )


def training_attention_path(tmp_path, monkeypatch):
    test_albert_backbone.test_training_attention_path_equals_the_fused_path_on_a_v1_config(monkeypatch)


def training_gelu(tmp_path, monkeypatch):
    test_tensorflow_fusions.test_training_bias_gelu_has_the_tanh_gelu_values_and_gradients("float32", 1e-5)


def training_layer_norm(tmp_path, monkeypatch):
    test_tensorflow_fusions.test_training_layer_norm_has_the_layer_norm_values_and_gradients(
        (2, 3, 24), "residual and bias"
    )


def training_block(tmp_path, monkeypatch):
    test_tensorflow_fusions.test_a_training_pass_of_the_block_has_the_inference_pass_values_and_gradients(0.0)


# === Mutants: each patches one thing the way a real bug would ===


def attention_scale_1_over_sqrt_hidden(monkeypatch):
    """Scores scaled by 1/sqrt(H) instead of 1/sqrt(head_dim)."""
    attend = AlbertTransformerLayer._attend

    def mutant(self, query, key, value, mask, training):
        query = query * keras.ops.cast((self.head_dim / self.hidden_dim) ** 0.5, query.dtype)
        return attend(self, query, key, value, mask, training)

    monkeypatch.setattr(AlbertTransformerLayer, "_attend", mutant)


def training_path_attention_scale_1_over_sqrt_hidden(monkeypatch):
    """The same scale bug in the explicit (attention-dropout) path only."""
    attend = AlbertTransformerLayer._attend

    def mutant(self, query, key, value, mask, training):
        if training and self.attention_dropout > 0:
            query = query * keras.ops.cast((self.head_dim / self.hidden_dim) ** 0.5, query.dtype)
        return attend(self, query, key, value, mask, training)

    monkeypatch.setattr(AlbertTransformerLayer, "_attend", mutant)


def exact_gelu_instead_of_tanh_gelu(monkeypatch):
    """The original's tanh GELU resolved to the exact (erf) GELU."""

    def mutant(identifier):
        if identifier in activations._TANH_GELU_NAMES:
            return keras.activations.gelu
        return activations.get_activation(identifier)

    monkeypatch.setattr(transformer_layer, "get_activation", mutant)


def training_gelu_derivative_without_its_cubic_term(monkeypatch):
    """The compiled GELU's derivative with `d/dx (x + 0.044715 x^3)` taken as 1."""
    ops = keras.ops
    gradient = tensorflow_fusions._bias_tanh_gelu_gradient

    def mutant(x, bias, upstream):
        x32 = ops.cast(x, "float32") + ops.cast(bias, "float32")
        _, tanh = tensorflow_fusions.tanh_gelu_float32(x32)
        slope = 0.5 * (1.0 + tanh) + 0.5 * x32 * (1.0 - tanh * tanh) * tensorflow_fusions._SQRT_2_OVER_PI
        x_gradient = ops.cast(upstream, "float32") * slope
        return ops.cast(x_gradient, x.dtype), gradient(x, bias, upstream)[1]

    monkeypatch.setattr(tensorflow_fusions, "_bias_tanh_gelu_gradient", mutant)


def training_layer_norm_gradient_without_the_variance_term(monkeypatch):
    """The compiled LayerNorm's input gradient as if the variance did not depend on the input."""
    ops = keras.ops
    gradient = tensorflow_fusions._layer_norm_gradient

    def mutant(epsilon, upstream, x, gamma, beta, *more):
        _, gamma_gradient, beta_gradient, *more_gradients = gradient(epsilon, upstream, x, gamma, beta, *more)
        total = ops.cast(x, "float32") + sum(ops.cast(term, "float32") for term in more)
        _, _, inverse_std = tensorflow_fusions.centered_layer_norm(total, gamma, beta, epsilon)
        scaled = ops.cast(upstream, "float32") * ops.cast(gamma, "float32")
        x_gradient = inverse_std * (scaled - ops.mean(scaled, axis=-1, keepdims=True))
        return ops.cast(x_gradient, x.dtype), gamma_gradient, beta_gradient, *more_gradients

    monkeypatch.setattr(tensorflow_fusions, "_layer_norm_gradient", mutant)


def query_key_swapped_in_huggingface_converter(monkeypatch):
    monkeypatch.setattr(huggingface, "QKV", ("key", "query", "value"))


def query_key_swapped_in_tf1_converter(monkeypatch):
    monkeypatch.setattr(tf1, "QKV", ("key", "query", "value"))


def query_key_swapped_in_keras_hub_converter(monkeypatch):
    monkeypatch.setattr(keras_hub_preset, "QKV", ("key", "query", "value"))


def layer_norm_gamma_beta_swapped_in_huggingface_converter(monkeypatch):
    """The attention LayerNorm's weight read as beta and bias as gamma."""
    weight_table = huggingface.huggingface_weight_table

    def mutant(*args, **kwargs):
        table = weight_table(*args, **kwargs)
        parts = {entry.path: entry.parts for entry in table.entries}

        def swapped(entry):
            for mine, other in (("/gamma", "/beta"), ("/beta", "/gamma")):
                if "attention_layer_norm" in entry.path and entry.path.endswith(mine):
                    return dataclasses.replace(entry, parts=parts[entry.path[: -len(mine)] + other])
            return entry

        return dataclasses.replace(table, entries=tuple(swapped(entry) for entry in table.entries))

    monkeypatch.setattr(huggingface, "huggingface_weight_table", mutant)


def query_key_biases_swapped_on_huggingface_export(monkeypatch):
    """The fused qkv bias mis-split when writing HuggingFace tensors only."""
    export = huggingface.export_weights_with_table

    def mutant(model, table, format_name):
        tensors = export(model, table, format_name)
        for name in [name for name in tensors if name.endswith("attention.query.bias")]:
            key = name.replace("query", "key")
            tensors[name], tensors[key] = tensors[key], tensors[name]
        return tensors

    monkeypatch.setattr(huggingface, "export_weights_with_table", mutant)


def layer_norm_gamma_beta_swapped_on_tf1_export(monkeypatch):
    """The attention LayerNorm's gamma and beta written under each other's name."""
    export = tf1.export_weights_with_table

    def mutant(model, table, format_name):
        tensors = export(model, table, format_name)
        for name in [name for name in tensors if name.endswith("/LayerNorm/gamma") and "/transformer/" in name]:
            beta = name[: -len("gamma")] + "beta"
            tensors[name], tensors[beta] = tensors[beta], tensors[name]
        return tensors

    monkeypatch.setattr(tf1, "export_weights_with_table", mutant)


def padding_mask_ignored(monkeypatch):
    call = AlbertTransformerLayer.call

    @functools.wraps(call)
    def mutant(self, x, padding_mask=None, training=None, first_token_only=False):
        return call(self, x, padding_mask=None, training=training, first_token_only=first_token_only)

    monkeypatch.setattr(AlbertTransformerLayer, "call", mutant)


def wrong_group_routing(monkeypatch):
    """Virtual layer i runs group i % num_groups instead of i // (L / G)."""
    monkeypatch.setattr(SharedGroupEncoder, "group_index", lambda self, index: index % self.num_groups)


def pre_layer_norm_instead_of_post(monkeypatch):
    """`x + f(LayerNorm(x))` instead of ALBERT's `LayerNorm(x + f(x))`."""
    ops = keras.ops

    def mutant(self, x, padding_mask=None, training=None, first_token_only=False):
        batch_size, sequence_length = ops.shape(x)[0], ops.shape(x)[1]
        qkv = self.qkv_dense(self.attention_layer_norm(x))
        qkv = ops.reshape(qkv, (batch_size, sequence_length, 3, self.num_heads, self.head_dim))
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        if first_token_only:
            query, x = query[:, :1], x[:, :1]
        mask = None if padding_mask is None else ops.expand_dims(ops.cast(padding_mask, "bool"), (1, 2))
        attended = self._attend(query, key, value, mask, training)
        attended = ops.reshape(attended, (batch_size, ops.shape(query)[1], self.hidden_dim))
        x = x + self.attention_output_dense(attended)
        return x + self.ffn_output_dense(self.ffn_intermediate_dense(self.ffn_layer_norm(x)))

    monkeypatch.setattr(AlbertTransformerLayer, "call", functools.wraps(AlbertTransformerLayer.call)(mutant))


def embedding_projection_skipped(monkeypatch):
    """At E == H the projection looks optional; it is not (HuggingFace and
    converted checkpoints hold a trained one)."""
    call = factorized_embedding.FactorizedEmbedding.call
    ops = keras.ops

    def mutant(self, token_ids, segment_ids, training=None):
        if self.embedding_dim != self.hidden_dim:
            return call(self, token_ids, segment_ids, training=training)
        positions = ops.convert_to_tensor(self.position_embeddings)[: ops.shape(token_ids)[1]]
        x = self.token_embedding(token_ids) + self.segment_embedding(segment_ids) + positions[None]
        return self.dropout_layer(self.layer_norm(x), training=training)

    monkeypatch.setattr(factorized_embedding.FactorizedEmbedding, "call", functools.wraps(call)(mutant))


def classifier_exported_to_pytorch(tmp_path, monkeypatch):
    test_huggingface_conversion.test_exported_classifier_runs_in_pytorch_with_the_same_logits(tmp_path)


# Each mutant with the check(s) that must kill it.
KILLS = {
    attention_scale_1_over_sqrt_hidden: [backbone_vs_huggingface],
    training_path_attention_scale_1_over_sqrt_hidden: [training_attention_path],
    exact_gelu_instead_of_tanh_gelu: [backbone_vs_huggingface],
    training_gelu_derivative_without_its_cubic_term: [training_gelu, training_block],
    training_layer_norm_gradient_without_the_variance_term: [training_layer_norm, training_block],
    query_key_swapped_in_huggingface_converter: [backbone_vs_huggingface, question_answerer_from_huggingface],
    query_key_swapped_in_tf1_converter: [text_classifier_from_tf1],
    query_key_swapped_in_keras_hub_converter: [backbone_from_keras_hub, classifier_exported_to_keras_hub],
    layer_norm_gamma_beta_swapped_in_huggingface_converter: [backbone_vs_huggingface],
    query_key_biases_swapped_on_huggingface_export: [ours_to_huggingface_to_ours, classifier_exported_to_pytorch],
    layer_norm_gamma_beta_swapped_on_tf1_export: [ours_to_tf1_to_ours],
    padding_mask_ignored: [backbone_vs_huggingface],
    wrong_group_routing: [backbone_vs_huggingface, text_classifier_from_tf1],
    pre_layer_norm_instead_of_post: [backbone_vs_huggingface],
    embedding_projection_skipped: [backbone_vs_huggingface],
}

# What numpy.testing says when numbers differ: a mutant must fail a
# comparison, not trip over something else.
NUMBERS_DIFFER = "Not equal to tolerance|Arrays are not equal"


@pytest.mark.parametrize(
    "mutant, check",
    [
        pytest.param(mutant, check, id=f"{mutant.__name__}-killed_by-{check.__name__}")
        for mutant, checks in KILLS.items()
        for check in checks
    ],
)
def test_mutant_is_killed_by_check(mutant, check, tmp_path, monkeypatch):
    mutant(monkeypatch)
    with pytest.raises(AssertionError, match=NUMBERS_DIFFER):
        check(tmp_path, monkeypatch)
