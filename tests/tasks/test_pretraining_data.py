"""Pretraining examples: documents, sentence-order pairs, n-gram masks, TFRecords, tf.data."""

import json
import os

import numpy as np
import pytest

from tasks import common, create_pretraining_data, pretraining_data

MASKING = dict(
    vocabulary_size=100, mask_token_id=4, first_random_id=5, masked_lm_prob=0.15,
    max_predictions_per_seq=20, max_ngram=3,
)


def test_lines_format_splits_documents_at_blank_lines(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("First one.\nFirst two.\n\n\nSecond one.\nSecond two.\nSecond three.\n")
    documents = pretraining_data.read_documents(path, "lines")
    assert [d["sentences"] for d in documents] == [
        ["First one.", "First two."], ["Second one.", "Second two.", "Second three."],
    ]
    assert [d["line"] for d in documents] == [1, 5]


def test_wikitext_titles_start_documents_and_headings_are_dropped(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_text(
        " \n = Lobster = \n \n It is blue . It lives at sea . \n \n = = Description = = \n"
        " It has claws . \n = Crab = \n Crabs walk sideways . They are red . \n"
    )
    documents = pretraining_data.read_documents(path, "wikitext")
    assert [d["sentences"] for d in documents] == [
        ["It is blue .", "It lives at sea .", "It has claws ."],
        ["Crabs walk sideways .", "They are red ."],
    ]


def test_wikitext2_valid_has_one_document_per_title(shared_data_dir):
    path = shared_data_dir / "wikitext2" / "valid.txt"
    titles = sum(1 for line in open(path, encoding="utf-8") if line.startswith(" = ") and not line.startswith(" = = "))
    documents = pretraining_data.read_documents(path, "wikitext")
    assert len(documents) == titles == 60
    assert all(len(d["sentences"]) > 5 for d in documents)


def test_empty_corpus_raises_naming_the_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n \n")
    with pytest.raises(ValueError, match="empty.txt"):
        pretraining_data.read_documents(path, "lines")


def test_one_sentence_documents_are_skipped_counted_and_logged(tmp_path, albert_tokenizer, caplog):
    documents = [
        {"line": 1, "sentences": ["Only one sentence here."]},
        {"line": 3, "sentences": ["A first sentence.", "A second one."]},
    ]
    tokenized = pretraining_data.tokenize_documents(documents, albert_tokenizer, "corpus.txt")
    assert len(tokenized) == 1 and len(tokenized[0]) == 2
    assert "skipped 1 of 2 documents" in caplog.text and "[1]" in caplog.text


def numbered_documents(num_documents=20, sentences=8, length=5):
    """Sentences of increasing token values, so order is visible in a pair."""
    documents, value = [], 5
    for _ in range(num_documents):
        document = []
        for _ in range(sentences):
            document.append(np.arange(value, value + length, dtype=np.int32))
            value += length
        documents.append(document)
    return documents


def test_sentence_order_label_one_means_the_segments_were_swapped():
    rng = np.random.default_rng(0)
    pairs = list(pretraining_data.create_segment_pairs(numbered_documents(), 32, rng))
    labels = np.array([label for _, _, label in pairs])
    assert 0.3 < labels.mean() < 0.7
    for tokens_a, tokens_b, label in pairs:
        assert len(tokens_a) >= 1 and len(tokens_b) >= 1
        assert len(tokens_a) + len(tokens_b) <= 32 - 3
        in_order = tokens_a.max() < tokens_b.min()
        assert in_order == (label == 0)


def test_a_chunk_of_one_long_sentence_is_split_inside_it():
    rng = np.random.default_rng(0)
    documents = [[np.arange(5, 45, dtype=np.int32), np.arange(45, 85, dtype=np.int32)]]
    pairs = list(pretraining_data.create_segment_pairs(documents, 32, rng, short_seq_prob=0.0))
    assert len(pairs) == 2  # Each 40-token sentence fills a chunk alone.
    for tokens_a, tokens_b, label in pairs:
        assert (tokens_a.max() < tokens_b.min()) == (label == 0)


def mask(token_ids, word_starts, seed, **overrides):
    token_ids = np.asarray(token_ids)
    maskable = np.ones(len(token_ids), bool)
    maskable[[0, -1]] = False  # [CLS] ... [SEP]
    return pretraining_data.mask_tokens(
        token_ids, np.asarray(word_starts, bool), maskable, np.random.default_rng(seed), **dict(MASKING, **overrides)
    )


def test_masking_takes_15_percent_of_whole_words_and_never_special_tokens():
    length = 120
    token_ids = np.arange(length) % 90 + 5
    word_starts = np.arange(length) % 3 == 0  # Words of three pieces.
    for seed in range(20):
        masked, positions, labels = mask(token_ids, word_starts, seed, max_predictions_per_seq=40)
        # Budget round(0.15 * 120) = 18, filled with whole words of <= 3 pieces.
        assert 16 <= len(positions) <= 18
        assert 0 not in positions and length - 1 not in positions
        assert np.all(np.diff(positions) > 0)
        np.testing.assert_array_equal(labels, token_ids[positions])
        chosen = set(positions.tolist())
        for start in range(0, length, 3):
            word = set(range(start, min(start + 3, length))) - {0, length - 1}
            assert not (word & chosen) or word <= chosen
        unmasked = np.setdiff1d(np.arange(length), positions)
        np.testing.assert_array_equal(masked[unmasked], token_ids[unmasked])


def test_masking_respects_the_prediction_budget():
    token_ids = np.arange(200) % 90 + 5
    _, positions, _ = mask(token_ids, np.ones(200, bool), 0, max_predictions_per_seq=7)
    assert len(positions) == 7


def test_masked_tokens_follow_the_80_10_10_rule_and_short_ngrams_are_likelier():
    length = 100
    token_ids = np.arange(length) % 90 + 5
    replaced, kept, total = 0, 0, 0
    span_lengths = []
    for seed in range(300):
        masked, positions, labels = mask(token_ids, np.ones(length, bool), seed)
        replaced += np.sum(masked[positions] == MASKING["mask_token_id"])
        kept += np.sum(masked[positions] == labels)
        total += len(positions)
        breaks = np.flatnonzero(np.diff(positions) != 1)
        span_lengths.extend(np.diff(np.concatenate([[-1], breaks, [len(positions) - 1]])))
    assert 0.76 < replaced / total < 0.84
    assert 0.07 < kept / total < 0.13
    counts = np.bincount(span_lengths)
    # Adjacent n-grams merge into longer spans, so only the order is checked.
    assert counts[1] > counts[2] > counts[3] > 0


@pytest.fixture(scope="module")
def tiny_examples(albert_tokenizer):
    rng = np.random.default_rng(0)
    masking = pretraining_data.masking_config(albert_tokenizer, 32, 5)
    documents = [[np.array(ids, np.int32) for ids in doc] for doc in numbered_documents(6, 6, 4)]
    return pretraining_data.create_examples(documents, masking, 32, rng, dupe_factor=2), masking


def test_records_round_trip_to_model_inputs(tmp_path, tiny_examples):
    examples, masking = tiny_examples
    paths = pretraining_data.write_examples(examples, tmp_path, 3, masking)
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(p) for p in paths] + ["pretraining_data.json"])
    metadata = json.loads((tmp_path / "pretraining_data.json").read_text())
    assert metadata["num_examples"] == len(examples) and "word_starts" not in metadata
    assert sum(pretraining_data.validate_shards(paths, 32, 5)) == len(examples)
    dataset = pretraining_data.pretraining_dataset(paths, len(examples), 32, 5, shuffle_buffer_size=0, repeat=False)
    x, y, sample_weight = next(iter(dataset))
    by_shard = [examples[i] for shard in range(3) for i in range(shard, len(examples), 3)]
    np.testing.assert_array_equal(x["token_ids"], [e["input_ids"] for e in by_shard])
    np.testing.assert_array_equal(x["mask_positions"], [e["masked_lm_positions"] for e in by_shard])
    np.testing.assert_array_equal(y["mlm_logits"], [e["masked_lm_ids"] for e in by_shard])
    np.testing.assert_array_equal(y["sop_logits"], [e["next_sentence_labels"][0] for e in by_shard])
    np.testing.assert_array_equal(sample_weight["mlm_logits"], [e["masked_lm_weights"] for e in by_shard])
    assert x["token_ids"].dtype.name == "int32" and x["padding_mask"].shape == (len(examples), 32)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "wrong_length"])
def test_unreadable_shard_raises_naming_the_file(tmp_path, tiny_examples, damage):
    examples, masking = tiny_examples
    paths = pretraining_data.write_examples(examples, tmp_path, 2, masking)
    bad = paths[1]
    if damage == "truncated":
        # Cut inside the last record: a cut at half the file could fall on a
        # record boundary (record sizes vary with the sampled masks).
        data = open(bad, "rb").read()
        open(bad, "wb").write(data[:-5])
    elif damage == "garbage":
        open(bad, "wb").write(b"this is not a TFRecord file" * 10)
    elif damage == "empty":
        open(bad, "wb").close()
    if damage == "wrong_length":  # Every shard is wrong; the first one is named.
        bad = paths[0]
    with pytest.raises(ValueError, match=os.path.basename(bad)):
        pretraining_data.validate_shards(paths, 48 if damage == "wrong_length" else 32, 5)


def test_dynamic_masking_restores_the_text_and_masks_it_afresh_per_epoch(tmp_path, tiny_examples):
    examples, masking = tiny_examples
    paths = pretraining_data.write_examples(examples, tmp_path, 1, masking)
    n = len(examples)

    def read(dynamic, batches=2):
        dataset = pretraining_data.pretraining_dataset(
            paths, n, 32, 5, shuffle_buffer_size=0, seed=3, dynamic_masking=masking if dynamic else None
        )
        return [batch for batch, _ in zip(dataset, range(batches))]

    static, dynamic = read(False, 1)[0], read(True)
    original = np.array([e["input_ids"] for e in examples])
    for e, row in zip(examples, original):
        real = e["masked_lm_weights"] > 0
        row[e["masked_lm_positions"][real]] = e["masked_lm_ids"][real]
    for x, y, weights in dynamic:
        restored = x["token_ids"].numpy().copy()
        positions = x["mask_positions"].numpy()
        for row in range(n):
            real = weights["mlm_logits"][row].numpy() > 0
            restored[row, positions[row][real]] = y["mlm_logits"][row].numpy()[real]
        np.testing.assert_array_equal(restored, original)
    assert not np.array_equal(dynamic[0][0]["mask_positions"], static[0]["mask_positions"])
    assert not np.array_equal(dynamic[0][0]["mask_positions"], dynamic[1][0]["mask_positions"])
    again = read(True, 1)[0]
    np.testing.assert_array_equal(again[0]["token_ids"], dynamic[0][0]["token_ids"])


def test_skipped_and_sharded_streams_give_the_same_global_batches(tmp_path, tiny_examples):
    examples, masking = tiny_examples
    paths = pretraining_data.write_examples(examples, tmp_path, 2, masking)

    def ids(batch_size, skip, pipelines=1, pipeline=0):
        dataset = pretraining_data.pretraining_dataset(
            paths, batch_size, 32, 5, seed=7, skip_examples=skip, num_input_pipelines=pipelines,
            input_pipeline_id=pipeline, dynamic_masking=masking,
        )
        return next(iter(dataset))[0]["token_ids"].numpy()

    whole = ids(8, 0)
    # Step 2 of batch 4 from the start == the second half of the first batch of 8.
    np.testing.assert_array_equal(ids(4, 4), whole[4:])
    # Two pipelines of 4: every other example of the same 8.
    halves = [ids(4, 0, 2, p) for p in range(2)]
    np.testing.assert_array_equal(np.stack(halves, 1).reshape(8, -1), whole)


def run_create(*args):
    return common.run_program(create_pretraining_data.main, ["create_pretraining_data", *args])


def test_create_pretraining_data_writes_shards_from_wikitext(tmp_path, spm_model_path, shared_data_dir):
    corpus = tmp_path / "wiki.txt"
    with open(shared_data_dir / "wikitext2" / "valid.txt", encoding="utf-8") as f:
        corpus.write_text("".join(next(f) for _ in range(200)))
    paths = run_create(
        f"--input_file={corpus}", "--input_format=wikitext", f"--spm_model_file={spm_model_path}",
        f"--output_dir={tmp_path / 'out'}", "--max_seq_length=64", "--max_predictions_per_seq=10",
        "--dupe_factor=2", "--num_shards=2",
    )
    metadata = json.loads((tmp_path / "out" / "pretraining_data.json").read_text())
    assert len(paths) == 2 and metadata["max_seq_length"] == 64 and metadata["dupe_factor"] == 2
    assert sum(pretraining_data.validate_shards(paths, 64, 10)) == metadata["num_examples"] > 50


def test_corpus_without_sentence_pairs_raises(tmp_path, spm_model_path):
    corpus = tmp_path / "single.txt"
    corpus.write_text("Just one sentence.\n\nAnother lonely sentence.\n")
    with pytest.raises(ValueError, match="no document has two sentences"):
        run_create(f"--input_file={corpus}", f"--spm_model_file={spm_model_path}", f"--output_dir={tmp_path / 'o'}")
    with pytest.raises(ValueError, match="no file matches"):
        run_create(f"--input_file={tmp_path / 'missing.txt'}", f"--spm_model_file={spm_model_path}", f"--output_dir={tmp_path}")
