"""What a task model was trained to do: one typed, versioned spec per task.

A task preset holds its spec in `task_spec.json` beside the weights:

```json
{"version": 1, "task": "question_answering",
 "spec": {"sequence_length": 384, "doc_stride": 128, ...}}
```

The programs in `tasks/` write it once (`save_task_spec`); export, predict,
TFLite and the serving client read it (`load_task_spec`), so a model is
served with the settings it was trained with. Loading checks the file
(JSON, version, task, every field's presence and type) and, given the
model, that the spec fits its weights (label count against the head's
units, sequence length against the position table); errors name the file
and the field.

`TASKS` is the one registry of task names: name → model class and spec
class. `export.serving_signatures` keys its serving builders by the same
names.
"""

import dataclasses
import json
import os
import typing

from keras_albert.albert_backbone import AlbertBackbone
from keras_albert.albert_multiple_choice import AlbertMultipleChoice
from keras_albert.albert_pretrainer import AlbertPretrainer
from keras_albert.albert_question_answerer import AlbertQuestionAnswerer
from keras_albert.albert_squad_v2_question_answerer import AlbertSquadV2QuestionAnswerer
from keras_albert.albert_text_classifier import AlbertTextClassifier
from keras_albert.albert_token_classifier import AlbertTokenClassifier
from keras_albert.token_labels import TAG_SCHEMES

SPEC_FILENAME = "task_spec.json"
SPEC_VERSION = 1


class TaskSpecError(ValueError):
    """A spec that is missing, malformed or does not fit its model."""


def _fail(where, field, message):
    location = f"{where}: " if where else ""
    raise TaskSpecError(f"{location}field {field!r}: {message}")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Fields every task shares.

    Attributes:
        sequence_length: longest packed sequence, special tokens included.
    """

    TASK: typing.ClassVar[str] = ""
    sequence_length: int = 128

    def __post_init__(self):
        self.validate()

    def validate(self, where=None):
        """Raises `TaskSpecError` (naming `where` and the field) for bad values."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kind = _field_kind(field)
            if kind is bool:
                ok = isinstance(value, bool)
            elif kind is int:
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif kind is float:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            elif kind is str:
                ok = isinstance(value, str)
            elif kind == "optional_int":
                ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
            else:  # Labels: a tuple of strings.
                ok = isinstance(value, tuple) and all(isinstance(item, str) for item in value)
            if not ok:
                _fail(where, field.name, f"expected {_kind_name(kind)}, found {value!r}.")
            if kind in (int, "optional_int") and value is not None and value < 1:
                _fail(where, field.name, f"must be a positive integer, found {value}.")
        if self.sequence_length < 3:
            _fail(where, "sequence_length", f"must be at least 3 ([CLS] x [SEP]), found {self.sequence_length}.")

    def check_model(self, model, where=None):
        """Raises `TaskSpecError` when the spec does not fit `model`'s weights."""
        backbone = model if isinstance(model, AlbertBackbone) else model.backbone
        if self.sequence_length > backbone.max_sequence_length:
            _fail(
                where,
                "sequence_length",
                f"{self.sequence_length} exceeds the model's {backbone.max_sequence_length} positions.",
            )

    def replace(self, **overrides):
        """A copy with `overrides` (None values ignored: "not given")."""
        given = {name: value for name, value in overrides.items() if value is not None}
        return dataclasses.replace(self, **given)

    def to_json(self):
        fields = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            fields[field.name] = list(value) if isinstance(value, tuple) else value
        return {"version": SPEC_VERSION, "task": self.TASK, "spec": fields}


def _field_kind(field):
    kind = field.type
    if isinstance(kind, str):  # Postponed annotations.
        kind = {"int": int, "bool": bool, "float": float, "str": str}.get(kind, kind)
    if kind in (int, bool, float, str):
        return kind
    if kind == typing.Optional[int] or kind == "typing.Optional[int]":
        return "optional_int"
    return "labels"


def _kind_name(kind):
    return {
        int: "an integer", bool: "true or false", float: "a number", str: "a string",
        "optional_int": "an integer or null", "labels": "a list of strings",
    }[kind]


@dataclasses.dataclass(frozen=True)
class TextClassificationSpec(TaskSpec):
    """A sentence (or sentence-pair) classifier or regressor.

    Attributes:
        labels: class names in class-id order (one name for a regressor's
            score).
        text_pair: inputs are sentence pairs (`text`, `text_pair`).
    """

    TASK: typing.ClassVar[str] = "text_classification"
    labels: typing.Tuple[str, ...] = ()
    text_pair: bool = False

    def validate(self, where=None):
        super().validate(where)
        if not self.labels:
            _fail(where, "labels", "needs at least one label name.")

    def check_model(self, model, where=None):
        super().check_model(model, where)
        if len(self.labels) != model.num_classes:
            _fail(where, "labels", f"{len(self.labels)} labels for a head of {model.num_classes} units.")


@dataclasses.dataclass(frozen=True)
class TokenClassificationSpec(TaskSpec):
    """A tagger (NER).

    Attributes:
        labels: tags in class-id order.
        tag_scheme: one of `TAG_SCHEMES`.
        window_stride: pieces between the starts of two windows of a long
            sentence; None: half a window.
    """

    TASK: typing.ClassVar[str] = "token_classification"
    labels: typing.Tuple[str, ...] = ()
    tag_scheme: str = "IOB2"
    window_stride: typing.Optional[int] = None

    def validate(self, where=None):
        if self.tag_scheme not in TAG_SCHEMES:
            _fail(where, "tag_scheme", f"expected one of {TAG_SCHEMES}, found {self.tag_scheme!r}.")
        super().validate(where)
        if not self.labels:
            _fail(where, "labels", "needs at least one tag.")
        if self.window_stride is not None and self.window_stride > self.sequence_length - 2:
            _fail(
                where, "window_stride",
                f"{self.window_stride} exceeds the window of {self.sequence_length - 2} pieces "
                f"(sequence_length={self.sequence_length} less [CLS] and [SEP]).",
            )

    def check_model(self, model, where=None):
        super().check_model(model, where)
        if len(self.labels) != model.num_classes:
            _fail(where, "labels", f"{len(self.labels)} tags for a head of {model.num_classes} units.")


@dataclasses.dataclass(frozen=True)
class QuestionAnsweringSpec(TaskSpec):
    """Extractive QA (SQuAD v1.1 / v2.0); fields as `tasks/run_squad.py`'s flags."""

    TASK: typing.ClassVar[str] = "question_answering"
    sequence_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0

    def validate(self, where=None):
        super().validate(where)
        if self.max_query_length + 4 > self.sequence_length:
            _fail(
                where, "max_query_length",
                f"{self.max_query_length} leaves no room for the context in sequence_length="
                f"{self.sequence_length} (3 special tokens and at least one context token).",
            )


@dataclasses.dataclass(frozen=True)
class SquadV2QuestionAnsweringSpec(QuestionAnsweringSpec):
    """The original run_squad_v2.py head (`AlbertSquadV2QuestionAnswerer`).

    Attributes:
        start_n_top, end_n_top: the beam: best starts, and best ends per start.
    """

    TASK: typing.ClassVar[str] = "squad_v2_question_answering"
    start_n_top: int = 5
    end_n_top: int = 5


@dataclasses.dataclass(frozen=True)
class MultipleChoiceSpec(TaskSpec):
    """Choosing among options: each packed `[CLS] context [SEP] question+option [SEP]`.

    Attributes:
        num_choices: options per question.
    """

    TASK: typing.ClassVar[str] = "multiple_choice"
    num_choices: int = 4


@dataclasses.dataclass(frozen=True)
class PretrainingSpec(TaskSpec):
    """The pretrainer, served as fill-mask.

    Attributes:
        top_k: pieces returned per `[MASK]`.
    """

    TASK: typing.ClassVar[str] = "pretraining"
    top_k: int = 5


@dataclasses.dataclass(frozen=True)
class BackboneSpec(TaskSpec):
    """A bare backbone, served as embeddings."""

    TASK: typing.ClassVar[str] = "backbone"
    sequence_length: int = 512


@dataclasses.dataclass(frozen=True)
class TaskEntry:
    model_class: type
    spec_class: type


# The one registry of task names.
TASKS = {
    spec_class.TASK: TaskEntry(model_class, spec_class)
    for model_class, spec_class in (
        (AlbertBackbone, BackboneSpec),
        (AlbertPretrainer, PretrainingSpec),
        (AlbertTextClassifier, TextClassificationSpec),
        (AlbertTokenClassifier, TokenClassificationSpec),
        (AlbertQuestionAnswerer, QuestionAnsweringSpec),
        (AlbertSquadV2QuestionAnswerer, SquadV2QuestionAnsweringSpec),
        (AlbertMultipleChoice, MultipleChoiceSpec),
    )
}


def task_of(model):
    """The registry name of a keras-albert model (its exact class)."""
    for name, entry in TASKS.items():
        if type(model) is entry.model_class:
            return name
    raise ValueError(
        f"A {type(model).__name__} is not a keras-albert task model: expected one of "
        f"{', '.join(entry.model_class.__name__ for entry in TASKS.values())}."
    )


def default_spec(model):
    """The spec of a model that has none (e.g. converted from a checkpoint):
    class names "0", "1", ..., its preprocessor's sequence length (else the
    task's default, at most the model's positions), the QA model's null
    threshold; other fields the task's defaults.

    Raises for a token classifier, whose tags only a spec can tell.
    """
    task = task_of(model)
    spec_class = TASKS[task].spec_class
    defaults = {field.name: field.default for field in dataclasses.fields(spec_class)}
    backbone = model if task == "backbone" else model.backbone
    sequence_length = getattr(getattr(model, "preprocessor", None), "sequence_length", None)
    fields = {"sequence_length": min(sequence_length or defaults["sequence_length"], backbone.max_sequence_length)}
    if task == "text_classification":
        fields["labels"] = tuple(str(i) for i in range(model.num_classes))
    elif task == "token_classification":
        raise TaskSpecError(
            "A token classifier needs its task spec (its tags in class-id order, its tag scheme): "
            "pass one (keras_albert.task_spec.TokenClassificationSpec)."
        )
    elif task in ("question_answering", "squad_v2_question_answering"):
        fields["null_score_diff_threshold"] = float(model.null_score_diff_threshold)
        if task == "squad_v2_question_answering":
            fields.update(start_n_top=model.start_n_top, end_n_top=model.end_n_top)
        # Room for a context in short models.
        fields["max_query_length"] = min(defaults["max_query_length"], max(1, fields["sequence_length"] // 2))
    return spec_class(**fields)


def spec_from_json(content, where=None):
    """A spec from `TaskSpec.to_json()`'s dict; `where` names the source in errors."""
    if not isinstance(content, dict):
        raise TaskSpecError(f"{where}: expected a JSON object, found {type(content).__name__}.")
    for key in ("version", "task", "spec"):
        if key not in content:
            _fail(where, key, "missing.")
    unknown = sorted(set(content) - {"version", "task", "spec"})
    if unknown:
        _fail(where, unknown[0], "unknown (expected 'version', 'task', 'spec').")
    if content["version"] != SPEC_VERSION:
        _fail(where, "version", f"{content['version']!r} is not a known version (this library reads {SPEC_VERSION}).")
    if content["task"] not in TASKS:
        _fail(where, "task", f"unknown task {content['task']!r}; expected one of {sorted(TASKS)}.")
    spec_class = TASKS[content["task"]].spec_class
    fields = content["spec"]
    if not isinstance(fields, dict):
        _fail(where, "spec", f"expected a JSON object, found {type(fields).__name__}.")
    names = [field.name for field in dataclasses.fields(spec_class)]
    for name in names:
        if name not in fields:
            _fail(where, f"spec.{name}", "missing.")
    for name in fields:
        if name not in names:
            _fail(where, f"spec.{name}", f"unknown for task {content['task']!r}; its fields are {names}.")
    values = {name: tuple(value) if isinstance(value, list) else value for name, value in fields.items()}
    spec = object.__new__(spec_class)  # Validated below, naming `where`.
    for name, value in values.items():
        object.__setattr__(spec, name, value)
    spec.validate(where)
    return spec


def spec_path(directory):
    return os.path.join(str(directory), SPEC_FILENAME)


def save_task_spec(directory, spec):
    """Writes `<directory>/task_spec.json` (the one writer)."""
    spec.validate(spec_path(directory))
    os.makedirs(str(directory), exist_ok=True)
    with open(spec_path(directory), "w", encoding="utf-8") as file:
        json.dump(spec.to_json(), file, indent=2, sort_keys=True, allow_nan=False)
        file.write("\n")


def load_task_spec(directory, model=None, required=True):
    """The spec saved in `directory`, checked against `model` if given.

    Returns None when the file is absent and `required` is False.
    """
    path = spec_path(directory)
    if not os.path.isfile(path):
        if not required:
            return None
        raise TaskSpecError(
            f"{path} not found: a task preset written by the programs in tasks/ holds its task spec there."
        )
    with open(path, encoding="utf-8") as file:
        try:
            content = json.load(file)
        except json.JSONDecodeError as error:
            raise TaskSpecError(f"{path} is not valid JSON: {error}") from None
    spec = spec_from_json(content, path)
    if model is not None:
        check_spec_for_model(spec, model, path)
    return spec


def check_spec_for_model(spec, model, where=None):
    """Raises `TaskSpecError` unless `spec` is `model`'s task and fits its weights."""
    task = task_of(model)
    if spec.TASK != task:
        _fail(where, "task", f"{spec.TASK!r}, but the model is a {type(model).__name__} ({task!r}).")
    spec.check_model(model, where)
