"""Shared base of the ALBERT task models."""

import keras
from keras_hub.models import Task

from keras_albert.albert_backbone import AlbertBackbone


def head_initializer(backbone):
    """The original's initializer for task heads: truncated normal(0.02)."""
    return keras.initializers.TruncatedNormal(stddev=backbone.initializer_range)


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

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        from keras_albert.albert_presets import resolve_preset

        resolved = resolve_preset(preset, load_weights=load_weights)
        if isinstance(resolved, dict):
            backbone = cls.backbone_cls(**resolved)
            return cls(backbone=backbone, **kwargs)
        return super().from_preset(resolved, load_weights=load_weights, **kwargs)
