"""Recipes: the values match the README table, and explicit flags win over them."""

import os
import re

import pytest
from absl import flags

from tasks import recipes

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")


def _readme_rows():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    table = re.search(r"<!-- recipes-table-start -->\n(.*?)<!-- recipes-table-end -->", text, re.S).group(1)
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.strip().splitlines()]
    header, rows = rows[0], rows[2:]
    return [dict(zip(header, row)) for row in rows]


def _amount(recipe, steps_flag, other_flag, other_format):
    if steps_flag in recipe.flags:
        return f"{recipe.flags[steps_flag]} steps"
    return other_format(recipe.flags[other_flag])


def test_every_recipe_matches_the_readme_table():
    rows = _readme_rows()
    assert [row["task"] for row in rows] == list(recipes.TASK_RECIPES)
    for row in rows:
        recipe = recipes.TASK_RECIPES[row["task"]]
        assert row["program"] == recipe.program.split(".")[-1]
        assert float(row["learning rate"]) == recipe.flags["learning_rate"]
        assert row["warmup"] == _amount(recipe, "warmup_step", "warmup_proportion", lambda p: f"{p} of training")
        assert row["training"] == _amount(recipe, "train_step", "num_train_epochs", lambda e: f"{e:g} epochs")
        assert int(row["batch"]) == recipe.flags["train_batch_size"]
        assert int(row["max length"]) == recipe.flags["max_seq_length"]
        assert recipe.source.endswith(row["source"])


def test_glue_recipes_hold_run_glue_sh_values():
    """Spot checks against run_glue.sh's own lines (`run_task SST-2 1256 1e-5 20935 100 32`)."""
    sst2 = recipes.TASK_RECIPES["sst-2"].flags
    assert (sst2["warmup_step"], sst2["learning_rate"], sst2["train_step"], sst2["train_batch_size"]) == (
        1256, 1e-5, 20935, 32
    )
    qqp = recipes.TASK_RECIPES["qqp"].flags
    assert (qqp["warmup_step"], qqp["learning_rate"], qqp["train_step"], qqp["train_batch_size"]) == (
        1000, 5e-5, 14000, 128
    )


def _flag_values(*extra):
    values = flags.FlagValues()
    flags.DEFINE_string("recipe", None, "", flag_values=values)
    flags.DEFINE_string("preset", None, "", flag_values=values)
    flags.DEFINE_string("albert_config_file", None, "", flag_values=values)
    flags.DEFINE_string("task_name", None, "", flag_values=values)
    flags.DEFINE_float("learning_rate", 5e-5, "", flag_values=values)
    flags.DEFINE_integer("warmup_step", None, "", flag_values=values)
    flags.DEFINE_integer("train_step", None, "", flag_values=values)
    flags.DEFINE_integer("train_batch_size", 32, "", flag_values=values)
    flags.DEFINE_integer("max_seq_length", 128, "", flag_values=values)
    flags.DEFINE_string("optimizer", "adamw", "", flag_values=values)
    values(["program", *extra])
    return values


def test_recipe_sets_the_flags_left_out_and_prints_them():
    values = _flag_values("--recipe=albert_base_v2/rte", "--train_batch_size=8")
    printed = []
    recipes.apply_recipe(values, print_fn=printed.append)
    assert values.preset == "albert_base_v2" and values.task_name == "rte"
    assert (values.learning_rate, values.warmup_step, values.train_step, values.max_seq_length) == (3e-5, 200, 800, 512)
    assert values.train_batch_size == 8  # Given explicitly: kept.
    assert len(printed) == 1
    assert "--learning_rate=3e-05" in printed[0] and "given on the command line: --train_batch_size=8" in printed[0]


def test_unknown_recipe_and_recipe_of_another_program_are_refused():
    with pytest.raises(ValueError, match=r"Unknown --recipe='albert_huge_v2/sst-2'.*albert_base_v2"):
        recipes.apply_recipe(_flag_values("--recipe=albert_huge_v2/sst-2"))
    with pytest.raises(ValueError, match=r"tasks.run_squad.*--version_2_with_negative"):
        recipes.apply_recipe(_flag_values("--recipe=albert_base_v2/squad-v2.0"))
