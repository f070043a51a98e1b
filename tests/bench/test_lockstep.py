"""Fixed-shape rows are timed in lockstep: warmed up in turn, then steps alternate."""

import sys

import pytest

from bench import lockstep


class FakeStepper:
    """Records every call in a shared log; fails where told to."""

    def __init__(self, job, log, fail_at=None):
        self.job, self.log, self.fail_at, self.steps = job, log, fail_at, 0

    def start(self):
        self.log.append(("start", self.job["implementation"]))
        if self.fail_at == "start":
            raise ValueError("cannot build")

    def step(self):
        self.steps += 1
        self.log.append(("step", self.job["implementation"]))
        if self.fail_at == self.steps:
            raise MemoryError("out of memory")

    def result(self):
        return {"scenario": self.job["scenario"], "implementation": self.job["implementation"],
                "ok": True, "value": float(self.steps), "unit": "steps"}

    def close(self):
        self.log.append(("close", self.job["implementation"]))


def jobs(*names):
    return [{"scenario": "train_fixed", "implementation": name} for name in names]


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(lockstep, "PAUSE_S", 0.0)


def test_every_row_warms_up_before_any_timed_step_and_steps_alternate():
    log = []
    rows = lockstep.run(jobs("a", "b", "c"), 2, lambda job: FakeStepper(job, log))
    assert log[:3] == [("start", "a"), ("start", "b"), ("start", "c")]
    assert [name for kind, name in log if kind == "step"] == ["a", "b", "c", "a", "b", "c"]
    assert [row["implementation"] for row in rows] == ["a", "b", "c"]
    assert all(row["ok"] and row["value"] == 2 for row in rows)
    assert {name for kind, name in log if kind == "close"} == {"a", "b", "c"}


def test_a_row_failing_to_start_or_mid_run_is_reported_and_the_others_finish():
    log = []
    fail_at = {"a": "start", "b": 2}
    rows = lockstep.run(jobs("a", "b", "c"), 3, lambda job: FakeStepper(job, log, fail_at.get(job["implementation"])))
    a, b, c = rows
    assert not a["ok"] and a["error"] == "ValueError: cannot build"
    assert not b["ok"] and b["error"] == "MemoryError: out of memory"
    assert c["ok"] and c["value"] == 3
    assert [name for kind, name in log if kind == "step"] == ["b", "c", "b", "c", "c"]


def test_a_worker_process_that_dies_is_reported_with_its_own_error_line(tmp_path):
    script = "import sys; print('@bench {\"ready\": null}', flush=True); sys.stdin.readline(); raise SystemExit('worker lost its data')"
    stepper = lockstep.ProcessStepper(jobs("a")[0], [sys.executable, "-c", script], None, timeout=60)
    stepper.start()
    with pytest.raises(lockstep.WorkerError, match="worker lost its data"):
        stepper.step()
    stepper.close()
