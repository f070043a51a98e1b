"""Shared base of the ALBERT task models."""

import keras
from keras_hub.models import Task

from keras_albert.albert_backbone import AlbertBackbone


def head_initializer(backbone):
    """The original's initializer for task heads: truncated normal(0.02)."""
    return keras.initializers.TruncatedNormal(stddev=backbone.initializer_range)


def freeze_unread_pooler(backbone):
    """Heads on `sequence_output` leave the pooler without a gradient, which
    Keras' optimizers warn about at every `fit` (HuggingFace builds these
    models without a pooler). Non-trainable, its weights still stay in saved
    models and presets."""
    backbone.pooler_dense.trainable = False


def float32_output(x, name):
    """Casts head outputs to float32 so losses are stable under mixed precision."""
    return keras.layers.Activation("linear", dtype="float32", name=name)(x)


class AlbertTask(Task):
    """A keras-hub `Task` whose `from_preset` never downloads.

    A preset directory loads as in keras-hub (backbone weights, and the task
    head's weights when the preset was saved from the same task). A preset
    name without converted weights builds the architecture only when asked
    with `load_weights=False` (see `keras_albert.albert_presets`).
    """

    backbone_cls = AlbertBackbone

    def get_compile_config(self):
        config = super().get_compile_config()
        if config:
            # Whether there is optimizer state (slots, step) to restore.
            config["optimizer_built"] = self.optimizer.built
        return config

    def compile_from_config(self, config):
        """Compiles a model loaded from a `.keras` file as it was saved.

        Keras skips this for a model whose `compile` is overridden (ours
        fill in defaults), and the saved optimizer state with it. The
        optimizer is built only when it was at saving, so a model loaded
        for inference allocates no optimizer slots.
        """
        config = dict(config)
        optimizer_built = config.pop("optimizer_built", False)
        self.compile(**keras.saving.deserialize_keras_object(config))
        if optimizer_built and self.built:
            self.optimizer.build(self.trainable_variables)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        from keras_albert.albert_presets import resolve_preset

        resolved = resolve_preset(preset, load_weights=load_weights)
        if isinstance(resolved, dict):
            backbone = cls.backbone_cls(**resolved)
            return cls(backbone=backbone, **kwargs)
        return super().from_preset(resolved, load_weights=load_weights, **kwargs)
