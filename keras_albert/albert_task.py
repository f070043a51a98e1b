"""Shared base of the ALBERT task models."""

import os

import keras
from keras_hub.models import Task

from keras_albert import model_files
from keras_albert.albert_backbone import AlbertBackbone
from keras_albert.albert_preprocessor import AlbertPreprocessor
from keras_albert.training.adamw import AdamW
from keras_albert.training.lamb import Lamb


def head_initializer(backbone):
    """The original's initializer for task heads: truncated normal(0.02)."""
    return keras.initializers.TruncatedNormal(stddev=backbone.initializer_range)


def fine_tuning_optimizer(learning_rate):
    """The default `compile()` optimizer of the fine-tuning heads: AdamW as
    the original `optimization.py` (weight decay 0.01 on every variable but
    LayerNorm parameters and biases, epsilon 1e-6), at a constant rate."""
    return AdamW(learning_rate=learning_rate, weight_decay=0.01, epsilon=1e-6)


def pretraining_optimizer(learning_rate):
    """The pretrainer's default: LAMB as the original `lamb_optimizer.py`
    (decay 0.01 inside the trust ratio, none and no layer adaptation for
    LayerNorm parameters and biases, epsilon 1e-6)."""
    return Lamb(learning_rate=learning_rate, weight_decay=0.01, epsilon=1e-6)


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
    # Heads on `sequence_output` set this False: the backbone's pooler then
    # gets no gradient, which Keras' optimizers warn about at every `fit`
    # (HuggingFace builds these models without a pooler). The task leaves
    # the pooler out of its *own* trainable variables instead of setting
    # `trainable = False` on the caller's backbone, which a classifier built
    # later on the same backbone would inherit. It stays in saved models.
    reads_pooled_output = True

    @Task.preprocessor.setter
    def preprocessor(self, value):
        """Sets the preprocessor; an `AlbertPreprocessor`'s segment limit
        becomes the backbone's `num_segments` (every task sets its backbone
        first), so that a segment with no embedding is refused by name."""
        backbone = getattr(self, "backbone", None)
        if isinstance(value, AlbertPreprocessor) and backbone is not None:
            if value.num_segments is None:
                value.num_segments = backbone.num_segments
            elif value.num_segments > backbone.num_segments:
                raise ValueError(
                    f"The preprocessor packs up to {value.num_segments} segments "
                    f"(`num_segments={value.num_segments}`), but the backbone has "
                    f"{backbone.num_segments} segment types."
                )
        Task.preprocessor.fset(self, value)

    def _unread_weight_ids(self):
        backbone = getattr(self, "backbone", None)
        if self.reads_pooled_output or backbone is None:
            return set()
        return {id(weight) for weight in backbone.pooler_dense.weights}

    def _split_unread(self, trainable):
        """`trainable` as (read, unread by this task's outputs)."""
        unread = self._unread_weight_ids()
        return (
            [weight for weight in trainable if id(weight) not in unread],
            [weight for weight in trainable if id(weight) in unread],
        )

    @property
    def trainable_weights(self):
        return self._split_unread(super().trainable_weights)[0]

    @property
    def non_trainable_weights(self):
        unread = self._split_unread(super().trainable_weights)[1]
        return super().non_trainable_weights + unread

    @property
    def trainable_variables(self):
        return self._split_unread(super().trainable_variables)[0]

    @property
    def non_trainable_variables(self):
        unread = self._split_unread(super().trainable_variables)[1]
        return super().non_trainable_variables + unread

    # keras-hub's `fit`/`evaluate`/`predict` batch inputs through `tf.data`
    # or grain to run the preprocessor. Without a preprocessor there is
    # nothing to run, so Keras' own data handling serves, and the models
    # train and predict where neither is installed (the GPU machines).
    def fit(self, *args, **kwargs):
        if self.preprocessor is None:
            return keras.Model.fit(self, *args, **kwargs)
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        if self.preprocessor is None:
            return keras.Model.evaluate(self, *args, **kwargs)
        return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        if self.preprocessor is None:
            return keras.Model.predict(self, *args, **kwargs)
        return super().predict(*args, **kwargs)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config:
            # Whether there is optimizer state (slots, step) to restore.
            config["optimizer_built"] = self.optimizer.built
        return config

    def save(self, filepath, overwrite=True, **kwargs):
        """`keras.Model.save`; a `.keras` file is written durably
        (`model_files.save_model_durably`): a kill mid-save never leaves a
        truncated file at `filepath`."""
        path = os.fspath(filepath)
        unzipped = kwargs.get("zipped") is False
        if unzipped or not path.endswith(model_files.KERAS_SUFFIX) or (not overwrite and os.path.exists(path)):
            # Directories and other formats, and Keras' prompt before overwriting.
            return super().save(filepath, overwrite=overwrite, **kwargs)
        model_files.save_model_durably(lambda temporary: super(AlbertTask, self).save(temporary, **kwargs), path)

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
            # As keras-hub's preset loader: `dtype` is the backbone's (the head follows it).
            backbone = cls.backbone_cls(**resolved, dtype=kwargs.pop("dtype", None))
            return cls(backbone=backbone, **kwargs)
        return super().from_preset(resolved, load_weights=load_weights, **kwargs)
