"""The bench's nominal FLOP count matches the matmuls of the model it describes."""

import numpy as np
import pytest

import keras_albert
from bench import workloads


def _kernel_flops_per_token(backbone):
    """2 × fan-in × fan-out of every projection a token goes through once per layer pass."""
    embedding = backbone.get_layer("embeddings")
    block = backbone.get_layer("encoder").groups[0][0]
    encoder = sum(
        2 * int(np.prod(layer.kernel.shape))
        for layer in (block.qkv_dense, block.attention_output_dense, block.ffn_intermediate_dense, block.ffn_output_dense)
    )
    return embedding, encoder


@pytest.mark.parametrize("train", [False, True])
def test_model_gflop_counts_every_projection_and_the_attention_products(train):
    config = workloads.MODEL_SIZES["tiny"]
    backbone = keras_albert.AlbertBackbone(**config)
    embedding, encoder = _kernel_flops_per_token(backbone)
    batch_size, seq_length = 3, 10
    attention = 2 * 2 * seq_length * config["hidden_dim"]  # scores and context, per token and layer
    projection = 2 * int(np.prod(embedding.projection.kernel.shape))
    per_token = config["num_layers"] * (encoder + attention) + projection
    expected = per_token * batch_size * seq_length * (3 if train else 1) / 1e9
    assert workloads.model_gflop(config, batch_size, seq_length, train) == pytest.approx(expected)
