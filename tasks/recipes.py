"""The original repository's fine-tuning settings, selectable as `--recipe=<preset>/<task>`.

Users reproducing the paper copied google-research/albert's hyper-parameters
by hand, and wrong ones (learning rate, warmup) are the most reported cause
of fine-tuning that never leaves chance. A recipe sets the flags the original
used; flags given explicitly on the command line win. Sources:

- GLUE: `run_glue.sh` (every task at `--max_seq_length=512`, AdamW), its
  arguments `warmup_step learning_rate train_step save_checkpoints_steps
  train_batch_size` per task;
- SQuAD v1.1 / v2.0 and RACE: the commands in the repository's README.md
  ("Fine-tuning on SQuAD", `run_race.py`).

The original publishes one setting per task for every model size (its
README: for v2 models it adopts the v1 settings except RACE, whose values
here are the v2 ones), so every preset name takes the same task settings.
The README table "Recipes" lists the same values; a test keeps them equal.
"""

import dataclasses

from keras_albert.albert_presets import PRESET_NAMES

RUN_GLUE = "google-research/albert run_glue.sh"
README = "google-research/albert README.md"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One task's settings.

    Attributes:
        task: the recipe's task name (after the preset in `--recipe`).
        program: the module that runs it, e.g. "tasks.run_classifier".
        flags: flag name -> value, in this project's flag names.
        source: where the values come from.
    """

    task: str
    program: str
    flags: dict
    source: str


def _glue(task, warmup_steps, learning_rate, train_steps, batch_size):
    return Recipe(
        task=task,
        program="tasks.run_classifier",
        flags={
            "task_name": task,
            "learning_rate": learning_rate,
            "warmup_step": warmup_steps,
            "train_step": train_steps,
            "train_batch_size": batch_size,
            "max_seq_length": 512,
            "optimizer": "adamw",
        },
        source=RUN_GLUE,
    )


def _squad(task, version_2):
    return Recipe(
        task=task,
        program="tasks.run_squad",
        flags={
            "version_2_with_negative": version_2,
            "learning_rate": 5e-5,
            "num_train_epochs": 2.0,
            "warmup_proportion": 0.1,
            "train_batch_size": 48,
            "max_seq_length": 384,
            "doc_stride": 128,
            "max_query_length": 64,
            "n_best_size": 20,
            "max_answer_length": 30,
        },
        source=README,
    )


TASK_RECIPES = {
    recipe.task: recipe
    for recipe in (
        # run_glue.sh: run_task <TASK> <warmup_step> <learning_rate> <train_step> <save_steps> <batch_size>
        _glue("sst-2", 1256, 1e-5, 20935, 32),
        _glue("mnli", 1000, 3e-5, 10000, 128),
        _glue("cola", 320, 1e-5, 5336, 16),
        _glue("qnli", 1986, 1e-5, 33112, 32),
        _glue("qqp", 1000, 5e-5, 14000, 128),
        _glue("rte", 200, 3e-5, 800, 32),
        _glue("sts-b", 214, 2e-5, 3598, 16),
        _glue("mrpc", 200, 2e-5, 800, 32),
        _squad("squad-v1.1", version_2=False),
        _squad("squad-v2.0", version_2=True),
        Recipe(
            task="race",
            program="tasks.run_multiple_choice",
            flags={
                "learning_rate": 1e-5,
                "warmup_step": 1000,
                "train_step": 12000,
                "train_batch_size": 32,
                "max_seq_length": 512,
            },
            source=README,
        ),
    )
}


def recipe_names():
    """Every `--recipe` value: `<preset>/<task>`."""
    return [f"{preset}/{task}" for preset in PRESET_NAMES for task in TASK_RECIPES]


def get_recipe(name):
    """`(preset, Recipe)` for `<preset>/<task>`; a ValueError lists the valid parts."""
    preset, _, task = name.partition("/")
    if preset not in PRESET_NAMES or task not in TASK_RECIPES:
        raise ValueError(
            f"Unknown --recipe={name!r}: expected <preset>/<task> with a preset in "
            f"{', '.join(PRESET_NAMES)} and a task in {', '.join(TASK_RECIPES)}."
        )
    return preset, TASK_RECIPES[task]


def apply_recipe(FLAGS, print_fn=print):
    """Sets the flags of --recipe that the command line left out; prints what it set.

    --preset defaults to the recipe's preset. Raises a ValueError when the
    running program lacks one of the recipe's flags (the recipe is for
    another program).
    """
    if not FLAGS.recipe:
        return None
    preset, recipe = get_recipe(FLAGS.recipe)
    values = {"preset": preset, **recipe.flags}
    missing = [name for name in values if name not in FLAGS]
    if missing:
        raise ValueError(
            f"--recipe={FLAGS.recipe} is for `python -m {recipe.program}`; this program has no "
            f"{', '.join('--' + name for name in missing)}."
        )
    applied, kept = [], []
    for name, value in values.items():
        if FLAGS[name].present or (name == "preset" and FLAGS.albert_config_file):
            kept.append(f"--{name}={FLAGS[name].value}")
        else:
            FLAGS[name].value = value
            applied.append(f"--{name}={value}")
    message = f"Recipe {FLAGS.recipe} ({recipe.source}): {' '.join(applied)}"
    if kept:
        message += f"; given on the command line: {' '.join(kept)}"
    print_fn(message)
    return values
