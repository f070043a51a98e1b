"""What the processor accelerates, and the dtype policy that suits it.

Read from `/proc/cpuinfo` rather than from TensorFlow, so that the library (and the
GPU benchmark on machines without TensorFlow) can decide without importing it.
"""

import os

from keras_albert import tensorflow_dependency

# The ISA extensions that decide which precisions run fast on a CPU, in the
# order a speed figure names them, with the /proc/cpuinfo flag for each.
ISA_EXTENSIONS = (
    ("AVX2", "avx2"),
    ("AVX-512", "avx512f"),
    ("VNNI", "avx512_vnni"),
    ("BF16", "avx512_bf16"),
    ("AMX", "amx_bf16"),
)

# Dtype policies a program may ask for; "auto" resolves to one of the others.
DTYPE_POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def cpu_flags(cpuinfo_path="/proc/cpuinfo"):
    """The first processor's feature flags; empty where the file does not exist."""
    try:
        with open(cpuinfo_path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_model(cpuinfo_path="/proc/cpuinfo"):
    """The processor's model name, e.g. "AMD EPYC"."""
    try:
        with open(cpuinfo_path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def isa_class(flags=None):
    """The extensions that matter for speed, e.g. "AVX2 AVX-512 VNNI BF16"."""
    flags = cpu_flags() if flags is None else flags
    present = [name for name, flag in ISA_EXTENSIONS if flag in flags]
    return " ".join(present) if present else "no AVX2"


def cpu_accelerates_bfloat16(flags=None):
    """True where bfloat16 matmuls have their own instructions (AVX512_BF16 or AMX).

    Without them oneDNN emulates bfloat16 through float32 and mixed precision only
    adds casts, so float32 is the faster choice.
    """
    flags = cpu_flags() if flags is None else flags
    return "avx512_bf16" in flags or "amx_bf16" in flags


def describe_machine():
    """One line for a speed figure: CPU model, cores and ISA class."""
    return f"{cpu_model()}, {os.cpu_count()} cores, {isa_class()}"


def resolve_dtype_policy(name, gpu_compute_capability=None, flags=None, cpu_bfloat16_kernels=None):
    """The Keras dtype policy for `name`, with "auto" decided by the hardware.

    "auto" picks mixed_bfloat16 on a GPU of compute capability 8.0 or newer
    (Ampere, Hopper: bf16 tensor cores) and on CPUs with bf16 instructions
    where oneDNN kernels use them (`TF_ENABLE_ONEDNN_OPTS=1`), and
    float32 elsewhere (older GPUs gain from float16 but need loss scaling, which
    a user should choose knowingly).

    Args:
        name: one of `DTYPE_POLICIES`.
        gpu_compute_capability: (major, minor) of the GPU that will run the
            model, or None when it runs on the CPU.
        flags: CPU flags to decide from (default: this machine's).
        cpu_bfloat16_kernels: whether the framework has CPU kernels that use
            those instructions (default: TensorFlow's oneDNN kernels are on,
            `tensorflow_dependency.onednn_enabled()`; without them bf16 is
            emulated and slower than float32).
    """
    if name not in DTYPE_POLICIES:
        raise ValueError(f"Unknown dtype policy {name!r}; expected one of {', '.join(DTYPE_POLICIES)}.")
    if name != "auto":
        return name
    if gpu_compute_capability is not None:
        return "mixed_bfloat16" if tuple(gpu_compute_capability) >= (8, 0) else "float32"
    if cpu_bfloat16_kernels is None:
        cpu_bfloat16_kernels = tensorflow_dependency.onednn_enabled()
    return "mixed_bfloat16" if cpu_accelerates_bfloat16(flags) and cpu_bfloat16_kernels else "float32"
