import pytest

from keras_albert import hardware

AVX2_ONLY = "fpu sse2 avx avx2 fma"
VNNI_BF16 = "fpu avx avx2 avx512f avx512_vnni avx512_bf16"
SAPPHIRE_RAPIDS = VNNI_BF16 + " amx_bf16 amx_int8 amx_tile"


def _cpuinfo(tmp_path, flags, model="Test CPU 9000"):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: {model}\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    return str(path)


def test_cpu_flags_and_model_are_read_from_the_first_processor(tmp_path):
    path = _cpuinfo(tmp_path, VNNI_BF16)
    assert "avx512_bf16" in hardware.cpu_flags(path)
    assert hardware.cpu_model(path) == "Test CPU 9000"


def test_a_missing_cpuinfo_means_no_flags(tmp_path):
    assert hardware.cpu_flags(str(tmp_path / "absent")) == frozenset()


@pytest.mark.parametrize(
    "flags, isa, bf16",
    [
        (AVX2_ONLY, "AVX2", False),
        (VNNI_BF16, "AVX2 AVX-512 VNNI BF16", True),
        (SAPPHIRE_RAPIDS, "AVX2 AVX-512 VNNI BF16 AMX", True),
        ("fpu sse2", "no AVX2", False),
    ],
)
def test_isa_class_names_the_extensions_that_decide_speed(flags, isa, bf16):
    flag_set = frozenset(flags.split())
    assert hardware.isa_class(flag_set) == isa
    assert hardware.cpu_accelerates_bfloat16(flag_set) is bf16


@pytest.mark.parametrize(
    "flags, gpu, onednn, expected",
    [
        (AVX2_ONLY, None, True, "float32"),
        (VNNI_BF16, None, True, "mixed_bfloat16"),
        (VNNI_BF16, None, False, "float32"),  # bf16 instructions, but no kernels that use them
        (AVX2_ONLY, (9, 0), False, "mixed_bfloat16"),  # H100: bf16 tensor cores
        (VNNI_BF16, (7, 0), True, "float32"),  # V100: no bf16, float16 needs loss scaling
    ],
)
def test_auto_precision_follows_the_hardware_that_runs_the_model(flags, gpu, onednn, expected):
    assert hardware.resolve_dtype_policy("auto", gpu, frozenset(flags.split()), onednn) == expected


def test_an_explicit_policy_is_kept_and_an_unknown_one_is_refused():
    assert hardware.resolve_dtype_policy("float32", flags=frozenset(["avx512_bf16"])) == "float32"
    with pytest.raises(ValueError, match="'bf16'.*auto, float32"):
        hardware.resolve_dtype_policy("bf16")
