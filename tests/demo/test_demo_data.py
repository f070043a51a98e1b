"""The demo's held-out split: no dev sentence is seen by a training step, classes balanced, raw-looking text."""

import csv

from demo import __main__ as demo


def _rows(path):
    with open(path, encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["sentence", "label"]
    return rows[1:]


def test_dev_sentences_never_reach_a_training_step(tmp_path):
    data_dir, pretraining_corpus, vocabulary_corpora = demo.prepare_data(str(tmp_path))
    train, dev = _rows(f"{data_dir}/train.tsv"), _rows(f"{data_dir}/dev.tsv")
    assert len(train) > 3000 and len(dev) > 500
    for rows in (train, dev):
        labels = [label for _, label in rows]
        assert labels.count("0") == labels.count("1")  # Majority baseline 0.5.
    assert not {text for text, _ in dev} & {text for text, _ in train}
    # Nor in the text the vocabulary and the pretraining read (WikiText's tokenization undone for both sides).
    unlabeled = " ".join(
        demo._detokenize_wikitext(line) if path == pretraining_corpus else line
        for path in vocabulary_corpora
        for line in open(path, encoding="utf-8")
    )
    assert sum(text in unlabeled for text, _ in dev) == 0


def test_wikipedia_sentences_read_as_raw_text():
    assert demo._detokenize_wikitext(
        "The 52 @.@ 9 million people , a well @-@ known ( small ) group , didn 't stay ."
    ) == "The 52.9 million people, a well-known (small) group, didn't stay."
