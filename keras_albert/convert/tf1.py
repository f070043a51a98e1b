"""Original google-research/albert TF1 checkpoints (and TF-Hub modules).

Read with `tf.train.load_checkpoint`: no TF1 graph code is run. A release
folder holds `albert_config.json`, `model.ckpt-*.{index,data-*}` and the
SentencePiece model (`30k-clean.model`). Variable names are the original
`modeling.py`'s, e.g. `bert/encoder/transformer/group_0/inner_group_0/
attention_1/self/query/kernel`; TF-Hub modules prefix them with `module/`.

Example:
```python
model = load_tf1_checkpoint("albert_base/")  # an AlbertPretrainer
backbone = load_tf1_checkpoint("albert_base/model.ckpt-best", task="backbone")
```
"""

import glob
import json
import logging
import os

import keras
import numpy as np

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
    TRANSPOSE,
    Fallback,
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

FORMAT_NAME = "TF1 checkpoint"
CONFIG_FILE = "albert_config.json"
# The SentencePiece model of the original releases, then HF's name for it.
SPM_FILES = ("30k-clean.model", "spiece.model")

# The original `modeling.get_activation`: its "gelu" is the tanh approximation.
_ACTIVATIONS = {
    "gelu": "gelu_approximate",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}
_REQUIRED_FIELDS = (
    "vocab_size",
    "embedding_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
)
# Optional fields and the original `AlbertConfig` defaults.
_OPTIONAL_FIELDS = {
    "num_hidden_groups": 1,
    "inner_group_num": 1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
}
# Fields `modeling.py` accepts but ignores; only their defaults are faithful.
_UNUSED_FIELDS = {
    "down_scale_factor": 1,
    "net_structure_type": 0,
    "gap_size": 0,
    "num_memory_blocks": 0,
    "layers_to_keep": [],
}
# Not model weights: optimizer slots and counters of the original trainers.
_SKIP_PATTERNS = (
    r"^(module/)?global_step$",
    r"/(adam|lamb)_[mv]$",
    r"/Adam(_1)?$",
    r"^beta[12]_power$",
)
# The original's `tf.contrib.layers.layer_norm` epsilon.
_LAYER_NORM_EPSILON = 1e-12


def backbone_config_from_albert_config(albert_config):
    """`AlbertBackbone` kwargs from an original `albert_config.json`.

    Args:
        albert_config: a dict, or the path of an `albert_config.json`.

    Returns:
        A dict of `AlbertBackbone` constructor arguments. The original
        "gelu" (tanh approximation) becomes `"gelu_approximate"`.

    Raises:
        ValueError: naming the file and field, for a missing field, an
            unknown activation, or a structure this model cannot represent.
    """
    location = "albert_config"
    if isinstance(albert_config, (str, os.PathLike)):
        location = os.fspath(albert_config)
        albert_config = read_json(location)
    missing = [field for field in _REQUIRED_FIELDS if field not in albert_config]
    if missing:
        raise ValueError(f"{location} is missing the field(s) {', '.join(missing)}.")
    for field, default in _UNUSED_FIELDS.items():
        if albert_config.get(field, default) != default:
            raise ValueError(
                f"{location}: {field}={albert_config[field]!r} is not supported "
                f"(the original modeling.py only implements {field}={default!r})."
            )
    known = set(_REQUIRED_FIELDS) | set(_OPTIONAL_FIELDS) | set(_UNUSED_FIELDS)
    unknown = set(albert_config) - known
    if unknown:
        logger.warning("%s: ignoring unknown fields %s", location, sorted(unknown))
    config = {**_OPTIONAL_FIELDS, **albert_config}
    activation = config["hidden_act"]
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"{location}: hidden_act={activation!r} is not one of the original "
            f"activations {sorted(_ACTIVATIONS)}."
        )
    return {
        "vocabulary_size": config["vocab_size"],
        "num_layers": config["num_hidden_layers"],
        "num_heads": config["num_attention_heads"],
        "embedding_dim": config["embedding_size"],
        "hidden_dim": config["hidden_size"],
        "intermediate_dim": config["intermediate_size"],
        "num_groups": config["num_hidden_groups"],
        "num_inner_repetitions": config["inner_group_num"],
        "activation": _ACTIVATIONS[activation],
        "dropout": config["hidden_dropout_prob"],
        "attention_dropout": config["attention_probs_dropout_prob"],
        "max_sequence_length": config["max_position_embeddings"],
        "num_segments": config["type_vocab_size"],
        "layer_norm_epsilon": _LAYER_NORM_EPSILON,
        "initializer_range": config["initializer_range"],
    }


def tf1_weight_table(config, num_classes=None, prefix=""):
    """The TF1 name table for a backbone `config` and every original head.

    Args:
        config: `AlbertBackbone` kwargs.
        num_classes: int. Rows of the classifier's `output_weights`.
        prefix: "" or "module/" (TF-Hub modules).
    """
    V, E, H = config["vocabulary_size"], config["embedding_dim"], config["hidden_dim"]
    I, P, S = config["intermediate_dim"], config["max_sequence_length"], config["num_segments"]

    def entry(path, shape, *parts, fallback=None):
        parts = ((prefix + name, part_shape, layout) for name, part_shape, layout in parts)
        return weight_entry(path, shape, *parts, fallback=fallback)

    def dense(path, scope, fan_in, fan_out, fallback=None):
        return [
            entry(f"{path}/kernel", (fan_in, fan_out), (f"{scope}/kernel", (fan_in, fan_out), COPY),
                  fallback=fallback),
            entry(f"{path}/bias", (fan_out,), (f"{scope}/bias", (fan_out,), COPY),
                  fallback=fallback),
        ]

    def layer_norm(path, scope, width):
        return [
            entry(f"{path}/gamma", (width,), (f"{scope}/gamma", (width,), COPY)),
            entry(f"{path}/beta", (width,), (f"{scope}/beta", (width,), COPY)),
        ]

    def table(path, name, shape):
        return entry(path, shape, (f"bert/embeddings/{name}", shape, COPY))

    # The original only creates the projection when E != H: identity otherwise.
    identity = Fallback(
        "the original code has no projection when embedding_size == hidden_size",
        value=lambda shape: np.eye(*shape) if len(shape) == 2 else np.zeros(shape),
    )
    entries = [
        table("embeddings/token_embedding/embeddings", "word_embeddings", (V, E)),
        table("embeddings/segment_embedding/embeddings", "token_type_embeddings", (S, E)),
        table("embeddings/position_embeddings", "position_embeddings", (P, E)),
        *layer_norm("embeddings/layer_norm", "bert/embeddings/LayerNorm", E),
        *dense("embeddings/projection", "bert/encoder/embedding_hidden_mapping_in", E, H,
               fallback=identity if E == H else None),
    ]
    for group in range(config["num_groups"]):
        for inner in range(config["num_inner_repetitions"]):
            block = f"encoder/group_{group}_inner_{inner}"
            scope = f"bert/encoder/transformer/group_{group}/inner_group_{inner}"
            attention = f"{scope}/attention_1/self"
            ffn = f"{scope}/ffn_1/intermediate"
            entries += [
                entry(f"{block}/qkv_dense/kernel", (H, 3 * H),
                      *((f"{attention}/{name}/kernel", (H, H), COPY) for name in QKV)),
                entry(f"{block}/qkv_dense/bias", (3 * H,),
                      *((f"{attention}/{name}/bias", (H,), COPY) for name in QKV)),
                *dense(f"{block}/attention_output_dense", f"{scope}/attention_1/output/dense",
                       H, H),
                *layer_norm(f"{block}/attention_layer_norm", f"{scope}/LayerNorm", H),
                # The FFN output layer is nested under `intermediate` in the original.
                *dense(f"{block}/ffn_intermediate_dense", f"{ffn}/dense", H, I),
                *dense(f"{block}/ffn_output_dense", f"{ffn}/output/dense", I, H),
                *layer_norm(f"{block}/ffn_layer_norm", f"{scope}/LayerNorm_1", H),
            ]
    entries += dense("pooler_dense", "bert/pooler/dense", H, H)

    # Heads of run_pretraining.py, squad_utils.py (v1), classifier_utils.py
    # and race_utils.py. `output_weights` are [rows, H]: transposed kernels.
    def output_layer(path, scope, rows):
        return [
            entry(f"{path}/kernel", (H, rows), (f"{scope}output_weights", (rows, H), TRANSPOSE)),
            entry(f"{path}/bias", (rows,), (f"{scope}output_bias", (rows,), COPY)),
        ]

    entries += [
        *dense("mlm_head/intermediate_dense", "cls/predictions/transform/dense", H, E),
        *layer_norm("mlm_head/intermediate_layer_norm", "cls/predictions/transform/LayerNorm", E),
        entry("mlm_head/output_bias", (V,), ("cls/predictions/output_bias", (V,), COPY)),
        *output_layer("sop_dense", "cls/seq_relationship/", 2),
        *output_layer("span_logits", "cls/squad/", 2),
    ]
    # The original SQuAD v2.0 head (squad_utils.py `create_v2_model`): its
    # `end_logits/dense_0` and `answer_class/dense_0` read 2H features.
    entries += [
        *dense("start_logits_dense", "start_logits/dense", H, 1),
        *dense("end_logits_dense_0", "end_logits/dense_0", 2 * H, H),
        *layer_norm("end_logits_layer_norm", "end_logits/LayerNorm", H),
        *dense("end_logits_dense_1", "end_logits/dense_1", H, 1),
        *dense("answer_class_dense_0", "answer_class/dense_0", 2 * H, H),
        entry("answer_class_dense_1/kernel", (H, 1), ("answer_class/dense_1/kernel", (H, 1), COPY)),
    ]
    if num_classes:
        entries += output_layer("logits", "", num_classes)
        entries += output_layer("choice_logits", "", num_classes)
    return WeightTable(entries=tuple(entries), skip_patterns=_SKIP_PATTERNS)


def detect_tf1_task(names, prefix=""):
    """The task a TF1 checkpoint was saved for, from its variable names."""
    if prefix + "cls/predictions/output_bias" in names:
        return "pretraining"
    if prefix + "cls/squad/output_weights" in names:
        return "question_answering"
    if prefix + "answer_class/dense_1/kernel" in names:
        return "squad_v2_question_answering"
    if prefix + "output_weights" in names:
        # classifier_utils.py; a race_utils.py (multiple choice) checkpoint
        # has the same names with one row: pass task="multiple_choice".
        return "text_classification"
    return "backbone"


def find_tf1_checkpoint(path):
    """`(checkpoint prefix, folder)` for a folder or a checkpoint prefix."""
    path = os.fspath(path)
    if os.path.isdir(path):
        import tensorflow as tf

        if os.path.exists(os.path.join(path, "checkpoint")):
            prefix = tf.train.latest_checkpoint(path)
            if prefix is None:
                raise ValueError(
                    f"{os.path.join(path, 'checkpoint')} names no existing checkpoint."
                )
            return prefix, path
        indexes = sorted(glob.glob(os.path.join(path, "*.index")))
        if len(indexes) == 1:
            return indexes[0][: -len(".index")], path
        if not indexes:
            raise ValueError(
                f"No TF1 checkpoint in {path}: expected a `checkpoint` file or "
                "one `model.ckpt-*.index` (with its `.data-*` files)."
            )
        raise ValueError(
            f"{path} holds several checkpoints; pass one prefix as --input: "
            + ", ".join(index[: -len(".index")] for index in indexes)
        )
    if os.path.exists(path + ".index"):
        return path, os.path.dirname(path) or "."
    raise ValueError(
        f"{path} is neither a folder nor a TF1 checkpoint prefix (no {path}.index)."
    )


def open_tf1_checkpoint(checkpoint_prefix, config_location="albert_config.json"):
    """A `TensorSource` over a TF1 checkpoint (nothing is read yet)."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(checkpoint_prefix)
        shapes = {name: tuple(shape) for name, shape in reader.get_variable_to_shape_map().items()}
    except Exception as error:  # truncated or foreign files
        raise ValueError(
            f"Could not read TF1 checkpoint {checkpoint_prefix} (.index / .data-*): {error}"
        ) from error
    return TensorSource(shapes, reader.get_tensor, checkpoint_prefix, config_location)


def find_spm_model(folder, spm_model_file=None):
    """`spm_model_file`, or the release's SentencePiece model in `folder`."""
    if spm_model_file:
        if not os.path.isfile(spm_model_file):
            raise ValueError(f"--spm_model_file {spm_model_file} does not exist.")
        return spm_model_file
    for name in SPM_FILES:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def load_tf1_checkpoint(checkpoint_path, albert_config_file=None, task="auto", model=None):
    """Loads an original ALBERT TF1 checkpoint into a keras-albert model.

    Args:
        checkpoint_path: a folder holding `albert_config.json` and the
            checkpoint, or a checkpoint prefix (`.../model.ckpt-best`).
        albert_config_file: path of `albert_config.json`; default: next to
            the checkpoint. Not needed when `model` is given.
        task: "auto" (the task the checkpoint was saved for: pretraining
            heads give an `AlbertPretrainer`), "backbone", or that task.
        model: optional existing model to load into (its heads must be in
            the checkpoint; checkpoint heads it lacks are logged, not used).

    Returns:
        The model, with every variable assigned from the checkpoint.
    """
    prefix, folder = find_tf1_checkpoint(checkpoint_path)
    if model is not None:
        config = backbone_config_of(model)
        config_location = f"the {type(model).__name__} config"
    else:
        albert_config_file = albert_config_file or os.path.join(folder, CONFIG_FILE)
        if not os.path.isfile(albert_config_file):
            raise ValueError(
                f"No {CONFIG_FILE} for checkpoint {prefix}: expected "
                f"{albert_config_file} (or pass --albert_config_file)."
            )
        config = backbone_config_from_albert_config(albert_config_file)
        config_location = albert_config_file
    source = open_tf1_checkpoint(prefix, config_location)
    name_prefix = "module/" if any(name.startswith("module/") for name in source.shapes) else ""
    detected = detect_tf1_task(source.shapes, name_prefix)
    num_classes = None
    if name_prefix + "output_weights" in source.shapes:
        num_classes = source.shapes[name_prefix + "output_weights"][0]
    # race_utils.py keeps its one-row multiple-choice head under the
    # classifier's names; only the caller can tell them apart.
    requested = task if model is None else task_of(model)
    if detected == "text_classification" and num_classes == 1 and requested == "multiple_choice":
        detected = "multiple_choice"
    task = resolve_task(requested, detected, prefix)
    if model is None:
        model = build_model(config, task, {"num_classes": num_classes})
    table = tf1_weight_table(config, num_classes, name_prefix)
    table = restrict_to_model(table, variables_by_path(model))
    load_weights_from_table(model, table, source, FORMAT_NAME)
    logger.info("Loaded %s from %s", describe(model), prefix)
    return model


def albert_config_from_backbone_config(config):
    """The original `albert_config.json` dict for `AlbertBackbone` kwargs."""
    activations = {ours: original for original, ours in _ACTIVATIONS.items()}
    activation = activation_name(config["activation"], activations)  # A name, or a callable's.
    if activation is None:
        raise ValueError(
            f"activation={activation_description(config['activation'])} has no equivalent in the original "
            f"code, whose activations are {sorted(_ACTIVATIONS)} (its 'gelu' is "
            "the tanh approximation)."
        )
    if config["layer_norm_epsilon"] != _LAYER_NORM_EPSILON:
        raise ValueError(
            f"layer_norm_epsilon={config['layer_norm_epsilon']} cannot be expressed: "
            f"the original code always uses {_LAYER_NORM_EPSILON}."
        )
    return {
        "vocab_size": config["vocabulary_size"],
        "embedding_size": config["embedding_dim"],
        "hidden_size": config["hidden_dim"],
        "num_hidden_layers": config["num_layers"],
        "num_hidden_groups": config["num_groups"],
        "inner_group_num": config["num_inner_repetitions"],
        "num_attention_heads": config["num_heads"],
        "intermediate_size": config["intermediate_dim"],
        "hidden_act": activations[activation],
        "hidden_dropout_prob": config["dropout"],
        "attention_probs_dropout_prob": config["attention_dropout"],
        "max_position_embeddings": config["max_sequence_length"],
        "type_vocab_size": config["num_segments"],
        "initializer_range": config["initializer_range"],
        **_UNUSED_FIELDS,
    }


def write_tf1_files(model, directory, spm_model_file=None):
    """Writes `model` as an original-style release into `directory`.

    `albert_config.json`, `model.ckpt.{index,data-*}` with a `checkpoint`
    file, and the SentencePiece model as `30k-clean.model`: what the
    original `run_pretraining.py`, `run_classifier.py` (`--init_checkpoint`)
    and TF1 tooling read.
    """
    import shutil

    import tensorflow as tf

    task = task_of(model)
    if task == "token_classification":
        raise ValueError(
            "The original ALBERT code has no token classification head; "
            "export `model.backbone` instead."
        )
    config = backbone_config_of(model)
    albert_config = albert_config_from_backbone_config(config)
    num_classes = head_config(model).get("num_classes", 1)
    table = restrict_to_model(tf1_weight_table(config, num_classes), variables_by_path(model))
    tensors = export_weights_with_table(model, table, FORMAT_NAME)
    if config["embedding_dim"] == config["hidden_dim"]:
        # The original has no projection at E == H (the table leaves it out):
        # only an identity projection is faithfully dropped.
        projection = getattr(model, "backbone", model).embeddings.projection
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in (projection.kernel, projection.bias))
        if not (np.array_equal(kernel, np.eye(*kernel.shape)) and not bias.any()):
            raise ValueError(
                "With embedding_dim == hidden_dim the original code has no "
                "embedding projection, but this model's is not the identity."
            )
    names = sorted(tensors)
    prefix = os.path.join(directory, "model.ckpt")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[name]) for name in names],
    )
    with open(os.path.join(directory, "checkpoint"), "w", encoding="utf-8") as file:
        file.write(
            'model_checkpoint_path: "model.ckpt"\nall_model_checkpoint_paths: "model.ckpt"\n'
        )
    with open(os.path.join(directory, CONFIG_FILE), "w", encoding="utf-8") as file:
        json.dump(albert_config, file, indent=2)
    if spm_model_file:
        shutil.copyfile(spm_model_file, os.path.join(directory, SPM_FILES[0]))
