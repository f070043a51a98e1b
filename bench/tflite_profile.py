r"""Op-level time profile of a `.tflite` model on one single sentence.

    python -m bench.tflite_profile --model=sst2_int8.tflite --length=25
    python -m bench.tflite_profile --build=float32,dynamic_range,int8 --size=base --length=25

How it measures, and why this way: LiteRT's Python interpreter has no
per-op profiler (the `benchmark_model` tool is not in the pip wheels, and
`ai_edge_litert.tools.benchmark_litert_model` times whole models only).
Timing graph prefixes would subtract two noisy numbers per op. So every
operator of the model is cut out into a one-op model of its own — the same
opcode, options, constant buffers and quantization parameters, its inputs
at the shapes they have when the whole model runs the sentence (captured
from a run that preserves all tensors) — and that model is timed in the
same interpreter (XNNPACK default delegate, same thread count). Each op
thus runs the kernel the whole model runs it with, on the same data, and
whether XNNPACK takes it or the builtin kernel runs is decided the same
way. What it cannot see: work an XNNPACK partition saves by keeping
several ops together, and cache effects between ops; so the report sets
the sum of the ops beside the whole model's time (the "coverage"), and
the one-op times are net of the Python `invoke()` overhead, measured on an
empty one-op model. Identical ops (same opcode, options, shapes and
constant buffers — ALBERT's shared layer repeated) are timed once.
"""

import argparse
import collections
import json
import os
import time

import numpy as np

from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from ai_edge_litert.tools import flatbuffer_utils

_OPCODE_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}


def _opcode_name(model, opcode_index):
    code = model.operatorCodes[opcode_index]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        return code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
    return _OPCODE_NAMES.get(builtin, str(builtin))


def operators(model_content):
    """`(op name, operator, tensors)` for every operator of a flatbuffer's first subgraph, in order."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_content))
    subgraph = model.subgraphs[0]
    return [(_opcode_name(model, op.opcodeIndex), op, subgraph.tensors) for op in subgraph.operators]


def _is_constant(model, tensor):
    return tensor.buffer > 0 and model.buffers[tensor.buffer].data is not None and len(model.buffers[tensor.buffer].data) > 0


def _options_key(op):
    if op.builtinOptions is None:
        return None
    return repr(sorted((name, repr(value)) for name, value in vars(op.builtinOptions).items()))


def capture_tensors(model_content, inputs):
    """Every tensor's value of subgraph 0 after one run on `inputs` (a dict by signature input name)."""
    interpreter = Interpreter(
        model_content=model_content,
        experimental_preserve_all_tensors=True,
        # Reference kernels: only the values matter here, not the speed.
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    (signature,) = interpreter.get_signature_list()
    runner = interpreter.get_signature_runner(signature)
    runner(**inputs)
    values = {}
    for detail in interpreter.get_tensor_details():
        try:
            values[detail["index"]] = interpreter.get_tensor(detail["index"])
        except ValueError:  # A tensor never allocated (optional or unused).
            pass
    return values


def single_op_model(model, op, values):
    """A flatbuffer running `op` alone at the captured shapes, and its runtime inputs' values."""
    subgraph = model.subgraphs[0]
    buffers = [schema.BufferT()]  # Buffer 0 is the empty sentinel.
    tensors, remap, runtime_inputs, feed = [], {}, [], []

    def add(index, is_output):
        if index < 0:
            return index
        if index in remap:
            return remap[index]
        source = subgraph.tensors[index]
        tensor = schema.TensorT()
        tensor.type, tensor.name, tensor.quantization = source.type, source.name, source.quantization
        tensor.hasRank = True
        if not is_output and _is_constant(model, source):
            buffers.append(model.buffers[source.buffer])
            tensor.buffer = len(buffers) - 1
            tensor.shape = source.shape
        else:
            tensor.buffer = 0
            tensor.shape = np.asarray(values[index].shape, np.int32) if index in values else source.shape
            if not is_output:
                runtime_inputs.append(len(tensors))
                feed.append(values[index])
        tensors.append(tensor)
        remap[index] = len(tensors) - 1
        return remap[index]

    new_op = schema.OperatorT()
    new_op.opcodeIndex = 0
    new_op.builtinOptionsType, new_op.builtinOptions = op.builtinOptionsType, op.builtinOptions
    new_op.customOptions = op.customOptions
    new_op.inputs = [add(i, False) for i in op.inputs]
    new_op.outputs = [add(i, True) for i in op.outputs]
    new_subgraph = schema.SubGraphT()
    new_subgraph.tensors, new_subgraph.operators = tensors, [new_op]
    new_subgraph.inputs, new_subgraph.outputs = runtime_inputs, list(new_op.outputs)
    new_model = schema.ModelT()
    new_model.version = model.version
    new_model.operatorCodes = [model.operatorCodes[op.opcodeIndex]]
    new_model.subgraphs, new_model.buffers = [new_subgraph], buffers
    return bytes(flatbuffer_utils.convert_object_to_bytearray(new_model)), feed


def _median_invoke_s(interpreter, repeats, warmup=3):
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _timed_interpreter(content, feed, num_threads):
    interpreter = Interpreter(model_content=content, num_threads=num_threads)
    interpreter.allocate_tensors()
    for detail, value in zip(interpreter.get_input_details(), feed):
        interpreter.set_tensor(detail["index"], value)
    return interpreter


def _invoke_overhead_s(num_threads, repeats):
    """Python `invoke()` of a one-op model doing nothing measurable (ADD of two scalars)."""
    model = schema.ModelT()
    model.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    code.version = 1
    model.operatorCodes = [code]
    model.buffers = [schema.BufferT()]
    tensors = []
    for name in ("a", "b", "sum"):
        tensor = schema.TensorT()
        tensor.shape, tensor.type, tensor.buffer, tensor.name = [1], schema.TensorType.FLOAT32, 0, name
        tensors.append(tensor)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.operators, subgraph.inputs, subgraph.outputs = tensors, [op], [0, 1], [2]
    model.subgraphs = [subgraph]
    content = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    one = np.ones([1], np.float32)
    return _median_invoke_s(_timed_interpreter(content, [one, one], num_threads), repeats)


def _token_embedding_rows(model):
    """Rows of the largest constant table a GATHER reads (the token embeddings): ids stay below it."""
    subgraph = model.subgraphs[0]
    rows = [
        subgraph.tensors[op.inputs[0]].shape[0]
        for op in subgraph.operators
        if _opcode_name(model, op.opcodeIndex) == "GATHER" and _is_constant(model, subgraph.tensors[op.inputs[0]])
    ]
    return int(max(rows)) if rows else 20000


def sentence_inputs(interpreter_inputs, length, vocabulary_size=20000, seed=0):
    """One unpadded single-segment sentence of `length` random token ids."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name in interpreter_inputs:
        if "token_ids" in name:
            inputs[name] = rng.integers(5, vocabulary_size, (1, length)).astype(np.int32)
        elif "segment_ids" in name:
            inputs[name] = np.zeros((1, length), np.int32)
        else:
            inputs[name] = np.ones((1, length), np.int32)
    return inputs


def profile(model_content, length=25, num_threads=None, repeats=30, whole_model_repeats=30):
    """Per-op and per-op-type times of `model_content` on one sentence of `length` tokens.

    Returns:
        dict with `ops` (one row per distinct op: type, shapes, count, ms
        each, ms total, delegated), `op_types` (type -> count, ms, share),
        `sum_of_ops_ms`, `whole_model_ms` (median, measured before and after
        the ops, interleaved with nothing else) and `invoke_overhead_ms`.
    """
    num_threads = num_threads or os.cpu_count()
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_content))
    if len(model.subgraphs) != 1:
        raise ValueError(f"The model has {len(model.subgraphs)} subgraphs; the profile covers one-subgraph models.")
    whole = Interpreter(model_content=model_content, num_threads=num_threads)
    (signature,) = whole.get_signature_list()
    input_names = whole.get_signature_list()[signature]["inputs"]
    inputs = sentence_inputs(input_names, length, _token_embedding_rows(model))
    whole_runner = whole.get_signature_runner(signature)

    def whole_model_s():
        for _ in range(3):
            whole_runner(**inputs)
        times = []
        for _ in range(whole_model_repeats):
            start = time.perf_counter()
            whole_runner(**inputs)
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    whole_before_s = whole_model_s()
    values = capture_tensors(model_content, inputs)
    overhead_s = _invoke_overhead_s(num_threads, repeats * 3)
    subgraph = model.subgraphs[0]
    distinct = {}
    for op in subgraph.operators:
        name = _opcode_name(model, op.opcodeIndex)
        shapes = tuple(
            tuple(values[i].shape) if i in values else None for i in op.inputs if i >= 0
        )
        constants = tuple(subgraph.tensors[i].buffer if i >= 0 and _is_constant(model, subgraph.tensors[i]) else 0 for i in op.inputs)
        types = tuple(_TYPE_NAMES.get(subgraph.tensors[i].type) for i in list(op.inputs) + list(op.outputs) if i >= 0)
        key = (name, _options_key(op), shapes, constants, types)
        if key not in distinct:
            distinct[key] = {"op": op, "count": 0, "type": name, "shapes": shapes, "types": types}
        distinct[key]["count"] += 1
    rows = []
    for key, entry in distinct.items():
        content, feed = single_op_model(model, entry["op"], values)
        interpreter = _timed_interpreter(content, feed, num_threads)
        delegated = any(d["op_name"] == "DELEGATE" for d in interpreter._get_ops_details())
        seconds = max(_median_invoke_s(interpreter, repeats) - overhead_s, 0.0)
        rows.append({
            "type": entry["type"],
            "input_shapes": [list(s) if s is not None else None for s in entry["shapes"]],
            "tensor_types": list(entry["types"]),
            "count": entry["count"],
            "ms_each": 1000 * seconds,
            "ms_total": 1000 * seconds * entry["count"],
            "xnnpack": delegated,
        })
    whole_after_s = whole_model_s()
    rows.sort(key=lambda row: -row["ms_total"])
    total_ms = sum(row["ms_total"] for row in rows)
    by_type = collections.defaultdict(lambda: {"count": 0, "ms": 0.0})
    for row in rows:
        by_type[row["type"]]["count"] += row["count"]
        by_type[row["type"]]["ms"] += row["ms_total"]
    op_types = {
        name: dict(entry, share=entry["ms"] / total_ms if total_ms else 0.0)
        for name, entry in sorted(by_type.items(), key=lambda item: -item[1]["ms"])
    }
    return {
        "length": length,
        "num_threads": num_threads,
        "num_ops": len(subgraph.operators),
        "num_distinct_ops": len(rows),
        "sum_of_ops_ms": total_ms,
        "whole_model_ms": [1000 * whole_before_s, 1000 * whole_after_s],
        "invoke_overhead_ms": 1000 * overhead_s,
        "op_types": op_types,
        "ops": rows,
    }


def interleaved_latency(models, lengths, rounds=10, num_threads=None):
    """Whole-model single-sentence latency of several models, their calls interleaved.

    On a shared machine the load drifts between runs; alternating the
    models call by call (order rotated each round) gives each the same
    load. Per length, the median of `rounds` calls; returns
    `{name: mean over lengths of the medians, in ms}`.
    """
    num_threads = num_threads or os.cpu_count()
    runners = {}
    for name, content in models:
        interpreter = Interpreter(model_content=content, num_threads=num_threads)
        (signature,) = interpreter.get_signature_list()
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
        input_names = interpreter.get_signature_list()[signature]["inputs"]
        runners[name] = (interpreter.get_signature_runner(signature), input_names, _token_embedding_rows(model))
        del model
    times = {name: {length: [] for length in lengths} for name in runners}
    names = list(runners)
    for round_index in range(rounds):
        order = names[round_index % len(names):] + names[: round_index % len(names)]
        for length in lengths:
            for name in order:
                runner, input_names, rows = runners[name]
                inputs = sentence_inputs(input_names, length, rows, seed=round_index)
                runner(**inputs)  # Resizes to this length; the timed call does not.
                start = time.perf_counter()
                runner(**inputs)
                times[name][length].append(time.perf_counter() - start)
    return {
        name: 1000 * float(np.mean([np.median(times[name][length]) for length in lengths])) for name in names
    }


def format_report(name, result, top=12):
    lines = [
        f"## {name}: {result['num_ops']} ops ({result['num_distinct_ops']} distinct), 1 × {result['length']} tokens, "
        f"{result['num_threads']} threads",
        f"whole model {result['whole_model_ms'][0]:.2f} / {result['whole_model_ms'][1]:.2f} ms (before / after), "
        f"sum of one-op models {result['sum_of_ops_ms']:.2f} ms (net of {1000 * result['invoke_overhead_ms']:.1f} µs "
        "invoke overhead each)",
        "",
        "| op type | count | ms | share |",
        "|---|---:|---:|---:|",
    ]
    for op_type, entry in result["op_types"].items():
        lines.append(f"| {op_type} | {entry['count']} | {entry['ms']:.2f} | {100 * entry['share']:.1f} % |")
    lines += ["", f"Top {top} ops:", "", "| op | inputs | types | count | ms each | ms total | XNNPACK |", "|---|---|---|---:|---:|---:|---|"]
    for row in result["ops"][:top]:
        shapes = " ".join("×".join(map(str, s)) if s else "-" for s in row["input_shapes"])
        lines.append(
            f"| {row['type']} | {shapes} | {','.join(t or '?' for t in row['tensor_types'])} | {row['count']} | "
            f"{row['ms_each']:.3f} | {row['ms_total']:.2f} | {'yes' if row['xnnpack'] else 'no'} |"
        )
    return "\n".join(lines)


def build_latency_model(size, quantization, length=25, num_calibration=50):
    """The `latency` scenario's classifier (fixed-seed weights) as a `.tflite` flatbuffer.

    int8 is calibrated on random token-id sentences of 8 to 2×`length`
    tokens: the activation ranges differ from real text's, the kernels and
    graph (what this profile times) do not.
    """
    import keras

    from bench import keras_runner, workloads
    from export import tflite

    config = workloads.model_config(size)
    keras.utils.set_random_seed(0)
    model = keras_runner.albert_text_classifier(config)
    calibration = None
    if quantization == "int8":
        rng = np.random.default_rng(1)
        width = 2 * length
        lengths = rng.integers(8, width + 1, num_calibration)
        calibration = {
            "token_ids": rng.integers(5, config["vocabulary_size"], (num_calibration, width)).astype(np.int32),
            "segment_ids": np.zeros((num_calibration, width), np.int32),
            "padding_mask": (np.arange(width)[None, :] < lengths[:, None]).astype(np.int32),
        }
    return tflite.convert_to_tflite(
        model, quantization, representative_features=calibration, num_calibration_examples=num_calibration
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.tflite_profile", description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", default=[], help="A .tflite file (repeatable).")
    parser.add_argument("--build", default="", help="Comma-separated quantizations of the latency scenario's model.")
    parser.add_argument("--size", default="base", help="Model size for --build (bench.workloads.MODEL_SIZES).")
    parser.add_argument("--save_dir", default=None, help="Keep the --build models here.")
    parser.add_argument("--length", type=int, default=25, help="Sentence length in tokens (SST-2 dev mean ~25).")
    parser.add_argument("--threads", type=int, default=None, help="Interpreter threads (default: one per core).")
    parser.add_argument("--repeats", type=int, default=30, help="Timed invokes per op.")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--json", default=None, help="Write the full profiles here.")
    parser.add_argument(
        "--whole_only", default=None,
        help="Comma-separated sentence lengths: time the whole models only, interleaved, instead of profiling.",
    )
    parser.add_argument("--rounds", type=int, default=10, help="Interleaved calls per model and length (--whole_only).")
    args = parser.parse_args(argv)
    if not args.model and not args.build:
        parser.error("give --model=X.tflite or --build=QUANTIZATIONS")
    models = []
    for path in args.model:
        if not os.path.isfile(path):
            parser.error(f"--model={path}: no such file")
        with open(path, "rb") as file:
            models.append((path, file.read()))
    for quantization in filter(None, args.build.split(",")):
        content = build_latency_model(args.size, quantization, args.length)
        if args.save_dir:
            os.makedirs(args.save_dir, exist_ok=True)
            with open(os.path.join(args.save_dir, f"{args.size}_{quantization}.tflite"), "wb") as file:
                file.write(content)
        models.append((f"{args.size} {quantization}", content))
    if args.whole_only:
        lengths = [int(length) for length in args.whole_only.split(",")]
        latencies = interleaved_latency(models, lengths, args.rounds, args.threads)
        reference = next(iter(latencies.values()))
        for name, milliseconds in latencies.items():
            print(f"{name}: {milliseconds:.2f} ms (first model / this one: {reference / milliseconds:.2f}x)")
        return
    results = {}
    for name, content in models:
        results[name] = profile(content, args.length, args.threads, args.repeats)
        print(format_report(name, results[name], args.top), flush=True)
        print()
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
