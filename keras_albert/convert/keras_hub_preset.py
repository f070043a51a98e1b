"""keras-hub ALBERT presets (`keras_hub.models.AlbertBackbone`), both ways.

keras-hub's backbone has the same architecture with other variable names:
`TransformerEncoder` blocks `group_{g}_inner_layer_{k}` whose attention
(`keras.layers.MultiHeadAttention`) keeps query/key/value kernels as
`[H, heads, head_dim]` and the output kernel as `[heads, head_dim, H]`.
keras-hub also has `AlbertTextClassifier` and `AlbertMaskedLM` (MLM without
the sentence-order head); other heads have no keras-hub ALBERT class.

keras-hub's ALBERT always uses the tanh GELU, LayerNorm epsilon 1e-12 in the
encoder (1e-5 in its MLM head's LayerNorm, where keras-albert follows the
original's 1e-12) and one dropout rate for hidden and attention dropout.

Example:
```python
backbone = load_keras_hub_preset("keras_hub_albert_preset/")
keras_hub_model = keras_hub_model_from_model(backbone)  # keras_hub.models.AlbertBackbone
```
"""

import logging
import os

import keras

from keras_albert.convert.files import read_json
from keras_albert.convert.task_models import (
    backbone_config_of,
    build_model,
    describe,
    head_config,
    resolve_task,
    task_of,
)
from keras_albert.convert.weight_table import (
    COPY,
    QKV,
    RESHAPE,
    TensorSource,
    WeightTable,
    export_weights_with_table,
    load_weights_from_table,
    restrict_to_model,
    variables_by_path,
    weight_entry,
)
from keras_albert.layers.activations import activation_description, activation_name

logger = logging.getLogger(__name__)

FORMAT_NAME = "keras-hub preset"
CONFIG_FILE = "config.json"
TASK_CONFIG_FILE = "task.json"
SPM_ASSET = os.path.join("assets", "tokenizer", "vocabulary.spm")
TOKENIZER_CONFIG_FILE = "tokenizer.json"
_BACKBONE_CLASS = "keras_hub>AlbertBackbone"
# keras-hub task class -> keras-albert task.
TASK_CLASSES = {
    "keras_hub>AlbertTextClassifier": "text_classification",
    "keras_hub>AlbertMaskedLM": "pretraining",
}
# Config entries keras-hub's AlbertBackbone shares with keras-albert's.
_SHARED_CONFIG_KEYS = (
    "vocabulary_size",
    "num_layers",
    "num_heads",
    "embedding_dim",
    "hidden_dim",
    "intermediate_dim",
    "num_groups",
    "num_inner_repetitions",
    "dropout",
    "max_sequence_length",
    "num_segments",
)
_ACTIVATION = "gelu_approximate"
_LAYER_NORM_EPSILON = 1e-12
_NO_KERAS_HUB_HEAD = {
    "token_classification": "logits/",
    "question_answering": "span_logits/",
    "multiple_choice": "choice_logits/",
}


def backbone_config_from_keras_hub_config(keras_hub_config):
    """`AlbertBackbone` kwargs from a keras-hub `AlbertBackbone` config."""
    return {
        **{key: keras_hub_config[key] for key in _SHARED_CONFIG_KEYS},
        "activation": _ACTIVATION,
        "attention_dropout": keras_hub_config["dropout"],
        "layer_norm_epsilon": _LAYER_NORM_EPSILON,
    }


def keras_hub_config_from_backbone_config(config):
    """keras-hub `AlbertBackbone` kwargs; refuses what keras-hub cannot express."""
    same_activation = activation_name(config["activation"], (_ACTIVATION,)) is not None  # A name, or a callable's.
    if not same_activation or config["layer_norm_epsilon"] != _LAYER_NORM_EPSILON:
        raise ValueError(
            "keras-hub's AlbertBackbone always uses activation="
            f"{_ACTIVATION!r} and layer_norm_epsilon={_LAYER_NORM_EPSILON}; "
            f"this model has activation={activation_description(config['activation'])}, "
            f"layer_norm_epsilon={config['layer_norm_epsilon']}."
        )
    if config["attention_dropout"] != config["dropout"]:
        logger.warning(
            "keras-hub has one dropout rate: writing dropout=%s (attention_dropout=%s "
            "is not kept; inference is unaffected).",
            config["dropout"],
            config["attention_dropout"],
        )
    return {key: config[key] for key in _SHARED_CONFIG_KEYS}


def keras_hub_weight_table(config, task="backbone", num_classes=None):
    """The keras-hub name table for `config` and the heads keras-hub has."""
    V, E, H = config["vocabulary_size"], config["embedding_dim"], config["hidden_dim"]
    I, P, S = config["intermediate_dim"], config["max_sequence_length"], config["num_segments"]
    heads = config["num_heads"]
    head_dim = H // heads

    entry = weight_entry

    def same(path, name, shape):
        return entry(path, shape, (name, shape, COPY))

    def dense(path, name, fan_in, fan_out):
        return [
            same(f"{path}/kernel", f"{name}/kernel", (fan_in, fan_out)),
            same(f"{path}/bias", f"{name}/bias", (fan_out,)),
        ]

    def layer_norm(path, name, width):
        return [
            same(f"{path}/gamma", f"{name}/gamma", (width,)),
            same(f"{path}/beta", f"{name}/beta", (width,)),
        ]

    entries = [
        same("embeddings/token_embedding/embeddings", "token_embedding/embeddings", (V, E)),
        same("embeddings/segment_embedding/embeddings", "segment_embedding/embeddings", (S, E)),
        same("embeddings/position_embeddings", "position_embedding/embeddings", (P, E)),
        *layer_norm("embeddings/layer_norm", "embeddings_layer_norm", E),
        *dense("embeddings/projection", "embedding_projection", E, H),
    ]
    for group in range(config["num_groups"]):
        for inner in range(config["num_inner_repetitions"]):
            block = f"encoder/group_{group}_inner_{inner}"
            scope = f"group_{group}_inner_layer_{inner}"
            attention = f"{scope}/self_attention_layer"
            entries += [
                entry(f"{block}/qkv_dense/kernel", (H, 3 * H),
                      *((f"{attention}/{name}/kernel", (H, heads, head_dim), RESHAPE)
                        for name in QKV)),
                entry(f"{block}/qkv_dense/bias", (3 * H,),
                      *((f"{attention}/{name}/bias", (heads, head_dim), RESHAPE) for name in QKV)),
                entry(f"{block}/attention_output_dense/kernel", (H, H),
                      (f"{attention}/attention_output/kernel", (heads, head_dim, H), RESHAPE)),
                same(f"{block}/attention_output_dense/bias",
                     f"{attention}/attention_output/bias", (H,)),
                *layer_norm(f"{block}/attention_layer_norm",
                            f"{scope}/self_attention_layer_norm", H),
                *dense(f"{block}/ffn_intermediate_dense",
                       f"{scope}/feedforward_intermediate_dense", H, I),
                *dense(f"{block}/ffn_output_dense", f"{scope}/feedforward_output_dense", I, H),
                *layer_norm(f"{block}/ffn_layer_norm", f"{scope}/feedforward_layer_norm", H),
            ]
    entries += dense("pooler_dense", "pooled_dense", H, H)
    absent = {}
    if task == "text_classification":
        entries += dense("logits", "logits", H, num_classes)
    elif task == "pretraining":
        entries += [
            *dense("mlm_head/intermediate_dense", "mlm_head/intermediate_dense", H, E),
            *layer_norm("mlm_head/intermediate_layer_norm", "mlm_head/intermediate_layer_norm", E),
            same("mlm_head/output_bias", "mlm_head/output_bias", (V,)),
        ]
        absent["sop_dense/"] = "keras-hub's AlbertMaskedLM has no sentence-order head"
    elif task in _NO_KERAS_HUB_HEAD:
        absent[_NO_KERAS_HUB_HEAD[task]] = f"keras-hub has no ALBERT {task} model"
    return WeightTable(entries=tuple(entries), absent=absent)


def _keras_hub_model_class(task):
    import keras_hub

    return {
        "text_classification": keras_hub.models.AlbertTextClassifier,
        "pretraining": keras_hub.models.AlbertMaskedLM,
    }.get(task, keras_hub.models.AlbertBackbone)


def load_keras_hub_preset(preset_dir, task="auto", model=None):
    """Loads a keras-hub ALBERT preset directory into a keras-albert model.

    Args:
        preset_dir: a directory written by keras-hub's `save_to_preset`.
        task: "auto" (`AlbertTextClassifier` presets give a text classifier,
            `AlbertMaskedLM` presets an `AlbertPretrainer` with a fresh
            sentence-order head), "backbone", or that task.
        model: optional existing model to load into.
    """
    preset_dir = os.fspath(preset_dir)
    config_file = os.path.join(preset_dir, CONFIG_FILE)
    if not os.path.isfile(config_file):
        raise ValueError(f"{preset_dir} is not a keras-hub preset: no {CONFIG_FILE}.")
    saved = read_json(config_file)
    if saved.get("registered_name") != _BACKBONE_CLASS:
        raise ValueError(
            f"{config_file} holds {saved.get('registered_name')!r}, expected {_BACKBONE_CLASS!r}."
        )
    try:
        config = backbone_config_from_keras_hub_config(saved["config"])
    except KeyError as error:
        raise ValueError(f"{config_file} is missing the field {error}.") from error
    detected, head = "backbone", {}
    task_file = os.path.join(preset_dir, TASK_CONFIG_FILE)
    if os.path.isfile(task_file):
        saved_task = read_json(task_file)
        name = saved_task.get("registered_name")
        if name not in TASK_CLASSES:
            raise ValueError(
                f"{task_file} holds {name!r}; keras-albert converts "
                f"{', '.join(TASK_CLASSES)} or the bare backbone."
            )
        detected = TASK_CLASSES[name]
        head = {
            key: saved_task["config"][key]
            for key in ("num_classes", "dropout", "activation")
            if key in saved_task["config"]
        }
    task = resolve_task(task if model is None else task_of(model), detected, preset_dir)
    if model is None:
        model = build_model(config, task, head)
    else:
        config = backbone_config_of(model)
    # keras-hub itself reads its weights (all of them, heads included, so
    # that heads left out are logged); the table then maps them over.
    reader_class = _keras_hub_model_class(detected)
    try:
        if detected == "backbone":
            reference = reader_class.from_preset(preset_dir)
        else:
            reference = reader_class.from_preset(preset_dir, preprocessor=None)
    except Exception as error:
        raise ValueError(f"keras-hub could not load preset {preset_dir}: {error}") from error
    arrays = {
        path: keras.ops.convert_to_numpy(variable)
        for path, variable in variables_by_path(reference).items()
    }
    source = TensorSource.from_arrays(arrays, preset_dir, config_file)
    table = keras_hub_weight_table(config, detected, head.get("num_classes"))
    table = restrict_to_model(table, variables_by_path(model))
    load_weights_from_table(model, table, source, FORMAT_NAME)
    logger.info("Loaded %s from %s", describe(model), preset_dir)
    return model


def keras_hub_model_from_model(model):
    """The keras-hub model (backbone, text classifier or masked LM) of `model`.

    Heads keras-hub has no ALBERT class for are left out (logged).
    """
    import keras_hub

    task = task_of(model)
    config = backbone_config_of(model)
    head = head_config(model)
    backbone = keras_hub.models.AlbertBackbone(**keras_hub_config_from_backbone_config(config))
    if task == "text_classification":
        target = keras_hub.models.AlbertTextClassifier(
            backbone, num_classes=head["num_classes"], preprocessor=None, dropout=head["dropout"]
        )
    elif task == "pretraining":
        target = keras_hub.models.AlbertMaskedLM(backbone, preprocessor=None)
    else:
        target = backbone
    tensors = export_weights_with_table(
        model, keras_hub_weight_table(config, task, head.get("num_classes")), FORMAT_NAME
    )
    variables = variables_by_path(target)
    if set(tensors) != set(variables):
        raise ValueError(
            "keras-hub model variables do not match the table: missing "
            f"{sorted(set(variables) - set(tensors))}, "
            f"extra {sorted(set(tensors) - set(variables))}."
        )
    for name, value in tensors.items():
        variables[name].assign(value)
    return target


def write_keras_hub_files(model, directory, spm_model_file=None):
    """Writes `model` as a keras-hub preset (and tokenizer) into `directory`."""
    import keras_hub

    keras_hub_model_from_model(model).save_to_preset(directory)
    if spm_model_file:
        keras_hub.models.AlbertTokenizer(proto=spm_model_file).save_to_preset(directory)


def find_keras_hub_spm(preset_dir):
    """The SentencePiece model of a keras-hub preset, if it has one."""
    path = os.path.join(preset_dir, SPM_ASSET)
    return path if os.path.isfile(path) else None
