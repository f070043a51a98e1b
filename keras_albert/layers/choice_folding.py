"""Reshapes between `[batch, num_choices, ...]` and `[batch * num_choices, ...]`.

Layers rather than bare `ops.reshape` calls in the functional graph, because
the number of choices and the sequence length are only known at run time.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_albert")
class FoldChoices(keras.layers.Layer):
    """Flattens the choice axis of every tensor in a dict: `[B, C, T] -> [B*C, T]`."""

    def call(self, inputs):
        return {
            name: ops.reshape(tensor, (-1, ops.shape(tensor)[-1]))
            for name, tensor in inputs.items()
        }

    def compute_output_spec(self, inputs):
        return {
            name: keras.KerasTensor((None, tensor.shape[-1]), dtype=tensor.dtype)
            for name, tensor in inputs.items()
        }


@keras.saving.register_keras_serializable(package="keras_albert")
class UnfoldChoices(keras.layers.Layer):
    """Restores the choice axis of per-sequence scores: `[B*C, 1] -> [B, C]`."""

    def call(self, scores, reference):
        shape = ops.shape(reference)
        return ops.reshape(scores, (shape[0], shape[1]))

    def compute_output_spec(self, scores, reference):
        return keras.KerasTensor(tuple(reference.shape[:2]), dtype=scores.dtype)
