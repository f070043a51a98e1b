"""Checkpoint conversion: original TF1, HuggingFace and keras-hub, to and from presets.

Every format is described by one name table (`tf1.tf1_weight_table`,
`huggingface.huggingface_weight_table`,
`keras_hub_preset.keras_hub_weight_table`), used both to import and to
export, and to report missing, unexpected and misshapen tensors by name.

Example:
```python
from keras_albert.convert import convert_checkpoint, export_checkpoint

convert_checkpoint("tf1", "albert_base/", "presets/albert_base_v2")
backbone = keras_albert.AlbertBackbone.from_preset("presets/albert_base_v2")
pretrainer = keras_albert.AlbertPretrainer.from_preset("presets/albert_base_v2")

export_checkpoint("my_sst2_preset/", "huggingface", "my_sst2_hf/")
# PyTorch: AlbertForSequenceClassification.from_pretrained("my_sst2_hf/")
```
"""

import logging
import os
import tempfile

from keras_albert.convert.files import staging_directory
from keras_albert.convert.huggingface import (
    backbone_config_from_huggingface_config,
    huggingface_config_from_model,
    huggingface_tensors_from_model,
    huggingface_weight_table,
    load_huggingface_checkpoint,
    load_huggingface_tensors,
    read_tokenizer_options,
    write_huggingface_files,
)
from keras_albert.convert.keras_albert_preset import (
    load_preset_model,
    preset_tokenizer_options,
    write_preset,
)
from keras_albert.convert.keras_hub_preset import (
    find_keras_hub_spm,
    keras_hub_model_from_model,
    keras_hub_weight_table,
    load_keras_hub_preset,
    write_keras_hub_files,
)
from keras_albert.convert.task_models import TASKS
from keras_albert.convert.tf1 import (
    albert_config_from_backbone_config,
    backbone_config_from_albert_config,
    find_spm_model,
    find_tf1_checkpoint,
    load_tf1_checkpoint,
    tf1_weight_table,
    write_tf1_files,
)

SOURCES = ("tf1", "huggingface", "keras_hub")
TARGETS = ("huggingface", "keras_hub", "tf1")


def load_checkpoint(source, input_path, task="auto", albert_config_file=None):
    """Loads a checkpoint of `source` format into a keras-albert model.

    Args:
        source: "tf1", "huggingface" or "keras_hub".
        input_path: TF1: a folder with `albert_config.json` and the
            checkpoint, or a checkpoint prefix. HuggingFace: a
            `save_pretrained` folder. keras-hub: a preset folder.
        task: "auto" (what the checkpoint was saved for), "backbone", or
            that task's name (see `TASKS`).
        albert_config_file: TF1 only; default `albert_config.json` next to
            the checkpoint.

    Returns:
        An `AlbertBackbone` or task model with the checkpoint's weights.
    """
    if source == "tf1":
        return load_tf1_checkpoint(input_path, albert_config_file, task=task)
    if albert_config_file:
        raise ValueError("`albert_config_file` only applies to source='tf1'.")
    if source == "huggingface":
        return load_huggingface_checkpoint(input_path, task=task)
    if source == "keras_hub":
        return load_keras_hub_preset(input_path, task=task)
    raise ValueError(f"Unknown source {source!r}; expected one of {', '.join(SOURCES)}.")


def _source_tokenizer(source, input_path, spm_model_file, lower_case, keep_accents):
    """`(spm path or None, lower_case, keep_accents)`: arguments over the source's files."""
    found, source_lower_case, source_keep_accents = None, True, False
    if source == "tf1":
        found = find_spm_model(find_tf1_checkpoint(input_path)[1], spm_model_file)
    elif source == "huggingface":
        found, source_lower_case, source_keep_accents = read_tokenizer_options(input_path)
    elif source == "keras_hub":
        found = find_keras_hub_spm(input_path)
    if spm_model_file and not os.path.isfile(spm_model_file):
        raise ValueError(f"spm_model_file {spm_model_file} does not exist.")
    return (
        spm_model_file or found,
        source_lower_case if lower_case is None else lower_case,
        source_keep_accents if keep_accents is None else keep_accents,
    )


def convert_checkpoint(
    source,
    input_path,
    output_dir,
    spm_model_file=None,
    task="auto",
    albert_config_file=None,
    lower_case=None,
    keep_accents=None,
    overwrite=False,
):
    """Converts a checkpoint to a keras-albert preset directory.

    The preset loads with `AlbertBackbone.from_preset(output_dir)` and, for
    a checkpoint with heads, with the task class's `from_preset` (a
    pretraining checkpoint gives an `AlbertPretrainer` preset). Nothing is
    written unless the whole conversion succeeds.

    Args:
        source, input_path, task, albert_config_file: as `load_checkpoint`.
        output_dir: the preset directory to write.
        spm_model_file: SentencePiece model for the preset's tokenizer;
            default: the one in the input (TF1 `30k-clean.model` /
            `spiece.model`, HuggingFace `spiece.model`, keras-hub asset).
        lower_case, keep_accents: tokenizer normalization; default: the
            source's (HuggingFace `tokenizer_config.json`), else uncased.
        overwrite: replace an existing non-empty `output_dir`.

    Returns:
        The converted model.
    """
    spm, lower, accents = _source_tokenizer(
        source, input_path, spm_model_file, lower_case, keep_accents
    )
    model = load_checkpoint(source, input_path, task=task, albert_config_file=albert_config_file)
    write_preset(model, output_dir, spm, lower, accents, overwrite=overwrite)
    return model


def export_checkpoint(preset_or_model, target, output_dir, spm_model_file=None, overwrite=False):
    """Writes a keras-albert preset (or model) as a HuggingFace, keras-hub or TF1 checkpoint.

    Args:
        preset_or_model: a preset directory, or a model in memory.
        target: "huggingface" (`config.json` + `model.safetensors` +
            `spiece.model`, for `AlbertFor*.from_pretrained`), "keras_hub"
            (a keras-hub preset) or "tf1" (an original-style release folder:
            `albert_config.json`, `model.ckpt`, `30k-clean.model`).
        output_dir: the directory to write (all or nothing).
        spm_model_file: default: the preset's tokenizer asset, or the
            SentencePiece model of a model's `preprocessor.tokenizer`.
        overwrite: replace an existing non-empty `output_dir`.
    """
    if target not in TARGETS:
        raise ValueError(f"Unknown target {target!r}; expected one of {', '.join(TARGETS)}.")
    if isinstance(preset_or_model, (str, os.PathLike)):
        preset = os.fspath(preset_or_model)
        model = load_preset_model(preset)
        found, lower_case, keep_accents = preset_tokenizer_options(preset)
        _export(model, target, output_dir, spm_model_file or found, lower_case, keep_accents, overwrite)
        return model
    model = preset_or_model
    # A model in memory carries its tokenizer's normalization (and model) in its preprocessor.
    tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
    if tokenizer is None:
        if spm_model_file is None:
            logging.warning("export_checkpoint: the model has no preprocessor and no spm_model_file was given: "
                            "%s gets no tokenizer.", output_dir)
        _export(model, target, output_dir, spm_model_file, True, False, overwrite)
        return model
    with tempfile.TemporaryDirectory() as scratch:
        if spm_model_file is None:
            spm_model_file = os.path.join(scratch, "spiece.model")
            with open(spm_model_file, "wb") as file:
                file.write(tokenizer.proto)
        _export(model, target, output_dir, spm_model_file, tokenizer.lower_case, tokenizer.keep_accents, overwrite)
    return model


def _export(model, target, output_dir, spm_model_file, lower_case, keep_accents, overwrite):
    with staging_directory(output_dir, overwrite) as staging:
        if target == "huggingface":
            write_huggingface_files(model, staging, spm_model_file, lower_case, keep_accents)
        elif target == "keras_hub":
            write_keras_hub_files(model, staging, spm_model_file)
        else:
            write_tf1_files(model, staging, spm_model_file)


__all__ = [
    "SOURCES",
    "TARGETS",
    "TASKS",
    "albert_config_from_backbone_config",
    "backbone_config_from_albert_config",
    "backbone_config_from_huggingface_config",
    "convert_checkpoint",
    "export_checkpoint",
    "huggingface_config_from_model",
    "huggingface_tensors_from_model",
    "huggingface_weight_table",
    "keras_hub_model_from_model",
    "keras_hub_weight_table",
    "load_checkpoint",
    "load_huggingface_checkpoint",
    "load_huggingface_tensors",
    "load_keras_hub_preset",
    "load_tf1_checkpoint",
    "tf1_weight_table",
    "write_huggingface_files",
    "write_keras_hub_files",
    "write_preset",
    "write_tf1_files",
]
