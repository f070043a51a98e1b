"""What is trained is what is served: a task program's model, exported with only
`--preset` and `--model_base`, answers in a fresh serving process as the
program's own prediction file does.

The models start from a backbone with informative weights (tiny, a few
training steps), so answers vary between inputs: spans and "no answer" for
SQuAD v2.0, both classes for MRPC, several tags for NER.
"""

import json

import pytest
from conftest import informative_weights, run_python

from tasks import common, glue, run_classifier, run_ner, run_squad

pytestmark = pytest.mark.heavy

SQUAD_V2_FILE = "squad_v2.0_part_a/dev-v2.0-part-a.json"
BACKBONE_ARGUMENTS = dict(
    num_layers=2, num_heads=2, embedding_dim=16, hidden_dim=32, intermediate_dim=64, max_sequence_length=128,
    dropout=0.0,
)


@pytest.fixture(scope="module")
def informative_backbone(tmp_path_factory, albert_tokenizer):
    """`(config_file, weights_file)` of a tiny backbone with informative weights."""
    import keras_albert

    directory = tmp_path_factory.mktemp("backbone")
    arguments = dict(BACKBONE_ARGUMENTS, vocabulary_size=albert_tokenizer.vocabulary_size())
    backbone = informative_weights(keras_albert.AlbertBackbone(**arguments), seed=11)
    (directory / "backbone.json").write_text(json.dumps(arguments))
    backbone.save_weights(str(directory / "backbone.weights.h5"))
    return str(directory / "backbone.json"), str(directory / "backbone.weights.h5")


@pytest.fixture(scope="module")
def informative_pair_classifier(tmp_path_factory, albert_tokenizer):
    """A 2-class classifier preset whose head has informative weights too
    (pooled outputs differ little between sentence pairs)."""
    import keras_albert

    preset = tmp_path_factory.mktemp("classifier")
    arguments = dict(BACKBONE_ARGUMENTS, vocabulary_size=albert_tokenizer.vocabulary_size())
    classifier = keras_albert.AlbertTextClassifier(keras_albert.AlbertBackbone(**arguments), num_classes=2)
    informative_weights(classifier, seed=12).save_to_preset(str(preset))
    albert_tokenizer.save_to_preset(str(preset))
    return str(preset)


def model_flags(informative_backbone, spm_model_path):
    config, weights = informative_backbone
    return [f"--albert_config_file={config}", f"--init_checkpoint={weights}", f"--spm_model_file={spm_model_path}"]


def export(preset, tmp_path):
    """`python -m export.saved_model` with only --preset and --model_base; the version directory."""
    stdout = run_python(None, "-m", "export.saved_model", f"--preset={preset}", f"--model_base={tmp_path / 'base'}")
    return stdout.strip().splitlines()[-1]


def serve(version_dir, inputs, output_name, tmp_path):
    """`output_name` of `serving_default` on `inputs` (name -> list of strings), in a fresh process."""
    (tmp_path / "inputs.json").write_text(json.dumps(inputs), encoding="utf-8")
    code = (
        "import json, sys, tensorflow as tf, tensorflow_text\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "inputs = json.load(open(sys.argv[2], encoding='utf-8'))\n"
        "out = serve(**{k: tf.constant(v) for k, v in inputs.items()})[sys.argv[3]].numpy()\n"
        "print(json.dumps([[w.decode('utf-8') for w in row] if out.ndim > 1 else row.decode('utf-8') for row in out]))\n"
    )
    stdout = run_python(code, version_dir, str(tmp_path / "inputs.json"), output_name, cwd=tmp_path)
    return json.loads(stdout.splitlines()[-1])


def test_squad_v2_model_served_gives_run_squads_answers_no_answer_included(
    tmp_path_factory, tmp_path, shared_data_dir, spm_model_path, informative_backbone
):
    from tasks import squad

    squad_file = shared_data_dir / SQUAD_V2_FILE

    def train(output_dir, *extra):
        common.run_program(run_squad.main, [
            "run_squad", "--version_2_with_negative", f"--train_file={squad_file}", f"--predict_file={squad_file}",
            *model_flags(informative_backbone, spm_model_path), f"--output_dir={output_dir}",
            "--max_seq_length=96", "--doc_stride=32", "--max_query_length=24", "--do_train", "--do_predict",
            "--max_train_examples=16", "--max_predict_examples=24", "--train_batch_size=16",
            "--num_train_epochs=1", "--learning_rate=1e-3", *extra,
        ])
        return json.loads((output_dir / "null_odds.json").read_text())

    # A threshold between two questions' null odds: some answers are spans,
    # some "no answer" (as when tuned with eval_results' best_f1_thresh).
    odds = sorted(train(tmp_path_factory.mktemp("squad_first")).values())
    gaps = [(odds[i] - odds[i - 1], i) for i in range(len(odds) // 3, len(odds) - len(odds) // 3)]
    _, index = max(gaps)
    threshold = (odds[index - 1] + odds[index]) / 2
    output_dir = tmp_path_factory.mktemp("squad")
    train(output_dir, f"--null_score_diff_threshold={threshold}")
    predictions = json.loads((output_dir / "predictions.json").read_text())
    assert 0 < sum(text == "" for text in predictions.values()) < len(predictions), predictions

    examples = squad.read_squad_examples(squad_file, max_examples=24)
    served = serve(
        export(output_dir, tmp_path),
        {"question": [e.question for e in examples], "context": [e.context for e in examples]},
        "answer_texts", tmp_path,
    )
    assert dict(zip([e.question_id for e in examples], served)) == predictions


def test_mrpc_pair_classifier_served_gives_run_classifiers_labels(
    tmp_path_factory, tmp_path, shared_data_dir, spm_model_path, informative_pair_classifier
):
    output_dir = tmp_path_factory.mktemp("mrpc")
    data_dir = shared_data_dir / "glue_mrpc"
    common.run_program(run_classifier.main, [
        "run_classifier", "--task_name=mrpc", f"--data_dir={data_dir}", f"--preset={informative_pair_classifier}",
        f"--spm_model_file={spm_model_path}", f"--output_dir={output_dir}", "--max_seq_length=64", "--do_train",
        "--do_predict", "--max_train_examples=16", "--max_predict_examples=40", "--train_batch_size=16",
        "--num_train_epochs=1", "--learning_rate=1e-6",
    ])
    lines = (output_dir / "MRPC.tsv").read_text().splitlines()[1:]
    expected = [line.split("\t")[1] for line in lines]
    assert set(expected) == {"0", "1"}, expected
    examples = glue.read_examples(glue.get_task("mrpc"), str(data_dir / "test.tsv"), labeled=False, max_examples=40)
    served = serve(
        export(output_dir, tmp_path),
        {"text": [e.text_a for e in examples], "text_pair": [e.text_b for e in examples]},
        "labels", tmp_path,
    )
    assert served == expected


def test_ner_with_a_non_default_window_stride_served_gives_run_ners_tags(
    tmp_path_factory, tmp_path, shared_data_dir, spm_model_path, informative_backbone, albert_tokenizer
):
    from keras_albert import token_labels

    output_dir = tmp_path_factory.mktemp("ner")
    wnut = shared_data_dir / "wnut17"
    common.run_program(run_ner.main, [
        "run_ner", f"--train_file={wnut / 'wnut17train.conll'}", f"--predict_file={wnut / 'emerging.dev.conll'}",
        *model_flags(informative_backbone, spm_model_path), f"--output_dir={output_dir}",
        # 14-piece windows every 3 pieces (the default would be 7): most
        # sentences are cut, and the stride decides which window tags a word.
        "--max_seq_length=16", "--window_stride=3", "--do_train", "--do_predict", "--max_train_examples=16",
        "--max_predict_examples=30", "--train_batch_size=16", "--num_train_epochs=1", "--learning_rate=1e-6",
    ])
    sentences = [
        [line.split("\t") for line in block.splitlines()]
        for block in (output_dir / "test_predictions.txt").read_text(encoding="utf-8").split("\n\n") if block.strip()
    ]
    words = [[columns[0] for columns in sentence] for sentence in sentences]
    expected = [[columns[1] for columns in sentence] for sentence in sentences]
    assert len(sentences) == 30
    num_pieces = [sum(map(len, token_labels.tokenize_words(albert_tokenizer, w)[0])) for w in words]
    assert sum(n > 14 for n in num_pieces) > 10  # Sentences in several windows.
    assert len({tag for tags in expected for tag in tags}) > 1, expected
    texts = [" ".join(sentence_words) for sentence_words in words]
    assert all(text.split() == sentence_words for text, sentence_words in zip(texts, words))
    served = serve(export(output_dir, tmp_path), {"text": texts}, "word_tags", tmp_path)
    assert [row[: len(tags)] for row, tags in zip(served, expected)] == expected
    assert all(not any(row[len(tags):]) for row, tags in zip(served, expected))
