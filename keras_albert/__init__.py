"""keras-albert: ALBERT (Lan et al. 2019) for Keras 3."""

import importlib.util
import os
import sys

from keras_albert import tensorflow_dependency

# Before Keras imports TensorFlow: see `use_stable_tensorflow_kernels`.
tensorflow_dependency.use_stable_tensorflow_kernels()

if (
    sys.argv[:1] == ["-m"]
    and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"
    and importlib.util.find_spec("tensorflow") is not None
):
    # Python is locating `python -m keras_albert.<program>` (convert,
    # sentencepiece_trainer): that program starts TensorFlow quiet, as the
    # console scripts and the `tasks` / `export` programs do.
    import keras_albert_cli

    keras_albert_cli.start_tensorflow()

from keras_albert import layers
from keras_albert.albert_backbone import AlbertBackbone
from keras_albert.albert_multiple_choice import AlbertMultipleChoice
from keras_albert.albert_preprocessor import AlbertPreprocessor
from keras_albert.albert_presets import BACKBONE_PRESETS, PRESET_NAMES
from keras_albert.albert_pretrainer import AlbertPretrainer
from keras_albert.albert_question_answerer import AlbertQuestionAnswerer
from keras_albert.albert_squad_v2_question_answerer import AlbertSquadV2QuestionAnswerer
from keras_albert.albert_text_classifier import AlbertTextClassifier
from keras_albert.albert_token_classifier import AlbertTokenClassifier
from keras_albert.albert_tokenizer import AlbertTokenizer
from keras_albert.model_files import load_model
from keras_albert.text_normalization import normalize_text, normalize_text_tf

__version__ = "0.1.0"


def __getattr__(name):
    # `train_sentencepiece` is imported on first use: `python -m
    # keras_albert.sentencepiece_trainer` must find its module not yet
    # imported (runpy warns that it "may result in unpredictable behaviour").
    if name == "train_sentencepiece":
        from keras_albert.sentencepiece_trainer import train_sentencepiece

        return train_sentencepiece
    raise AttributeError(f"module 'keras_albert' has no attribute {name!r}")
