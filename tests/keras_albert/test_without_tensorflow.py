"""The library where TensorFlow is absent (the GPU machines), on JAX and PyTorch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
BLOCKER_DIR = REPOSITORY_ROOT / "tests" / "tensorflow_blocker"
TASKS = ("text_classifier", "token_classifier", "question_answerer", "multiple_choice", "pretrainer")


def run_without_tensorflow(args, timeout_s, backend="jax"):
    """Runs `python args` with TensorFlow absent, on `backend`."""
    pytest.importorskip(backend)
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        PYTHONPATH=os.pathsep.join(filter(None, [str(BLOCKER_DIR), str(REPOSITORY_ROOT), os.environ.get("PYTHONPATH")])),
    )
    return subprocess.run(
        [sys.executable, *args], cwd=REPOSITORY_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )


def test_the_blocker_makes_tensorflow_absent():
    probe = "import importlib.util; print(importlib.util.find_spec('tensorflow')); import tensorflow"
    process = run_without_tensorflow(["-c", probe], timeout_s=120)
    assert process.returncode != 0
    assert process.stdout.strip() == "None"
    assert "ModuleNotFoundError: No module named 'tensorflow'" in process.stderr


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_task_model_builds_fits_saves_and_loads_from_preset_without_tensorflow(backend):
    process = run_without_tensorflow([str(BLOCKER_DIR / "library_session.py")], timeout_s=600, backend=backend)
    assert process.returncode == 0, process.stderr[-4000:]
    findings = json.loads(process.stdout.strip().splitlines()[-1])
    assert findings["backend"] == backend
    assert findings["tensorflow_imported"] == []
    for task in TASKS:
        result = findings[task]
        expected_optimizer = "Lamb" if task == "pretrainer" else "AdamW"
        assert result["optimizer"] == f"keras_albert.training.{expected_optimizer.lower()}.{expected_optimizer}"
        assert result["loss_finite"] and result["fit_changed_outputs"], (task, result)
        assert result["predict_difference"] < 1e-5, (task, result)  # jit against eager
        assert result["keras_file_difference"] == 0.0, (task, result)
        assert result["preset_difference"] == 0.0, (task, result)
    assert findings["tokenizer_error"].startswith(
        "AlbertTokenizer needs TensorFlow: pip install tensorflow tensorflow-text"
    )
