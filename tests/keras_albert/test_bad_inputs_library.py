"""Bad files handed to the library: every error names the file and what is wrong with it.

One row per case: how the bad file is made from a good one, how it is
loaded, and the message expected (which must contain the file's path).
"""

import os
import re
import shutil

import keras
import pytest

import keras_albert
from keras_albert.training import StepCheckpoint


def truncate(path):
    with open(path, "rb") as file:
        data = file.read()
    with open(path, "wb") as file:
        file.write(data[: len(data) // 2])


def tiny_backbone():
    return keras_albert.AlbertBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8, embedding_dim=4,
        intermediate_dim=16, max_sequence_length=16,
    )


@pytest.fixture(scope="module")
def task_preset(tmp_path_factory):
    """A text-classifier preset (config.json, model.weights.h5, task.json, task.weights.h5)."""
    directory = tmp_path_factory.mktemp("bad_inputs") / "classifier"
    keras_albert.AlbertTextClassifier(tiny_backbone(), num_classes=2).save_to_preset(str(directory))
    return directory


def not_a_model(directory, spm_model_path):
    path = directory / "vocabulary.spm"
    path.write_text("this is a text file, not a SentencePiece model\n")
    return path


def empty_model(directory, spm_model_path):
    path = directory / "empty.model"
    path.write_bytes(b"")
    return path


def truncated_model(directory, spm_model_path):
    path = directory / "truncated.model"
    shutil.copy(spm_model_path, path)
    truncate(path)
    return path


@pytest.mark.parametrize("make_file", [not_a_model, empty_model, truncated_model])
def test_a_file_that_is_not_a_sentencepiece_model_is_named(tmp_path, spm_model_path, make_file):
    path = make_file(tmp_path, spm_model_path)
    with pytest.raises(ValueError, match=f"^not a SentencePiece model: {re.escape(str(path))}$"):
        keras_albert.AlbertTokenizer(proto=str(path))


def test_sentencepiece_bytes_that_are_no_model_are_refused():
    with pytest.raises(ValueError, match="not a SentencePiece model: the bytes passed as `proto`"):
        keras_albert.AlbertTokenizer(proto=b"\x00garbage")


@pytest.mark.parametrize(
    "weights_file, load",
    [
        ("model.weights.h5", lambda preset: keras_albert.AlbertBackbone.from_preset(preset)),
        ("model.weights.h5", lambda preset: keras_albert.AlbertTextClassifier.from_preset(preset)),
        ("task.weights.h5", lambda preset: keras_albert.AlbertTextClassifier.from_preset(preset)),
    ],
    ids=["backbone_weights_backbone", "backbone_weights_task", "task_weights_task"],
)
def test_a_truncated_preset_weights_file_is_named(tmp_path, task_preset, weights_file, load):
    preset = tmp_path / "preset"
    shutil.copytree(task_preset, preset)
    truncate(preset / weights_file)
    expected = f"Weights file {re.escape(str(preset / weights_file))} is truncated or corrupt"
    with pytest.raises(ValueError, match=expected):
        load(str(preset))


def test_a_truncated_step_checkpoint_is_named(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    checkpoint = StepCheckpoint(str(tmp_path))
    checkpoint.set_model(model)
    checkpoint.save(5)
    truncate(checkpoint.path(5))
    with pytest.raises(ValueError, match=f"Weights file {re.escape(checkpoint.path(5))} is truncated or corrupt"):
        checkpoint.restore(model)
    assert os.path.exists(checkpoint.path(5))  # Reported, not deleted.


def test_a_truncated_preset_vocabulary_is_named(tmp_path, task_preset, spm_model_path):
    preset = tmp_path / "preset"
    shutil.copytree(task_preset, preset)
    keras_albert.AlbertTokenizer(proto=spm_model_path).save_to_preset(str(preset))
    vocabulary = preset / "assets" / "tokenizer" / "vocabulary.spm"
    truncate(vocabulary)
    with pytest.raises(ValueError, match=f"^not a SentencePiece model: {re.escape(str(vocabulary))}$"):
        keras_albert.AlbertTokenizer.from_preset(str(preset))


def test_sentencepiece_training_text_with_invalid_utf8_is_named_with_its_line(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"a first line\na caf\xe9 au lait\n")
    with pytest.raises(ValueError, match=f"^{re.escape(str(corpus))}:2:6: not valid UTF-8"):
        keras_albert.train_sentencepiece([str(corpus)], vocab_size=20, model_prefix=str(tmp_path / "spm"))


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    """A text classifier saved as a `.keras` archive."""
    path = tmp_path_factory.mktemp("keras_file") / "classifier.keras"
    keras_albert.AlbertTextClassifier(tiny_backbone(), num_classes=2).save(str(path))
    return path


def test_a_keras_file_loads_through_the_checked_loader(keras_file):
    model = keras_albert.load_model(str(keras_file))
    assert isinstance(model, keras_albert.AlbertTextClassifier)


def not_a_zip(path):
    path.write_text("not a zip archive\n")


def zip_without_config(path):
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")


@pytest.mark.parametrize(
    "damage, message",
    [
        (truncate, "is truncated or not a .keras archive"),
        (not_a_zip, "is truncated or not a .keras archive"),
        (zip_without_config, "is not a .keras archive: it lacks config.json, metadata.json"),
    ],
    ids=["truncated", "text_file", "zip_without_config"],
)
def test_a_damaged_keras_file_is_named(tmp_path, keras_file, damage, message):
    path = tmp_path / "model.keras"
    shutil.copy(keras_file, path)
    damage(path)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))} {re.escape(message)}"):
        keras_albert.load_model(str(path))


def test_a_failed_keras_save_leaves_the_previous_file(tmp_path, keras_file, monkeypatch):
    path = tmp_path / "model.keras"
    shutil.copy(keras_file, path)
    before = path.read_bytes()
    model = keras_albert.load_model(str(path))

    def killed_mid_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as file:
            file.write(before[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", killed_mid_save)
    with pytest.raises(KeyboardInterrupt):
        model.save(str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.keras"]  # No temporary file left behind.
