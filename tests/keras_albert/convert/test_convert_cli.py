"""`python -m keras_albert.convert`, run in-process through `main(argv)`."""

import json
import os
import shutil

import numpy as np
import pytest
import sentencepiece
from reference_models import (
    albert_config_json,
    assert_close,
    make_hf_model,
    tf1_variables_from_hf,
    write_tf1_checkpoint,
)

import keras_albert
from keras_albert.albert_tokenizer import AlbertTokenizer
from keras_albert.convert.__main__ import main

TEXT = "Hello World, it cost 1,000 dollars at the Café."


def pack(token_ids):
    """`[CLS] ids [SEP]` as a batch of one."""
    ids = np.array([[2] + list(token_ids) + [3]], "int32")
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)}


def vocabulary_size(spm_model_path):
    return sentencepiece.SentencePieceProcessor(model_file=spm_model_path).get_piece_size()


def test_huggingface_directory_to_preset_and_back_keeps_model_and_tokenizer(spm_model_path, tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    hf_model = make_hf_model(
        "AlbertForSequenceClassification", vocab_size=vocabulary_size(spm_model_path), num_labels=2
    )
    hf_dir = tmp_path / "hf"
    hf_model.save_pretrained(str(hf_dir))
    shutil.copyfile(spm_model_path, hf_dir / "spiece.model")
    (hf_dir / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))

    assert main(["--source", "huggingface", "--input", str(hf_dir), "--output", str(tmp_path / "preset")]) == 0
    for name in ("config.json", "model.weights.h5", "task.json", "task.weights.h5", "tokenizer.json"):
        assert (tmp_path / "preset" / name).is_file(), name
    tokenizer = AlbertTokenizer.from_preset(str(tmp_path / "preset"))
    classifier = keras_albert.AlbertTextClassifier.from_preset(str(tmp_path / "preset"))
    token_ids = tokenizer.tokenize_python(TEXT)
    logits = classifier(pack(token_ids))

    # Back to HuggingFace: PyTorch tokenizes and predicts the same.
    assert main(["--target", "huggingface", "--input", str(tmp_path / "preset"), "--output", str(tmp_path / "out")]) == 0
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "out"))
    hf_ids = hf_tokenizer(TEXT)["input_ids"]
    assert hf_ids == [2] + token_ids + [3]
    reloaded = transformers.AlbertForSequenceClassification.from_pretrained(str(tmp_path / "out")).eval()
    with torch.no_grad():
        expected = reloaded(input_ids=torch.tensor([hf_ids])).logits.numpy()
    assert_close(logits, expected)


def test_tf1_release_folder_brings_its_30k_clean_model_into_the_preset(spm_model_path, tmp_path):
    hf_model = make_hf_model("AlbertModel", vocab_size=vocabulary_size(spm_model_path))
    release = tmp_path / "albert_base"
    release.mkdir()
    write_tf1_checkpoint(str(release / "model.ckpt-best"), tf1_variables_from_hf(hf_model))
    (release / "albert_config.json").write_text(json.dumps(albert_config_json(hf_model)))
    shutil.copyfile(spm_model_path, release / "30k-clean.model")

    assert main(["--source", "tf1", "--input", str(release), "--output", str(tmp_path / "preset")]) == 0
    asset = tmp_path / "preset" / "assets" / "tokenizer" / "vocabulary.spm"
    assert asset.read_bytes() == open(spm_model_path, "rb").read()
    assert keras_albert.AlbertBackbone.from_preset(str(tmp_path / "preset")).num_groups == 2


def test_vocabulary_size_disagreement_fails_with_exit_code_1_and_writes_nothing(spm_model_path, tmp_path, capsys):
    hf_dir = tmp_path / "hf"
    make_hf_model("AlbertModel").save_pretrained(str(hf_dir))  # 64 ids
    code = main([
        "--source", "huggingface", "--input", str(hf_dir), "--output", str(tmp_path / "preset"),
        "--spm_model_file", spm_model_path,
    ])
    assert code == 1
    error = capsys.readouterr().err
    assert spm_model_path in error and "vocabulary_size=64" in error
    assert sorted(os.listdir(tmp_path)) == ["hf"]


def test_existing_output_is_only_replaced_with_overwrite(tmp_path, capsys):
    hf_dir = tmp_path / "hf"
    make_hf_model("AlbertModel").save_pretrained(str(hf_dir))
    output = tmp_path / "preset"
    output.mkdir()
    (output / "keep.txt").write_text("user data")
    assert main(["--source", "huggingface", "--input", str(hf_dir), "--output", str(output)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert (output / "keep.txt").exists()
    assert main(["--source", "huggingface", "--input", str(hf_dir), "--output", str(output), "--overwrite"]) == 0
    assert not (output / "keep.txt").exists()
    assert (output / "model.weights.h5").exists()


def test_import_only_flags_with_target_are_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--target", "huggingface", "--input", str(tmp_path), "--output", str(tmp_path / "o"), "--task", "backbone"])
    assert exit_info.value.code == 2
