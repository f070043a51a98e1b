"""Which Keras model a converted checkpoint becomes, by task name (`keras_albert.task_spec.TASKS`)."""

from keras_albert.albert_backbone import AlbertBackbone
from keras_albert.task_spec import TASKS as _REGISTRY
from keras_albert.task_spec import task_of

TASK_CLASSES = {name: entry.model_class for name, entry in _REGISTRY.items()}
TASKS = tuple(TASK_CLASSES)
# The head arguments a checkpoint can tell (its width, its dropout).
_HEAD_ARGUMENTS = {
    "pretraining": (),
    "text_classification": ("num_classes", "dropout", "activation"),
    "token_classification": ("num_classes", "dropout"),
    "question_answering": (),
    "squad_v2_question_answering": (),
    "multiple_choice": ("dropout",),
}


def backbone_config_of(model):
    """The `AlbertBackbone` config of a backbone or task model."""
    return getattr(model, "backbone", model).get_config()


def head_config(model):
    """The head arguments of a task model (`num_classes`, `dropout`)."""
    config = {}
    for key in ("num_classes", "dropout"):
        if hasattr(model, key) and not isinstance(model, AlbertBackbone):
            config[key] = getattr(model, key)
    return config


def describe(model):
    """`AlbertTextClassifier(num_classes=3, dropout=0.1)`, for logs."""
    head = ", ".join(f"{key}={value}" for key, value in head_config(model).items())
    return f"{type(model).__name__}({head})"


def resolve_task(requested, detected, location):
    """The task to build: `requested` ("auto" = what the checkpoint holds).

    A checkpoint converts to the task it was saved for, or to the bare
    backbone (its heads then logged as not converted). A different head is
    built later from the preset with `AlbertX.from_preset(dir, num_classes=...)`.
    """
    if requested in (None, "auto"):
        return detected
    if requested not in TASK_CLASSES:
        raise ValueError(
            f"Unknown task {requested!r}. Expected 'auto' or one of {', '.join(TASKS)}."
        )
    if requested in (detected, "backbone"):
        return requested
    raise ValueError(
        f"Checkpoint {location} holds a {detected!r} model, not "
        f"{requested!r}. Convert it with task='auto' (or 'backbone'), then "
        f"build the new head from the preset, e.g. "
        f"`{TASK_CLASSES[requested].__name__}.from_preset(output_dir, ...)`."
    )


def build_model(backbone_config, task, head=None):
    """A freshly initialized model of `task` with `head` arguments."""
    backbone = AlbertBackbone(**backbone_config)
    if task == "backbone":
        return backbone
    accepted = _HEAD_ARGUMENTS[task]
    head = {key: value for key, value in (head or {}).items() if key in accepted}
    return TASK_CLASSES[task](backbone=backbone, **head)
