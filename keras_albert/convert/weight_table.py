"""The machinery shared by every checkpoint format: one name table, both ways.

Each format module (`tf1`, `huggingface`, `keras_hub`) describes its layout
once, as a `WeightTable` built from the model config: for every Keras
variable, which tensor(s) of the format hold it, with which shape and in
which layout. The same table is used to import (format -> Keras) and to
export (Keras -> format), and to validate a checkpoint before anything is
assigned: missing, unexpected and misshapen tensors are all collected and
reported together, by name.
"""

import dataclasses
import logging
import re

import keras
import numpy as np

logger = logging.getLogger(__name__)

# How a tensor of the format relates to (its slice of) the Keras variable.
COPY = "copy"  # same shape, same order
TRANSPOSE = "transpose"  # 2-D, stored [out, in] (PyTorch) or [rows, H]
RESHAPE = "reshape"  # same elements in row-major order, other shape
_LAYOUTS = (COPY, TRANSPOSE, RESHAPE)


@dataclasses.dataclass(frozen=True)
class Part:
    """One tensor of the format. `shape` is its shape in the format."""

    name: str
    shape: tuple
    layout: str = COPY

    def __post_init__(self):
        if self.layout not in _LAYOUTS:
            raise ValueError(f"Unknown layout {self.layout!r} for {self.name!r}.")


@dataclasses.dataclass(frozen=True)
class Fallback:
    """Marks a tensor the format may or may not hold (`reason` says why).

    On import it is read when present; when absent, `value` (a function of
    the Keras shape) gives the value to assign, or `None` keeps the freshly
    initialized value. On export it is not written, as the format's own
    writer would not write it. Both are logged.
    """

    reason: str
    value: object = None


@dataclasses.dataclass(frozen=True)
class WeightEntry:
    """A Keras variable (by path) and the tensor(s) that hold it.

    Several parts are joined along the last axis (e.g. query | key | value
    into the fused `qkv_dense` kernel) and split again on export.
    """

    path: str
    shape: tuple
    parts: tuple
    fallback: Fallback = None

    def part_shape(self):
        """The Keras-side shape of one part."""
        return self.shape[:-1] + (self.shape[-1] // len(self.parts),)


def weight_entry(path, shape, *parts, fallback=None):
    """A `WeightEntry` from `(name, shape, layout)` tuples, one per part."""
    parts = tuple(Part(name, tuple(part_shape), layout) for name, part_shape, layout in parts)
    return WeightEntry(path, tuple(shape), parts, fallback)


# The fused `qkv_dense` joins these three projections, in this order.
QKV = ("query", "key", "value")


@dataclasses.dataclass(frozen=True)
class WeightTable:
    """Everything one format says about one model.

    Attributes:
        entries: `WeightEntry`s, one per Keras variable the format holds.
        absent: `{keras path prefix: reason}` for model variables this
            format does not hold at all (e.g. the pooler of HuggingFace's
            `AlbertForTokenClassification`): kept at initialization on
            import, left out on export, logged both ways.
        tied: `{name: other name}` for duplicate tensors some writers store
            (a tied decoder); when present they must equal the other tensor.
        skip_patterns: regexes of tensors that are not model weights
            (optimizer slots, step counters, buffers); counted and logged.
        ignored: names of model tensors deliberately not converted (the
            heads of a checkpoint converted to a bare backbone).
    """

    entries: tuple
    absent: dict = dataclasses.field(default_factory=dict)
    tied: dict = dataclasses.field(default_factory=dict)
    skip_patterns: tuple = ()
    ignored: frozenset = frozenset()

    def names(self):
        return {part.name for entry in self.entries for part in entry.parts}


@dataclasses.dataclass
class TensorSource:
    """A checkpoint's tensors: `shapes` (name -> shape) and a `read(name)`.

    `location` (a file or directory) names the checkpoint in errors, and
    `config_location` the config its expected shapes come from.
    """

    shapes: dict
    read: object
    location: str
    config_location: str = "the config"

    @classmethod
    def from_arrays(cls, arrays, location, config_location="the config"):
        arrays = dict(arrays)
        return cls(
            shapes={name: tuple(np.shape(value)) for name, value in arrays.items()},
            read=lambda name: np.asarray(arrays[name]),
            location=location,
            config_location=config_location,
        )


def _to_keras(part, array, keras_part_shape):
    if part.layout == TRANSPOSE:
        return array.T
    if part.layout == RESHAPE:
        return array.reshape(keras_part_shape)
    return array


def _from_keras(part, array):
    if part.layout == TRANSPOSE:
        return array.T
    if part.layout == RESHAPE:
        return array.reshape(part.shape)
    return array


def _list(names):
    return "\n  " + "\n  ".join(sorted(names))


def variables_by_path(model):
    """`{variable.path: variable}` for a model's (deduplicated) weights."""
    return {variable.path: variable for variable in model.weights}


def restrict_to_model(table, variables):
    """The part of `table` a model has; the rest of its tensors become `ignored`.

    Converting a checkpoint with heads into a bare backbone keeps the
    backbone entries and lists the head tensors as deliberately not
    converted, so they are logged rather than reported as unexpected.
    """
    kept = tuple(entry for entry in table.entries if entry.path in variables)
    dropped = {
        part.name
        for entry in table.entries
        if entry.path not in variables
        for part in entry.parts
    }
    absent = {
        prefix: reason
        for prefix, reason in table.absent.items()
        if any(path.startswith(prefix) for path in variables)
    }
    return dataclasses.replace(
        table, entries=kept, absent=absent, ignored=table.ignored | dropped
    )


def check_table_covers_model(table, variables, format_name):
    """Guards against a table that forgot a variable of the model."""
    covered = {entry.path for entry in table.entries}
    uncovered = [
        path
        for path in variables
        if path not in covered
        and not any(path.startswith(prefix) for prefix in table.absent)
    ]
    unknown = covered - set(variables)
    if uncovered or unknown:
        raise ValueError(
            f"The {format_name} weight table does not match the model. "
            + (f"Model variables it does not cover:{_list(uncovered)}\n" if uncovered else "")
            + (f"Table entries the model does not have:{_list(unknown)}" if unknown else "")
        )


def validate_source(table, source):
    """Raises one `ValueError` listing every problem of `source` vs `table`.

    Returns `(skipped, ignored)`: names matched by `skip_patterns` and names
    the table deliberately does not convert, for logging.
    """
    missing, mismatched = [], []
    for entry in table.entries:
        absent = [part.name for part in entry.parts if part.name not in source.shapes]
        if absent and not (entry.fallback and len(absent) == len(entry.parts)):
            missing.extend(absent)
        for part in entry.parts:
            found = source.shapes.get(part.name)
            if found is not None and tuple(found) != tuple(part.shape):
                mismatched.append(
                    f"{part.name}: checkpoint has shape {tuple(found)}, "
                    f"{source.config_location} implies {tuple(part.shape)}"
                )
    for name, other in table.tied.items():
        if name in source.shapes and source.shapes.get(other) != source.shapes[name]:
            mismatched.append(
                f"{name}: shape {tuple(source.shapes[name])} differs from the "
                f"tensor it is tied to, {other} ({source.shapes.get(other)})"
            )
    expected = table.names() | set(table.tied)
    skipped, ignored, unexpected = [], [], []
    for name in source.shapes:
        if name in expected:
            continue
        if any(re.search(pattern, name) for pattern in table.skip_patterns):
            skipped.append(name)
        elif name in table.ignored:
            ignored.append(name)
        else:
            unexpected.append(name)
    problems = []
    if missing:
        problems.append(
            f"Missing tensors (expected from {source.config_location}):{_list(missing)}"
        )
    if unexpected:
        problems.append(f"Unexpected tensors:{_list(unexpected)}")
    if mismatched:
        problems.append(f"Shape mismatches:{_list(mismatched)}")
    if problems:
        raise ValueError(
            f"Checkpoint {source.location} does not match "
            f"{source.config_location}.\n" + "\n".join(problems)
        )
    return skipped, ignored


def load_weights_from_table(model, table, source, format_name):
    """Validates `source` against `table`, then assigns every variable.

    Nothing is assigned unless the whole checkpoint validates. Skipped,
    ignored, absent and fallback tensors are counted and logged.
    """
    variables = variables_by_path(model)
    check_table_covers_model(table, variables, format_name)
    skipped, ignored = validate_source(table, source)
    values = {}
    for entry in table.entries:
        if entry.parts[0].name not in source.shapes:
            fallback = entry.fallback
            logger.warning(
                "%s: %s not in %s: %s", format_name, entry.path, source.location, fallback.reason
            )
            if fallback.value is not None:
                values[entry.path] = fallback.value(entry.shape)
            continue
        pieces = []
        for part in entry.parts:
            try:
                array = np.asarray(source.read(part.name))
            except Exception as error:  # a truncated or corrupt file
                raise ValueError(
                    f"Could not read tensor {part.name!r} from {source.location}: {error}"
                ) from error
            pieces.append(_to_keras(part, array, entry.part_shape()))
        values[entry.path] = pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=-1)
    for name, other in table.tied.items():
        if name in source.shapes and not np.array_equal(source.read(name), source.read(other)):
            raise ValueError(
                f"Checkpoint {source.location}: {name} is not equal to {other}. "
                "ALBERT ties them, so an untied checkpoint cannot be represented."
            )
    for path, value in values.items():
        variable = variables[path]
        variable.assign(np.asarray(value, dtype=variable.dtype))
    _log_leftovers(format_name, source.location, skipped, ignored, table.absent)


def export_weights_with_table(model, table, format_name):
    """The model's weights as `{format name: numpy array}` (float32 stays float32)."""
    variables = variables_by_path(model)
    check_table_covers_model(table, variables, format_name)
    tensors = {}
    for entry in table.entries:
        if entry.fallback is not None:
            logger.warning(
                "%s: %s is not written: %s", format_name, entry.path, entry.fallback.reason
            )
            continue
        value = keras.ops.convert_to_numpy(variables[entry.path])
        splits = np.split(value, len(entry.parts), axis=-1) if len(entry.parts) > 1 else [value]
        for part, piece in zip(entry.parts, splits):
            tensors[part.name] = np.ascontiguousarray(_from_keras(part, piece))
    for prefix, reason in table.absent.items():
        if any(path.startswith(prefix) for path in variables):
            logger.warning("%s: %s is not written: %s", format_name, prefix, reason)
    return tensors


def _log_leftovers(format_name, location, skipped, ignored, absent):
    if skipped:
        logger.info(
            "%s: skipped %d non-model tensors of %s (optimizer slots, step "
            "counters, buffers), e.g. %s", format_name, len(skipped), location, sorted(skipped)[:3],
        )
    if ignored:
        logger.warning(
            "%s: did not convert %d head tensors of %s that the requested "
            "task does not use: %s", format_name, len(ignored), location, sorted(ignored),
        )
    for prefix, reason in absent.items():
        logger.warning("%s: %s keeps its initial value: %s", format_name, prefix, reason)
