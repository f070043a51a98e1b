"""The benchmark scenarios: what one worker process measures.

Each scenario function takes a job (a dict written by `bench.run`) and
returns a result dict: the measured value with its unit, the raw timings,
the peak memory and notes. The orchestrator turns results into tables.
"""

import os
import time

import numpy as np

from bench import measure, workloads

# implementation -> (label, framework, XLA, Keras dtype policy / torch autocast dtype).
# "ours" rows are keras-albert.
IMPLEMENTATIONS = {
    "ours_xla": ("keras-albert, TF backend, XLA", "keras_albert", True, "float32"),
    "ours": ("keras-albert, TF backend, no XLA", "keras_albert", False, "float32"),
    "keras_hub_xla": ("keras-hub 0.32 AlbertBackbone, TF backend, XLA", "keras_hub", True, "float32"),
    "keras_hub": ("keras-hub 0.32 AlbertBackbone, TF backend, no XLA", "keras_hub", False, "float32"),
    "hf_torch": ("HF transformers AlbertForSequenceClassification, PyTorch eager", "torch", False, "float32"),
    "ours_bf16": ("keras-albert, TF backend, mixed_bfloat16, no XLA", "keras_albert", False, "mixed_bfloat16"),
    "ours_xla_bf16": ("keras-albert, TF backend, mixed_bfloat16, XLA", "keras_albert", True, "mixed_bfloat16"),
    "keras_hub_bf16": ("keras-hub 0.32, TF backend, mixed_bfloat16, no XLA", "keras_hub", False, "mixed_bfloat16"),
    "hf_torch_bf16": ("HF transformers, PyTorch eager, bf16 autocast", "torch", False, "mixed_bfloat16"),
}


def is_bfloat16(implementation):
    return IMPLEMENTATIONS.get(implementation, (None,) * 4)[3] == "mixed_bfloat16"


def matmul_dtype(implementation):
    """The precision a fixed-shape row's matmuls run in."""
    return "bfloat16" if is_bfloat16(implementation) else "float32"


def _runner(implementation, config):
    _, framework, jit_compile, dtype_policy = IMPLEMENTATIONS[implementation]
    if framework == "torch":
        from bench.torch_runner import TorchRunner

        return TorchRunner(config, autocast_bfloat16=dtype_policy == "mixed_bfloat16")
    import keras

    from bench import keras_runner

    # Each row runs in its own process, so the global policy is this row's alone,
    # as `--mixed_precision` sets it in the programs.
    keras.config.set_dtype_policy(dtype_policy)
    build = {
        "keras_albert": keras_runner.albert_text_classifier,
        "keras_hub": keras_runner.keras_hub_text_classifier,
    }[framework]
    return keras_runner.KerasRunner(build(config), jit_compile=jit_compile)


def _result(job, value, unit, higher_is_better, timing, **extra):
    return {
        "scenario": job["scenario"],
        "implementation": job["implementation"],
        "ok": True,
        "value": value,
        "unit": unit,
        "higher_is_better": higher_is_better,
        **timing,
        **extra,
        "peak_rss_mb": measure.peak_rss_mb(),
    }


# === Fixed shapes: random ids, no padding (timed in lockstep by `bench.lockstep`) ===


def fixed_shape_step(job):
    """A fixed-shape job's step (a train step or an inference batch) and its batch shape."""
    arrays, _ = workloads.load_arrays(job["data_file"])
    step = step_on(job["scenario"], job["implementation"], job["model_config"], arrays)
    return step, list(arrays["token_ids"].shape)


def step_on(scenario, implementation, config, arrays):
    """One `scenario` step ("train_fixed": a train step, else an inference
    batch) of `implementation`'s model on the batch `arrays`, as a callable."""
    runner = _runner(implementation, config)
    features, labels = runner.split(arrays)
    if scenario == "train_fixed":
        return lambda: runner.train_step(features, labels)
    return lambda: runner.predict(features)


def fixed_shape_result(job, shape, timing):
    """A fixed-shape row: sequences per second over the median step, and the
    model's nominal matmul rate (`workloads.model_gflop`) at that speed."""
    gflop = workloads.model_gflop(job["model_config"], *shape, train=job["scenario"] == "train_fixed")
    return _result(
        job, shape[0] / timing["median_s"], "seq/s", True, timing, shape=shape,
        model_gflops=gflop / timing["median_s"],
    )


# === Real data: length-bucketed against padded to a fixed length ===


def _warmup_dataset(dataset):
    """One batch of each distinct shape of `dataset`, with its element spec.

    `fit`/`predict` trace one function for the dataset's element spec;
    running them once on this dataset compiles every batch shape (XLA
    compiles per shape) so the timed pass measures steady-state steps.

    Returns:
        `(warmup_dataset, shapes)`: `shapes` lists every batch's
        `(batch, length)` in one pass, in order.
    """
    import tensorflow as tf

    first_of_shape, shapes = {}, []
    for element in dataset:
        features = element[0] if isinstance(element, tuple) else element
        shape = tuple(features["token_ids"].shape)
        shapes.append(shape)
        first_of_shape.setdefault(shape, element)
    warmup = tf.data.Dataset.from_generator(
        lambda: iter(first_of_shape.values()), output_signature=dataset.element_spec
    ).apply(tf.data.experimental.assert_cardinality(len(first_of_shape)))
    return warmup, shapes


def _token_counts(lengths, shapes):
    real = int(np.sum(lengths))
    computed = int(sum(batch * length for batch, length in shapes))
    return {
        "real_tokens": real,
        "computed_tokens": computed,
        "num_batches": len(shapes),
        "num_shapes": len(set(shapes)),
    }


def sst2_epoch(job):
    """One fine-tuning epoch over the first N SST-2 sentences.

    `ours_bucketed` batches through `tasks.common.training_dataset`
    (length buckets, dynamic padding); `ours_padded` feeds the same
    examples padded to `sst2_max_length`, as the peers' pipelines do, through
    the same function. Every batch shape is compiled before the timed epoch
    (compile time is reported separately).
    """
    from bench import keras_runner
    from tasks import common

    shapes = workloads.Shapes(**job["shapes"])
    arrays, _ = workloads.load_arrays(job["data_file"])
    features = workloads.unpack_ragged(arrays)
    padded = job["implementation"] == "ours_padded"
    if padded:
        features = workloads.pad_to(features, shapes.sst2_max_length)
    labels = arrays["labels"]
    dataset = common.training_dataset(
        features, labels, shapes.sst2_batch_size, shapes.sst2_max_length, seed=0
    )
    runner = keras_runner.KerasRunner(
        keras_runner.albert_text_classifier(job["model_config"]), jit_compile=job["jit_compile"]
    )
    warmup, batch_shapes = _warmup_dataset(dataset)
    start = time.perf_counter()
    runner.model.fit(warmup, epochs=1, verbose=0)
    compile_s = time.perf_counter() - start

    timed_steps = shapes.sst2_padded_steps if padded else 0
    if timed_steps and timed_steps < len(batch_shapes):
        # All padded batches are the same `[batch, max_length]` work: time a
        # few and scale to the epoch's batch count.
        start = time.perf_counter()
        runner.model.fit(dataset.take(timed_steps), epochs=1, verbose=0)
        epoch_s = (time.perf_counter() - start) / timed_steps * len(batch_shapes)
        how = f"{timed_steps} of {len(batch_shapes)} identical batches timed, scaled to the epoch"
    else:
        start = time.perf_counter()
        runner.model.fit(dataset, epochs=1, verbose=0)
        epoch_s = time.perf_counter() - start
        how = "whole epoch timed"
    return _result(
        job,
        epoch_s,
        "s/epoch",
        False,
        {"first_call_s": compile_s, "median_s": epoch_s},
        num_examples=len(labels),
        timing_method=how,
        **_token_counts(arrays["lengths"], batch_shapes),
    )


def squad_infer(job):
    """Question-answering inference over the first N SQuAD questions.

    `ours_bucketed` predicts in length order through
    `tasks.common.predict_in_length_order` (dynamic padding);
    `ours_padded` runs the same function on inputs padded to
    `squad_max_length`. Every batch shape is compiled before timing.
    """
    from bench import keras_runner
    from tasks import common

    shapes = workloads.Shapes(**job["shapes"])
    arrays, _ = workloads.load_arrays(job["data_file"])
    features = workloads.unpack_ragged(arrays)
    if job["implementation"] == "ours_padded":
        features = workloads.pad_to(features, shapes.squad_max_length)
    runner = keras_runner.KerasRunner(
        keras_runner.albert_question_answerer(job["model_config"]),
        jit_compile=job["jit_compile"],
        trainable=False,
    )
    order = np.argsort([len(ids) for ids in features["token_ids"]], kind="stable")
    dataset = common.inference_dataset(
        features, shapes.squad_batch_size, shapes.squad_max_length, order
    )
    warmup, batch_shapes = _warmup_dataset(dataset)
    start = time.perf_counter()
    runner.model.predict(warmup, verbose=0)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    common.predict_in_length_order(
        runner.model, features, shapes.squad_batch_size, shapes.squad_max_length
    )
    total_s = time.perf_counter() - start
    num_examples = len(features["token_ids"])
    return _result(
        job,
        num_examples / total_s,
        "seq/s",
        True,
        {"first_call_s": compile_s, "median_s": total_s},
        num_examples=num_examples,
        **_token_counts(arrays["lengths"], batch_shapes),
    )


# === Single-sentence latency ===


def _latency_ms(call, examples, calls_per_example=5, warmup=3):
    """Mean over `examples` of the median milliseconds of `call(example)`.

    Sentences differ in length, so one call each would make the reported
    number depend on which sentence landed in the middle and on one noisy
    call; the per-sentence median of several calls, averaged, is the time
    to serve the sentences once each. Returns (mean ms, per-example
    median seconds).
    """
    for example in examples[:warmup]:
        call(example)
    medians = []
    for example in examples:
        times = []
        for _ in range(calls_per_example):
            start = time.perf_counter()
            call(example)
            times.append(time.perf_counter() - start)
        medians.append(float(np.median(times)))
    return 1000.0 * float(np.mean(medians)), medians


def _latency_result(job, implementation, latency_ms, times, first_call_s, **extra):
    result = _result(
        job,
        latency_ms,
        "ms/sentence",
        False,
        {"first_call_s": first_call_s, "mean_s": latency_ms / 1000.0, "times_s": times},
        **extra,
    )
    result["implementation"] = implementation
    return result


def latency(job):
    """Mean single-sentence latency over the first N SST-2 dev sentences.

    Each call gets one sentence's token ids at its own length (no
    padding), tokenized beforehand, except `savedmodel_text`, which sends
    the raw string to the SavedModel's `serving_default` signature
    (tokenization in the graph, as TF Serving runs it). Formats come from
    `export.saved_model` and `export.tflite` on one ALBERT classifier with
    fixed-seed weights; TFLite runs with one interpreter thread per core.
    `ours_int8` is the same Keras model after `model.quantize("int8")`;
    `ours_xla` the Keras model with `jit_compile=True`, `ours_bf16` under
    `mixed_bfloat16` (TensorFlow's oneDNN kernels on, as for every bf16 row).
    The SavedModel rows also time one raw-text request of the first
    `serving_batch_size` dev sentences (batch throughput);
    `savedmodel_onednn` is the same SavedModel served with oneDNN's kernels on.
    """
    import keras

    from bench import keras_runner

    implementation = job["implementation"]
    arrays, metadata = workloads.load_arrays(job["data_file"])
    sentences = workloads.unpack_ragged(arrays)
    examples = [
        {name: sentences[name][i][None, :] for name in sentences}
        for i in range(len(sentences["token_ids"]))
    ]
    extra = {"num_sentences": len(examples), "mean_length": float(np.mean(arrays["lengths"]))}
    if implementation == "hf_torch":
        from bench.torch_runner import TorchRunner

        runner = TorchRunner(job["model_config"])
        examples = [runner.split(example)[0] for example in examples]
        start = time.perf_counter()
        runner.predict(examples[0])
        first_call_s = time.perf_counter() - start
        latency_ms, times = _latency_ms(runner.predict, examples)
        return _latency_result(job, implementation, latency_ms, times, first_call_s, **extra)

    # Keras rows outside the table (`ours_int8`) are float32 without XLA.
    _, _, jit_compile, dtype_policy = IMPLEMENTATIONS.get(implementation, (None, None, False, "float32"))
    keras.config.set_dtype_policy(dtype_policy)  # Its own process: the global policy is this row's alone.
    keras.utils.set_random_seed(0)
    model = keras_runner.albert_text_classifier(job["model_config"])
    if implementation in ("ours", "ours_xla", "ours_bf16", "ours_int8"):
        if implementation == "ours_int8":
            # Keras' own weight-and-activation int8 (Dense and Embedding layers).
            model.quantize("int8")
            int8_weights = sum(keras.backend.standardize_dtype(w.dtype) == "int8" for w in model.weights)
            extra["note"] = f'Keras quantize("int8"): {int8_weights} int8 weight tensors'
        # XLA compiles once per sentence length; the median of each sentence's calls leaves that out.
        runner = keras_runner.KerasRunner(model, jit_compile=jit_compile, trainable=False)
        start = time.perf_counter()
        runner.predict(examples[0])
        first_call_s = time.perf_counter() - start
        latency_ms, times = _latency_ms(runner.predict, examples)
        return _latency_result(job, implementation, latency_ms, times, first_call_s, **extra)

    from keras_albert.albert_tokenizer import AlbertTokenizer

    tokenizer = AlbertTokenizer(metadata["spm_model_file"])
    if implementation in ("savedmodel", "savedmodel_onednn"):
        import tensorflow as tf

        from export.saved_model import export_saved_model

        start = time.perf_counter()
        path = export_saved_model(
            model, tokenizer, os.path.join(job["work_dir"], "savedmodel"), version=1,
            overwrite=True, sequence_length=job["shapes"]["sst2_max_length"],
        )
        loaded = tf.saved_model.load(path)
        export_s = time.perf_counter() - start
        token_ids = loaded.signatures["token_ids"]
        text_in = loaded.signatures["serving_default"]
        ids_ms, ids_times = _latency_ms(
            lambda e: token_ids(**{k: tf.constant(v) for k, v in e.items()}), examples
        )
        texts = [tf.constant([text]) for text in metadata["texts"]]
        text_ms, text_times = _latency_ms(lambda t: text_in(text=t), texts)
        batch = tf.constant(metadata["batch_texts"])
        _, (batch_s,) = _latency_ms(lambda t: text_in(text=t), [batch])
        batch_throughput = len(metadata["batch_texts"]) / batch_s
        return [
            _latency_result(job, implementation, ids_ms, ids_times, export_s, **extra),
            _latency_result(
                job, f"{implementation}_text", text_ms, text_times, export_s,
                note=f"raw string in: tokenization inside the graph; a batch of {len(metadata['batch_texts'])} "
                f"sentences: {batch_throughput:.1f} sentences/s",
                batch_sentences_per_s=batch_throughput, **extra,
            ),
        ]

    from export import tflite, verify

    quantization = implementation.removeprefix("tflite_")
    calibration = None
    if quantization == "int8":
        calibration = workloads.stack(
            workloads.pad_to(
                workloads.unpack_ragged(
                    {k.removeprefix("calibration_"): v for k, v in arrays.items() if k.startswith("calibration_")}
                ),
                job["shapes"]["sst2_max_length"],
            )
        )
    start = time.perf_counter()
    flatbuffer = tflite.convert_to_tflite(
        model, quantization, representative_features=calibration,
        num_calibration_examples=len(calibration["token_ids"]) if calibration else 0,
    )
    interpreter = verify.load_interpreter(flatbuffer, num_threads=os.cpu_count())
    convert_s = time.perf_counter() - start
    latency_ms, times = _latency_ms(lambda e: verify.run_tflite(interpreter, e), examples)
    return _latency_result(
        job, implementation, latency_ms, times, convert_s,
        model_bytes=len(flatbuffer), note=f"{len(flatbuffer) / 2**20:.0f} MiB flatbuffer", **extra,
    )


def ffn_matmul(job):
    """The feed-forward matmuls alone in TFLite: the int8 kernel ceiling.

    ALBERT's FLOPs are mostly its dense layers, so the int8 / float32 ratio
    of one `hidden -> intermediate -> hidden` pair bounds what full-integer
    quantization can gain on the whole model on this CPU's TFLite kernels.
    Inputs are `[1, mean SST-2 dev length, hidden]` standard-normal
    activations (what LayerNorm emits); same converter options
    (`export.tflite.convert_quantized`), interpreter and thread count
    as the `latency` TFLite rows.
    """
    import keras
    import tensorflow as tf

    from export import tflite, verify

    arrays, _ = workloads.load_arrays(job["data_file"])
    length = max(int(round(float(np.mean(arrays["lengths"])))), 1)
    hidden, intermediate = job["model_config"]["hidden_dim"], job["model_config"]["intermediate_dim"]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((length, hidden), batch_size=1)
    outputs = keras.layers.Dense(hidden)(keras.layers.Dense(intermediate)(inputs))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    activations = [rng.standard_normal((1, length, hidden), np.float32) for _ in range(job["repeats"])]

    quantization = job["implementation"].removeprefix("tflite_")
    start = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    flatbuffer = tflite.convert_quantized(converter, quantization, lambda: ([a] for a in activations[:20]))
    interpreter = verify.load_interpreter(flatbuffer, num_threads=os.cpu_count())
    convert_s = time.perf_counter() - start
    signatures = interpreter.get_signature_list()
    (signature,) = signatures
    (input_name,) = signatures[signature]["inputs"]
    run = interpreter.get_signature_runner(signature)
    milliseconds, times = _latency_ms(lambda a: run(**{input_name: a}), activations)
    gflop = 2 * 2 * length * hidden * intermediate / 1e9
    return _result(
        job, milliseconds, "ms/call", False,
        {"first_call_s": convert_s, "mean_s": milliseconds / 1000.0, "times_s": times},
        note=f"1 × {length} × {hidden} → {intermediate} → {hidden}; "
        f"{gflop / (milliseconds / 1000.0):.0f} GFLOP/s",
    )


SCENARIOS = {
    "sst2_epoch": sst2_epoch,
    "squad_infer": squad_infer,
    "latency": latency,
    "ffn_matmul": ffn_matmul,
}


def run_job(job):
    """Runs one job in this process; returns its result dict or a list of them."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    return SCENARIOS[job["scenario"]](job)
