"""tasks/run_ner.py: entity metrics as seqeval, training end to end, windows, bad input."""

import json
import random

import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from keras_albert import task_spec
from tasks import common, conll, run_ner

# === Entity metrics ===

# Hand-counted conlleval scores: (gold, predicted, precision, recall, f1, token accuracy).
HAND_CHECKED_METRICS = [
    (  # IOB2. Gold: PER(0,0-1) LOC(0,3) ORG(1,1-2); predicted: PER(0,0-1) ORG(1,1-1) LOC(1,3)
        # (an I- after O opens an entity). One match of three each way.
        [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG", "O"]],
        [["B-PER", "I-PER", "O", "O"], ["O", "B-ORG", "O", "I-LOC"]],
        1 / 3, 1 / 3, 1 / 3, 5 / 8,
    ),
    (  # IOB1: B- splits adjacent PERs, so gold has two entities; predicted has one long one.
        [["I-PER", "I-PER", "B-PER", "O"]],
        [["I-PER", "I-PER", "I-PER", "O"]],
        0.0, 0.0, 0.0, 3 / 4,
    ),
    (  # BIOES: a missing E- still closes the entity under conlleval's rules.
        [["S-PER", "B-LOC", "E-LOC", "O"]],
        [["S-PER", "B-LOC", "I-LOC", "B-ORG"]],
        2 / 3, 1.0, 0.8, 2 / 4,
    ),
    (  # The majority baseline (all O) scores 0, without warnings.
        [["B-person", "O"], ["O", "B-group"]],
        [["O", "O"], ["O", "O"]],
        0.0, 0.0, 0.0, 2 / 4,
    ),
]


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("gold,predicted,precision,recall,f1,accuracy", HAND_CHECKED_METRICS)
def test_entity_metrics_equal_hand_counted_conlleval_scores_and_seqeval(gold, predicted, precision, recall, f1, accuracy):
    results = run_ner.entity_metrics(gold, predicted)
    assert results["precision"] == pytest.approx(precision)
    assert results["recall"] == pytest.approx(recall)
    assert results["f1"] == pytest.approx(f1)
    assert results["accuracy"] == pytest.approx(accuracy)
    assert results["f1"] == pytest.approx(f1_score(gold, predicted, zero_division=0))
    assert results["precision"] == pytest.approx(precision_score(gold, predicted, zero_division=0))
    assert results["recall"] == pytest.approx(recall_score(gold, predicted, zero_division=0))


def test_entity_metrics_report_each_type_and_the_entity_counts():
    gold, predicted = HAND_CHECKED_METRICS[0][:2]
    results = run_ner.entity_metrics(gold, predicted)
    assert results["PER_f1"] == 1.0 and results["LOC_recall"] == 0.0 and results["ORG_precision"] == 0.0
    assert (results["num_gold_entities"], results["num_predicted_entities"]) == (3, 3)


# === The program ===

PEOPLE = ["john smith", "mary", "peter", "anna lee", "james", "sarah king"]
PLACES = ["london", "paris", "new york", "berlin", "rome", "los angeles"]
FILLER = "the a of and to in is was for on that with as it at by from this we they".split()
TEMPLATES = ["{p} lives in {l}", "yesterday {p} went to {l} .", "we met {p} at {l} today", "{l} is where {p} works"]


def _tagged(text, entity_type):
    words = text.split()
    return [(word, ("B-" if i == 0 else "I-") + entity_type) for i, word in enumerate(words)]


def _sentence(rng, num_filler=2):
    template = rng.choice(TEMPLATES)
    rows = []
    for part in template.split():
        if part == "{p}":
            rows += _tagged(rng.choice(PEOPLE), "person")
        elif part == "{l}":
            rows += _tagged(rng.choice(PLACES), "location")
        else:
            rows.append((part, "O"))
    return [(word, "O") for word in rng.sample(FILLER, num_filler)] + rows


def _write(path, sentences):
    conll.write_conll(str(path), [([w for w, _ in s], [t for _, t in s]) for s in sentences])
    return str(path)


MAX_SEQ_LENGTH = 24


@pytest.fixture(scope="module")
def trained(tmp_path_factory, spm_model_path, write_tiny_albert_config):
    """A tiny ALBERT trained from scratch on template sentences, evaluated and predicting."""
    directory = tmp_path_factory.mktemp("ner")
    rng = random.Random(0)
    train = [_sentence(rng) for _ in range(160)]
    dev = [_sentence(rng) for _ in range(24)]
    # Longer than --max_seq_length: split into windows, merged back per word.
    dev.append(_sentence(rng, num_filler=18) + _sentence(rng, num_filler=4))
    config = write_tiny_albert_config(directory, num_layers=2, max_position_embeddings=MAX_SEQ_LENGTH)
    unlabeled = directory / "unlabeled.txt"
    unlabeled.write_text("Bob\nlives\nin\nparis\n\nhello\n", encoding="utf-8")
    output_dir = directory / "output"
    files = {
        "train_file": _write(directory / "train.conll", train),
        "eval_file": _write(directory / "dev.conll", dev),
        "predict_file": str(unlabeled),
    }
    argv = [
        "run_ner",
        *(f"--{name}={path}" for name, path in files.items()),
        f"--spm_model_file={spm_model_path}",
        f"--albert_config_file={config}",
        f"--output_dir={output_dir}",
        f"--max_seq_length={MAX_SEQ_LENGTH}",
        "--do_train", "--do_eval", "--do_predict",
        "--train_batch_size=16", "--learning_rate=1e-2", "--num_train_epochs=10", "--warmup_proportion=0.1",
    ]
    common.run_program(run_ner.main, argv)
    return {"dir": directory, "output_dir": output_dir, "dev": dev, **files}


def test_training_from_scratch_learns_the_entities_and_writes_every_output(trained):
    output_dir = trained["output_dir"]
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert results["f1"] > 0.5, results  # The majority baseline (all O) scores 0.
    assert results["num_split_sentences"] == 1 and results["num_windows"] > results["num_sentences"]
    spec = task_spec.load_task_spec(output_dir)
    assert spec == task_spec.TokenClassificationSpec(
        labels=("B-location", "B-person", "I-location", "I-person", "O"),
        tag_scheme="IOB2",
        sequence_length=MAX_SEQ_LENGTH,
    )
    assert (output_dir / "task.json").is_file() and (output_dir / "tokenizer.json").is_file()


def test_predictions_file_has_every_word_and_scores_like_eval_results(trained):
    output_dir = trained["output_dir"]
    rows = [
        line.split("\t")
        for line in (output_dir / "predictions.txt").read_text(encoding="utf-8").splitlines()
        if line
    ]
    dev_rows = [row for sentence in trained["dev"] for row in sentence]
    assert [(word, gold) for word, gold, _ in rows] == dev_rows
    predicted = [s.tags for s in conll.read_conll(str(output_dir / "predictions.txt"))]
    gold = [[tag for _, tag in sentence] for sentence in trained["dev"]]
    results = json.loads((output_dir / "eval_results.json").read_text())
    assert results["f1"] == pytest.approx(f1_score(gold, predicted))


def test_predict_tags_an_unlabeled_file(trained):
    sentences = conll.read_conll(str(trained["output_dir"] / "test_predictions.txt"))
    assert [s.words for s in sentences] == [["Bob", "lives", "in", "paris"], ["hello"]]
    assert sentences[0].tags[3] == "B-location"


def test_evaluating_the_saved_preset_reproduces_the_results(trained, tmp_path):
    output_dir = trained["output_dir"]
    argv = [
        "run_ner", f"--preset={output_dir}", f"--eval_file={trained['eval_file']}",
        f"--output_dir={tmp_path}", f"--max_seq_length={MAX_SEQ_LENGTH}", "--do_eval",
    ]
    common.run_program(run_ner.main, argv)
    assert json.loads((tmp_path / "eval_results.json").read_text()) == json.loads(
        (output_dir / "eval_results.json").read_text()
    )
    assert (tmp_path / "predictions.txt").read_text() == (output_dir / "predictions.txt").read_text()


def test_an_eval_tag_outside_the_label_set_names_the_tag_line_and_allowed_set(trained, tmp_path):
    eval_file = tmp_path / "dev.conll"
    eval_file.write_text("Bob\tB-person\nin\tO\nGoogle\tB-corporation\n", encoding="utf-8")
    argv = [
        "run_ner", f"--preset={trained['output_dir']}", f"--eval_file={eval_file}",
        f"--output_dir={tmp_path}", "--do_eval",
    ]
    with pytest.raises(ValueError, match=r"dev.conll:3: tag 'B-corporation' is not in the model's label set .*'B-location', 'B-person'"):
        common.run_program(run_ner.main, argv)


def test_a_malformed_training_line_stops_before_any_model_is_built(tmp_path):
    train_file = tmp_path / "train.conll"
    train_file.write_text("Bob\tB-person\nin O extra\n", encoding="utf-8")
    argv = [
        "run_ner", f"--train_file={train_file}", f"--output_dir={tmp_path}", "--do_train",
        "--albert_config_file=unused.json",
    ]
    with pytest.raises(ValueError, match=r"train.conll:2: expected 2 tab- or space-separated columns"):
        common.run_program(run_ner.main, argv)


def test_a_scheme_other_than_the_presets_is_refused(trained, tmp_path):
    argv = [
        "run_ner", f"--preset={trained['output_dir']}", f"--eval_file={trained['eval_file']}",
        f"--output_dir={tmp_path}", "--do_eval", "--tag_scheme=BIOES",
    ]
    with pytest.raises(ValueError, match="--tag_scheme=BIOES, but .* was trained on IOB2 tags"):
        common.run_program(run_ner.main, argv)
