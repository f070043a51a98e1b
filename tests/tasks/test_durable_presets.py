"""The programs' trained presets are flushed to disk before they are reported saved."""

import os

import keras_albert
from keras_albert.task_spec import TextClassificationSpec
from tasks import common


def test_save_trained_model_fsyncs_every_preset_file_and_directory(tmp_path, monkeypatch, albert_tokenizer):
    backbone = keras_albert.AlbertBackbone(
        vocabulary_size=albert_tokenizer.vocabulary_size(), num_layers=1, num_heads=2, hidden_dim=8,
        embedding_dim=4, intermediate_dim=16, max_sequence_length=16,
    )
    model = keras_albert.AlbertTextClassifier(backbone, num_classes=2)
    flushed = []
    real_fsync = os.fsync

    def fsync(descriptor):
        flushed.append(os.path.realpath(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    output_dir = tmp_path / "out"
    spec = TextClassificationSpec(labels=("0", "1"), sequence_length=16)
    common.save_trained_model(model, str(output_dir), albert_tokenizer, spec)
    written = set()
    for directory, _, file_names in os.walk(output_dir):
        written.add(os.path.realpath(directory))
        written.update(os.path.realpath(os.path.join(directory, name)) for name in file_names)
    assert {"task.weights.h5", "model.weights.h5", "task_spec.json"} <= set(os.listdir(output_dir))
    assert written <= set(flushed)
