"""Fixtures shared by the task programs' tests."""

import json

import pytest
import sentencepiece


@pytest.fixture(scope="session")
def write_tiny_albert_config(spm_model_path):
    """Writes a tiny original-format `albert_config.json` over the test vocabulary.

    `write(folder, num_layers=1, max_position_embeddings=64)` returns the
    file's path: E=16, H=32, 2 heads, FFN 64, no dropout — small enough that
    a program trains for a few steps in seconds.
    """
    vocab_size = sentencepiece.SentencePieceProcessor(model_file=str(spm_model_path)).get_piece_size()

    def write(folder, num_layers=1, max_position_embeddings=64):
        config = {
            "vocab_size": vocab_size, "embedding_size": 16, "hidden_size": 32, "num_hidden_layers": num_layers,
            "num_attention_heads": 2, "intermediate_size": 64, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
            "max_position_embeddings": max_position_embeddings, "type_vocab_size": 2, "initializer_range": 0.02,
            "num_hidden_groups": 1, "inner_group_num": 1,
        }
        path = folder / "albert_config.json"
        path.write_text(json.dumps(config))
        return path

    return write
