"""Fixed-shape rows in lockstep: every implementation warm, timed steps taken in turn.

The fixed-shape scenarios compare implementations whose speeds differ by a
few percent, while this shared 2-core machine's speed drifts by 10-30 %
over minutes. Timing the rows one after another lets a slow stretch land on
one implementation; here each implementation runs in its own process (own
threads and memory, as in the other scenarios), all are started and warmed
up in turn, and then the timed steps alternate between them: step k of every
row is taken within seconds of the others, under the same conditions.
A short pause before each step keeps the previous framework's spinning
worker threads out of the next one's time.
"""

import json
import signal
import subprocess
import sys
import tempfile
import time
from concurrent import futures

from bench import measure

PAUSE_S = 0.5
WARMUP_CALLS = 2
# Worker replies are lines with this prefix; anything else a library prints is ignored.
REPLY_PREFIX = "@bench "


class WorkerError(RuntimeError):
    """A worker process failed; the message is its own error line."""


class Stepper:
    """One fixed-shape job in this process: warm up, then timed steps on request."""

    def __init__(self, job):
        self.job = job

    def start(self):
        from bench import scenarios

        self.step_function, self.shape = scenarios.fixed_shape_step(self.job)
        self.first_call_s = measure.warm_up(self.step_function, WARMUP_CALLS)
        self.times = []

    def step(self):
        start = time.perf_counter()
        self.step_function()
        self.times.append(time.perf_counter() - start)

    def result(self):
        from bench import scenarios

        return scenarios.fixed_shape_result(
            self.job, self.shape, measure.summarize(self.first_call_s, self.times)
        )

    def close(self):
        pass


class ProcessStepper:
    """The same interface, with the job in a worker process: `command` runs `serve(job)`."""

    def __init__(self, job, command, env, timeout):
        self.job, self.command, self.env, self.timeout = job, command, env, timeout
        self.process = None

    def start(self):
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self._reply("ready")

    def step(self):
        self._send("step")
        self._reply("stepped")

    def result(self):
        self._send("result")
        return self._reply("result")

    def close(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
        if self.process:
            self.process.wait()
            self.stderr.close()

    def _send(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def _reply(self, key):
        with futures.ThreadPoolExecutor(1) as pool:
            while True:
                try:
                    line = pool.submit(self.process.stdout.readline).result(timeout=self.timeout)
                except futures.TimeoutError:
                    self.process.kill()
                    raise WorkerError(f"timed out after {self.timeout:.0f} s") from None
                if not line:  # The worker exited.
                    self.process.wait()
                    self.stderr.seek(0)
                    raise WorkerError(exit_message(self.stderr.read(), self.process.returncode))
                if line.startswith(REPLY_PREFIX):
                    return json.loads(line[len(REPLY_PREFIX) :])[key]


def serve(job, commands=sys.stdin, replies=sys.stdout):
    """The worker side of `ProcessStepper`: answers `step` and `result` commands."""
    stepper = Stepper(job)
    stepper.start()

    def reply(key, value=None):
        replies.write(REPLY_PREFIX + json.dumps({key: value}) + "\n")
        replies.flush()

    reply("ready")
    for command in commands:
        if command.strip() == "step":
            stepper.step()
            reply("stepped")
        elif command.strip() == "result":
            reply("result", stepper.result())
            return


def run(jobs, repeats, make_stepper, progress=lambda message: None):
    """Rows of `jobs` (one scenario's) timed in lockstep; a failing row is reported, not raised."""
    steppers, rows = {}, {}
    try:
        for job in jobs:
            name = job["implementation"]
            stepper = make_stepper(job)
            try:
                stepper.start()
                steppers[name] = stepper
                progress(f"{job['scenario']} / {name} warmed up")
            except Exception as error:
                stepper.close()
                rows[name] = failed_row(job, error)
                progress(f"{job['scenario']} / {name} FAILED: {rows[name]['error']}")
        for _ in range(repeats):
            for name, stepper in list(steppers.items()):
                time.sleep(PAUSE_S)
                try:
                    stepper.step()
                except Exception as error:
                    rows[name] = failed_row(stepper.job, error)
                    stepper.close()
                    del steppers[name]
        for name, stepper in steppers.items():
            try:
                rows[name] = stepper.result()
            except Exception as error:
                rows[name] = failed_row(stepper.job, error)
    finally:
        for stepper in steppers.values():
            stepper.close()
    return [rows[job["implementation"]] for job in jobs]


def exit_message(output, returncode):
    """Why a worker process exited: its traceback's last line (the exception's
    message), or the signal that ended it (a native crash prints no traceback
    to the stream read here)."""
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    lines = (output or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {returncode}"


def failed_row(job, error):
    """The result row of a job that raised `error` (its own message for a `WorkerError`)."""
    message = str(error) if isinstance(error, WorkerError) else f"{type(error).__name__}: {error}"
    return {"scenario": job["scenario"], "implementation": job["implementation"], "ok": False, "error": message}
