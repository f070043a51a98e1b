"""The GPU script's code path, checked on CPU JAX with a tiny model; speed is never asserted."""

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import gpu_jax, gpu_wheels


def link_gpu_machine_site(directory):
    """Links into `directory` what a GPU machine has: its own distributions
    and the wheels `bench.gpu_wheels` carries (at this environment's
    versions, as the wheels are)."""
    names = {gpu_wheels.canonical(n) for n in gpu_wheels.GPU_MACHINE_DISTRIBUTIONS}
    names |= {gpu_wheels.canonical(n) for n, _ in gpu_wheels.WHEELS}
    for distribution in importlib.metadata.distributions():
        if gpu_wheels.canonical(distribution.metadata["Name"]) not in names:
            continue
        site = Path(distribution.locate_file(""))
        for top in {Path(file).parts[0] for file in distribution.files or ()}:
            source = site / top
            if top != ".." and top != "__pycache__" and source.exists() and not (directory / top).exists():
                (directory / top).symlink_to(source)


def test_the_gpu_command_runs_with_only_what_a_gpu_machine_has(tmp_path):
    """The tiny path of `python -m bench.gpu_jax` where the only importable
    distributions are the GPU machine's and the carried wheels (no
    TensorFlow): the Keras rows run; PyTorch rows fail for want of CUDA."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    site = tmp_path / "site"
    site.mkdir()
    link_gpu_machine_site(site)
    assert not (site / "tensorflow").exists() and (site / "keras_hub").exists()
    output_file = tmp_path / "gpu.json"
    repository_root = Path(gpu_jax.REPOSITORY_ROOT)
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        PYTHONPATH=os.pathsep.join([str(site), str(repository_root / "tests" / "gpu_machine_blocker")]),
    )
    command = [
        sys.executable, "-m", "bench.gpu_jax", "--size=tiny", "--batch_size=2", "--seq_length=32",
        "--dtype=float32", "--warmup=1", "--steps=2", "--implementations=ours,keras_hub,hf_torch_compile",
        "--worker_timeout_s=400", f"--output_file={output_file}",
    ]  # fmt: skip
    process = subprocess.run(command, cwd=repository_root, env=env, capture_output=True, text=True, timeout=1300)
    assert process.returncode == 0, process.stderr[-4000:]
    results = json.loads(output_file.read_text())["results"]
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
    # The PyTorch rows stop at the missing GPU here; their model builds.
    hf_model = (
        "import transformers; transformers.AlbertForSequenceClassification(transformers.AlbertConfig("
        "vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, "
        "intermediate_size=32))"
    )
    process = subprocess.run([sys.executable, "-c", hf_model], env=env, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-4000:]


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


@pytest.mark.parametrize("flag", ["batch_size", "seq_length", "warmup", "steps", "worker_timeout_s"])
def test_a_count_below_one_is_refused_by_flag_name(flag, tmp_path):
    with pytest.raises(ValueError, match=rf"--{flag} must be at least 1\. Received: 0"):
        gpu_jax.main([f"--{flag}=0", f"--output_file={tmp_path / 'gpu.json'}"])
