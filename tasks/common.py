"""Flags and helpers shared by every fine-tuning program.

A program defines its own flags next to these, then follows the same steps;
flags are read once, in `main`, into a `RunConfig` (how to run) and the
task's `keras_albert.task_spec` spec (what the model does, saved with it);
no helper reads flags:

```python
common.define_common_flags()
FLAGS = flags.FLAGS

def main(argv):
    config = common.RunConfig.from_flags(FLAGS)
    spec = TextClassificationSpec(labels=("0", "1"), sequence_length=FLAGS.max_seq_length)
    strategy = common.configure_runtime(config)
    tokenizer = common.load_tokenizer(config)
    with strategy.scope():
        model = common.build_task_model(keras_albert.AlbertTextClassifier, config, spec.sequence_length, num_classes=2)
    preprocessor = keras_albert.AlbertPreprocessor(tokenizer, sequence_length=spec.sequence_length)
    features = common.encode_segments(preprocessor, [texts], split="train")
    dataset = common.training_dataset(features, labels, config.train_batch_size, spec.sequence_length)
    steps = common.num_length_bucketed_batches(features, config.train_batch_size, spec.sequence_length)
    common.train_model(model, dataset, steps, config, strategy)
    common.save_trained_model(model, config.output_dir, tokenizer, spec, preprocessor)
    logits = common.predict_in_length_order(model, dev_features, config.eval_batch_size, spec.sequence_length)
    common.write_eval_results(config.output_dir, {"accuracy": ...})
```

Examples are held in memory as a dict of per-example int32 arrays whose
last axis is the (unpadded) token axis: `[length]` for one sequence,
`[num_choices, length]` for multiple choice. Batches are padded only to a
multiple of a bucket width, so short inputs never pay for
`--max_seq_length` (length-aware batching).
"""

import contextlib
import dataclasses
import functools
import json
import math
import os
import sys
import typing

import keras
import numpy as np
import tensorflow as tf
from absl import flags, logging

import keras_albert
from keras_albert import training
from keras_albert import flag_ranges, hardware, task_spec, tensorflow_dependency
from keras_albert.albert_presets import check_weights_file
from keras_albert.convert import backbone_config_from_albert_config, load_tf1_checkpoint
from keras_albert.convert.files import read_json
from keras_albert.durable_files import fsync_tree
from keras_albert.training.step_checkpoint import WeightsCheckpoint
from keras_albert.training.training_monitor import NotLearningGuard
from . import recipes, training_curves

FEATURE_NAMES = ("token_ids", "segment_ids", "padding_mask")


# === Flags ===


def define_common_flags():
    """Defines the flags every task program shares (idempotent).

    Names follow google-research/albert (`--albert_config_file`,
    `--init_checkpoint`, `--spm_model_file`, `--do_train`, ...), plus
    `--preset`. Safe to call from several programs in one process.
    """
    if "albert_config_file" in flags.FLAGS:
        return
    flags.DEFINE_string(
        "recipe",
        None,
        "The original repository's fine-tuning settings, <preset>/<task>, e.g. albert_base_v2/sst-2 "
        f"(tasks: {', '.join(recipes.TASK_RECIPES)}); flags given explicitly override it.",
    )
    # Model and vocabulary.
    flags.DEFINE_string(
        "preset",
        None,
        "Preset directory (from `save_to_preset` or `python -m keras_albert.convert`, "
        "possibly a fine-tuned task saved by these programs) or a preset name such as "
        "albert_base_v2 converted under $KERAS_ALBERT_PRESETS.",
    )
    flags.DEFINE_string(
        "albert_config_file",
        None,
        "An original-format albert_config.json (or a JSON of AlbertBackbone arguments): "
        "the architecture to build with fresh weights (use --init_checkpoint for weights).",
    )
    flags.DEFINE_string(
        "init_checkpoint",
        None,
        "Initial backbone weights: a preset directory, a Keras `.weights.h5` file, or an "
        "original TF1 checkpoint prefix (e.g. .../model.ckpt-best).",
    )
    flags.DEFINE_string(
        "spm_model_file",
        None,
        "SentencePiece model (ALBERT format). Defaults to the tokenizer saved in --preset.",
    )
    flags.DEFINE_bool("do_lower_case", True, "Lower-case input text (ALBERT's English models do).")
    # What to run.
    flags.DEFINE_bool("do_train", False, "Fine-tune on the training split.")
    flags.DEFINE_bool("do_eval", False, "Evaluate on the dev split; writes eval_results.json.")
    flags.DEFINE_bool("do_predict", False, "Predict the test split; writes the prediction file.")
    # Data.
    flags.DEFINE_string("data_dir", None, "Directory holding the task's data files.")
    # Programs that read one file per split (not a --data_dir layout) share these.
    flags.DEFINE_string("train_file", None, "Training data file.")
    flags.DEFINE_string("eval_file", None, "Evaluation data file (labeled).")
    flags.DEFINE_string("predict_file", None, "Data file to predict.")
    flags.DEFINE_string("output_dir", None, "Where the trained preset, eval_results.json and predictions go.")
    flags.DEFINE_integer(
        "max_seq_length",
        128,
        "Longest packed sequence (special tokens included); longer inputs are truncated "
        "and counted in the log.",
    )
    for split in ("train", "eval", "predict"):
        flags.DEFINE_integer(
            f"max_{split}_examples",
            None,
            f"Use only the first N {split} examples (quick runs and smoke tests).",
        )
    # Optimization.
    flags.DEFINE_integer("train_batch_size", 32, "Global training batch size.")
    flags.DEFINE_integer("eval_batch_size", 8, "Global evaluation batch size.")
    flags.DEFINE_integer("predict_batch_size", 8, "Global prediction batch size.")
    flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate.")
    flags.DEFINE_float("num_train_epochs", 3.0, "Training epochs (a fraction trains part of the last).")
    flags.DEFINE_integer("train_step", None, "Training batches; replaces --num_train_epochs when set (run_glue.sh's flag).")
    flags.DEFINE_float("warmup_proportion", 0.1, "Fraction of steps with linear learning-rate warmup.")
    flags.DEFINE_integer("warmup_step", None, "Warmup batches; replaces --warmup_proportion when set (run_glue.sh's flag).")
    flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not applied to LayerNorm and biases).")
    flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "Optimizer.")
    flags.DEFINE_integer(
        "gradient_accumulation_steps", 1, "Apply gradients every N batches (larger effective batch)."
    )
    flags.DEFINE_integer("seed", 12345, "Random seed for weights, dropout and shuffling.")
    # Hardware.
    flags.DEFINE_enum(
        "distribution_strategy",
        "one_device",
        ["one_device", "mirrored", "multi_worker_mirrored", "tpu"],
        "tf.distribute strategy.",
    )
    flags.DEFINE_string("tpu", None, "TPU name or address for --distribution_strategy=tpu.")
    flags.DEFINE_integer(
        "cluster_timeout_seconds",
        training.DEFAULT_CLUSTER_TIMEOUT_SECONDS,
        "multi_worker_mirrored: how long to wait for every worker of TF_CONFIG to start "
        "before failing with the names of those not reached.",
    )
    flags.DEFINE_integer("num_gpus", None, "GPUs for --distribution_strategy=mirrored (default: all).")
    flags.DEFINE_enum(
        "mixed_precision",
        "float32",
        list(hardware.DTYPE_POLICIES),
        "Keras dtype policy (mixed_bfloat16 on TPU/Ampere+ and CPUs with bf16 instructions, mixed_float16 "
        "with loss scaling on older GPUs); auto: mixed_bfloat16 where the GPU or CPU accelerates it, "
        "else float32.",
    )
    flags.DEFINE_bool("jit_compile", False, "Compile train/predict steps with XLA.")
    flags.DEFINE_integer("steps_per_execution", 1, "Batches per compiled call (fewer host round trips).")
    # Monitoring.
    flags.DEFINE_float(
        "not_learning_check_fraction",
        0.3,
        "After this fraction of the training steps, warn once if the loss has not fallen or every "
        "prediction is one class (0 turns the check off).",
    )


def run_program(main, argv):
    """Parses `argv` (program name first) with fresh flag values and runs `main`.

    For tests and notebooks that run a program in-process: flags left out
    of `argv` take their defaults, not the values of an earlier run.
    """
    flags.FLAGS.unparse_flags()
    flags.FLAGS(list(argv))
    return main(list(argv))


# The worker watches of the running `stops_cleanly` mains (innermost last).
_worker_watches = []


def stops_cleanly(main):
    """A program's `main`, stopping as tasks/run_pretraining.py's does.

    SIGTERM or SIGINT end it within seconds (exit status 143, 130:
    `training.stop_on_signals`), and from `watch_workers(strategy)` on, a
    multi-worker peer lost for `training.DEFAULT_PEER_TIMEOUT_SECONDS` ends
    it (`training.watch_workers`, exit status 75).
    """

    @functools.wraps(main)
    def main_stopping_cleanly(argv):
        with training.stop_on_signals(), contextlib.ExitStack() as watches:
            _worker_watches.append(watches)
            try:
                return main(argv)
            finally:
                _worker_watches.remove(watches)

    return main_stopping_cleanly


def watch_workers(strategy):
    """`strategy`, its workers watched until the `stops_cleanly` main returns."""
    if _worker_watches:
        _worker_watches[-1].enter_context(training.watch_workers(strategy))
    return strategy


# The range of every numeric flag of the programs (`keras_albert.flag_ranges`:
# `(lowest, highest)`, None for no bound, a 1-tuple bound excluded). Each
# flag the running program defines is checked by `check_flag_ranges`; a flag
# left at None ("not given") is not.
FLAG_RANGES = {
    "max_seq_length": (3, None),  # [CLS] x [SEP]
    "max_train_examples": (1, None),
    "max_eval_examples": (1, None),
    "max_predict_examples": (1, None),
    "train_batch_size": (1, None),
    "eval_batch_size": (1, None),
    "predict_batch_size": (1, None),
    "learning_rate": ((0,), None),
    "num_train_epochs": ((0,), None),
    "warmup_proportion": (0, 1),
    "weight_decay": (0, None),
    "gradient_accumulation_steps": (1, None),
    "num_gpus": (0, None),
    "steps_per_execution": (1, None),
    "not_learning_check_fraction": (0, 1),
    "cluster_timeout_seconds": ((0,), None),
    # run_squad
    "doc_stride": (1, None),
    "max_query_length": (1, None),
    "n_best_size": (1, None),
    "max_answer_length": (1, None),
    "start_n_top": (1, None),
    "end_n_top": (1, None),
    # run_ner
    "window_stride": (1, None),
    # run_pretraining, create_pretraining_data
    "max_predictions_per_seq": (1, None),
    "num_train_steps": (1, None),
    "num_warmup_steps": (0, None),
    "poly_power": ((0,), None),
    "save_checkpoints_steps": (1, None),
    "keep_checkpoint_max": (1, None),
    "max_eval_steps": (1, None),
    "peer_timeout_seconds": ((0,), None),
    "shuffle_buffer_size": (1, None),
    "log_steps": (1, None),
    "masked_lm_prob": ((0,), 1),
    "short_seq_prob": (0, 1),
    "ngram": (1, None),
    "dupe_factor": (1, None),
    "num_shards": (1, None),
}


def check_flag_ranges(flag_values):
    """Raises a `ValueError` naming the first numeric flag outside its `FLAG_RANGES`."""
    flag_ranges.check_flag_ranges(flag_values, FLAG_RANGES)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How a program runs: model source, data, optimization, hardware.

    The common flags of the same names, read once in `main` by `from_flags`.
    What the model does (labels, lengths, windows) is the task spec's.
    """

    output_dir: str
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    preset: typing.Optional[str] = None
    albert_config_file: typing.Optional[str] = None
    init_checkpoint: typing.Optional[str] = None
    spm_model_file: typing.Optional[str] = None
    do_lower_case: bool = True
    data_dir: typing.Optional[str] = None
    train_file: typing.Optional[str] = None
    eval_file: typing.Optional[str] = None
    predict_file: typing.Optional[str] = None
    max_train_examples: typing.Optional[int] = None
    max_eval_examples: typing.Optional[int] = None
    max_predict_examples: typing.Optional[int] = None
    train_batch_size: int = 32
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    weight_decay: float = 0.01
    optimizer: str = "adamw"
    gradient_accumulation_steps: int = 1
    seed: int = 12345
    distribution_strategy: str = "one_device"
    tpu: typing.Optional[str] = None
    num_gpus: typing.Optional[int] = None
    mixed_precision: str = "float32"
    jit_compile: bool = False
    steps_per_execution: int = 1
    train_step: typing.Optional[int] = None
    warmup_step: typing.Optional[int] = None
    not_learning_check_fraction: float = 0.3
    cluster_timeout_seconds: float = training.DEFAULT_CLUSTER_TIMEOUT_SECONDS

    @classmethod
    def from_flags(cls, flag_values):
        """The run configuration the common flags ask for, --recipe applied;
        raises for values and combinations no program can run."""
        recipes.apply_recipe(flag_values)
        check_flag_ranges(flag_values)
        if not (flag_values.do_train or flag_values.do_eval or flag_values.do_predict):
            raise ValueError("Nothing to do: pass at least one of --do_train, --do_eval, --do_predict.")
        if not flag_values.output_dir:
            raise ValueError("--output_dir is required.")
        if flag_values.preset and flag_values.albert_config_file:
            raise ValueError("Pass either --preset or --albert_config_file, not both.")
        if not (flag_values.preset or flag_values.albert_config_file):
            raise ValueError("Pass --preset (a preset directory or name) or --albert_config_file.")
        return cls(**{field.name: flag_values[field.name].value for field in dataclasses.fields(cls)})


# === Runtime ===


def strategy_of(config):
    """The `tf.distribute.Strategy` that `config.distribution_strategy` names."""
    return training.get_strategy(
        config.distribution_strategy,
        num_gpus=config.num_gpus,
        tpu_address=config.tpu,
        cluster_timeout_seconds=config.cluster_timeout_seconds,
    )


def _gpu_compute_capability():
    """(major, minor) of the first GPU TensorFlow sees; None without one."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    return tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")


# How to get bf16 kernels on a CPU, and at what price (keras_albert.tensorflow_dependency).
_ONEDNN_ON_HINT = "TF_ENABLE_ONEDNN_OPTS=1 turns them on, with TensorFlow 2.21's heap-corruption risk"


def dtype_policy_of(config):
    """The Keras dtype policy --mixed_precision asks for, "auto" resolved by the hardware."""
    gpu = _gpu_compute_capability()
    policy = hardware.resolve_dtype_policy(config.mixed_precision, gpu_compute_capability=gpu)
    if config.mixed_precision == "auto":
        device = f"GPU of compute capability {gpu}" if gpu else f"CPU ({hardware.isa_class()})"
        why = ""
        if not gpu and policy == "float32" and hardware.cpu_accelerates_bfloat16():
            # The CPU has bf16 instructions, but the kernels that use them are off.
            why = (
                ": its bf16 instructions need TensorFlow's oneDNN kernels, off by default; "
                f"{_ONEDNN_ON_HINT} (ALBERT-base trained 1.9-2.1x faster on such CPUs)"
            )
        logging.info("--mixed_precision=auto: %s on this %s%s.", policy, device, why)
    if policy == "mixed_bfloat16" and not gpu and not tensorflow_dependency.onednn_enabled():
        logging.warning(
            "mixed_bfloat16 on a CPU with TensorFlow's oneDNN kernels off (the default, "
            f"keras_albert.tensorflow_dependency): bf16 is emulated and slower than float32. {_ONEDNN_ON_HINT}."
        )
    if policy == "mixed_bfloat16" and config.jit_compile and not gpu:
        # Measured with TF 2.21: XLA's CPU backend runs bf16 matmuls at float32's
        # rate, oneDNN (without XLA) at twice it.
        logging.warning(
            "--jit_compile with mixed_bfloat16 on a CPU: XLA does not use the CPU's bf16 "
            "matmul instructions; drop --jit_compile to gain from bf16."
        )
    return policy


def configure_runtime(config):
    """Seeds, sets the dtype policy and returns the distribution strategy."""
    keras.utils.set_random_seed(config.seed)
    keras.config.set_dtype_policy(dtype_policy_of(config))
    return strategy_of(config)


# === Model, tokenizer, optimizer ===


def _backbone_config_from_json(path):
    """AlbertBackbone kwargs from an original albert_config.json or a kwargs JSON."""
    config = read_json(path)
    if "hidden_dim" in config:  # Already AlbertBackbone arguments.
        return config
    return backbone_config_from_albert_config(path)


def load_backbone_weights(backbone, checkpoint):
    """Loads backbone weights from a preset dir, a `.weights.h5` file or a TF1 checkpoint.

    A TF1 checkpoint is a prefix (`.../model.ckpt-best`) or a folder of one;
    its pretraining heads, if any, are left out.
    """
    if os.path.isfile(os.path.join(checkpoint, "config.json")):
        source = keras_albert.AlbertBackbone.from_preset(checkpoint)
        try:
            backbone.set_weights(source.get_weights())
        except ValueError as e:
            raise ValueError(
                f"--init_checkpoint={checkpoint!r} holds a different architecture "
                f"than the model being built: {e}"
            ) from None
    elif checkpoint.endswith(".weights.h5"):
        check_weights_file(checkpoint)
        backbone.load_weights(checkpoint)
    elif os.path.isdir(checkpoint) or os.path.exists(checkpoint + ".index"):
        load_tf1_checkpoint(checkpoint, model=backbone)
    else:
        raise ValueError(
            f"--init_checkpoint={checkpoint!r} is neither a preset directory, a "
            "`.weights.h5` file nor a TF1 checkpoint (a folder, or a prefix with "
            "an `.index` file)."
        )


def build_backbone(config):
    """An `AlbertBackbone` from --preset or --albert_config_file (+ --init_checkpoint)."""
    if config.preset:
        backbone = keras_albert.AlbertBackbone.from_preset(
            config.preset, load_weights=not config.init_checkpoint
        )
    elif config.albert_config_file:
        backbone = keras_albert.AlbertBackbone(**_backbone_config_from_json(config.albert_config_file))
    else:
        raise ValueError("Pass --preset or --albert_config_file.")
    if config.init_checkpoint:
        load_backbone_weights(backbone, config.init_checkpoint)
    return backbone


def check_sequence_length(backbone, sequence_length, program_default=False):
    """Raises, naming --max_seq_length, unless the backbone has positions for
    `sequence_length`: the length the program actually packs to, with
    `program_default=True` its own default for the flag not given (run_squad: 384).
    """
    if sequence_length > backbone.max_sequence_length:
        default = " (this program's default: the flag was not given)" if program_default else ""
        raise ValueError(
            f"--max_seq_length={sequence_length}{default} exceeds the model's "
            f"{backbone.max_sequence_length} positions; pass --max_seq_length="
            f"{backbone.max_sequence_length} or less."
        )


def is_task_preset(preset, task_cls):
    """Whether `preset` is a directory saved from `task_cls` (head included)."""
    path = os.path.join(str(preset), "task.json")
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("class_name") == task_cls.__name__


def build_task_model(task_cls, config, sequence_length, *, length_is_program_default=False, **task_kwargs):
    """A task model; head weights come along when --preset was saved from `task_cls`.

    Build it inside `strategy.scope()`. Without such a preset, or when its
    head does not fit `task_kwargs` (e.g. another number of classes) and
    --do_train is set, a fresh head goes over `build_backbone(config)`.
    Raises when the backbone has fewer positions than `sequence_length`
    (`length_is_program_default`: the program's own default, not the flag's).
    """
    model = _build_task_model(task_cls, config, **task_kwargs)
    check_sequence_length(model.backbone, sequence_length, program_default=length_is_program_default)
    return model


def _build_task_model(task_cls, config, **task_kwargs):
    if config.preset and not config.init_checkpoint and is_task_preset(config.preset, task_cls):
        model = task_cls.from_preset(config.preset)
        mismatched = {
            name: getattr(model, name) for name, value in task_kwargs.items() if getattr(model, name) != value
        }
        if not mismatched:
            model.preprocessor = None  # The programs feed token ids (see `encode_segments`).
            return model
        if not config.do_train:
            raise ValueError(
                f"--preset={config.preset} holds a {task_cls.__name__} with {mismatched}; this "
                f"task needs {task_kwargs}. Pass --do_train to train a new head on its backbone."
            )
        logging.warning(
            "--preset=%s holds a %s with %s; training a new head with %s.",
            config.preset, task_cls.__name__, mismatched, task_kwargs,
        )
    return task_cls(backbone=build_backbone(config), **task_kwargs)


def load_tokenizer(config):
    """An `AlbertTokenizer` from --spm_model_file, else from the --preset directory."""
    if config.spm_model_file:
        return keras_albert.AlbertTokenizer(proto=config.spm_model_file, lower_case=config.do_lower_case)
    if config.preset and os.path.isdir(config.preset):
        return keras_albert.AlbertTokenizer.from_preset(config.preset)
    raise ValueError("Pass --spm_model_file (or a --preset directory that holds a tokenizer).")


def check_vocabulary(tokenizer, backbone):
    """Raises when the tokenizer can emit ids the embedding table lacks."""
    size = tokenizer.vocabulary_size()
    if size > backbone.vocabulary_size:
        raise ValueError(
            f"The SentencePiece model has {size} pieces but the model's "
            f"vocabulary_size is {backbone.vocabulary_size}: --spm_model_file "
            "does not belong to this model."
        )


def create_optimizer(config, num_train_steps):
    """The --optimizer with linear warmup (--warmup_proportion) and linear decay.

    Args:
        config: `RunConfig`.
        num_train_steps: int. Training batches; with
            --gradient_accumulation_steps=N the schedule counts the
            `num_train_steps // N` weight updates.
    """
    num_updates = max(1, num_train_steps // config.gradient_accumulation_steps)
    if config.warmup_step is not None:
        num_warmup_updates = min(num_updates, config.warmup_step // config.gradient_accumulation_steps)
    else:
        num_warmup_updates = int(num_updates * config.warmup_proportion)
    return training.create_optimizer(
        name=config.optimizer,
        learning_rate=config.learning_rate,
        num_train_steps=num_updates,
        num_warmup_steps=num_warmup_updates,
        weight_decay_rate=config.weight_decay,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
    )


# === Encoding ===


def encode_segments(preprocessor, segments, split):
    """Packs `[CLS] a [SEP] (b [SEP])` per example; counts and logs what was cut.

    Runs `preprocessor` (the `AlbertPreprocessor` that is saved with the
    model and serves it) over all examples and strips its padding, so that
    batches can be padded by length later.

    Args:
        preprocessor: `keras_albert.AlbertPreprocessor`; its
            `sequence_length` is the longest packed sequence and its
            `truncate` decides which segment loses tokens.
        segments: list of one or two lists of strings (`[texts]` or
            `[texts_a, texts_b]`), all the same length.
        split: name used in log messages, e.g. "train".

    Returns:
        A dict `token_ids`, `segment_ids`, `padding_mask` of lists of int32
        arrays `[length]` (no padding), and `stats`: `num_examples`,
        `num_truncated` (sequences longer than `sequence_length`, kept
        truncated) and `num_empty` (text fields without tokens, kept: the
        segment is just its `[SEP]`).
    """
    tokenizer = preprocessor.tokenizer
    max_seq_length = preprocessor.sequence_length

    def encode(*texts):
        # `y=None` spelled out: keras-hub reads a bare 2-tuple as `(x, y)`.
        x = preprocessor(tuple(texts), y=None)
        # Tokenized again only to count what the packing cuts off.
        lengths = [tokenizer(text).row_lengths() for text in texts]
        num_tokens = tf.add_n(lengths)
        num_empty = tf.add_n([tf.cast(length == 0, tf.int64) for length in lengths])
        return x["token_ids"], x["segment_ids"], num_tokens, num_empty

    # In a tf.data graph: eager calls would convert every batch to Python lists.
    batches = tf.data.Dataset.from_tensor_slices(tuple(segments)).batch(1024).map(encode)
    features = {name: [] for name in FEATURE_NAMES}
    num_examples = num_truncated = num_empty = 0
    for token_ids, segment_ids, num_tokens, empty in batches.as_numpy_iterator():
        num_examples += len(token_ids)
        num_truncated += int(np.sum(num_tokens + len(segments) + 1 > max_seq_length))
        num_empty += int(np.sum(empty))
        for row, length in enumerate(np.sum(token_ids != tokenizer.pad_token_id, axis=-1)):
            features["token_ids"].append(token_ids[row, :length])
            features["segment_ids"].append(segment_ids[row, :length])
            features["padding_mask"].append(np.ones(length, np.int32))
    if num_truncated:
        logging.warning(
            "%s: %d of %d sequences exceed --max_seq_length=%d; they are kept, "
            "truncated (AlbertPreprocessor truncate=%r).",
            split, num_truncated, num_examples, max_seq_length, preprocessor.truncate,
        )
    if num_empty:
        logging.warning(
            "%s: %d text fields are empty; those examples are kept, packed "
            "as special tokens only.", split, num_empty,
        )
    features["stats"] = {
        "num_examples": num_examples,
        "num_truncated": num_truncated,
        "num_empty": num_empty,
    }
    return features


# === tf.data ===


def bucket_width(max_seq_length):
    """Batches are padded to a multiple of this: at most ~8 distinct shapes."""
    return max(8, int(math.ceil(max_seq_length / 8 / 8)) * 8)


def _sequence_lengths(features):
    return np.array([ids.shape[-1] for ids in features["token_ids"]])


def _ragged(arrays):
    """Stacks per-example arrays `[..., length_i]` into a RaggedTensor `[N, ..., None]`."""
    inner_shape = arrays[0].shape[:-1]
    rows_per_example = int(np.prod(inner_shape))
    lengths = np.repeat([a.shape[-1] for a in arrays], rows_per_example)
    values = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros([0], np.int32)
    ragged = tf.RaggedTensor.from_row_lengths(values, lengths)
    for dim in reversed(inner_shape):
        ragged = tf.RaggedTensor.from_uniform_row_length(ragged, dim)
    return ragged


def _pad_last_axis(tensor, width, max_length, padding_value):
    """Pads the last axis of an unbatched tensor up to a multiple of `width`."""
    if tensor.shape.rank == 0:
        return tensor
    if isinstance(tensor, tf.RaggedTensor):
        tensor = tensor.to_tensor()
    length = tf.shape(tensor)[-1]
    target = tf.minimum((length + width - 1) // width * width, max_length)
    paddings = [[0, 0]] * (tensor.shape.rank - 1) + [[0, target - length]]
    return tf.pad(tensor, paddings, constant_values=tf.cast(padding_value, tensor.dtype))


def _element_dataset(features, labels, max_seq_length, label_padding_value):
    width = bucket_width(max_seq_length)
    inputs = {name: _ragged(features[name]) for name in FEATURE_NAMES}
    parts = (inputs,) if labels is None else (inputs, _label_tensor(labels))

    def pad(*element):
        padded = tf.nest.map_structure(lambda t: _pad_last_axis(t, width, max_seq_length, 0), element[0])
        if len(element) == 1:
            return padded
        return padded, tf.nest.map_structure(
            lambda t: _pad_last_axis(t, width, max_seq_length, label_padding_value), element[1]
        )

    dataset = tf.data.Dataset.from_tensor_slices(parts)
    return dataset.map(pad, num_parallel_calls=tf.data.AUTOTUNE)


def _label_tensor(labels):
    """Labels as a tensor: scalars per example, or per-token arrays (ragged)."""
    if isinstance(labels, dict):
        return {name: _label_tensor(value) for name, value in labels.items()}
    first = labels[0]
    if np.ndim(first) == 0:
        return tf.constant(np.asarray(labels))
    return _ragged(list(labels))


def num_length_bucketed_batches(features, batch_size, max_seq_length, drop_remainder=False):
    """Batches per epoch of `training_dataset` (the same every epoch)."""
    width = bucket_width(max_seq_length)
    buckets = np.ceil(_sequence_lengths(features) / width).astype(int)
    counts = np.bincount(buckets)
    per_bucket = counts // batch_size if drop_remainder else -(-counts // batch_size)
    return int(per_bucket.sum())


def training_dataset(
    features,
    labels,
    batch_size,
    max_seq_length,
    seed=None,
    drop_remainder=False,
    label_padding_value=0,
):
    """Shuffled, length-bucketed batches `(features, labels)` for `model.fit`.

    Examples are shuffled, grouped with others of similar length and padded
    to a multiple of `bucket_width(max_seq_length)`, so an epoch of short
    sentences costs a fraction of padding everything to `max_seq_length`.
    The dataset knows its number of batches, so `fit` shows a full progress
    bar. `drop_remainder=True` gives static batch sizes (TPU).

    Args:
        features: dict from `encode_segments` (or the same structure).
        labels: per-example labels: scalars, per-token arrays (padded with
            `label_padding_value`), or a dict of those.
    """
    width = bucket_width(max_seq_length)
    num_examples = len(features["token_ids"])
    dataset = _element_dataset(features, labels, max_seq_length, label_padding_value)
    dataset = dataset.shuffle(num_examples, seed=seed, reshuffle_each_iteration=True)
    boundaries = list(range(width + 1, max_seq_length + 1, width))
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=lambda x, y: tf.shape(x["token_ids"])[-1],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padding_values=(
            tf.nest.map_structure(lambda spec: tf.zeros([], spec.dtype), dataset.element_spec[0]),
            tf.nest.map_structure(
                lambda spec: tf.cast(label_padding_value, spec.dtype), dataset.element_spec[1]
            ),
        ),
        drop_remainder=drop_remainder,
    )
    num_batches = num_length_bucketed_batches(features, batch_size, max_seq_length, drop_remainder)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    return dataset.prefetch(tf.data.AUTOTUNE)


def inference_dataset(features, batch_size, max_seq_length, order):
    """Batches of features (no labels) in `order`, padded to bucket multiples."""
    ordered = {name: [features[name][i] for i in order] for name in FEATURE_NAMES}
    dataset = _element_dataset(ordered, None, max_seq_length, 0)
    return dataset.padded_batch(batch_size).prefetch(tf.data.AUTOTUNE)


def progress_verbosity(inference=False):
    """Keras' `verbose` for `fit` (`inference`: `predict`, `evaluate`):
    progress bars on a terminal; in a log file, where a bar is a line of
    control codes, one line per epoch with its time (and no inference bar)."""
    if sys.stdout.isatty():
        return 1
    return 0 if inference else 2


def predict_in_length_order(model, features, batch_size, max_seq_length):
    """`model.predict` over examples sorted by length; outputs in input order.

    Sorting makes each batch's examples about the same length, so little
    compute goes to padding. Returns the model's output structure with
    numpy arrays whose first axis follows `features`' order. Outputs with a
    token axis (`[batch, seq_len, ...]`) are padded to the longest batch.
    """
    order = np.argsort(_sequence_lengths(features), kind="stable")
    outputs = model.predict(
        inference_dataset(features, batch_size, max_seq_length, order), verbose=progress_verbosity(inference=True)
    )
    inverse = np.argsort(order, kind="stable")
    return tf.nest.map_structure(lambda x: _to_dense_numpy(x)[inverse], outputs)


def _to_dense_numpy(x):
    if isinstance(x, tf.RaggedTensor):
        return x.to_tensor().numpy()
    return np.asarray(x)


# === Training and outputs ===


def compile_for_training(model, config, num_train_steps, **compile_kwargs):
    """`model.compile` with the configured optimizer, XLA and steps-per-execution.

    Call inside the strategy scope. Loss and metrics default to the task
    model's own (`compile_kwargs` overrides them).
    """
    model.compile(
        optimizer=create_optimizer(config, num_train_steps),
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
        **compile_kwargs,
    )


def train_model(model, dataset, steps_per_epoch, config, strategy, **compile_kwargs):
    """Compiles with the configured optimizer and runs `model.fit` with a progress bar.

    `dataset` is a `training_dataset`; --train_step, else --num_train_epochs
    (a fraction trains the first part of a last epoch), sets the length.
    Weights are written to `<output_dir>/checkpoint.weights.h5` after every
    epoch; the step history and training curves after training.

    Returns the Keras `History`.
    """
    num_train_steps = config.train_step or max(1, int(round(steps_per_epoch * config.num_train_epochs)))
    epochs = int(math.ceil(num_train_steps / steps_per_epoch))
    with strategy.scope():
        compile_for_training(model, config, num_train_steps, **compile_kwargs)
    logging.info(
        "Training %d steps (%d per epoch, %.3g epochs).",
        num_train_steps, steps_per_epoch, num_train_steps / steps_per_epoch,
    )
    os.makedirs(config.output_dir, exist_ok=True)
    checkpoint = WeightsCheckpoint(os.path.join(config.output_dir, "checkpoint.weights.h5"))
    guard = not_learning_guard(config, num_train_steps, sample=next(iter(dataset.take(1))))
    callbacks = [checkpoint, guard]
    last_epoch_steps = num_train_steps - (epochs - 1) * steps_per_epoch
    if last_epoch_steps < steps_per_epoch:  # A fractional --num_train_epochs.
        epoch_now = []

        def stop_after_last_step(batch, logs):
            if len(epoch_now) == epochs and batch + 1 >= last_epoch_steps:
                model.stop_training = True

        callbacks.append(
            keras.callbacks.LambdaCallback(
                on_epoch_begin=lambda epoch, logs: epoch_now.append(epoch),
                on_train_batch_end=stop_after_last_step,
            )
        )
    history = model.fit(
        dataset.repeat(), epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks, shuffle=False,
        verbose=progress_verbosity(),
    )
    write_step_history(config.output_dir, guard)
    return history


def not_learning_guard(config, num_train_steps, sample=None):
    """The `NotLearningGuard` (which also records the step history) for a run of `num_train_steps`.

    With --not_learning_check_fraction=0 it checks nothing (it still records).
    """
    fraction = config.not_learning_check_fraction
    return NotLearningGuard(num_train_steps, check_fraction=fraction or 1, sample=sample, enabled=fraction > 0)


def write_step_history(output_dir, batch_history):
    """Writes `step_history.json` and draws `training_curves.png` in `output_dir`."""
    write_json(os.path.join(output_dir, training_curves.STEP_HISTORY_FILENAME), batch_history.history())
    training_curves.write_training_curves(output_dir)


def save_trained_model(model, output_dir, tokenizer, spec, preprocessor=None):
    """Saves the task model with its tokenizer and task spec as a preset in `output_dir`.

    Reload with `<TaskClass>.from_preset(output_dir)` or pass
    `--preset=output_dir` to the programs. With a `preprocessor` (which
    holds the tokenizer) the preset's task takes raw strings, as served;
    otherwise the tokenizer is saved on its own. `spec` (a
    `keras_albert.task_spec.TaskSpec`, checked against the model) goes to
    `<output_dir>/task_spec.json`, which export and serving read.

    The model is recompiled with its default loss and a fresh optimizer
    first, so that the preset holds the weights without the training run's
    Adam moments (twice the weights' size); training state stays in
    `checkpoint.weights.h5`.
    """
    task_spec.check_spec_for_model(spec, model, "the task spec built from the flags")
    os.makedirs(output_dir, exist_ok=True)
    with model.distribute_strategy.scope():
        model.compile(jit_compile=model.jit_compile)
    if preprocessor is None:
        model.save_to_preset(output_dir)
        tokenizer.save_to_preset(output_dir)
    else:
        # Attached only for saving: the programs feed token ids themselves.
        model.preprocessor = preprocessor
        try:
            model.save_to_preset(output_dir)
        finally:
            model.preprocessor = None
    task_spec.save_task_spec(output_dir, spec)
    # Durable: a machine crash after this returns leaves no empty preset file.
    fsync_tree(output_dir)
    logging.info("Saved the trained model as a preset in %s", output_dir)


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True, allow_nan=False)
        f.write("\n")


def results_table(results):
    """`results` (name -> value) as aligned `name  value` lines, sorted by name."""
    width = max(map(len, results), default=0)

    def shown(value):
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    return "\n".join(f"  {name:<{width}}  {shown(value)}" for name, value in sorted(results.items()))


def write_eval_results(output_dir, results):
    """Writes `<output_dir>/eval_results.json` (metric name -> value) and logs it.

    NaN (e.g. a correlation of constant predictions) is written as null.
    """
    results = {
        name: None if isinstance(value, float) and math.isnan(value) else value
        for name, value in results.items()
    }
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "eval_results.json")
    write_json(path, results)
    logging.info("Evaluation (%s):\n%s", path, results_table(results))
    training_curves.write_training_curves(output_dir)  # Adds the evaluation to the curves.
    return path
