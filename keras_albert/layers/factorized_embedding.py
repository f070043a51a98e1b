"""ALBERT's factorized embedding: width-E lookups projected to width H."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_albert")
class FactorizedEmbedding(keras.layers.Layer):
    """Word, position and segment embeddings of width E, then E -> H.

    This is ALBERT's factorized embedding parameterization (Lan et al. 2019,
    section 3.1): the vocabulary table has `vocabulary_size * embedding_dim`
    parameters instead of `vocabulary_size * hidden_dim`. The three lookups
    are summed, layer-normalized, dropped out, and projected to the
    transformer width by a dense layer (the original's
    `embedding_hidden_mapping_in`).

    Args:
        vocabulary_size: int. Number of SentencePiece ids.
        embedding_dim: int. E, the width of the lookup tables.
        hidden_dim: int. H, the transformer width produced by the projection.
        max_sequence_length: int. Number of learned positions.
        num_segments: int. Number of segment (token type) ids.
        dropout: float. Dropout applied before the projection.
        layer_norm_epsilon: float. Epsilon of the embedding LayerNorm.
        initializer_range: float. Stddev of the truncated-normal initializer.

    Call arguments:
        token_ids: int tensor `[batch, seq_len]`.
        segment_ids: int tensor `[batch, seq_len]`.

    Returns:
        float tensor `[batch, seq_len, hidden_dim]`.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        hidden_dim,
        max_sequence_length=512,
        num_segments=2,
        dropout=0.0,
        layer_norm_epsilon=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range

        initializer = keras.initializers.TruncatedNormal(stddev=initializer_range)
        # ReversibleEmbedding lets the MLM head reuse this table as its
        # output projection (ALBERT ties input and output embeddings).
        self.token_embedding = keras.layers.ReversibleEmbedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=initializer,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            num_segments,
            embedding_dim,
            embeddings_initializer=initializer,
            dtype=self.dtype_policy,
            name="segment_embedding",
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="layer_norm",
        )
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.projection = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=initializer,
            dtype=self.dtype_policy,
            name="projection",
        )
        self._initializer = initializer

    def build(self, token_ids_shape, segment_ids_shape=None):
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.max_sequence_length, self.embedding_dim),
            initializer=self._initializer,
        )
        self.token_embedding.build(token_ids_shape)
        self.segment_embedding.build(token_ids_shape)
        embedded_shape = tuple(token_ids_shape) + (self.embedding_dim,)
        self.layer_norm.build(embedded_shape)
        self.projection.build(embedded_shape)

    def call(self, token_ids, segment_ids, training=None):
        sequence_length = token_ids.shape[1]
        if sequence_length is not None and sequence_length > self.max_sequence_length:
            raise ValueError(
                f"Input sequence length {sequence_length} is longer than "
                f"`max_sequence_length={self.max_sequence_length}`. Truncate the "
                "inputs (the preprocessor's `sequence_length`) or build the "
                "model with a larger `max_sequence_length`."
            )
        dynamic_length = ops.shape(token_ids)[1]
        # The variable's value, not the variable: JAX (>= 0.10) no longer
        # converts objects implicitly inside `jit`/`stateless_call`.
        positions = ops.slice(
            ops.convert_to_tensor(self.position_embeddings),
            (0, 0),
            (dynamic_length, self.embedding_dim),
        )
        x = self.token_embedding(token_ids)
        x = x + self.segment_embedding(segment_ids)
        x = x + ops.cast(positions, x.dtype)[None, :, :]
        x = self.layer_norm(x)
        x = self.dropout_layer(x, training=training)
        return self.projection(x)

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "hidden_dim": self.hidden_dim,
                "max_sequence_length": self.max_sequence_length,
                "num_segments": self.num_segments,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
            }
        )
        return config
