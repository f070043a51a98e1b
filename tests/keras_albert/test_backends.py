"""The model code is `keras.ops` only: the same models run and train on PyTorch and JAX.

Every task model is saved as a `.keras` file under TensorFlow; a fresh
process on the other backend loads it, predicts the same inputs, and
fine-tunes a classifier and a pretrainer with keras-albert's AdamW and LAMB.
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from informative_weights import randomize_keras_weights
from test_task_models import TASKS, TINY, build

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs on the backend named by KERAS_BACKEND; argv[1] is the directory the
# test wrote. Prints one JSON line: every task's outputs and the losses.
BACKEND_SCRIPT = r"""
import json, os, sys
import numpy as np
import keras
import keras_albert
from keras_albert.training import create_optimizer

directory = sys.argv[1]
report = {"backend": keras.backend.backend(), "outputs": {}, "losses": {}}
with open(os.path.join(directory, "tasks.json")) as f:
    tasks = json.load(f)
for name in tasks:
    model = keras.models.load_model(os.path.join(directory, name + ".keras"), safe_mode=True)
    inputs = dict(np.load(os.path.join(directory, name + ".npz")))
    outputs = keras.tree.flatten(model.predict(inputs, verbose=0))
    report["outputs"][name] = [np.asarray(o, "float64").tolist() for o in outputs]

    if name == "classifier":
        model.compile(optimizer=create_optimizer("adamw", 1e-2, num_train_steps=8))
        targets = np.array([0, 1, 2])
    elif name == "pretrainer":
        model.compile(optimizer=create_optimizer("lamb", 1e-2, num_train_steps=8))
        targets = {"mlm_logits": inputs["mask_positions"] + 5, "sop_logits": np.array([0, 1, 0])}
    else:
        continue
    # The loss without dropout before and after 8 steps: the steps' own losses
    # carry dropout noise.
    keras.utils.set_random_seed(0)
    before = model.evaluate(inputs, targets, verbose=0, return_dict=True)["loss"]
    model.fit(inputs, targets, epochs=8, verbose=0)
    after = model.evaluate(inputs, targets, verbose=0, return_dict=True)["loss"]
    report["losses"][name] = [float(before), float(after)]
print(json.dumps(report))
"""


def distinct_choices(batch_size=3, num_choices=4, length=7):
    """Multiple-choice inputs whose choices differ in tokens, segments and
    padding, so that a choice-order bug changes the logits."""
    rng = np.random.default_rng(1)
    padding_mask = (np.arange(length) < rng.integers(3, length + 1, (batch_size, num_choices))[..., None])
    token_ids = rng.integers(5, TINY["vocabulary_size"], (batch_size, num_choices, length)) * padding_mask
    segment_ids = (np.arange(length) >= 3) & padding_mask
    return {
        "token_ids": token_ids.astype("int32"),
        "segment_ids": segment_ids.astype("int32"),
        "padding_mask": padding_mask.astype("int32"),
    }


@pytest.fixture(scope="module")
def saved_tasks(tmp_path_factory):
    """Every task model with informative weights as a `.keras` file, its
    inputs, and TensorFlow's outputs."""
    directory = tmp_path_factory.mktemp("tasks")
    expected = {}
    for name in TASKS:
        model, inputs = build(name)
        # At the default init (kernels N(0, 0.02)) dropping the attention
        # scale moves these outputs by less than the tolerance.
        randomize_keras_weights(model)
        if name == "multiple_choice":
            inputs = distinct_choices()
        model.save(str(directory / f"{name}.keras"))
        np.savez(directory / f"{name}.npz", **inputs)
        expected[name] = keras.tree.flatten(model.predict(inputs, verbose=0))
    (directory / "tasks.json").write_text(json.dumps(TASKS))
    return directory, expected


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_saved_models_give_tensorflows_outputs_and_train_on_another_backend(backend, saved_tasks):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    directory, expected = saved_tasks
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPOSITORY_ROOT, env.get("PYTHONPATH")]))
    process = subprocess.run(
        [sys.executable, "-c", BACKEND_SCRIPT, str(directory)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    report = json.loads(process.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend

    for name in TASKS:
        for actual, wanted in zip(report["outputs"][name], expected[name], strict=True):
            # 1e-5 absolute, relative to the largest value where logits exceed 1.
            scale = max(1.0, float(np.max(np.abs(wanted))))
            np.testing.assert_allclose(np.array(actual), wanted, rtol=0, atol=1e-5 * scale, err_msg=name)
    assert set(report["losses"]) == {"classifier", "pretrainer"}
    for name, (before, after) in report["losses"].items():
        assert np.isfinite([before, after]).all(), (name, before, after)
        assert after < before, (name, before, after)
