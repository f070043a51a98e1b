"""keras-albert: ALBERT (Lan et al. 2019) for Keras 3."""

from keras_albert.albert_backbone import AlbertBackbone
from keras_albert.albert_presets import BACKBONE_PRESETS, PRESET_NAMES
from keras_albert import layers

__version__ = "0.1.0"
