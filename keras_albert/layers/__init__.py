"""ALBERT's building blocks, written with `keras.ops` (training on TensorFlow adds `tensorflow_fusions`)."""

from keras_albert.layers.activations import gelu_approximate, get_activation
from keras_albert.layers.choice_folding import FoldChoices, UnfoldChoices
from keras_albert.layers.factorized_embedding import FactorizedEmbedding
from keras_albert.layers.shared_group_encoder import SharedGroupEncoder
from keras_albert.layers.transformer_layer import AlbertTransformerLayer
