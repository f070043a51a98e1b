"""tests/conftest.py: without ../shared/data a user sees one line saying what
was skipped and why; CI (`.ci/run`) fails instead of skipping."""

import os
import shutil
import subprocess
import sys

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

DATA_TESTS = '''
def test_reads_the_data(shared_data_dir):
    assert shared_data_dir.is_dir()


def test_reads_the_data_too(shared_data_dir):
    assert shared_data_dir.is_dir()


def test_needs_no_data():
    pass
'''


def run_pytest(tmp_path, **env):
    """pytest on two data tests and one other, under the suite's conftest,
    with the shared data pointed at a folder that does not exist."""
    shutil.copy(os.path.join(TESTS_DIR, "conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_data.py").write_text(DATA_TESTS)
    environment = {
        key: value for key, value in os.environ.items() if key not in ("CI", "KERAS_ALBERT_REQUIRE_DATA")
    }
    environment.update(KERAS_ALBERT_SHARED_DATA=str(tmp_path / "no_data_here"), **env)
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )
    return process.returncode, process.stdout + process.stderr


def test_without_the_data_a_user_sees_one_line_counting_the_skips(tmp_path):
    returncode, output = run_pytest(tmp_path)
    assert returncode == 0, output
    lines = [line for line in output.splitlines() if "shared data not found" in line]
    assert lines == [f"2 tests skipped: shared data not found at {tmp_path / 'no_data_here'} "
                     "(set KERAS_ALBERT_SHARED_DATA to the data sets to run them)."], output
    assert "1 passed, 2 skipped" in output


def test_without_the_data_ci_fails_naming_the_missing_folder(tmp_path):
    for env in ({"KERAS_ALBERT_REQUIRE_DATA": "1"}, {"CI": "true"}):
        returncode, output = run_pytest(tmp_path, **env)
        assert returncode == 1, output
        assert "1 passed, 2 errors" in output, output
        assert f"shared data not found at {tmp_path / 'no_data_here'}, and KERAS_ALBERT_REQUIRE_DATA=1" in output


def test_the_ci_entry_point_requires_the_data():
    with open(os.path.join(os.path.dirname(TESTS_DIR), ".ci", "run")) as file:
        commands = [line.strip() for line in file if not line.lstrip().startswith("#")]
    assert "export KERAS_ALBERT_REQUIRE_DATA=1" in commands
    assert commands.index("export KERAS_ALBERT_REQUIRE_DATA=1") < commands.index("make test")
