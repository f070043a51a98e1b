"""Results -> markdown tables with ratios, target checks, and the machine."""

import datetime
import os
import platform

from bench.scenarios import IMPLEMENTATIONS, is_bfloat16
from keras_albert import hardware

SCENARIO_TITLES = {
    "train_fixed": "Train step, fixed shapes (random ids, no padding)",
    "infer_fixed": "Inference batch, fixed shapes (random ids, no padding)",
    "latency": "Single-sentence latency (SST-2 dev sentences, one per call, no padding)",
    "sst2_epoch": "SST-2 fine-tuning epoch (real sentences)",
    "squad_infer": "SQuAD v1.1 part A question answering inference (real text)",
    "ffn_matmul": "Feed-forward matmuls alone in TFLite (the int8 kernel ceiling for `latency`)",
}
# The row every other row of a scenario is compared with.
REFERENCE = {
    "train_fixed": "ours_xla",
    "infer_fixed": "ours_xla",
    "latency": "tflite_int8",
    "sst2_epoch": "ours_bucketed",
    "squad_infer": "ours_bucketed",
    "ffn_matmul": "tflite_int8",
}
EXTRA_LABELS = {
    "ours_bucketed": "keras-albert, length-bucketed, dynamic padding",
    "ours_padded": "keras-albert, every example padded to the fixed length",
    "savedmodel": "keras-albert SavedModel, `token_ids` signature",
    "savedmodel_text": "keras-albert SavedModel, `serving_default` (string in)",
    "savedmodel_onednn": "keras-albert SavedModel, `token_ids` signature, oneDNN kernels on",
    "savedmodel_onednn_text": "keras-albert SavedModel, `serving_default` (string in), oneDNN kernels on",
    "ours_int8": 'keras-albert, TF backend, no XLA, Keras `quantize("int8")`',
    "tflite_float32": "keras-albert TFLite float32",
    "tflite_dynamic_range": "keras-albert TFLite dynamic-range (int8 weights, float activations)",
    "tflite_int8": "keras-albert TFLite int8 (calibrated; attention in float32)",
}
# int8 multiply-accumulates are 4x float32's only with VNNI; on AVX2 alone
# int8 saves weight bytes, not arithmetic (issue 16's minimum per ISA class).
INT8_LATENCY_MINIMUM = 3.0 if "VNNI" in hardware.isa_class().split() else 1.5
# (name, scenario, numerator row(s), denominator row(s), minimum ratio).
# A ratio is "how many times faster" the numerator is.
TARGETS = (
    ("CPU fixed shapes, training: ours / best peer, float32", "train_fixed", "ours_float32", "peers_float32", 1.0),
    ("CPU fixed shapes, inference: ours / best peer, float32", "infer_fixed", "ours_float32", "peers_float32", 1.0),
    ("CPU bf16 training: ours bf16 / ours best float32", "train_fixed", "ours_bfloat16", "ours_float32", 1.5),
    ("CPU bf16 inference: ours bf16 / ours best float32", "infer_fixed", "ours_bfloat16", "ours_float32", 1.5),
    ("CPU bf16 training: ours / best peer, both bf16", "train_fixed", "ours_bfloat16", "peers_bfloat16", 1.2),
    ("CPU bf16 inference: ours / best peer, both bf16", "infer_fixed", "ours_bfloat16", "peers_bfloat16", 1.2),
    ("SST-2 epoch: bucketed / padded to max length", "sst2_epoch", "ours_bucketed", "ours_padded", 3.0),
    (
        "int8 TFLite / float32 TFLite single-sentence latency", "latency", "tflite_int8", "tflite_float32",
        INT8_LATENCY_MINIMUM,
    ),
    (
        "SavedModel raw text / float32 TFLite single-sentence latency", "latency", "savedmodel_text_any",
        "tflite_float32", 1.0,
    ),
)
# Row groups a target may name besides a single implementation.
ROW_GROUPS = {
    "ours_float32": lambda i: is_ours(i) and not is_bfloat16(i),
    "peers_float32": lambda i: not is_ours(i) and not is_bfloat16(i),
    "ours_bfloat16": lambda i: is_ours(i) and is_bfloat16(i),
    "peers_bfloat16": lambda i: not is_ours(i) and is_bfloat16(i),
    "savedmodel_text_any": lambda i: i.startswith("savedmodel") and i.endswith("_text"),
}


def label(implementation):
    if implementation in IMPLEMENTATIONS:
        return IMPLEMENTATIONS[implementation][0]
    return EXTRA_LABELS.get(implementation, implementation)


def is_ours(implementation):
    return implementation.startswith(("ours", "savedmodel", "tflite"))


def speed(result):
    """A number where larger is faster, to take ratios of."""
    value = result["value"]
    return value if result["higher_is_better"] else 1.0 / value


def machine_info():
    """CPU, memory, load and library versions, for the README and the JSON."""
    info = {"python": platform.python_version(), "platform": platform.platform()}
    info["cpu"] = hardware.cpu_model()
    info["isa"] = hardware.isa_class()
    info["cpu_count"] = os.cpu_count()
    try:
        with open("/proc/meminfo") as f:
            total_kb = int(f.readline().split()[1])
        info["memory_gib"] = round(total_kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    info["load_average"] = list(os.getloadavg())
    from importlib import metadata

    versions = {}
    for package in ("tensorflow", "keras", "keras-hub", "torch", "transformers", "ai-edge-litert", "jax"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    info["versions"] = versions
    info["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return info


def _format(value, digits=3):
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def _note(result):
    parts = []
    if "shape" in result:
        parts.append("batch × length " + " × ".join(str(d) for d in result["shape"]))
    if "peak_fraction" in result:
        parts.append(
            f"{_format(result['model_gflops'])} GFLOP/s, {result['peak_fraction']:.0%} of the "
            f"{result['matmul_dtype']} matmul peak"
        )
    if "computed_tokens" in result:
        parts.append(
            f"{result['num_examples']} examples, {result['num_batches']} batches, "
            f"{result['num_shapes']} shapes; {result['real_tokens']} real of "
            f"{result['computed_tokens']} computed tokens"
        )
    if "timing_method" in result:
        parts.append(result["timing_method"])
    if "mean_length" in result:
        parts.append(f"{result['num_sentences']} sentences, mean {result['mean_length']:.1f} tokens")
    if result.get("note"):
        parts.append(result["note"])
    return "; ".join(parts)


def _best(results, rows):
    candidates = [r for r in results if r.get("ok") and r["implementation"] in rows]
    return max(candidates, key=speed, default=None)


def met_label(met):
    """How a target check reads in a table: met, missed (bold) or not measured."""
    return {True: "yes", False: "**no**", None: "not measured"}[met]


def target_checks(results):
    """Each target's measured ratio and whether it is met (None: not measured)."""
    checks = []
    for name, scenario, numerator, denominator, minimum in TARGETS:
        rows = [r for r in results if r["scenario"] == scenario]
        implementations = {r["implementation"] for r in rows}

        def pick(which):
            if which in ROW_GROUPS:
                return _best(rows, {i for i in implementations if ROW_GROUPS[which](i)})
            return _best(rows, {which})

        top, bottom = pick(numerator), pick(denominator)
        ratio = speed(top) / speed(bottom) if top and bottom else None
        checks.append(
            {
                "target": name,
                "minimum": minimum,
                "ratio": ratio,
                "met": None if ratio is None else ratio >= minimum,
                "numerator": top and top["implementation"],
                "denominator": bottom and bottom["implementation"],
            }
        )
    return checks


def markdown(results, info, command, notes=()):
    """The whole report as markdown: one table per scenario, then targets."""
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {info.get('cpu')}, {info.get('cpu_count')} cores ({info.get('isa')}), "
        f"{info.get('memory_gib')} GiB; load average at start "
        f"{', '.join(f'{x:.1f}' for x in info.get('load_average_start', info['load_average']))}, "
        f"at end {', '.join(f'{x:.1f}' for x in info['load_average'])}  ",
        f"Date: {info['date']}; "
        + ", ".join(f"{name} {version}" for name, version in info["versions"].items()),
        "",
    ]
    for scenario, title in SCENARIO_TITLES.items():
        rows = [r for r in results if r["scenario"] == scenario]
        if not rows:
            continue
        reference = next(
            (r for r in rows if r["implementation"] == REFERENCE[scenario] and r.get("ok")), None
        )
        unit = next((r["unit"] for r in rows if r.get("ok")), "")
        lines += [
            f"### {title}",
            "",
            f"| implementation | {unit} | {label(REFERENCE[scenario])} is N× faster | "
            "first call / compile (s) | peak RSS (MiB) | notes |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            if not r.get("ok"):
                lines.append(f"| {label(r['implementation'])} | failed | - | - | - | {r.get('error', '')[:120]} |")
                continue
            ratio = speed(reference) / speed(r) if reference else None
            lines.append(
                f"| {label(r['implementation'])} | {_format(r['value'])} | "
                f"{_format(ratio)}× | {_format(r.get('first_call_s'))} | "
                f"{_format(r.get('peak_rss_mb'))} | {_note(r)} |"
            )
        lines.append("")
    lines += ["### Targets", "", "| target | ratio | minimum | met |", "|---|---:|---:|---|"]
    for check in target_checks(results):
        lines.append(
            f"| {check['target']} ({check['numerator']} vs {check['denominator']}) | "
            f"{_format(check['ratio'])} | {check['minimum']} | {met_label(check['met'])} |"
        )
    lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
