"""Shared base of the ALBERT task models."""

import json
import os

import keras
from keras_hub.models import Task

from keras_albert.albert_backbone import AlbertBackbone

# What a task preset records beside its weights (label names, window sizes).
TASK_METADATA_FILENAME = "task_metadata.json"


def read_task_metadata(preset_dir):
    """The preset's `task_metadata.json` as a dict; `{}` without one."""
    path = os.path.join(preset_dir, TASK_METADATA_FILENAME)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as file:
        try:
            content = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(content).__name__}.")
    return content


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
