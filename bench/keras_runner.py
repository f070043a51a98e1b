"""Keras classifiers under test: keras-albert's and keras-hub's ALBERT."""

import keras

from bench import workloads


def albert_text_classifier(config, dtype=None):
    """keras-albert `AlbertTextClassifier` (2 classes) over a fresh backbone."""
    import keras_albert

    backbone = keras_albert.AlbertBackbone(**config, dtype=dtype)
    return keras_albert.AlbertTextClassifier(backbone, num_classes=workloads.NUM_CLASSES)


def albert_question_answerer(config, dtype=None):
    """keras-albert `AlbertQuestionAnswerer` over a fresh backbone."""
    import keras_albert

    backbone = keras_albert.AlbertBackbone(**config, dtype=dtype)
    return keras_albert.AlbertQuestionAnswerer(backbone)


def keras_hub_text_classifier(config, dtype=None):
    """keras-hub `AlbertTextClassifier` (2 classes), the same architecture."""
    import keras_hub

    backbone = keras_hub.models.AlbertBackbone(
        **{name: config[name] for name in workloads.MODEL_SIZES["base"]},
        num_groups=1,
        num_inner_repetitions=1,
        dropout=0.0,
        dtype=dtype,
    )
    return keras_hub.models.AlbertTextClassifier(
        backbone, num_classes=workloads.NUM_CLASSES, preprocessor=None
    )


class KerasRunner:
    """Train steps and predictions of a compiled Keras model on one batch.

    Every implementation trains with AdamW(2e-5, weight decay 0.01) and
    sparse cross-entropy on logits, without metrics.
    """

    def __init__(self, model, jit_compile, trainable=True):
        self.model = model
        if trainable:
            model.compile(
                optimizer=keras.optimizers.AdamW(
                    workloads.LEARNING_RATE, weight_decay=workloads.WEIGHT_DECAY
                ),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[],
                jit_compile=jit_compile,
            )
        else:  # Inference only (e.g. the question answerer's dict outputs).
            model.compile(jit_compile=jit_compile)

    @staticmethod
    def split(batch):
        """Numpy batch -> (features dict, labels) as backend tensors."""
        features = {
            name: keras.ops.convert_to_tensor(batch[name])
            for name in ("token_ids", "segment_ids", "padding_mask")
        }
        labels = keras.ops.convert_to_tensor(batch["labels"]) if "labels" in batch else None
        return features, labels

    def train_step(self, features, labels):
        return self.model.train_on_batch(features, labels)

    def predict(self, features):
        return self.model.predict_on_batch(features)
