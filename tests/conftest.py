"""Session-wide fixtures: the shared data sets and a small ALBERT vocabulary."""

import os

# Before anything imports keras.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Its import sets TensorFlow's kernel defaults (`use_stable_tensorflow_kernels`)
# before TensorFlow loads, for this process and the programs tests start.
import keras_albert  # noqa: E402,F401

import csv  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# ../shared/data beside the repository root (read-only, never committed);
# KERAS_ALBERT_SHARED_DATA points elsewhere.
SHARED_DATA_DIR = Path(
    os.environ.get("KERAS_ALBERT_SHARED_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)
# CI (`.ci/run`) must not go green by skipping every test on real data.
REQUIRE_SHARED_DATA = os.environ.get("KERAS_ALBERT_REQUIRE_DATA", "") not in ("", "0") or (
    os.environ.get("CI", "").lower() in ("1", "true")
)
_NO_DATA_REASON = f"shared data not found at {SHARED_DATA_DIR}"


@pytest.fixture(scope="session")
def shared_data_dir():
    """Path of the shared data sets: skips the test where they are absent,
    or fails it where CI requires them."""
    if not SHARED_DATA_DIR.is_dir():
        if REQUIRE_SHARED_DATA:
            pytest.fail(
                f"{_NO_DATA_REASON}, and KERAS_ALBERT_REQUIRE_DATA=1 (or CI=true) "
                "requires it: put the data sets there or set KERAS_ALBERT_SHARED_DATA.",
                pytrace=False,
            )
        pytest.skip(_NO_DATA_REASON)
    return SHARED_DATA_DIR


# The test running now, kept in this file (if set) for `make test` to name
# when pytest itself dies: a native crash's stack dump is cut to its last
# lines, which are pytest's own frames, not the test's.
RUNNING_TEST_FILE = os.environ.get("KERAS_ALBERT_RUNNING_TEST_FILE")


def pytest_runtest_logstart(nodeid, location):
    if RUNNING_TEST_FILE:
        with open(RUNNING_TEST_FILE, "w") as f:
            f.write(nodeid)


def pytest_runtest_logfinish(nodeid, location):
    if RUNNING_TEST_FILE:
        open(RUNNING_TEST_FILE, "w").close()


def pytest_terminal_summary(terminalreporter):
    """One line for a user without the data: how many tests it skipped, and why."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple) and _NO_DATA_REASON in str(report.longrepr[2])
    ]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} test{'s' if len(skipped) != 1 else ''} skipped: {_NO_DATA_REASON} "
            "(set KERAS_ALBERT_SHARED_DATA to the data sets to run them)."
        )


@pytest.fixture(scope="session")
def sst2_dev_sentences(shared_data_dir):
    """The 872 sentences of GLUE SST-2 dev, as in the TSV (lower-cased)."""
    with open(shared_data_dir / "sst2" / "dev.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row[0] for row in rows[1:]]


@pytest.fixture(scope="session")
def mrpc_dev_sentences(shared_data_dir):
    """The 816 sentences (408 pairs, flattened) of GLUE MRPC dev (cased)."""
    with open(shared_data_dir / "glue_mrpc" / "dev.tsv", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [sentence for row in rows[1:] for sentence in (row[3], row[4])]


@pytest.fixture(scope="session")
def spm_model_path(shared_data_dir, tmp_path_factory):
    """A 6000-piece uncased ALBERT-recipe SentencePiece model.

    Trained once per session with `train_sentencepiece` on 50,000 lines
    sampled from WikiText-2 valid, Tiny Shakespeare and the SST-2 train
    sentences (never SST-2 dev, which tests use as held-out text): about
    7 s of CPU. A fixed seed and thread count give every machine the same
    vocabulary, so a test's numbers do not depend on where it runs.
    """
    from keras_albert.sentencepiece_trainer import train_sentencepiece

    directory = tmp_path_factory.mktemp("spm")
    sst2_train = directory / "sst2_train.txt"
    with open(shared_data_dir / "sst2" / "train.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    sst2_train.write_text("\n".join(row[0] for row in rows[1:]), encoding="utf-8")
    files = [
        shared_data_dir / "wikitext2" / "valid.txt",
        shared_data_dir / "tinyshakespeare" / "input.txt",
        sst2_train,
    ]
    return train_sentencepiece(
        [str(path) for path in files],
        vocab_size=6000,
        model_prefix=str(directory / "spiece"),
        input_sentence_size=50_000,
        seed=0,
        num_threads=2,
    )


@pytest.fixture(scope="session")
def albert_tokenizer(spm_model_path):
    """An uncased `AlbertTokenizer` on `spm_model_path`."""
    from keras_albert.albert_tokenizer import AlbertTokenizer

    return AlbertTokenizer(spm_model_path)


@pytest.fixture(scope="session")
def german_spm_model_path(shared_data_dir):
    """A real 30k-piece ALBERT-format model (cased, German vocabulary)."""
    return str(shared_data_dir / "albert_format_spiece_german" / "30k-clean.model")
