"""Readers for multiple-choice data: a simple JSONL format and SWAG's CSV.

JSONL (RACE style), one question per line:

    {"id": "race-1", "context": "The article ...", "question": "What is _ ?",
     "options": ["a", "b", "c", "d"], "label": 2}

`label` is the 0-based index of the right option, or a letter ("A" is
option 0) as RACE writes answers; test files may leave it out or null.
`context` may be empty. Every example in a file must have the same
number of options.

SWAG (`train.csv`/`val.csv`/`test.csv` of rowanz/swagaf): the columns
`sent1` (context), `sent2` (start of the next sentence: the question),
`ending0`..`ending3` and, except in test files, `label`.

Malformed input raises a `ValueError` naming the file and line.
"""

import csv
import dataclasses
import io
import json
import os
import string
from typing import Optional

from keras_albert.text_files import read_text, text_lines

_SWAG_ENDINGS = tuple(f"ending{i}" for i in range(4))


@dataclasses.dataclass(frozen=True)
class ChoiceExample:
    """A context, a question and the options to choose from.

    Attributes:
        guid: the example's id.
        context: passage (may be empty).
        question: question, or the start of a sentence the option completes.
        options: the candidate answers.
        label: index of the right option; `None` when unlabeled.
    """

    guid: str
    context: str
    question: str
    options: tuple
    label: Optional[int]

    def question_with_option(self, index):
        """The second segment for option `index`.

        As the original ALBERT RACE code: an option fills the question's
        blank ("_") if it has one, else follows the question.
        """
        option = self.options[index]
        if "_" in self.question:
            return self.question.replace("_", option)
        return f"{self.question} {option}".strip()


def read_examples(path, labeled, max_examples=None):
    """Reads a `.jsonl` (RACE-style) or `.csv` (SWAG) file by its extension.

    Args:
        path: the file.
        labeled: whether every example must have a label.
        max_examples: stop after this many examples.

    Returns:
        A list of `ChoiceExample`s, all with the same number of options.
    """
    path = os.fspath(path)
    if path.endswith(".jsonl"):
        return _read_jsonl(path, labeled, max_examples)
    if path.endswith(".csv"):
        return _read_swag_csv(path, labeled, max_examples)
    raise ValueError(f"{path}: expected a .jsonl (RACE-style) or .csv (SWAG) file.")


def _check_num_options(path, line_number, options, examples):
    if len(options) < 2:
        raise ValueError(f"{path}:{line_number}: expected at least 2 options, found {len(options)}.")
    if examples and len(options) != len(examples[0].options):
        raise ValueError(
            f"{path}:{line_number}: {len(options)} options, but earlier examples "
            f"have {len(examples[0].options)}; every example needs the same number."
        )


def _parse_label(path, line_number, label, num_options):
    if isinstance(label, str) and len(label) == 1 and label in string.ascii_uppercase:
        label = string.ascii_uppercase.index(label)
    if isinstance(label, str) and label.strip().isdigit():
        label = int(label)
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < num_options:
        raise ValueError(
            f"{path}:{line_number}: label {label!r} is not an option index in "
            f"0..{num_options - 1} (or a letter A..{string.ascii_uppercase[num_options - 1]})."
        )
    return label


def _read_jsonl(path, labeled, max_examples):
    examples = []
    for line_number, line in text_lines(path):
        if max_examples is not None and len(examples) >= max_examples:
            break
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{line_number}: not a JSON object: {e}") from None
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}:{line_number}: expected a JSON object, found {type(record).__name__}."
            )
        missing = [key for key in ("question", "options") if key not in record]
        if labeled and record.get("label") is None:
            missing.append("label")
        if missing:
            raise ValueError(f"{path}:{line_number}: missing field(s) {missing}.")
        options = record["options"]
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise ValueError(f"{path}:{line_number}: `options` must be a list of strings.")
        _check_num_options(path, line_number, options, examples)
        context = record.get("context")
        if not isinstance(record["question"], str) or not isinstance(context, (str, type(None))):
            raise ValueError(
                f"{path}:{line_number}: `question` must be a string and `context` a string or absent; found "
                f"question {type(record['question']).__name__}, context {type(context).__name__}."
            )
        label = record.get("label")
        examples.append(
            ChoiceExample(
                guid=str(record.get("id", f"{os.path.basename(path)}:{line_number}")),
                context=context or "",
                question=record["question"],
                options=tuple(options),
                label=None if label is None else _parse_label(path, line_number, label, len(options)),
            )
        )
    return examples


def _read_swag_csv(path, labeled, max_examples):
    examples = []
    with io.StringIO(read_text(path, encoding="utf-8-sig"), newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        required = ["sent1", "sent2", *_SWAG_ENDINGS] + (["label"] if labeled else [])
        missing = [name for name in required if name not in header]
        if missing:
            raise ValueError(f"{path}:1: the header {header} lacks the SWAG column(s) {missing}.")
        column = {name: header.index(name) for name in header}
        id_column = column.get("") if "" in column else column.get("fold-ind")
        file_name = os.path.basename(path)
        for fields in reader:
            line_number = reader.line_num
            if max_examples is not None and len(examples) >= max_examples:
                break
            if len(fields) != len(header):
                raise ValueError(
                    f"{path}:{line_number}: expected {len(header)} comma-separated fields, "
                    f"found {len(fields)}."
                )
            options = tuple(fields[column[name]] for name in _SWAG_ENDINGS)
            label = fields[column["label"]] if "label" in column and fields[column["label"]] != "" else None
            if labeled and label is None:
                raise ValueError(f"{path}:{line_number}: missing label.")
            examples.append(
                ChoiceExample(
                    guid=fields[id_column] if id_column is not None else f"{file_name}:{line_number}",
                    context=fields[column["sent1"]],
                    question=fields[column["sent2"]],
                    options=options,
                    label=None if label is None else _parse_label(path, line_number, label, len(options)),
                )
            )
    return examples
