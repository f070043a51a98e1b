"""Checkpoints and presets are flushed to disk around their atomic rename.

`os.fsync` and `os.replace` are spied on: each fsync is recorded with the
path its descriptor points at (/proc/self/fd), each rename as an event, so
the tests check the order "file flushed, renamed, directory flushed". A
crash is injected by making the rename raise.
"""

import os

import keras
import numpy as np
import pytest

from keras_albert import durable_files
from keras_albert.convert.files import staging_directory
from keras_albert.training import StepCheckpoint
from keras_albert.training.step_checkpoint import WeightsCheckpoint


@pytest.fixture
def disk_events(monkeypatch):
    """The fsyncs (`("fsync", path)`) and renames (`("replace", source, target)`), in order."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def replace(source, target):
        events.append(("replace", os.path.realpath(source), os.path.realpath(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def crash_on_rename(monkeypatch):
    def replace(source, target):
        raise KeyboardInterrupt("killed between the write and the rename")

    monkeypatch.setattr(os, "replace", replace)


def tiny_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_replace_durably_flushes_the_file_before_and_the_directory_after_the_rename(tmp_path, disk_events):
    temporary, final = tmp_path / "x.tmp", tmp_path / "x"
    temporary.write_text("new")
    durable_files.replace_durably(str(temporary), str(final))
    assert disk_events == [
        ("fsync", str(temporary)),
        ("replace", str(temporary), str(final)),
        ("fsync", str(tmp_path)),
    ]
    assert final.read_text() == "new"


def test_a_step_checkpoint_is_flushed_then_renamed_then_its_directory_flushed(tmp_path, disk_events):
    checkpoint = StepCheckpoint(str(tmp_path))
    checkpoint.set_model(tiny_model(0))
    checkpoint.save(3)
    final = os.path.realpath(checkpoint.path(3))
    (rename,) = [event for event in disk_events if event[0] == "replace"]
    temporary = rename[1]
    assert rename[2] == final and temporary != final
    position = disk_events.index(rename)
    assert ("fsync", temporary) in disk_events[:position]
    assert ("fsync", os.path.realpath(tmp_path)) in disk_events[position + 1 :]


def test_a_crash_between_write_and_rename_leaves_the_previous_checkpoint_and_nothing_under_the_new_name(
    tmp_path, monkeypatch
):
    model = tiny_model(0)
    checkpoint = StepCheckpoint(str(tmp_path))
    checkpoint.set_model(model)
    checkpoint.save(2)
    saved = [w.copy() for w in model.get_weights()]
    model.set_weights([w + 1.0 for w in saved])
    crash_on_rename(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(4)
    monkeypatch.undo()
    assert checkpoint.saved_steps() == [2]
    assert not os.path.exists(checkpoint.path(4))
    # The next run finds the step-2 state intact (and cleans up the half-written file).
    restored = tiny_model(1)
    assert checkpoint.restore(restored) == 2
    for expected, actual in zip(saved, restored.get_weights()):
        np.testing.assert_array_equal(expected, actual)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(checkpoint.path(2))]


def test_the_per_epoch_weights_file_is_replaced_durably_and_survives_a_crash_while_saving(
    tmp_path, monkeypatch, disk_events
):
    model = tiny_model(0)
    path = tmp_path / "checkpoint.weights.h5"
    x = np.ones((4, 3), "float32")
    model.fit(x, x[:, :2], epochs=1, verbose=0, callbacks=[WeightsCheckpoint(str(path))])
    (rename,) = [event for event in disk_events if event[0] == "replace"]
    assert rename[2] == str(path) and ("fsync", rename[1]) in disk_events[: disk_events.index(rename)]
    saved = path.read_bytes()
    crash_on_rename(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, x[:, :2] + 1, epochs=1, verbose=0, callbacks=[WeightsCheckpoint(str(path))])
    assert path.read_bytes() == saved


def test_a_staged_preset_is_flushed_file_by_file_before_it_takes_its_name(tmp_path, disk_events):
    output_dir = tmp_path / "preset"
    with staging_directory(str(output_dir)) as staging:
        os.makedirs(os.path.join(staging, "assets"))
        for name in ("config.json", os.path.join("assets", "vocabulary.spm")):
            with open(os.path.join(staging, name), "w") as file:
                file.write(name)
        staging = os.path.realpath(staging)
    (rename,) = [event for event in disk_events if event[0] == "replace"]
    assert rename[1:] == (staging, os.path.realpath(output_dir))
    position = disk_events.index(rename)
    flushed_before = {path for _, path in disk_events[:position]}
    assert {
        os.path.join(staging, "config.json"),
        os.path.join(staging, "assets", "vocabulary.spm"),
        os.path.join(staging, "assets"),
        staging,
    } <= flushed_before
    assert disk_events[position + 1 :] == [("fsync", os.path.realpath(tmp_path))]
    assert (output_dir / "config.json").read_text() == "config.json"


def test_a_crash_before_a_new_preset_takes_its_name_leaves_no_partial_preset(tmp_path, monkeypatch):
    output_dir = tmp_path / "preset"
    crash_on_rename(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        with staging_directory(str(output_dir)) as staging:
            with open(os.path.join(staging, "config.json"), "w") as file:
                file.write("{}")
    assert not output_dir.exists()
