"""The GPU machines' wheel list, without downloading anything."""

import re
from pathlib import Path

import pytest

from bench import gpu_wheels


def test_keras_and_keras_hub_are_carried_at_the_versions_setup_py_pins():
    setup_py = (Path(gpu_wheels.__file__).parents[1] / "setup.py").read_text()
    pins = dict(re.findall(r'"(keras|keras-hub)==([^"]+)"', setup_py))
    carried = dict(requirement.split("==") for requirement in gpu_wheels.pinned_requirements())
    assert carried["keras"] == pins["keras"] and carried["keras-hub"] == pins["keras-hub"]


def test_nothing_the_gpu_machine_has_is_carried_over_it():
    machine = {gpu_wheels.canonical(name) for name in gpu_wheels.GPU_MACHINE_DISTRIBUTIONS}
    carried = [gpu_wheels.canonical(name) for name, _ in gpu_wheels.WHEELS]
    assert not machine & set(carried)
    assert "tensorflow" not in carried and "tensorflow-text" not in carried
    assert len(carried) == len(set(carried))


def test_the_size_report_refuses_64_mib():
    assert gpu_wheels.size_report([("a.whl", 2**20), ("b.whl", 2 * 2**20)]).endswith("3.00 MiB  total, limit 64 MiB")
    with pytest.raises(SystemExit, match="The wheels take 64.0 MiB"):
        gpu_wheels.size_report([("a.whl", 32 * 2**20), ("b.whl", 32 * 2**20)])
