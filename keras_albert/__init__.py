"""keras-albert: ALBERT (Lan et al. 2019) for Keras 3."""

from keras_albert import tensorflow_dependency

# Before Keras imports TensorFlow: see `use_stable_tensorflow_kernels`.
tensorflow_dependency.use_stable_tensorflow_kernels()

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
from keras_albert.sentencepiece_trainer import train_sentencepiece
from keras_albert.text_normalization import normalize_text, normalize_text_tf

__version__ = "0.1.0"
