"""The ALBERT encoder network."""

import keras
from keras_hub.models import Backbone

from keras_albert.layers import FactorizedEmbedding, SharedGroupEncoder
from keras_albert.layers.activations import kept_activation


@keras.saving.register_keras_serializable(package="keras_albert")
class AlbertBackbone(Backbone):
    """ALBERT encoder (Lan et al. 2019, "ALBERT: A Lite BERT").

    Factorized embeddings (lookups of width `embedding_dim` projected to
    `hidden_dim`), `num_layers` post-LayerNorm transformer layers whose
    weights are shared across layers in `num_groups` groups of
    `num_inner_repetitions` blocks, and a tanh pooler on the first (`[CLS]`)
    token. Written with `keras.ops` only: runs on TensorFlow, JAX and PyTorch.

    Args:
        vocabulary_size: int. Size of the SentencePiece vocabulary (V).
        num_layers: int. Number of virtual transformer layers.
        num_heads: int. Attention heads per layer; divides `hidden_dim`.
        embedding_dim: int. Width of the embedding tables (E).
        hidden_dim: int. Width of the transformer (H).
        intermediate_dim: int. Width of the FFN's inner layer.
        num_groups: int. Groups of distinct weights (original
            `num_hidden_groups`); divides `num_layers`.
        num_inner_repetitions: int. Distinct blocks per group (original
            `inner_group_num`).
        activation: string or callable. FFN activation; the default is the
            tanh GELU of the original code ("gelu" is the exact erf GELU).
        dropout: float. Hidden dropout (original `hidden_dropout_prob`).
        attention_dropout: float. Attention-probability dropout (original
            `attention_probs_dropout_prob`).
        max_sequence_length: int. Number of learned positions.
        num_segments: int. Number of segment ids (original `type_vocab_size`).
        layer_norm_epsilon: float.
        initializer_range: float. Stddev of the truncated-normal initializer.
        dtype: string or `keras.DTypePolicy`, e.g. `"mixed_bfloat16"`.

    Inputs: a dict of int tensors `[batch, seq_len]`: `token_ids`,
    `segment_ids` and `padding_mask` (1 for real tokens, 0 for padding).

    Outputs: a dict with `sequence_output` `[batch, seq_len, hidden_dim]`
    and `pooled_output` `[batch, hidden_dim]`.

    Example:
    ```python
    backbone = keras_albert.AlbertBackbone(
        vocabulary_size=30000, num_layers=12, num_heads=12, embedding_dim=128,
        hidden_dim=768, intermediate_dim=3072,
    )
    outputs = backbone({
        "token_ids": np.array([[2, 48, 25, 3, 0]]),
        "segment_ids": np.zeros((1, 5), "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 0]]),
    })
    outputs["pooled_output"].shape  # (1, 768)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        embedding_dim,
        hidden_dim,
        intermediate_dim,
        num_groups=1,
        num_inner_repetitions=1,
        activation="gelu_approximate",
        dropout=0.0,
        attention_dropout=0.0,
        max_sequence_length=512,
        num_segments=2,
        layer_norm_epsilon=1e-12,
        initializer_range=0.02,
        dtype=None,
        **kwargs,
    ):
        # === Layers ===
        self.embeddings = FactorizedEmbedding(
            vocabulary_size=vocabulary_size,
            embedding_dim=embedding_dim,
            hidden_dim=hidden_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            initializer_range=initializer_range,
            dtype=dtype,
            name="embeddings",
        )
        self.encoder = SharedGroupEncoder(
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            num_groups=num_groups,
            num_inner_repetitions=num_inner_repetitions,
            activation=activation,
            dropout=dropout,
            attention_dropout=attention_dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            initializer_range=initializer_range,
            dtype=dtype,
            name="encoder",
        )
        self.pooler_dense = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=initializer_range
            ),
            dtype=dtype,
            name="pooler_dense",
        )

        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        x = self.embeddings(token_ids, segment_ids)
        # The pooler reads a separately computed first position, so graphs
        # that use only `pooled_output` (classifiers) skip most of the last
        # layer; both paths give the same values.
        sequence_output, first_token = self.encoder(
            x, padding_mask=padding_mask, with_first_token=True
        )
        pooled_output = self.pooler_dense(first_token[:, 0, :])
        super().__init__(
            inputs={
                "token_ids": token_ids,
                "segment_ids": segment_ids,
                "padding_mask": padding_mask,
            },
            outputs={
                "sequence_output": sequence_output,
                "pooled_output": pooled_output,
            },
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.num_groups = num_groups
        self.num_inner_repetitions = num_inner_repetitions
        self.activation = kept_activation(activation)
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        # The MLM head ties its output projection to this table.
        self.token_embedding = self.embeddings.token_embedding

    def default_lora_layer_names(self):
        """LoRA targets: every block's attention projections, the fused
        query/key/value projection and the output projection."""
        return ["qkv_dense", "attention_output_dense"]

    def enable_lora(self, rank, target_layer_names=None):
        """Freezes the backbone and trains rank-`rank` LoRA factors on the
        attention projections (keras-hub's `Backbone.enable_lora`).

        Only the LoRA factors train: the targets' biases stay frozen with
        every other weight. Saving merges the factors into the kernels.

        Args:
            rank: int. Rank of the LoRA factorization.
            target_layer_names: optional list of sublayer names; default
                `default_lora_layer_names()`.
        """
        super().enable_lora(rank, target_layer_names=target_layer_names)
        targets = [
            layer
            for layer in self._flatten_layers(include_self=False)
            if getattr(layer, "lora_enabled", False)
        ]
        if not targets:
            raise ValueError(
                "`enable_lora` found no layer to adapt: none named "
                f"{target_layer_names or self.default_lora_layer_names()} supports LoRA."
            )
        for layer in targets:
            if layer.bias is not None:
                layer.bias.trainable = False

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Builds a backbone from a preset directory or a preset name.

        Args:
            preset: a local preset directory (as written by
                `save_to_preset` or `keras_albert.convert`), or one of
                `keras_albert.presets.PRESET_NAMES` such as
                `"albert_base_v2"`. A name resolves to its converted copy
                under `$KERAS_ALBERT_PRESETS` (default
                `~/.keras_albert/presets/<name>`); nothing is downloaded.
            load_weights: bool. With `False`, a named preset that has no
                converted weights builds the architecture with fresh
                weights.
            **kwargs: override config entries (e.g. `dtype`).
        """
        from keras_albert.albert_presets import resolve_preset

        resolved = resolve_preset(preset, load_weights=load_weights)
        if isinstance(resolved, dict):
            return cls(**{**resolved, **kwargs})
        return super().from_preset(resolved, load_weights=load_weights, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "num_groups": self.num_groups,
                "num_inner_repetitions": self.num_inner_repetitions,
                "activation": self.activation,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "max_sequence_length": self.max_sequence_length,
                "num_segments": self.num_segments,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
            }
        )
        return config
