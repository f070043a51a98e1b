"""keras-albert preset directories: written all at once, read for export.

A preset is what keras-hub's `save_to_preset` writes: `config.json` +
`model.weights.h5` (the backbone), `task.json` + `task.weights.h5` (a task
model's head), `tokenizer.json` + `assets/tokenizer/vocabulary.spm`.
`AlbertBackbone.from_preset(dir)` loads the backbone of any of them, and the
task class's `from_preset(dir)` restores its head.
"""

import logging
import os

import keras

from keras_albert import task_spec
from keras_albert.albert_backbone import AlbertBackbone
from keras_albert.convert.files import read_json, staging_directory

logger = logging.getLogger(__name__)

TASK_CONFIG_FILE = "task.json"
TOKENIZER_CONFIG_FILE = "tokenizer.json"
SPM_ASSET = os.path.join("assets", "tokenizer", "vocabulary.spm")


def make_tokenizer(spm_model_file, lower_case=True, keep_accents=False):
    """keras-albert's `AlbertTokenizer` over a SentencePiece model file."""
    from keras_albert.albert_tokenizer import AlbertTokenizer

    return AlbertTokenizer(proto=spm_model_file, lower_case=lower_case, keep_accents=keep_accents)


def write_preset(
    model, output_dir, spm_model_file=None, lower_case=True, keep_accents=False, overwrite=False
):
    """Writes `model` and its tokenizer as a preset, all or nothing.

    Args:
        model: an `AlbertBackbone` or a keras-albert task model.
        output_dir: the preset directory to create.
        spm_model_file: optional SentencePiece model, saved as the preset's
            tokenizer; its size must equal the model's vocabulary size.
        lower_case, keep_accents: the tokenizer's normalization.
        overwrite: replace an existing non-empty `output_dir`.
    """
    tokenizer = None
    if spm_model_file:
        tokenizer = make_tokenizer(spm_model_file, lower_case, keep_accents)
        vocabulary_size = getattr(model, "backbone", model).vocabulary_size
        if tokenizer.vocabulary_size() != vocabulary_size:
            raise ValueError(
                f"SentencePiece model {spm_model_file} has "
                f"{tokenizer.vocabulary_size()} pieces but the model config has "
                f"vocabulary_size={vocabulary_size}."
            )
    else:
        logger.warning(
            "No SentencePiece model given or found: %s will have no tokenizer.", output_dir
        )
    with staging_directory(output_dir, overwrite) as staging:
        model.save_to_preset(staging)
        if tokenizer is not None:
            tokenizer.save_to_preset(staging)
        # The default task spec, so the preset exports as it is; a token
        # classifier's tags only its training data can tell.
        if task_spec.task_of(model) not in ("backbone", "token_classification"):
            task_spec.save_task_spec(staging, task_spec.default_spec(model))
    logger.info("Wrote preset %s", output_dir)


def load_preset_model(preset_dir):
    """The model a preset holds: its task model if it has `task.json`."""
    task_file = os.path.join(preset_dir, TASK_CONFIG_FILE)
    if not os.path.isfile(task_file):
        return AlbertBackbone.from_preset(preset_dir)
    registered_name = read_json(task_file).get("registered_name")
    task_class = keras.saving.get_registered_object(registered_name)
    if task_class is None or not hasattr(task_class, "from_preset"):
        raise ValueError(f"{task_file} holds an unknown task class {registered_name!r}.")
    return task_class.from_preset(preset_dir)


def preset_tokenizer_options(preset_dir):
    """`(spm path or None, lower_case, keep_accents)` of a preset's tokenizer."""
    spm = os.path.join(preset_dir, SPM_ASSET)
    if not os.path.isfile(spm):
        return None, True, False
    config = read_json(os.path.join(preset_dir, TOKENIZER_CONFIG_FILE)).get("config", {})
    return spm, config.get("lower_case", True), config.get("keep_accents", False)
