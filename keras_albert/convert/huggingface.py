"""HuggingFace `transformers` ALBERT directories, both ways.

A directory as written by `save_pretrained`: `config.json`, the weights
(`model.safetensors`, sharded safetensors, or `pytorch_model.bin`) and the
SentencePiece model `spiece.model`. Safetensors are read with the
`safetensors` numpy API (no torch needed). A `pytorch_model.bin` is a pickle;
it is only read with `torch.load(weights_only=True)`, which cannot execute
code from the file, and refused when torch is absent.

Example:
```python
from keras_albert.convert import export_checkpoint, load_huggingface_checkpoint

classifier = load_huggingface_checkpoint("albert-sst2/")  # AlbertTextClassifier
export_checkpoint(
    classifier, "huggingface", "albert-sst2-hf/", spm_model_file="albert-sst2/spiece.model"
)
# then, in PyTorch: AlbertForSequenceClassification.from_pretrained("albert-sst2-hf/")
```
"""

import json
import logging
import os

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

FORMAT_NAME = "HuggingFace checkpoint"
CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
PYTORCH_FILE = "pytorch_model.bin"
SPM_FILE = "spiece.model"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"

# HuggingFace head class -> keras-albert task.
ARCHITECTURES = {
    "AlbertModel": "backbone",
    "AlbertForPreTraining": "pretraining",
    "AlbertForMaskedLM": "pretraining",
    "AlbertForSequenceClassification": "text_classification",
    "AlbertForTokenClassification": "token_classification",
    "AlbertForQuestionAnswering": "question_answering",
    "AlbertForMultipleChoice": "multiple_choice",
}
# keras-albert task -> the HuggingFace head class written on export.
EXPORT_ARCHITECTURES = {
    "backbone": "AlbertModel",
    "pretraining": "AlbertForPreTraining",
    "text_classification": "AlbertForSequenceClassification",
    "token_classification": "AlbertForTokenClassification",
    "question_answering": "AlbertForQuestionAnswering",
    "multiple_choice": "AlbertForMultipleChoice",
}
# HuggingFace builds these heads with `add_pooling_layer=False`.
_WITHOUT_POOLER = (
    "AlbertForMaskedLM",
    "AlbertForTokenClassification",
    "AlbertForQuestionAnswering",
)
# `transformers.activations.ACT2FN` names. HuggingFace "gelu" is the exact
# erf GELU; "gelu_new" (its ALBERT default) the original's tanh approximation.
_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_python": "gelu",
    "gelu_new": "gelu_approximate",
    "gelu_fast": "gelu_approximate",
    "gelu_pytorch_tanh": "gelu_approximate",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
    "tanh": "tanh",
    "linear": "linear",
}
_EXPORT_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_approximate": "gelu_new",
    "relu": "relu",
    "silu": "silu",
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
# `transformers.AlbertConfig` defaults of the optional fields.
_OPTIONAL_FIELDS = {
    "num_hidden_groups": 1,
    "inner_group_num": 1,
    "hidden_act": "gelu_new",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "classifier_dropout_prob": 0.1,
}
# Buffers some writers store next to the weights.
_SKIP_PATTERNS = (r"(^|\.)position_ids$",)


def backbone_config_from_huggingface_config(hf_config, location=CONFIG_FILE):
    """`AlbertBackbone` kwargs from a HuggingFace ALBERT `config.json` dict."""
    if hf_config.get("model_type", "albert") != "albert":
        raise ValueError(
            f"{location}: model_type={hf_config['model_type']!r}, expected 'albert'."
        )
    missing = [field for field in _REQUIRED_FIELDS if field not in hf_config]
    if missing:
        raise ValueError(f"{location} is missing the field(s) {', '.join(missing)}.")
    if hf_config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"{location}: position_embedding_type="
            f"{hf_config['position_embedding_type']!r} is not supported (only 'absolute')."
        )
    config = {**_OPTIONAL_FIELDS, **hf_config}
    activation = config["hidden_act"]
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"{location}: hidden_act={activation!r} is not supported. Expected "
            f"one of {sorted(_ACTIVATIONS)}."
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
        "layer_norm_epsilon": config["layer_norm_eps"],
        "initializer_range": config["initializer_range"],
    }


def huggingface_config_from_model(model):
    """The HuggingFace `config.json` dict for a keras-albert model."""
    backbone = getattr(model, "backbone", model)
    task = task_of(model)
    if task not in EXPORT_ARCHITECTURES:
        raise ValueError(f"HuggingFace has no ALBERT class for the {task} head; export `model.backbone`.")
    activation = activation_name(backbone.activation, _EXPORT_ACTIVATIONS)
    if activation is None:
        raise ValueError(
            f"activation={activation_description(backbone.activation)} has no HuggingFace equivalent; "
            f"expected one of {sorted(_EXPORT_ACTIVATIONS)} (a name or its Keras function)."
        )
    head = head_config(model)
    config = {
        "architectures": [EXPORT_ARCHITECTURES[task]],
        "model_type": "albert",
        "vocab_size": backbone.vocabulary_size,
        "embedding_size": backbone.embedding_dim,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_hidden_groups": backbone.num_groups,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "inner_group_num": backbone.num_inner_repetitions,
        "hidden_act": _EXPORT_ACTIVATIONS[activation],
        "hidden_dropout_prob": backbone.dropout,
        "attention_probs_dropout_prob": backbone.attention_dropout,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
        "initializer_range": backbone.initializer_range,
        "layer_norm_eps": backbone.layer_norm_epsilon,
        "classifier_dropout_prob": head.get("dropout", _OPTIONAL_FIELDS["classifier_dropout_prob"]),
        # The ids of the ALBERT SentencePiece recipe: <pad> 0, [CLS] 2, [SEP] 3.
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
        "tie_word_embeddings": True,
        "dtype": "float32",
    }
    if "num_classes" in head:
        labels = {index: f"LABEL_{index}" for index in range(head["num_classes"])}
        config["id2label"] = labels
        config["label2id"] = {label: index for index, label in labels.items()}
    return config


def huggingface_weight_table(config, architecture="AlbertModel", num_classes=None, prefix=None):
    """The HuggingFace name table for `config` and one head class.

    Args:
        config: `AlbertBackbone` kwargs.
        architecture: a key of `ARCHITECTURES`.
        num_classes: int. Rows of `classifier.weight`.
        prefix: of the encoder's names; default as `save_pretrained`
            writes them: "" for `AlbertModel`, "albert." for head classes.
    """
    if prefix is None:
        prefix = "" if architecture == "AlbertModel" else "albert."
    V, E, H = config["vocabulary_size"], config["embedding_dim"], config["hidden_dim"]
    I, P, S = config["intermediate_dim"], config["max_sequence_length"], config["num_segments"]
    entry = weight_entry

    def linear(path, name, fan_in, fan_out, fallback=None):
        # torch.nn.Linear stores weight [out, in]; a Keras Dense kernel is [in, out].
        return [
            entry(f"{path}/kernel", (fan_in, fan_out),
                  (f"{name}.weight", (fan_out, fan_in), TRANSPOSE), fallback=fallback),
            entry(f"{path}/bias", (fan_out,), (f"{name}.bias", (fan_out,), COPY),
                  fallback=fallback),
        ]

    def layer_norm(path, name, width):
        return [
            entry(f"{path}/gamma", (width,), (f"{name}.weight", (width,), COPY)),
            entry(f"{path}/beta", (width,), (f"{name}.bias", (width,), COPY)),
        ]

    def table(path, name, shape):
        return entry(path, shape, (f"{prefix}embeddings.{name}.weight", shape, COPY))

    entries = [
        table("embeddings/token_embedding/embeddings", "word_embeddings", (V, E)),
        table("embeddings/segment_embedding/embeddings", "token_type_embeddings", (S, E)),
        table("embeddings/position_embeddings", "position_embeddings", (P, E)),
        *layer_norm("embeddings/layer_norm", f"{prefix}embeddings.LayerNorm", E),
        *linear("embeddings/projection", f"{prefix}encoder.embedding_hidden_mapping_in", E, H),
    ]
    for group in range(config["num_groups"]):
        for inner in range(config["num_inner_repetitions"]):
            block = f"encoder/group_{group}_inner_{inner}"
            scope = f"{prefix}encoder.albert_layer_groups.{group}.albert_layers.{inner}"
            entries += [
                entry(f"{block}/qkv_dense/kernel", (H, 3 * H),
                      *((f"{scope}.attention.{name}.weight", (H, H), TRANSPOSE) for name in QKV)),
                entry(f"{block}/qkv_dense/bias", (3 * H,),
                      *((f"{scope}.attention.{name}.bias", (H,), COPY) for name in QKV)),
                *linear(f"{block}/attention_output_dense", f"{scope}.attention.dense", H, H),
                *layer_norm(f"{block}/attention_layer_norm", f"{scope}.attention.LayerNorm", H),
                *linear(f"{block}/ffn_intermediate_dense", f"{scope}.ffn", H, I),
                *linear(f"{block}/ffn_output_dense", f"{scope}.ffn_output", I, H),
                *layer_norm(f"{block}/ffn_layer_norm", f"{scope}.full_layer_layer_norm", H),
            ]
    tied = {}
    # HuggingFace builds these heads without a pooler, but checkpoints
    # converted from the original (the hub's albert-base-v2, an
    # AlbertForMaskedLM) still hold it: read it when present.
    no_pooler = None
    if architecture in _WITHOUT_POOLER:
        no_pooler = Fallback(f"HuggingFace {architecture} has no pooler")
    entries += linear("pooler_dense", f"{prefix}pooler", H, H, fallback=no_pooler)
    if architecture in ("AlbertForPreTraining", "AlbertForMaskedLM"):
        entries += [
            *linear("mlm_head/intermediate_dense", "predictions.dense", H, E),
            *layer_norm("mlm_head/intermediate_layer_norm", "predictions.LayerNorm", E),
            entry("mlm_head/output_bias", (V,), ("predictions.bias", (V,), COPY)),
        ]
        # Older writers also store the tied decoder.
        tied = {
            "predictions.decoder.weight": f"{prefix}embeddings.word_embeddings.weight",
            "predictions.decoder.bias": "predictions.bias",
        }
    if architecture == "AlbertForPreTraining":
        entries += linear("sop_dense", "sop_classifier.classifier", H, 2)
    elif architecture == "AlbertForMaskedLM":
        no_sop = Fallback("HuggingFace AlbertForMaskedLM has no sentence-order head")
        entries += linear("sop_dense", "sop_classifier.classifier", H, 2, fallback=no_sop)
    elif architecture in ("AlbertForSequenceClassification", "AlbertForTokenClassification"):
        entries += linear("logits", "classifier", H, num_classes)
    elif architecture == "AlbertForQuestionAnswering":
        entries += linear("span_logits", "qa_outputs", H, 2)
    elif architecture == "AlbertForMultipleChoice":
        entries += linear("choice_logits", "classifier", H, 1)
    return WeightTable(entries=tuple(entries), tied=tied, skip_patterns=_SKIP_PATTERNS)


def detect_architecture(hf_config, names, location):
    """The HuggingFace head class of a directory: `architectures`, else the names."""
    architectures = hf_config.get("architectures") or []
    if architectures:
        if architectures[0] not in ARCHITECTURES:
            raise ValueError(
                f"{location}: architectures={architectures!r} is not one of "
                f"{', '.join(ARCHITECTURES)}."
            )
        return architectures[0]
    if "sop_classifier.classifier.weight" in names:
        return "AlbertForPreTraining"
    if "predictions.bias" in names:
        return "AlbertForMaskedLM"
    if "qa_outputs.weight" in names:
        return "AlbertForQuestionAnswering"
    if "classifier.weight" in names:
        raise ValueError(
            f"{location} has no `architectures` field and its `classifier` could "
            "be a sequence, token or multiple-choice head: add "
            '"architectures": ["AlbertFor..."] to config.json.'
        )
    return "AlbertModel"


def open_huggingface_weights(directory, config_location):
    """A `TensorSource` over the weights of a `save_pretrained` directory."""
    safetensors_file = os.path.join(directory, SAFETENSORS_FILE)
    index_file = os.path.join(directory, SAFETENSORS_INDEX_FILE)
    pytorch_file = os.path.join(directory, PYTORCH_FILE)
    if os.path.exists(safetensors_file):
        return _open_safetensors([safetensors_file], safetensors_file, config_location)
    if os.path.exists(index_file):
        weight_map = read_json(index_file).get("weight_map")
        if not isinstance(weight_map, dict):
            raise ValueError(f"{index_file} has no `weight_map`.")
        shards = sorted({os.path.join(directory, shard) for shard in weight_map.values()})
        return _open_safetensors(shards, index_file, config_location)
    if os.path.exists(pytorch_file):
        return _open_pytorch_file(pytorch_file, config_location)
    raise ValueError(
        f"No weights in {directory}: expected {SAFETENSORS_FILE}, "
        f"{SAFETENSORS_INDEX_FILE} or {PYTORCH_FILE}."
    )


def _open_safetensors(files, location, config_location):
    from safetensors import safe_open

    handles, owner = {}, {}
    for path in files:
        try:
            handles[path] = safe_open(path, framework="np")
        except Exception as error:  # truncated, or not a safetensors file
            raise ValueError(f"Could not read safetensors file {path}: {error}") from error
        for name in handles[path].keys():
            owner[name] = path
    shapes = {
        name: tuple(handles[path].get_slice(name).get_shape()) for name, path in owner.items()
    }
    return TensorSource(
        shapes, lambda name: handles[owner[name]].get_tensor(name), location, config_location
    )


def _open_pytorch_file(path, config_location):
    try:
        import torch
    except ImportError:
        raise ValueError(
            f"{path} is a pickled PyTorch file. It is only read with "
            "`torch.load(weights_only=True)`, which cannot run code from the "
            "file, and torch is not installed. Install torch, or save the "
            "model with `save_pretrained(..., safe_serialization=True)`."
        ) from None
    import pickle

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"Refusing to load {path}: it contains objects other than tensors, "
            f"which would need unpickling of code. ({error})"
        ) from error
    except Exception as error:  # truncated or not a torch file
        raise ValueError(f"Could not read PyTorch file {path}: {error}") from error
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (found {type(state).__name__}).")
    arrays = {
        name: tensor.detach().to(torch.float32).numpy()
        if tensor.is_floating_point()
        else tensor.detach().numpy()
        for name, tensor in state.items()
    }
    return TensorSource.from_arrays(arrays, path, config_location)


def load_huggingface_checkpoint(directory, task="auto", model=None):
    """Loads a HuggingFace ALBERT directory into a keras-albert model.

    Args:
        directory: a `save_pretrained` directory (`config.json` + weights).
        task: "auto" (the head class in `config.json`: `AlbertForPreTraining`
            and `AlbertForMaskedLM` give an `AlbertPretrainer`), "backbone",
            or that task's name.
        model: optional existing model to load into.

    Returns:
        The model. Heads HuggingFace builds without a pooler leave the
        pooler at its initial value (logged).
    """
    directory = os.fspath(directory)
    config_file = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(config_file):
        raise ValueError(
            f"{directory} is not a HuggingFace directory: no {CONFIG_FILE}."
        )
    hf_config = read_json(config_file)
    config = backbone_config_from_huggingface_config(hf_config, config_file)
    source = open_huggingface_weights(directory, config_file)
    architecture = detect_architecture(hf_config, source.shapes, config_file)
    if model is None:
        task = resolve_task(task, ARCHITECTURES[architecture], directory)
        head = {
            "num_classes": source.shapes.get("classifier.weight", (None,))[0],
            "dropout": hf_config.get("classifier_dropout_prob", 0.1),
        }
        model = build_model(config, task, head)
    else:
        source.config_location = f"the given {type(model).__name__}'s config"
    load_huggingface_tensors(model, source, architecture)
    logger.info("Loaded %s from %s", describe(model), directory)
    return model


def load_huggingface_tensors(model, tensors, architecture="AlbertModel"):
    """Assigns HuggingFace tensors to a keras-albert model, by the name table.

    Args:
        model: an `AlbertBackbone` or task model whose config matches.
        tensors: a `TensorSource`, or a state dict as numpy arrays (e.g.
            `{k: v.numpy() for k, v in hf_model.state_dict().items()}`).
        architecture: the HuggingFace class the tensors come from. Its
            heads must be the model's, or the model a bare backbone (the
            heads are then logged as not converted).
    """
    if not isinstance(tensors, TensorSource):
        tensors = TensorSource.from_arrays(tensors, f"the {architecture} tensors")
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"Unknown architecture {architecture!r}; expected one of {', '.join(ARCHITECTURES)}."
        )
    resolve_task(task_of(model), ARCHITECTURES[architecture], tensors.location)
    prefix = "albert." if any(name.startswith("albert.") for name in tensors.shapes) else ""
    num_classes = head_config(model).get("num_classes")
    if num_classes is None:  # a backbone: the head is only listed as not converted
        num_classes = tensors.shapes.get("classifier.weight", (None,))[0]
    table = huggingface_weight_table(backbone_config_of(model), architecture, num_classes, prefix)
    table = restrict_to_model(table, variables_by_path(model))
    load_weights_from_table(model, table, tensors, FORMAT_NAME)
    return model


def huggingface_tensors_from_model(model):
    """`(config.json dict, {name: array})` of a keras-albert model."""
    hf_config = huggingface_config_from_model(model)
    architecture = hf_config["architectures"][0]
    head = head_config(model)
    table = huggingface_weight_table(
        backbone_config_of(model), architecture, head.get("num_classes")
    )
    return hf_config, export_weights_with_table(model, table, FORMAT_NAME)


def write_huggingface_files(
    model, directory, spm_model_file=None, lower_case=True, keep_accents=False
):
    """Writes `config.json`, `model.safetensors` (and the tokenizer) into `directory`."""
    from safetensors.numpy import save_file

    hf_config, tensors = huggingface_tensors_from_model(model)
    with open(os.path.join(directory, CONFIG_FILE), "w", encoding="utf-8") as file:
        json.dump(hf_config, file, indent=2, sort_keys=True)
    save_file(tensors, os.path.join(directory, SAFETENSORS_FILE), metadata={"format": "pt"})
    if spm_model_file:
        import shutil

        shutil.copyfile(spm_model_file, os.path.join(directory, SPM_FILE))
        tokenizer_config = {
            "tokenizer_class": "AlbertTokenizer",
            "do_lower_case": lower_case,
            "keep_accents": keep_accents,
            "remove_space": True,
            "bos_token": "[CLS]",
            "eos_token": "[SEP]",
            "unk_token": "<unk>",
            "sep_token": "[SEP]",
            "pad_token": "<pad>",
            "cls_token": "[CLS]",
            "mask_token": "[MASK]",
            "model_max_length": backbone_config_of(model)["max_sequence_length"],
        }
        path = os.path.join(directory, TOKENIZER_CONFIG_FILE)
        with open(path, "w", encoding="utf-8") as file:
            json.dump(tokenizer_config, file, indent=2)


def read_tokenizer_options(directory):
    """`(spm path or None, lower_case, keep_accents)` of a HuggingFace directory."""
    spm = os.path.join(directory, SPM_FILE)
    path = os.path.join(directory, TOKENIZER_CONFIG_FILE)
    options = read_json(path) if os.path.isfile(path) else {}
    return (
        spm if os.path.isfile(spm) else None,
        bool(options.get("do_lower_case", True)),
        bool(options.get("keep_accents", False)),
    )

