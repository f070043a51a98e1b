"""Pretrains ALBERT (masked LM + sentence-order prediction) with `model.fit`.

One machine:

    python -m tasks.run_pretraining --do_train --do_eval \
        --input_file=out/pretraining_data --albert_config_file=albert_config.json \
        --output_dir=out/pretrained --train_batch_size=64 --max_seq_length=128 \
        --max_predictions_per_seq=20 --num_train_steps=10000 --num_warmup_steps=1000 \
        --learning_rate=0.00176 --save_checkpoints_steps=1000

Several workers: the same command on every machine with
`--distribution_strategy=multi_worker_mirrored` and a `TF_CONFIG` naming
the cluster and this worker (`--train_batch_size` stays the global batch).

The output directory ends up holding a preset (`AlbertPretrainer` with
its tokenizer) that the fine-tuning programs take as `--preset` or
`--init_checkpoint`, `checkpoints/worker_<i>/ckpt-<step>.weights.h5`
(model + optimizer, written atomically), TensorBoard logs in `logs/`,
`train_history.json` and `eval_results.json`.

A run restarted with the same flags continues from its newest checkpoint:
weights, optimizer state and the position in the (deterministic) data
stream, so it ends where an uninterrupted run would.

Flags follow google-research/albert's `run_pretraining.py` where they
exist (`--input_file`, `--num_train_steps`, `--num_warmup_steps`,
`--save_checkpoints_steps`, `--keep_checkpoint_max`, `--max_eval_steps`,
`--poly_power`); hardware and model flags are `tasks.common`'s.

Nothing waits for ever: the workers wait --cluster_timeout_seconds for
each other to start, a worker lost during the run makes the others exit
(status 75) after --peer_timeout_seconds, and SIGTERM or SIGINT ends a
worker within seconds (status 143 or 130) at any point, keeping its
complete checkpoints. Restart all workers to resume.
"""

import dataclasses
import os
import shutil
import tempfile
import typing

import keras
from absl import flags, logging

import keras_albert_cli
import keras_albert
from keras_albert import task_spec, training
from . import common, pretraining_data

common.define_common_flags()
flags.DEFINE_string("input_file", None, "Training TFRecords: a directory from create_pretraining_data, or comma-separated paths/globs.",
    # Both pretraining programs take --input_file, as in the original; one
    # process (the tests) may import both.
    allow_override=True,
)
flags.DEFINE_string("eval_input_file", None, "Evaluation TFRecords (default: --input_file).")
flags.DEFINE_integer(
    "max_predictions_per_seq", 20, "Masked positions per example, as the data was written.",
    allow_override=True,  # also create_pretraining_data's, same meaning
)
flags.DEFINE_integer("num_train_steps", 1000, "Training batches (each of --train_batch_size examples).")
flags.DEFINE_integer("num_warmup_steps", 0, "Batches of linear learning-rate warmup.")
flags.DEFINE_float("poly_power", 1.0, "Power of the polynomial learning-rate decay.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "Checkpoint (and epoch) every N batches.")
flags.DEFINE_integer("keep_checkpoint_max", 5, "Checkpoints kept per worker.")
flags.DEFINE_integer("max_eval_steps", 100, "Evaluation batches for --do_eval (the data repeats if it is smaller).")
flags.DEFINE_bool("dynamic_masking", False, "Re-mask every example each time it is read (default: the masks in the records).")
flags.DEFINE_integer("shuffle_buffer_size", 10_000, "Examples in the shuffle buffer.")
flags.DEFINE_integer("log_steps", 100, "TensorBoard scalars every N batches.")
flags.DEFINE_integer(
    "peer_timeout_seconds", training.DEFAULT_PEER_TIMEOUT_SECONDS,
    "multi_worker_mirrored: a worker unreachable this long is lost; the others exit with status "
    f"{training.PEER_LOST_EXIT_CODE}, to be restarted together (they resume from their newest common checkpoint).",
)
# The original pretraining defaults (ALBERT paper: LAMB, lr 0.00176, batch 4096).
flags.FLAGS.set_default("optimizer", "lamb")
flags.FLAGS.set_default("learning_rate", 0.00176)
flags.FLAGS.set_default("train_batch_size", 4096)
flags.FLAGS.set_default("max_seq_length", 512)

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class PretrainingConfig:
    """This program's own settings, the flags of the same names read once
    in `main` (the common ones are `common.RunConfig`'s)."""

    input_file: str
    eval_input_file: typing.Optional[str]
    max_seq_length: int
    max_predictions_per_seq: int
    num_train_steps: int
    num_warmup_steps: int
    poly_power: float
    save_checkpoints_steps: int
    keep_checkpoint_max: int
    max_eval_steps: int
    dynamic_masking: bool
    shuffle_buffer_size: int
    log_steps: int
    peer_timeout_seconds: float

    @classmethod
    def from_flags(cls, flag_values):
        """The settings the flags ask for; raises for values no run can use."""
        if not flag_values.input_file:
            raise ValueError("--input_file is required.")
        if not 0 <= flag_values.num_warmup_steps <= flag_values.num_train_steps:
            raise ValueError(
                f"--num_warmup_steps={flag_values.num_warmup_steps} must be in [0, --num_train_steps]."
            )
        return cls(**{field.name: flag_values[field.name].value for field in dataclasses.fields(cls)})


def task_index():
    """This worker's index in `TF_CONFIG` (0 when single-worker)."""
    tf_config = training.parse_tf_config()
    return tf_config["task"]["index"] if tf_config else 0


def load_input_files(input_file, pretraining):
    """Shards, validated against the `PretrainingConfig`, and the data's metadata."""
    files = pretraining_data.resolve_input_files(input_file)
    metadata = pretraining_data.read_metadata(files) or {}
    for name in ("max_seq_length", "max_predictions_per_seq"):
        if name in metadata and metadata[name] != getattr(pretraining, name):
            raise ValueError(
                f"--{name}={getattr(pretraining, name)} but {input_file} was written with {name}={metadata[name]}."
            )
    counts = pretraining_data.validate_shards(files, pretraining.max_seq_length, pretraining.max_predictions_per_seq)
    logging.info("%s: %d examples in %d shards.", input_file, sum(counts), len(files))
    return files, metadata


def load_tokenizer(config, metadata):
    """--spm_model_file, else the one the data was made with, else --preset's."""
    from keras_albert.albert_tokenizer import AlbertTokenizer

    if config.spm_model_file or not metadata.get("spm_model_file"):
        return common.load_tokenizer(config)
    return AlbertTokenizer(metadata["spm_model_file"], lower_case=metadata.get("do_lower_case", True))


def build_pretrainer(config):
    """An `AlbertPretrainer`; heads come along from a pretrainer preset."""
    if config.preset and not config.init_checkpoint and common.is_task_preset(config.preset, keras_albert.AlbertPretrainer):
        return keras_albert.AlbertPretrainer.from_preset(config.preset)
    return keras_albert.AlbertPretrainer(common.build_backbone(config))


def distributed_dataset(strategy, files, batch_size, first_step, metadata, pretraining, seed):
    """The data stream from `first_step` on, split between workers/replicas.

    Every pipeline reads the same deterministic stream (`seed`), skips the
    examples of the completed steps, then keeps every N-th example (N
    pipelines), so a step trains on the same global batch whatever the
    number of workers.
    """
    if batch_size % strategy.num_replicas_in_sync:
        raise ValueError(
            f"The global batch size {batch_size} is not divisible by the "
            f"{strategy.num_replicas_in_sync} replicas."
        )
    masking = metadata if pretraining.dynamic_masking else None
    if pretraining.dynamic_masking and "mask_token_id" not in metadata:
        raise ValueError(f"--dynamic_masking needs the {pretraining_data.METADATA_FILE} written with the data.")

    def dataset_fn(input_context):
        return pretraining_data.pretraining_dataset(
            files,
            input_context.get_per_replica_batch_size(batch_size),
            pretraining.max_seq_length,
            pretraining.max_predictions_per_seq,
            seed=seed,
            shuffle_buffer_size=pretraining.shuffle_buffer_size,
            skip_examples=first_step * batch_size,
            num_input_pipelines=input_context.num_input_pipelines,
            input_pipeline_id=input_context.input_pipeline_id,
            dynamic_masking=masking,
        )

    return strategy.distribute_datasets_from_function(dataset_fn)


def train(model, strategy, files, metadata, is_chief, config, pretraining):
    """`fit` in epochs of --save_checkpoints_steps, resuming where a
    previous run stopped. Returns the history of this run's epochs.

    `keras.Model.fit` rather than `model.fit`: keras-hub's `PipelineModel`
    turns any input that is not a `tf.data.Dataset` (a distributed dataset
    included) into tensor slices; the pretrainer has no preprocessor, so
    Keras' own `fit` is what it would run anyway.
    """
    total = pretraining.num_train_steps
    interval = min(pretraining.save_checkpoints_steps, total)
    checkpoint = training.StepCheckpoint(
        os.path.join(config.output_dir, "checkpoints", f"worker_{task_index()}"),
        max_to_keep=pretraining.keep_checkpoint_max,
    )
    # Workers agree on a step every one of them has saved.
    step = training.newest_common_step(strategy, checkpoint.saved_steps())
    with strategy.scope():
        checkpoint.restore(model, step)
    if step:
        logging.info("Resuming at step %d of %d.", step, total)
    # Checks the loss of this run's steps (a resumed run: those after the restart).
    guard = common.not_learning_guard(config, total - step)
    callbacks = [checkpoint, guard]
    if is_chief:
        callbacks.append(
            keras.callbacks.TensorBoard(os.path.join(config.output_dir, "logs"), update_freq=pretraining.log_steps)
        )
    history = {}
    # Whole epochs, then the remainder as one shorter epoch.
    full_epochs = total // interval
    phases = [(interval, 0, full_epochs), (total - full_epochs * interval, full_epochs, full_epochs + 1)]
    for steps_per_epoch, first_epoch, end_epoch in phases:
        phase_start = first_epoch * interval
        if not steps_per_epoch or step >= phase_start + (end_epoch - first_epoch) * steps_per_epoch:
            continue
        if (step - phase_start) % steps_per_epoch:
            raise ValueError(
                f"The newest checkpoint (step {step}) is not on a --save_checkpoints_steps="
                f"{interval} boundary: resume with the flags of the interrupted run."
            )
        checkpoint.first_step = step
        fit = keras.Model.fit(
            model,
            distributed_dataset(strategy, files, config.train_batch_size, step, metadata, pretraining, config.seed),
            steps_per_epoch=steps_per_epoch,
            initial_epoch=first_epoch + (step - phase_start) // steps_per_epoch,
            epochs=end_epoch,
            callbacks=callbacks,
            verbose=common.progress_verbosity() if is_chief else 0,
        )
        for name, values in fit.history.items():
            history.setdefault(name, []).extend(float(v) for v in values)
        step = phase_start + (end_epoch - first_epoch) * steps_per_epoch
    if is_chief and guard.steps:
        common.write_step_history(config.output_dir, guard)
    return history


def main(argv):
    del argv
    # Signals first: a scheduler's SIGTERM must end the worker wherever it
    # is, waiting for peers included.
    with training.stop_on_signals():
        config = common.RunConfig.from_flags(FLAGS)
        pretraining = PretrainingConfig.from_flags(FLAGS)
        strategy = common.configure_runtime(config)
        with training.watch_workers(strategy, pretraining.peer_timeout_seconds):
            pretrain(strategy, config, pretraining)


def pretrain(strategy, config, pretraining):
    """Trains, saves and evaluates as `config` (`common.RunConfig`) and
    `pretraining` (`PretrainingConfig`) say."""
    is_chief = task_index() == 0
    files, metadata = load_input_files(pretraining.input_file, pretraining)
    tokenizer = load_tokenizer(config, metadata)
    accumulation = max(1, config.gradient_accumulation_steps)
    with strategy.scope():
        model = build_pretrainer(config)
        common.check_vocabulary(tokenizer, model.backbone)
        common.check_sequence_length(model.backbone, pretraining.max_seq_length)
        optimizer = training.create_optimizer(
            name=config.optimizer,
            learning_rate=config.learning_rate,
            num_train_steps=max(1, pretraining.num_train_steps // accumulation),
            num_warmup_steps=pretraining.num_warmup_steps // accumulation,
            weight_decay_rate=config.weight_decay,
            power=pretraining.poly_power,
            gradient_accumulation_steps=accumulation,
        )
        model.compile(
            optimizer=optimizer,
            jit_compile=config.jit_compile,
            steps_per_execution=config.steps_per_execution,
        )
    os.makedirs(config.output_dir, exist_ok=True)

    if config.do_train:
        history = train(model, strategy, files, metadata, is_chief, config, pretraining)
        # Every worker saves (saving may create variables, a collective step
        # under MultiWorkerMirroredStrategy); only the chief's copy is kept.
        save_dir = config.output_dir if is_chief else tempfile.mkdtemp(prefix="albert_worker_preset_")
        common.save_trained_model(
            model, save_dir, tokenizer, task_spec.PretrainingSpec(sequence_length=pretraining.max_seq_length)
        )
        if not is_chief:
            shutil.rmtree(save_dir)
        elif history:  # This run's epochs (a resumed run: those after the restart).
            common.write_json(os.path.join(config.output_dir, "train_history.json"), history)

    if config.do_eval:
        eval_files, _ = (
            load_input_files(pretraining.eval_input_file, pretraining)
            if pretraining.eval_input_file
            else (files, metadata)
        )
        with strategy.scope():
            results = keras.Model.evaluate(
                model,
                # Repeated, so that no worker runs out before the others.
                distributed_dataset(strategy, eval_files, config.eval_batch_size, 0, metadata, pretraining, config.seed),
                steps=pretraining.max_eval_steps,
                return_dict=True,
                verbose=common.progress_verbosity(inference=True) if is_chief else 0,
            )
        if is_chief:
            common.write_eval_results(config.output_dir, {k: float(v) for k, v in results.items()})


def run_command():
    """The command line: `python -m` this module, or its console script."""
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
