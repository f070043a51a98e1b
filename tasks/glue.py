"""Readers for the GLUE benchmark's TSV files.

Each task's files are read by the column names of their header (CoLA's
train/dev files have none; their four columns are given here), so the
train/dev/test variants of a task, which order and number their columns
differently, share one reader. Test files have no label column: their
examples have `label=None` and keep the `index` column GLUE submissions
are keyed by.

Fields are split on tabs only, never on quotes (MRPC and QQP sentences
contain unbalanced `"`). Invalid UTF-8, a line with the wrong number of
fields, a header without the task's columns, or a label outside the
task's set raises a `ValueError` naming the file and line.
"""

import dataclasses
import math
import os
from typing import Optional, Union

from keras_albert.text_files import read_text


@dataclasses.dataclass(frozen=True)
class TextExample:
    """One sentence or sentence pair.

    Attributes:
        guid: the file's id column (`index`, `id`), else `<file>:<line>`.
        text_a: first sentence.
        text_b: second sentence, `None` for single-sentence tasks.
        label: label string (classification), float (regression), or
            `None` in unlabeled test files.
    """

    guid: str
    text_a: str
    text_b: Optional[str]
    label: Union[str, float, None]


@dataclasses.dataclass(frozen=True)
class GlueTask:
    """Where a GLUE task's fields are and how it is scored.

    Attributes:
        name: the --task_name, e.g. "sst-2".
        text_a_column, text_b_column, label_column, id_column: header names.
        labels: label strings in class-id order; `None` for regression.
        metrics: names in `tasks.metrics.METRICS`.
        headerless_columns: column names of train/dev files that have no
            header (CoLA).
        train_file: training split file name.
        eval_files: `(file, result_prefix)` pairs; results of all but the
            first are reported with the prefix (MNLI mismatched).
        predict_files: `(file, submission_file)` pairs; the submission file
            is the name the GLUE server expects.
    """

    name: str
    text_a_column: str
    text_b_column: Optional[str]
    label_column: str
    labels: Optional[tuple]
    metrics: tuple
    predict_files: tuple
    id_column: str = "index"
    headerless_columns: Optional[tuple] = None
    train_file: str = "train.tsv"
    eval_files: tuple = (("dev.tsv", ""),)

    @property
    def is_regression(self):
        return self.labels is None

    @property
    def num_classes(self):
        return 1 if self.is_regression else len(self.labels)

    def label_id(self, label):
        """The class id of a label string (the float itself for regression)."""
        return label if self.is_regression else self.labels.index(label)

    def label_name(self, class_id_or_score):
        """The inverse of `label_id`, as written in prediction files."""
        if self.is_regression:
            return f"{float(class_id_or_score):.3f}"
        return self.labels[int(class_id_or_score)]


_BINARY = ("0", "1")
_ENTAILMENT = ("entailment", "not_entailment")

TASKS = {
    task.name: task
    for task in (
        GlueTask(
            name="cola",
            text_a_column="sentence",
            text_b_column=None,
            label_column="label",
            labels=_BINARY,
            metrics=("matthews_corrcoef", "accuracy"),
            headerless_columns=("source", "label", "original_label", "sentence"),
            predict_files=(("test.tsv", "CoLA.tsv"),),
        ),
        GlueTask(
            name="sst-2",
            text_a_column="sentence",
            text_b_column=None,
            label_column="label",
            labels=_BINARY,
            metrics=("accuracy",),
            predict_files=(("test.tsv", "SST-2.tsv"),),
        ),
        GlueTask(
            name="mrpc",
            text_a_column="#1 String",
            text_b_column="#2 String",
            label_column="Quality",
            labels=_BINARY,
            metrics=("accuracy", "f1"),
            predict_files=(("test.tsv", "MRPC.tsv"),),
        ),
        GlueTask(
            name="sts-b",
            text_a_column="sentence1",
            text_b_column="sentence2",
            label_column="score",
            labels=None,
            metrics=("pearson", "spearman"),
            predict_files=(("test.tsv", "STS-B.tsv"),),
        ),
        GlueTask(
            name="qqp",
            text_a_column="question1",
            text_b_column="question2",
            label_column="is_duplicate",
            id_column="id",
            labels=_BINARY,
            metrics=("accuracy", "f1"),
            predict_files=(("test.tsv", "QQP.tsv"),),
        ),
        GlueTask(
            name="mnli",
            text_a_column="sentence1",
            text_b_column="sentence2",
            label_column="gold_label",
            labels=("contradiction", "entailment", "neutral"),
            metrics=("accuracy",),
            eval_files=(("dev_matched.tsv", ""), ("dev_mismatched.tsv", "mismatched_")),
            predict_files=(
                ("test_matched.tsv", "MNLI-m.tsv"),
                ("test_mismatched.tsv", "MNLI-mm.tsv"),
            ),
        ),
        GlueTask(
            name="qnli",
            text_a_column="question",
            text_b_column="sentence",
            label_column="label",
            labels=_ENTAILMENT,
            metrics=("accuracy",),
            predict_files=(("test.tsv", "QNLI.tsv"),),
        ),
        GlueTask(
            name="rte",
            text_a_column="sentence1",
            text_b_column="sentence2",
            label_column="label",
            labels=_ENTAILMENT,
            metrics=("accuracy",),
            predict_files=(("test.tsv", "RTE.tsv"),),
        ),
    )
}


def get_task(name):
    """The `GlueTask` for a --task_name ("SST-2", "sst2" and "sst-2" all work)."""
    key = name.lower().replace("_", "-")
    aliases = {task.name.replace("-", ""): task for task in TASKS.values()}
    task = TASKS.get(key) or aliases.get(key.replace("-", ""))
    if task is None:
        raise ValueError(f"Unknown --task_name {name!r}. Known GLUE tasks: {', '.join(TASKS)}.")
    return task


def read_examples(task, path, labeled, max_examples=None):
    """Reads a GLUE TSV file into `TextExample`s.

    Args:
        task: `GlueTask`.
        path: the file.
        labeled: whether the file must carry labels (train/dev) or not
            (test; examples get `label=None` and the file's id column).
        max_examples: stop after this many examples.

    Raises:
        ValueError: naming `path:line` for a missing header column, a line
            with the wrong number of fields, or a label outside the task's
            set (for regression: not a finite number).
    """
    path = os.fspath(path)
    # utf-8-sig drops the byte-order mark MRPC's files start with; splitting
    # on "\n" alone keeps stray "\r" inside sentences from breaking lines.
    lines = read_text(path, encoding="utf-8-sig").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if task.headerless_columns and labeled:
        columns, first_line = task.headerless_columns, 1
        if lines and set(_strip_eol(lines[0]).split("\t")) & set(columns):
            raise ValueError(
                f"{path}:1: looks like a header ({_strip_eol(lines[0])!r:.80}); {task.name} train and dev files "
                f"have none: their columns are {list(columns)}. Remove the line."
            )
    else:
        columns, first_line = tuple(_strip_eol(lines[0]).split("\t")) if lines else (), 2
    required = [task.text_a_column, task.text_b_column]
    required.append(task.label_column if labeled else task.id_column)
    missing = [name for name in required if name and name not in columns]
    if missing:
        raise ValueError(
            f"{path}:1: the header {list(columns)} lacks the column(s) {missing} of a "
            f"{'labeled' if labeled else 'test'} {task.name} file. Is this a {task.name} file?"
        )
    index = {name: columns.index(name) for name in required if name}
    id_index = columns.index(task.id_column) if task.id_column in columns else None
    file_name = os.path.basename(path)

    examples = []
    for line_number, line in enumerate(lines[first_line - 1 :], start=first_line):
        if max_examples is not None and len(examples) >= max_examples:
            break
        fields = _strip_eol(line).split("\t")
        if len(fields) != len(columns):
            raise ValueError(
                f"{path}:{line_number}: expected {len(columns)} tab-separated fields "
                f"({', '.join(columns)}), found {len(fields)}."
            )
        label = _parse_label(task, fields[index[task.label_column]], path, line_number) if labeled else None
        examples.append(
            TextExample(
                guid=fields[id_index] if id_index is not None else f"{file_name}:{line_number}",
                text_a=fields[index[task.text_a_column]],
                text_b=fields[index[task.text_b_column]] if task.text_b_column else None,
                label=label,
            )
        )
    return examples


def _strip_eol(line):
    return line[:-1] if line.endswith("\r") else line


def _parse_label(task, value, path, line_number):
    value = value.strip()
    if task.is_regression:
        try:
            score = float(value)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise ValueError(
                f"{path}:{line_number}: {task.label_column} must be a number, got {value!r}."
            )
        return score
    if value not in task.labels:
        raise ValueError(
            f"{path}:{line_number}: unknown {task.name} label {value!r}; allowed: "
            f"{', '.join(task.labels)}."
        )
    return value
