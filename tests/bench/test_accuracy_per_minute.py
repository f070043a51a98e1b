"""The accuracy-per-minute scenario runs end to end on a tiny model; speed is never asserted."""

import json
import os
import subprocess
import sys

import pytest

from bench import accuracy_per_minute

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_implementation_gets_a_curve_from_zero_to_its_budget(tmp_path, spm_model_path):
    command = [
        sys.executable, "-m", "bench.accuracy_per_minute", "--size=tiny", "--budget_seconds=3",
        "--eval_every_seconds=1.5", "--max_train_examples=96", "--max_dev_examples=24", "--batch_size=16",
        "--max_seq_length=32", f"--spm_model_file={spm_model_path}", f"--output_dir={tmp_path}",
    ]
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    process = subprocess.run(command, cwd=REPOSITORY_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    # The console shows the bench's progress lines and its own warnings (sequences truncated) only:
    # no TensorFlow, absl or CUDA start-up line.
    assert [line for line in process.stderr.splitlines() if not line.startswith(("[", "WARNING:absl:bench:"))] == []
    with open(tmp_path / "accuracy_per_minute.json") as f:
        report = json.load(f)
    results = {r["implementation"]: r for r in report["results"]}
    assert set(results) == {"ours", "keras_hub", "hf_torch"}
    for result in results.values():
        assert result["ok"], result
        curve = result["curve"]
        assert curve[0]["train_seconds"] == 0 and curve[0]["steps"] == 0
        assert curve[-1]["train_seconds"] >= 3 and curve[-1]["steps"] > 0
        assert all(0.0 <= p["dev_accuracy"] <= 1.0 for p in curve)
        assert [p["steps"] for p in curve] == sorted(p["steps"] for p in curve)
    assert report["machine"]["isa"]
    assert (tmp_path / "accuracy_per_minute.png").stat().st_size > 1000
    table = (tmp_path / "accuracy_per_minute.md").read_text()
    assert "| keras-albert, TF backend, length-bucketed |" in table


def test_time_to_reach_is_the_first_evaluation_at_or_above_the_reference():
    curve = [{"train_seconds": s, "dev_accuracy": a} for s, a in ((0, 0.5), (60, 0.7), (120, 0.8), (180, 0.79))]
    assert accuracy_per_minute.time_to_reach(curve, 0.8) == 120
    assert accuracy_per_minute.time_to_reach(curve, 0.7) == 60
    assert accuracy_per_minute.time_to_reach(curve, 0.81) is None


def test_the_reference_is_what_every_peer_reaches():
    def result(name, final):
        return {"implementation": name, "ok": True,
                "curve": [{"train_seconds": 0, "dev_accuracy": 0.5, "epochs": 0},
                          {"train_seconds": 30, "dev_accuracy": final, "epochs": 1}]}

    results = [result("ours", 0.82), result("keras_hub", 0.79), result("hf_torch", 0.80)]
    assert accuracy_per_minute.summarize(results) == pytest.approx(0.79)
    assert [r["seconds_to_reference"] for r in results] == [30, 30, 30]


@pytest.mark.parametrize("flag", ["--budget_seconds=0", "--eval_every_seconds=-1", "--batch_size=0",
                                  "--implementations=ours,tf1"])
def test_bad_flags_are_refused_by_name(flag, capsys):
    with pytest.raises(SystemExit):
        accuracy_per_minute.parse_args([flag])
    assert flag.split("=")[0] in capsys.readouterr().err
