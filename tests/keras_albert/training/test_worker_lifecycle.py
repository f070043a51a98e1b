"""Bounded waits for peers and clean stops on signals (127.0.0.1 only)."""

import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from keras_albert.training import worker_lifecycle

MODULE_PATH = Path(worker_lifecycle.__file__)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tf_config(ports, index=0):
    return {"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]}, "task": {"type": "worker", "index": index}}


def test_peer_addresses_lists_every_other_collective_task():
    config = {
        "cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"], "evaluator": ["d:4"]},
        "task": {"type": "worker", "index": 0},
    }
    assert worker_lifecycle.peer_addresses(config) == ("b:2", {"chief 0": "a:1", "worker 1": "c:3"})


def test_wait_for_cluster_listens_on_its_own_address_and_returns_once_peers_answer():
    own, peer = free_port(), free_port()
    waiting = threading.Thread(target=worker_lifecycle.wait_for_cluster, args=(tf_config([own, peer]), 60), daemon=True)
    waiting.start()
    try:
        deadline = time.monotonic() + 10
        while not worker_lifecycle.is_reachable(f"127.0.0.1:{own}"):  # Peers see this worker meanwhile.
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # However often they probe (more than the listen backlog).
        for _ in range(200):
            assert worker_lifecycle.is_reachable(f"127.0.0.1:{own}")
            time.sleep(0.01)
        assert waiting.is_alive()
        with socket.create_server(("127.0.0.1", peer)):  # The peer starts.
            waiting.join(timeout=10)
            assert not waiting.is_alive()
    finally:
        waiting.join(timeout=10)
    assert not worker_lifecycle.is_reachable(f"127.0.0.1:{own}")  # Port freed for TensorFlow.


def test_wait_for_cluster_names_the_peers_it_could_not_reach_within_the_timeout():
    own, present, missing = free_port(), free_port(), free_port()
    with socket.create_server(("127.0.0.1", present)):
        start = time.monotonic()
        with pytest.raises(TimeoutError) as error:
            worker_lifecycle.wait_for_cluster(tf_config([own, present, missing]), 1.5)
    assert 1.5 <= time.monotonic() - start < 6
    message = str(error.value)
    assert f"Could not reach worker 2 at 127.0.0.1:{missing} within 1.5 s (--cluster_timeout_seconds)" in message
    assert "worker 1" not in message


def test_wait_for_cluster_names_its_own_address_when_the_port_is_taken():
    own, peer = free_port(), free_port()
    with socket.create_server(("", own)):
        with pytest.raises(OSError, match=rf"address 127.0.0.1:{own} \(TF_CONFIG `cluster.worker\[0\]`\)"):
            worker_lifecycle.wait_for_cluster(tf_config([own, peer]), 1)


def start_child(body):
    """A Python process running `body` with `worker_lifecycle` imported.

    Loaded from its file: importing `keras_albert` would load TensorFlow,
    many seconds per process on a busy machine.
    """
    script = textwrap.dedent(f"""
        import importlib.util, sys, threading, time
        spec = importlib.util.spec_from_file_location("worker_lifecycle", {str(MODULE_PATH)!r})
        worker_lifecycle = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(worker_lifecycle)
    """) + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


def finish(child, timeout):
    """The child's (status, stderr, seconds), killing it after `timeout`."""
    start = time.monotonic()
    try:
        child.wait(timeout=timeout)  # Not `communicate`: stdin stays open.
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        pytest.fail(f"still running after {timeout} s")
    seconds = time.monotonic() - start
    stderr = child.stderr.read()
    for stream in (child.stdin, child.stdout, child.stderr):
        stream.close()
    return child.returncode, stderr, seconds


WATCH = """
    config = {config!r}
    with worker_lifecycle.watch_peers(config, 1.5, barrier=lambda: print("barrier", flush=True)):
        print("watching", flush=True)
        sys.stdin.readline()
"""


def test_watch_peers_exits_naming_a_peer_lost_inside_the_block():
    peer = free_port()
    with socket.create_server(("127.0.0.1", peer)) as listener:
        child = start_child(WATCH.format(config=tf_config([free_port(), peer])))
        assert child.stdout.readline() == "watching\n"
        time.sleep(2.5)  # Longer than the 1.5 s timeout: a present peer is not lost.
        assert child.poll() is None
        listener.close()  # The peer dies.
        status, stderr, seconds = finish(child, timeout=20)
    assert status == worker_lifecycle.PEER_LOST_EXIT_CODE, stderr
    assert seconds < 1.5 + 5
    assert f"Lost worker 1 at 127.0.0.1:{peer}: unreachable for 1.5 s (--peer_timeout_seconds)" in stderr


def test_watch_peers_passes_the_barrier_and_stops_watching_on_leaving_the_block():
    peer = free_port()
    with socket.create_server(("127.0.0.1", peer)) as listener:
        child = start_child(WATCH.format(config=tf_config([free_port(), peer])) + """
    print("left", flush=True)
    time.sleep(4)  # The peer is gone by now: no longer watched.
""")
        assert child.stdout.readline() == "watching\n"
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == "barrier\n"
        assert child.stdout.readline() == "left\n"
        listener.close()
        status, stderr, _ = finish(child, timeout=30)
    assert status == 0, stderr


FAILING_COLLECTIVE = """
    config = {config!r}
    with worker_lifecycle.watch_peers(config, 60, barrier=print, collective_errors=(ConnectionError,)):
        print("watching", flush=True)
        sys.stdin.readline()
        raise {error}("socket closed")
"""


@pytest.mark.parametrize("error", ["ConnectionError", "ValueError"])
def test_a_failed_collective_with_a_peer_gone_counts_as_its_loss_other_errors_propagate(error):
    peer = free_port()
    with socket.create_server(("127.0.0.1", peer)) as listener:
        child = start_child(FAILING_COLLECTIVE.format(config=tf_config([free_port(), peer]), error=error))
        assert child.stdout.readline() == "watching\n"
        listener.close()  # The peer dies: the collective fails long before 60 s.
        child.stdin.write("\n")
        child.stdin.flush()
        status, stderr, seconds = finish(child, timeout=30)
    assert seconds < 10
    if error == "ConnectionError":
        assert status == worker_lifecycle.PEER_LOST_EXIT_CODE, stderr
        assert f"Lost worker 1 at 127.0.0.1:{peer}: a collective failed (ConnectionError: socket closed)" in stderr
    else:
        assert status == 1, stderr
        assert "ValueError: socket closed" in stderr and "Lost" not in stderr


# The main thread blocked in C without returning to the interpreter, as a
# worker waiting in a TensorFlow collective is: locking a (glibc, all-zero
# initialized) mutex it already holds deadlocks, and no signal interrupts
# it, so only the wakeup-fd thread can act.
BLOCKED_IN_C = """
    import ctypes
    libc = ctypes.CDLL(None)
    mutex = ctypes.create_string_buffer(64)
    with worker_lifecycle.stop_on_signals():
        libc.pthread_mutex_lock(mutex)
        print("ready", flush=True)
        libc.pthread_mutex_lock(mutex)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_on_signals_ends_a_process_blocked_in_c_within_seconds(signum):
    child = start_child(BLOCKED_IN_C)
    assert child.stdout.readline() == "ready\n"
    time.sleep(0.5)
    child.send_signal(signum)
    status, stderr, seconds = finish(child, timeout=30)
    assert status == 128 + signum, stderr
    assert seconds < 5
    assert f"Received {signal.Signals(signum).name}: stopping now" in stderr


def test_stop_on_signals_puts_back_the_handlers_and_the_wakeup_fd():
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    with worker_lifecycle.stop_on_signals():
        assert signal.getsignal(signal.SIGTERM) is not handlers[signal.SIGTERM]
    assert {signum: signal.getsignal(signum) for signum in handlers} == handlers
    assert signal.set_wakeup_fd(-1) == -1


def test_exit_if_blocked_ends_a_process_blocked_in_c_after_the_timeout():
    child = start_child(BLOCKED_IN_C.replace("stop_on_signals()", 'exit_if_blocked(1.5, "Joining")'))
    assert child.stdout.readline() == "ready\n"
    status, stderr, seconds = finish(child, timeout=30)
    assert status == 1, stderr
    assert 1 <= seconds < 6
    assert "Timeout (0:00:01.500000)!" in stderr
