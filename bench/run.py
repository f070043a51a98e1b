"""Runs the benchmark suite: keras-albert against its peers, in one command.

```
python -m bench.run                                  # everything, ALBERT-base (~20 min idle 2-core CPU)
python -m bench.run --scenarios=train_fixed,infer_fixed --repeats=3
python -m bench.run --implementations=ours_xla,hf_torch --scenarios=infer_fixed
python -m bench.run --size=tiny --repeats=1          # seconds: checks the harness
```

The orchestrator prepares every scenario's data once (`<output_dir>/data/`),
then runs each (scenario, implementation) pair in its own subprocess, so
that frameworks do not share threads or memory and each row's peak RSS is
its own: one after another, except the fixed-shape rows, whose processes
are all warmed up and then take their timed steps in turn
(`bench.lockstep`), so that the machine's drift cannot favour one of them.
It prints a markdown table with ratios and writes `<output_dir>/results.md` and `<output_dir>/results.json`.
"""

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time

import keras_albert_cli

# Before `bench.report` imports keras_albert, and with it TensorFlow: no
# start-up lines on the console.
keras_albert_cli.start_tensorflow()

from bench import lockstep, report, scenarios, workloads  # noqa: E402
from keras_albert import hardware, tensorflow_dependency  # noqa: E402

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXED_FLOAT32 = ("ours_xla", "ours", "keras_hub_xla", "keras_hub", "hf_torch")
# bf16 rows run by default only where the CPU has bf16 instructions: elsewhere
# oneDNN emulates bf16 through float32 and the rows would measure only casts.
FIXED_BFLOAT16 = ("ours_bf16", "ours_xla_bf16", "keras_hub_bf16", "hf_torch_bf16")
CPU_ACCELERATES_BFLOAT16 = hardware.cpu_accelerates_bfloat16()
FIXED_IMPLEMENTATIONS = FIXED_FLOAT32 + (FIXED_BFLOAT16 if CPU_ACCELERATES_BFLOAT16 else ())
SCENARIO_IMPLEMENTATIONS = {
    "train_fixed": FIXED_IMPLEMENTATIONS,
    "infer_fixed": FIXED_IMPLEMENTATIONS,
    "latency": (
        "ours", "ours_xla", *(("ours_bf16",) if CPU_ACCELERATES_BFLOAT16 else ()), "ours_int8", "hf_torch",
        "savedmodel", "savedmodel_onednn", "tflite_float32", "tflite_dynamic_range", "tflite_int8",
    ),
    "sst2_epoch": ("ours_bucketed", "ours_padded"),
    "squad_infer": ("ours_bucketed", "ours_padded"),
    "ffn_matmul": ("tflite_float32", "tflite_dynamic_range", "tflite_int8"),
}
# The SavedModel served with TensorFlow's oneDNN kernels on (a serving process's
# choice: TF_ENABLE_ONEDNN_OPTS=1 in its environment).
ONEDNN_SERVING = ("savedmodel_onednn",)
# Timed in lockstep (bench.lockstep): close competitors on identical work.
LOCKSTEP_SCENARIOS = ("train_fixed", "infer_fixed")
# Single-sentence scenarios: they share the SST-2 dev sentences and --latency_repeats.
SENTENCE_SCENARIOS = ("latency", "ffn_matmul")
REAL_TEXT_SCENARIOS = ("sst2_epoch", "squad_infer") + SENTENCE_SCENARIOS
# SST-2 train sentences the int8 TFLite model is calibrated on.
NUM_CALIBRATION_SENTENCES = 100


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIO_IMPLEMENTATIONS),
        help=f"Comma-separated subset of {', '.join(SCENARIO_IMPLEMENTATIONS)}.",
    )
    parser.add_argument(
        "--implementations",
        default=None,
        help="Comma-separated implementations to run (default: all of each scenario's: "
        + "; ".join(f"{s}: {', '.join(i)}" for s, i in SCENARIO_IMPLEMENTATIONS.items())
        + ").",
    )
    parser.add_argument("--size", default="base", choices=sorted(workloads.MODEL_SIZES))
    parser.add_argument("--repeats", type=int, default=5, help="Timed calls per fixed-shape row.")
    parser.add_argument("--output_dir", default=os.path.join(REPOSITORY_ROOT, "bench", "results"))
    parser.add_argument(
        "--spm_model_file",
        default=None,
        help="SentencePiece model for the real-text scenarios (default: a 20k-piece "
        "English model trained once on SST-2, SQuAD and WikiText-2 text and cached in "
        "<output_dir>/cache).",
    )
    parser.add_argument(
        "--real_data_xla",
        type=lambda v: v.lower() in ("1", "true", "yes"),
        default=False,
        help="Compile the real-data scenarios (both variants) with XLA.",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds per subprocess.")
    parser.add_argument(
        "--in_process",
        action="store_true",
        help="Run every job in this process (tests; peak RSS is then shared).",
    )
    for field in dataclasses.fields(workloads.Shapes):
        parser.add_argument(f"--{field.name}", type=int, default=None, help=f"Override {field.name}.")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _shapes(args):
    shapes = dataclasses.replace(workloads.DEFAULT_SHAPES[args.size])
    for field in dataclasses.fields(shapes):
        value = getattr(args, field.name)
        if value is not None:
            # 0 padded steps means the whole padded epoch; every other size counts something.
            minimum = 0 if field.name == "sst2_padded_steps" else 1
            setattr(shapes, field.name, workloads.check_at_least(field.name, value, minimum))
    return shapes


def plan(args):
    """The (scenario, implementation) pairs to run, in order."""
    workloads.check_at_least("repeats", args.repeats)
    selected = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in selected if s not in SCENARIO_IMPLEMENTATIONS]
    if unknown:
        raise ValueError(f"--scenarios: unknown {unknown}; choose from {list(SCENARIO_IMPLEMENTATIONS)}.")
    wanted = None
    if args.implementations:
        wanted = {i.strip() for i in args.implementations.split(",") if i.strip()}
        known = {i for names in SCENARIO_IMPLEMENTATIONS.values() for i in names}
        if wanted - known:
            raise ValueError(f"--implementations: unknown {sorted(wanted - known)}; choose from {sorted(known)}.")
    jobs = [
        (scenario, implementation)
        for scenario in selected
        for implementation in SCENARIO_IMPLEMENTATIONS[scenario]
        if wanted is None or implementation in wanted
    ]
    if not jobs:
        raise ValueError(
            f"Nothing to run: --scenarios={args.scenarios!r} with --implementations={args.implementations!r} "
            "selects no row."
        )
    return jobs


# === Data ===


def encode_texts(tokenizer, segments, sequence_length):
    """Unpadded per-example features, packed as the task programs pack them."""
    from keras_albert.albert_preprocessor import AlbertPreprocessor
    from tasks import common

    preprocessor = AlbertPreprocessor(tokenizer, sequence_length=sequence_length)
    features = common.encode_segments(preprocessor, segments, split="bench")
    features.pop("stats")
    return features


def prepare_data(args, shapes, selected, data_dir):
    """Writes each scenario's inputs once; returns {scenario: (file, vocabulary_size)}."""
    os.makedirs(data_dir, exist_ok=True)
    vocabulary_size = workloads.MODEL_SIZES[args.size]["vocabulary_size"]
    files = {}
    tokenizer = None
    if any(s in REAL_TEXT_SCENARIOS for s in selected):
        tokenizer, spm_model_file = workloads.load_or_train_tokenizer(
            args.spm_model_file, os.path.join(args.output_dir, "cache")
        )
        vocabulary_size = max(vocabulary_size, tokenizer.vocabulary_size())
    if {"train_fixed", "infer_fixed"} & set(selected):
        path = os.path.join(data_dir, "fixed.npz")
        batch = workloads.random_batch(shapes.fixed_batch_size, shapes.fixed_seq_length, vocabulary_size)
        workloads.save_arrays(path, batch)
        files["train_fixed"] = files["infer_fixed"] = path
    if "sst2_epoch" in selected:
        texts, labels = workloads.sst2_sentences(shapes.sst2_examples)
        features = encode_texts(tokenizer, [texts], shapes.sst2_max_length)
        path = os.path.join(data_dir, "sst2.npz")
        workloads.save_arrays(path, dict(workloads.pack_ragged(features), labels=labels))
        files["sst2_epoch"] = path
    if "squad_infer" in selected:
        from keras_albert import question_answering

        questions, contexts = workloads.squad_questions(shapes.squad_examples)
        features = {name: [] for name in ("token_ids", "segment_ids", "padding_mask")}
        for question, context in zip(questions, contexts):
            windows, _ = question_answering.encode_question_and_context(
                tokenizer, question, context, max_seq_length=shapes.squad_max_length
            )
            for window in windows:
                for name in features:
                    features[name].append(window[name])
        path = os.path.join(data_dir, "squad.npz")
        workloads.save_arrays(path, workloads.pack_ragged(features))
        files["squad_infer"] = path
    if set(SENTENCE_SCENARIOS) & set(selected):
        dev_texts, _ = workloads.sst2_dev_sentences(max(shapes.latency_repeats, shapes.serving_batch_size))
        texts = dev_texts[: shapes.latency_repeats]
        sentences = encode_texts(tokenizer, [texts], shapes.sst2_max_length)
        calibration_texts, _ = workloads.sst2_sentences(NUM_CALIBRATION_SENTENCES)
        calibration = encode_texts(tokenizer, [calibration_texts], shapes.sst2_max_length)
        path = os.path.join(data_dir, "latency.npz")
        arrays = workloads.pack_ragged(sentences)
        arrays.update({f"calibration_{k}": v for k, v in workloads.pack_ragged(calibration).items()})
        workloads.save_arrays(
            path,
            arrays,
            {"texts": texts, "batch_texts": dev_texts[: shapes.serving_batch_size], "spm_model_file": spm_model_file},
        )
        files.update(dict.fromkeys(SENTENCE_SCENARIOS, path))
    return files, vocabulary_size


# === Jobs ===


def _write_job_file(job):
    job_file = job["result_file"].replace(".result.json", ".job.json")
    with open(job_file, "w") as f:
        json.dump(job, f)
    return job_file


def _worker_command(job_file):
    return [sys.executable, "-m", "bench.run", "--worker", job_file]


def _worker_env(job=None, onednn=False):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPOSITORY_ROOT, env.get("PYTHONPATH")]))
    if onednn or (job is not None and job["implementation"] in FIXED_BFLOAT16 + ONEDNN_SERVING):
        # TensorFlow's bf16 matmuls are oneDNN's; keras-albert turns those kernels
        # off by default (keras_albert.tensorflow_dependency), float32 rows keep that.
        env[tensorflow_dependency.ONEDNN_ENV] = "1"
    return env


def run_job_in_subprocess(job, timeout):
    try:
        process = subprocess.run(
            _worker_command(_write_job_file(job)),
            cwd=REPOSITORY_ROOT,
            env=_worker_env(job),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    if process.returncode != 0 or not os.path.exists(job["result_file"]):
        return {"ok": False, "error": lockstep.exit_message(process.stderr or process.stdout, process.returncode)}
    with open(job["result_file"]) as f:
        return json.load(f)


def worker_main(job_file):
    """A subprocess's entry point: run one job, write its result file."""
    with open(job_file) as f:
        job = json.load(f)
    if job["scenario"] in LOCKSTEP_SCENARIOS:
        lockstep.serve(job)
        return
    result = scenarios.run_job(job)
    with open(job["result_file"], "w") as f:
        json.dump(result, f, indent=1)


def _progress(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _summary(row):
    return f"{row['implementation']} {row['value']:.4g} {row['unit']}" if row["ok"] else f"FAILED: {row['error']}"


def _run_one(job, args):
    """Runs one job (in a subprocess unless --in_process); returns its rows."""
    os.makedirs(job["work_dir"], exist_ok=True)
    if os.path.exists(job["result_file"]):
        os.remove(job["result_file"])
    start = time.perf_counter()
    if args.in_process:
        try:
            outcome = scenarios.run_job(job)
        except Exception as error:  # Reported in the table, like a failed subprocess.
            outcome = lockstep.failed_row(job, error)
    else:
        outcome = run_job_in_subprocess(job, args.timeout)
    wall_s = time.perf_counter() - start
    rows = outcome if isinstance(outcome, list) else [outcome]
    for row in rows:
        row.setdefault("ok", True)
        row.setdefault("scenario", job["scenario"])
        row.setdefault("implementation", job["implementation"])
        row["wall_s"] = wall_s
    _progress(f"{job['scenario']} / {job['implementation']}: {wall_s:.0f} s, " + "; ".join(map(_summary, rows)))
    return rows


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.worker:
        worker_main(args.worker)
        return None
    command = "python -m bench.run " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    jobs = plan(args)
    shapes = _shapes(args)
    load_start = list(os.getloadavg())
    os.makedirs(args.output_dir, exist_ok=True)
    data_dir = os.path.join(args.output_dir, "data")
    files, vocabulary_size = prepare_data(args, shapes, {s for s, _ in jobs}, data_dir)
    config = workloads.model_config(args.size, vocabulary_size)

    def job_for(scenario, implementation):
        return {
            "scenario": scenario,
            "implementation": implementation,
            "size": args.size,
            "model_config": config,
            "shapes": dataclasses.asdict(shapes),
            "repeats": shapes.latency_repeats if scenario in SENTENCE_SCENARIOS else args.repeats,
            "jit_compile": args.real_data_xla,
            "data_file": files[scenario],
            "work_dir": os.path.join(args.output_dir, "work"),
            "result_file": os.path.join(data_dir, f"{scenario}.{implementation}.result.json"),
        }

    def make_stepper(job):
        if args.in_process:
            return lockstep.Stepper(job)
        return lockstep.ProcessStepper(job, _worker_command(_write_job_file(job)), _worker_env(job), args.timeout)

    results = []
    for scenario in dict.fromkeys(scenario for scenario, _ in jobs):
        scenario_jobs = [job_for(scenario, i) for s, i in jobs if s == scenario]
        if scenario in LOCKSTEP_SCENARIOS:
            _progress(f"{scenario}: {len(scenario_jobs)} rows in lockstep, {args.repeats} steps each")
            rows = lockstep.run(scenario_jobs, args.repeats, make_stepper, _progress)
            _progress("; ".join(_summary(row) for row in rows))
            results += rows
        else:
            for job in scenario_jobs:
                results += _run_one(job, args)
    fixed_rows = [r for r in results if r.get("ok") and "model_gflops" in r]
    peaks = measure_matmul_peaks(args, shapes, {scenarios.matmul_dtype(r["implementation"]) for r in fixed_rows})
    for row in fixed_rows:
        dtype = scenarios.matmul_dtype(row["implementation"])
        if dtype in peaks:
            row.update(matmul_dtype=dtype, peak_fraction=row["model_gflops"] / peaks[dtype])

    info = dict(report.machine_info(), load_average_start=load_start)
    notes = _notes(args, shapes, config, peaks)
    text = report.markdown(results, info, command, notes)
    with open(os.path.join(args.output_dir, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump(
            {
                "command": command,
                "machine": info,
                "model_config": config,
                "shapes": dataclasses.asdict(shapes),
                "results": results,
                "targets": report.target_checks(results),
                "notes": notes,
                "matmul_peak_gflops": peaks,
            },
            f,
            indent=1,
        )
    print(text)
    return results


def measure_matmul_peaks(args, shapes, dtypes):
    """`{dtype: GFLOP/s}`: TensorFlow's best matmul rate here (with or without
    XLA) on the fixed batch's FFN matmul, each precision with its rows'
    kernels (float32 without oneDNN, bf16 with it): the denominator of the
    fixed-shape rows' fraction of peak."""
    if not dtypes:
        return {}
    from bench import matmul_peak

    m = shapes.fixed_batch_size * shapes.fixed_seq_length
    k, n = workloads.MODEL_SIZES[args.size]["hidden_dim"], workloads.MODEL_SIZES[args.size]["intermediate_dim"]
    peaks = {}
    for dtype in sorted(dtypes):
        flags = [f"--m={m}", f"--k={k}", f"--n={n}", f"--dtypes={dtype}"]
        if args.in_process:
            rows = matmul_peak.main(flags + ["--repeats=2"])
        else:
            path = os.path.join(args.output_dir, "data", f"matmul_peak.{dtype}.json")
            env = _worker_env(onednn=dtype == "bfloat16")
            command = [sys.executable, "-m", "bench.matmul_peak", *flags, f"--output_json={path}"]
            try:
                process = subprocess.run(
                    command, cwd=REPOSITORY_ROOT, env=env, capture_output=True, text=True, timeout=args.timeout
                )
            except subprocess.TimeoutExpired:
                _progress(f"matmul peak, {dtype}: timed out after {args.timeout:.0f} s; its rows get no fraction")
                continue
            if process.returncode != 0:
                message = lockstep.exit_message(process.stderr, process.returncode)
                _progress(f"matmul peak, {dtype}: FAILED ({message}); its rows get no fraction")
                continue
            with open(path) as f:
                rows = json.load(f)
        peaks[dtype] = max(row["gflops"] for row in rows)
        _progress(f"matmul peak, {dtype}, {m} x {k} x {n}: {peaks[dtype]:.0f} GFLOP/s")
    return peaks


def _notes(args, shapes, config, peaks):
    peak_note = (
        [
            "Fixed shapes, GFLOP/s: the whole model's nominal matmul work per step (every layer on every "
            "position, train = 3 × forward) over the median step; the fraction is of TensorFlow's best "
            f"matmul rate on this machine for the FFN matmul of the fixed batch (python -m bench.matmul_peak "
            f"--m={shapes.fixed_batch_size * shapes.fixed_seq_length}): "
            + ", ".join(f"{dtype} {gflops:.0f} GFLOP/s" for dtype, gflops in sorted(peaks.items()))
            + "."
        ]
        if peaks
        else []
    )
    notes = [
        f"Model: {args.size} ({', '.join(f'{k}={v}' for k, v in config.items())}), fp32 unless a row "
        "says bf16, dropout 0 in the encoder (ALBERT v2), classifier dropout 0.1, AdamW(2e-5, wd 0.01).",
        "bf16 rows: " + (
            "this CPU has bf16 instructions (" + hardware.isa_class() + ")."
            if CPU_ACCELERATES_BFLOAT16
            else f"not run: this CPU ({hardware.isa_class()}) has no bf16 instructions, so bf16 is not "
            "accelerated here and float32 is kept (`--mixed_precision=auto` picks float32)."
        ),
        f"Fixed shapes: every implementation's process warmed up ({lockstep.WARMUP_CALLS} calls; the "
        "first, with tracing and XLA compilation, is the 'first call' column), then "
        f"{args.repeats} timed steps each, taken in turn across the implementations "
        f"({lockstep.PAUSE_S} s apart); the median step.",
        *peak_note,
        f"SST-2: the first {shapes.sst2_examples} sentences of train.tsv, batch "
        f"{shapes.sst2_batch_size}, tokenized once with a 20k English SentencePiece model trained "
        "with ALBERT's recipe on SST-2 train, SQuAD part A and WikiText-2 (no English ALBERT "
        "vocabulary offline); the padded variant pads every "
        f"sentence to {shapes.sst2_max_length}. Every batch shape is compiled before the timed "
        "epoch ('compile' column).",
        f"SQuAD: windows of the first {shapes.squad_examples} questions of SQuAD v1.1 dev part A "
        f"(max length {shapes.squad_max_length}, stride 128), batch {shapes.squad_batch_size}.",
        f"Latency: the first {shapes.latency_repeats} SST-2 dev sentences, each at its own length; "
        "per sentence the median of 5 calls, averaged over the sentences. TFLite runs with one "
        "interpreter thread per core. SavedModel batch throughput: the first "
        f"{shapes.serving_batch_size} SST-2 dev sentences as one raw-text request, the median of 5 calls.",
        "Each row runs in its own subprocess; peak RSS includes the framework.",
        f"XLA for the real-data scenarios: {args.real_data_xla}.",
    ]
    return notes


if __name__ == "__main__":
    main()
