"""Bounded waits and clean stops for training workers (no hang needs SIGKILL).

Three guards, each for a way a `MultiWorkerMirroredStrategy` job hung:

- `wait_for_cluster`: before the strategy is built, every worker listens
  on its own `TF_CONFIG` address and TCP-probes its peers' until all
  answer, for at most `timeout_seconds`, then fails naming the workers it
  never reached. This has to happen in Python *before* TensorFlow: the
  strategy's constructor waits for the cluster inside a C++ call that
  holds the GIL, so no Python thread or signal handler runs until it
  returns (and TF's `cluster_register_timeout_in_ms` did not end that
  wait with TF 2.21). A peer that dies between answering and joining is
  caught by `exit_if_blocked`, a timer that needs no GIL.
- `watch_peers`: during training a daemon thread probes the peers every
  second; a peer unreachable for `timeout_seconds` is lost, and since the
  strategy is not elastic (the survivors would block in the next
  collective for ever) this worker logs which one and exits at once with
  `PEER_LOST_EXIT_CODE`, to be restarted with the others and resume from
  the newest common checkpoint. When TF notices first (a collective
  fails as the peer's socket closes), the same exit follows. On leaving
  the block normally the workers pass a barrier first, so a peer that
  finished is never taken for a lost one.
- `stop_on_signals`: SIGTERM and SIGINT end the process within seconds
  wherever it is. A Python signal handler only runs when the main thread
  is back in the interpreter, which a worker blocked in a collective
  never is; but TF releases the GIL while it executes, and the C-level
  part of Python's handler writes the signal number to the wakeup fd at
  once. A thread waiting on that fd logs the signal and calls
  `os._exit`. Exiting without unwinding is safe for the checkpoints:
  `StepCheckpoint` writes each one under a temporary name and renames it
  when complete, so a stop mid-write leaves the previous ones intact and
  a temporary file that the next run removes. (Waiting for a write in
  progress instead could take minutes on a large model, and a worker
  blocked in a collective has nothing left to save.)
"""

import contextlib
import faulthandler
import logging as python_logging
import os
import signal
import socket
import sys
import threading
import time

from absl import logging

# EX_TEMPFAIL: the job failed for a reason outside it; restart it.
PEER_LOST_EXIT_CODE = 75
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_PROBE_INTERVAL_SECONDS = 1.0
# Jobs whose tasks take part in the collectives (not "evaluator" or "ps").
_COLLECTIVE_JOBS = ("chief", "worker")


def peer_addresses(tf_config):
    """This task's address and its peers' as `{"worker 1": "host:port"}`.

    Args:
        tf_config: the dict `parse_tf_config()` returns.
    """
    task = tf_config["task"]
    own = tf_config["cluster"][task["type"]][task["index"]]
    peers = {}
    for job in _COLLECTIVE_JOBS:
        for index, address in enumerate(tf_config["cluster"].get(job, [])):
            if (job, index) != (task["type"], task["index"]):
                peers[f"{job} {index}"] = address
    return own, peers


def is_reachable(address, timeout_seconds=1.0):
    """Whether something accepts TCP connections at 'host:port'."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_seconds):
            return True
    except OSError:
        return False


def describe(peers):
    return ", ".join(f"{name} at {address}" for name, address in peers.items())


def wait_for_cluster(tf_config, timeout_seconds):
    """Returns once every peer in `tf_config` accepts connections.

    Meanwhile this task listens on its own address, so that peers doing
    the same see it (TensorFlow's server takes the port over afterwards).

    Args:
        tf_config: the dict `parse_tf_config()` returns.
        timeout_seconds: how long to wait for the slowest peer.

    Raises:
        TimeoutError: naming the peers not reached within the time.
        OSError: naming this task's address when it cannot listen on it.
    """
    own, peers = peer_addresses(tf_config)
    port = int(own.rpartition(":")[2])
    try:
        listener = socket.create_server(("", port))
    except OSError as e:
        task = tf_config["task"]
        raise OSError(
            f"Cannot listen on this worker's address {own} (TF_CONFIG `cluster.{task['type']}"
            f"[{task['index']}]`): {e}. Is another process using port {port}?"
        ) from e
    logging.info("Waiting up to %g s (--cluster_timeout_seconds) for %s.", timeout_seconds, describe(peers))
    deadline = time.monotonic() + timeout_seconds
    missing = dict(peers)
    listener.setblocking(False)
    with listener:
        while True:
            _close_pending_connections(listener)  # Peers' probes, kept from filling the backlog.
            missing = {
                name: address for name, address in missing.items()
                if not is_reachable(address, min(1.0, max(0.1, deadline - time.monotonic())))
            }
            if not missing or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    if missing:
        raise TimeoutError(
            f"Could not reach {describe(missing)} within {timeout_seconds:g} s "
            "(--cluster_timeout_seconds). Start every worker of TF_CONFIG's `cluster` "
            "(same cluster, each its own `task.index`), or check the addresses and firewalls."
        )
    logging.info("All %d peers answered.", len(peers))


def _close_pending_connections(listener):
    while True:
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        connection.close()


@contextlib.contextmanager
def exit_if_blocked(timeout_seconds, what):
    """Ends the process (exit status 1) if the block has not finished after
    `timeout_seconds`, even inside a C++ call that holds the GIL.

    `faulthandler`'s timer is a C thread: it prints every thread's stack
    and exits. It is process-wide (it replaces any other such timer).
    """
    logging.info("%s (the process exits if this takes over %g s).", what, timeout_seconds)
    # The process's own stderr: `sys.stderr` may be a stream without a
    # file descriptor (captured output).
    faulthandler.dump_traceback_later(timeout_seconds, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


class _PeerWatch:
    def __init__(self, peers, timeout_seconds):
        self.peers = peers
        self.timeout_seconds = timeout_seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="keras_albert_peer_watch", daemon=True)

    def _run(self):
        last_seen = {name: time.monotonic() for name in self.peers}
        while not self.stopped.wait(_PROBE_INTERVAL_SECONDS):
            now = time.monotonic()
            for name, address in self.peers.items():
                if is_reachable(address, _PROBE_INTERVAL_SECONDS):
                    last_seen[name] = now
            lost = {name: self.peers[name] for name, seen in last_seen.items() if now - seen >= self.timeout_seconds}
            if lost and not self.stopped.is_set():
                _exit_now(
                    PEER_LOST_EXIT_CODE,
                    f"Lost {describe(lost)}: unreachable for {self.timeout_seconds:g} s "
                    "(--peer_timeout_seconds). Stopping this worker; restart all workers to "
                    "resume from their newest common checkpoint.",
                )


@contextlib.contextmanager
def watch_peers(tf_config, timeout_seconds, barrier, collective_errors=()):
    """Exits with `PEER_LOST_EXIT_CODE` when a peer is lost inside the block.

    Args:
        tf_config: the dict `parse_tf_config()` returns, or None (a
            single-worker run: nothing to watch).
        timeout_seconds: how long a peer may be unreachable.
        barrier: a callable that returns once every worker has called it;
            run on leaving the block normally, so that no worker stops
            watching (and exits) while another still relies on it.
        collective_errors: exception types a collective raises when a
            peer goes away; one raised in the block while a peer is
            unreachable counts as that peer's loss.
    """
    if tf_config is None:
        yield
        return
    _, peers = peer_addresses(tf_config)
    watch = _PeerWatch(peers, timeout_seconds)
    watch.thread.start()
    try:
        yield
        barrier()
    except collective_errors as e:
        # TF may notice a peer's death first (its socket closes in a
        # collective): the same failure, so the same exit and message.
        lost = _unreachable_within(peers, min(timeout_seconds, 5.0))
        if lost:
            _exit_now(
                PEER_LOST_EXIT_CODE,
                f"Lost {describe(lost)}: a collective failed ({type(e).__name__}: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}). Stopping this worker; "
                "restart all workers to resume from their newest common checkpoint.",
            )
        raise
    finally:
        watch.stopped.set()
        watch.thread.join(timeout=2 * _PROBE_INTERVAL_SECONDS + 1)


def _unreachable_within(peers, seconds):
    """The peers that fail a probe at least once in `seconds`."""
    deadline = time.monotonic() + seconds
    unreachable = {}
    while True:
        unreachable.update(
            (name, address) for name, address in peers.items()
            if name not in unreachable and not is_reachable(address, 0.5)
        )
        if len(unreachable) == len(peers) or time.monotonic() >= deadline:
            return unreachable
        time.sleep(0.2)


@contextlib.contextmanager
def stop_on_signals():
    """SIGTERM and SIGINT end the process within seconds inside the block.

    The exit status is 128 + the signal number (143, 130), as a shell
    reports a process killed by it. Handlers and the wakeup fd are put
    back on leaving. Outside the main thread (where Python cannot set
    handlers) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous_handlers = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    previous_wakeup_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def handler(signum, frame):  # Runs only if the main thread gets there first.
        _stop_for_signal(signum)

    for signum in _STOP_SIGNALS:
        signal.signal(signum, handler)
    thread = threading.Thread(target=_wait_for_signal, args=(reader,), name="keras_albert_signals", daemon=True)
    thread.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_wakeup_fd)
        for signum, previous in previous_handlers.items():
            signal.signal(signum, previous)
        writer.close()  # Ends the thread's recv.
        thread.join(timeout=5)
        reader.close()


def _wait_for_signal(reader):
    while True:
        try:
            received = reader.recv(64)
        except OSError:
            return
        if not received:
            return
        for signum in received:
            if signum in _STOP_SIGNALS:
                _stop_for_signal(signum)


def _stop_for_signal(signum):
    _exit_now(
        128 + signum,
        f"Received {signal.Signals(signum).name}: stopping now. Complete checkpoints are kept "
        "(a half-written one is removed when the run restarts).",
    )


_exit_lock = threading.Lock()


def _exit_now(status, message):
    """Logs `message` and ends the process without unwinding (threads
    blocked in TensorFlow would not let a normal exit finish)."""
    with _exit_lock:  # One message, one status, whichever thread comes first.
        logging.error(message)
        for handler in python_logging.getLogger().handlers + logging.get_absl_logger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)
