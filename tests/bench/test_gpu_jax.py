"""The GPU script's code path, checked on CPU JAX with a tiny model; speed is never asserted."""

import importlib.util
import json

import pytest

from bench import gpu_jax


def test_keras_rows_run_under_jax_jit_and_a_missing_gpu_is_a_failed_row(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    output_file = tmp_path / "gpu.json"
    results = gpu_jax.main(
        [
            "--size=tiny",
            "--batch_size=2",
            "--seq_length=32",
            "--dtype=float32",
            "--warmup=1",
            "--steps=2",
            "--implementations=ours,keras_hub,hf_torch_compile",
            f"--output_file={output_file}",
        ]
    )
    for name in ("ours", "keras_hub"):
        row = results[name]
        assert row["ok"], row
        assert row["train_seq_per_s"] > 0 and row["infer_seq_per_s"] > 0
        assert row["device"].startswith("cpu")
    assert not results["hf_torch_compile"]["ok"]
    assert "CUDA" in results["hf_torch_compile"]["error"]

    saved = json.loads(output_file.read_text())
    assert [check["met"] for check in saved["targets"]] == [None, None]
    assert "| train_seq_per_s | - | 1.3 | not measured |" in saved["markdown"]


def test_targets_compare_ours_with_compiled_pytorch():
    def row(train, infer):
        return {"ok": True, "train_seq_per_s": train, "infer_seq_per_s": infer}

    checks = gpu_jax.target_checks(
        {"ours": row(1300.0, 4000.0), "hf_torch": row(400.0, 1000.0), "hf_torch_compile": row(1000.0, 3500.0)}
    )
    assert [(c["metric"], c["ratio"], c["met"]) for c in checks] == [
        ("train_seq_per_s", 1.3, True),
        ("infer_seq_per_s", pytest.approx(4000 / 3500), False),
    ]


@pytest.mark.parametrize("flag", ["batch_size", "seq_length", "warmup", "steps"])
def test_a_count_below_one_is_refused_by_flag_name(flag, tmp_path):
    with pytest.raises(ValueError, match=rf"--{flag} must be at least 1\. Received: 0"):
        gpu_jax.main([f"--{flag}=0", f"--output_file={tmp_path / 'gpu.json'}"])
