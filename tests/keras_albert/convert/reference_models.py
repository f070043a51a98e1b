"""Tiny random reference models for the conversion tests.

HuggingFace `transformers` + PyTorch (CPU) are test-only references. The
default config exercises everything ALBERT adds to BERT: several groups,
several distinct blocks per group, and embedding width != hidden width.
"""

import numpy as np
import pytest
from informative_weights import randomize_torch_weights

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

HF_CONFIG = {
    "vocab_size": 64,
    "embedding_size": 8,
    "hidden_size": 16,
    "num_hidden_layers": 4,
    "num_hidden_groups": 2,
    "inner_group_num": 2,
    "num_attention_heads": 2,
    "intermediate_size": 24,
    "max_position_embeddings": 24,
    "hidden_act": "gelu_new",
}


def make_hf_model(class_name, seed=0, **overrides):
    """A HuggingFace ALBERT model in eval mode with informative weights.

    HuggingFace's default init (kernels N(0, 0.02), zero biases, unit
    LayerNorms) hides attention-scale, activation and swapped-parameter
    bugs; every tensor is drawn by `informative_weights` instead.
    """
    torch.manual_seed(seed)
    config = transformers.AlbertConfig(
        **{**HF_CONFIG, **overrides}, attn_implementation="eager"
    )
    model = getattr(transformers, class_name)(config).eval()
    return randomize_torch_weights(model, seed=seed)


def make_batch(vocab_size=64, num_choices=None, seed=0):
    """Token ids, segments and a padding mask with padding in the batch."""
    rng = np.random.RandomState(seed)
    shape = (3, 10) if num_choices is None else (2, num_choices, 10)
    token_ids = rng.randint(5, vocab_size, size=shape).astype("int32")
    lengths = np.array([10, 7, 4] if num_choices is None else [[10, 6, 8], [5, 9, 3]])
    padding_mask = (np.arange(10) < lengths[..., None]).astype("int32")
    token_ids = token_ids * padding_mask
    segment_ids = ((np.arange(10) >= 4) & (padding_mask == 1)).astype("int32")
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def hf_forward(model, batch, **extra):
    """Runs a HuggingFace model on a keras-albert style batch."""
    with torch.no_grad():
        return model(
            input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long),
            **extra,
        )


def state_dict_arrays(model):
    return {name: tensor.detach().numpy() for name, tensor in model.state_dict().items()}


def assert_close(actual, expected, atol=1e-5):
    """Equal within `atol`, scaled by the output's magnitude where it exceeds 1
    (float32 rounding grows with it): 1e-5 absolute for LayerNorm-scale
    outputs, 1e-5 relative to the largest value for larger logits."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol * scale)


def tf1_variables_from_hf(hf_model, head=None, projection=True):
    """The variables of an original ALBERT TF1 checkpoint holding `hf_model`'s weights.

    Written from the original `modeling.py`, `run_pretraining.py`,
    `classifier_utils.py` and `squad_utils.py` variable scopes (not from the
    converter's table, so that the conversion is checked independently).
    Dense kernels are `[in, out]`; head `output_weights` are `[rows, H]`.

    Args:
        head: None, "pretraining", "classifier" or "squad".
        projection: False drops `embedding_hidden_mapping_in`, as the
            original does when embedding_size == hidden_size.
    """
    state = state_dict_arrays(hf_model)
    albert = "albert." if any(name.startswith("albert.") for name in state) else ""
    config = hf_model.config
    variables = {
        "bert/embeddings/word_embeddings": state[f"{albert}embeddings.word_embeddings.weight"],
        "bert/embeddings/token_type_embeddings": state[f"{albert}embeddings.token_type_embeddings.weight"],
        "bert/embeddings/position_embeddings": state[f"{albert}embeddings.position_embeddings.weight"],
        "bert/embeddings/LayerNorm/gamma": state[f"{albert}embeddings.LayerNorm.weight"],
        "bert/embeddings/LayerNorm/beta": state[f"{albert}embeddings.LayerNorm.bias"],
    }
    if projection:
        variables["bert/encoder/embedding_hidden_mapping_in/kernel"] = state[f"{albert}encoder.embedding_hidden_mapping_in.weight"].T
        variables["bert/encoder/embedding_hidden_mapping_in/bias"] = state[f"{albert}encoder.embedding_hidden_mapping_in.bias"]
    for group in range(config.num_hidden_groups):
        for inner in range(config.inner_group_num):
            tf1 = f"bert/encoder/transformer/group_{group}/inner_group_{inner}/"
            hf = f"{albert}encoder.albert_layer_groups.{group}.albert_layers.{inner}."
            pairs = {
                "attention_1/self/query": "attention.query",
                "attention_1/self/key": "attention.key",
                "attention_1/self/value": "attention.value",
                "attention_1/output/dense": "attention.dense",
                "ffn_1/intermediate/dense": "ffn",
                "ffn_1/intermediate/output/dense": "ffn_output",
            }
            for tf1_scope, hf_scope in pairs.items():
                variables[f"{tf1}{tf1_scope}/kernel"] = state[f"{hf}{hf_scope}.weight"].T
                variables[f"{tf1}{tf1_scope}/bias"] = state[f"{hf}{hf_scope}.bias"]
            for tf1_scope, hf_scope in (("LayerNorm", "attention.LayerNorm"), ("LayerNorm_1", "full_layer_layer_norm")):
                variables[f"{tf1}{tf1_scope}/gamma"] = state[f"{hf}{hf_scope}.weight"]
                variables[f"{tf1}{tf1_scope}/beta"] = state[f"{hf}{hf_scope}.bias"]
    if f"{albert}pooler.weight" in state:
        variables["bert/pooler/dense/kernel"] = state[f"{albert}pooler.weight"].T
        variables["bert/pooler/dense/bias"] = state[f"{albert}pooler.bias"]
    if head == "pretraining":
        variables.update({
            "cls/predictions/transform/dense/kernel": state["predictions.dense.weight"].T,
            "cls/predictions/transform/dense/bias": state["predictions.dense.bias"],
            "cls/predictions/transform/LayerNorm/gamma": state["predictions.LayerNorm.weight"],
            "cls/predictions/transform/LayerNorm/beta": state["predictions.LayerNorm.bias"],
            "cls/predictions/output_bias": state["predictions.bias"],
            "cls/seq_relationship/output_weights": state["sop_classifier.classifier.weight"],
            "cls/seq_relationship/output_bias": state["sop_classifier.classifier.bias"],
        })
    elif head == "classifier":
        variables["output_weights"] = state["classifier.weight"]
        variables["output_bias"] = state["classifier.bias"]
    elif head == "squad":
        variables["cls/squad/output_weights"] = state["qa_outputs.weight"]
        variables["cls/squad/output_bias"] = state["qa_outputs.bias"]
    return variables


def albert_config_json(hf_model):
    """The original `albert_config.json` fields of `hf_model` (TF1 "gelu" is tanh)."""
    config = hf_model.config
    assert config.hidden_act == "gelu_new"
    return {
        "attention_probs_dropout_prob": 0,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0,
        "embedding_size": config.embedding_size,
        "hidden_size": config.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": config.intermediate_size,
        "max_position_embeddings": config.max_position_embeddings,
        "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers,
        "num_hidden_groups": config.num_hidden_groups,
        "net_structure_type": 0,
        "layers_to_keep": [],
        "gap_size": 0,
        "num_memory_blocks": 0,
        "inner_group_num": config.inner_group_num,
        "down_scale_factor": 1,
        "type_vocab_size": config.type_vocab_size,
        "vocab_size": config.vocab_size,
    }


def write_tf1_checkpoint(prefix, variables):
    """Writes a TF checkpoint whose variable names are exactly `variables`' keys."""
    import tensorflow as tf

    names = sorted(variables)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(variables[name]) for name in names],
    )
