"""ALBERT pretraining data: text -> SOP pairs with n-gram masks -> TFRecords -> tf.data.

The steps of google-research/albert `create_pretraining_data.py`:

1. `read_documents`: a corpus file becomes documents of sentences. Two
   layouts: "lines" (the original's: one sentence per line, a blank line
   between documents) and "wikitext" (WikiText's ` = Title = ` lines start
   a document, ` = = Section = = ` lines are dropped, paragraphs are split
   into sentences).
2. `create_segment_pairs`: each document is cut into chunks of sentences
   about `max_seq_length - 3` tokens long (shorter with `short_seq_prob`);
   a chunk's sentences are split in two segments at a random sentence
   boundary and, with probability 1/2, swapped (sentence-order label 1).
3. `mask_tokens`: n-gram masking over whole words (n <= `max_ngram`,
   p(n) proportional to 1/n), `masked_lm_prob` of the tokens up to
   `max_predictions_per_seq`, each masked token replaced by `[MASK]` 80%,
   kept 10%, a random token 10% of the time.
4. `write_examples` writes sharded TFRecords with the original's feature
   names (so original ALBERT TFRecords read here too) plus a
   `pretraining_data.json` that describes them; `pretraining_dataset`
   reads them back as `(x, y, sample_weight)` batches for
   `AlbertPretrainer.fit`, optionally re-masking every example afresh
   (dynamic masking, as RoBERTa).

Masking is written in numpy (not `keras_hub.layers.MaskedLMMaskGenerator`,
which masks single tokens) because ALBERT masks whole-word n-grams; the
same function masks offline and, through `tf.numpy_function`, online.
"""

import glob
import json
import os
import re
import string

import numpy as np
import tensorflow as tf
from absl import logging

from keras_albert.durable_files import replace_durably
from keras_albert.text_files import text_lines
from keras_albert.packing import pack_segments

METADATA_FILE = "pretraining_data.json"
SHARD_PATTERN = "pretraining-{index:05d}-of-{count:05d}.tfrecord"
# The original run_pretraining.py feature names.
SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids", "token_boundary")
PREDICTION_FEATURES = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")
LABEL_FEATURE = "next_sentence_labels"
INPUT_FORMATS = ("lines", "wikitext")

_WIKITEXT_TITLE = re.compile(r"^ ?= [^=].* = ?$")
_WIKITEXT_HEADING = re.compile(r"^ ?(= ){2,}.*(= ?){2,}$")
# WikiText is tokenized (" . "); a sentence ends at . ! or ? followed by a
# token that can start one.
_SENTENCE_END = re.compile(r"(?<=[.!?]) (?=[A-Z0-9\"'(\[])")
_PUNCTUATION = set(string.punctuation)


# === 1. Documents ===


def read_documents(path, input_format="lines"):
    """Reads a corpus file into documents of sentences.

    Args:
        path: UTF-8 text file.
        input_format: "lines" (one sentence per line, blank lines between
            documents) or "wikitext" (` = Title = ` lines start documents).

    Returns:
        A list of documents, each a dict `{"line": first line number
        (1-based), "sentences": [str, ...]}`.

    Raises:
        ValueError: for an unknown format, a file without text, or
            invalid UTF-8 (naming `path:line:column`).
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input_format={input_format!r}; expected one of {INPUT_FORMATS}.")
    documents = []
    current = None

    def start(line_number):
        nonlocal current
        if current and current["sentences"]:
            documents.append(current)
        current = {"line": line_number, "sentences": []}

    for line_number, line in text_lines(path):
        text = line.strip()
        if input_format == "wikitext":
            if _WIKITEXT_TITLE.match(line):
                start(line_number)
                continue
            if not text or _WIKITEXT_HEADING.match(line):
                continue
            if current is None:
                start(line_number)
            current["sentences"].extend(s for s in _SENTENCE_END.split(text) if s.strip())
        else:
            if not text:
                start(line_number + 1)
                continue
            if current is None:
                start(line_number)
            current["sentences"].append(text)
    start(None)
    if not documents:
        raise ValueError(f"{path}: no text found (input_format={input_format!r}).")
    return documents


def tokenize_documents(documents, tokenizer, path="<corpus>"):
    """Token ids per sentence; drops documents with fewer than two sentences.

    A document needs two sentences to give a sentence-order pair; the ones
    that have fewer (after dropping sentences that tokenize to nothing) are
    skipped, counted and logged with their line numbers.

    Returns:
        A list of documents, each a list of int32 arrays.
    """
    tokenized, skipped = [], []
    for document in documents:
        sentences = [np.asarray(ids, np.int32) for ids in tokenizer.tokenize_python(document["sentences"])]
        sentences = [ids for ids in sentences if len(ids)]
        if len(sentences) < 2:
            skipped.append(document["line"])
            continue
        tokenized.append(sentences)
    if skipped:
        logging.warning(
            "%s: skipped %d of %d documents with fewer than two sentences (no "
            "sentence-order pair), starting at lines %s%s.",
            path, len(skipped), len(documents), skipped[:10], " ..." if len(skipped) > 10 else "",
        )
    return tokenized


def word_start_table(tokenizer):
    """Per vocabulary id: whether the piece starts a word (original
    `_is_start_piece`: "▁" prefix, special `<...>` pieces, punctuation)."""
    return np.array(
        [
            piece.startswith("\u2581") or piece.startswith("<") or piece.startswith("[") or piece in _PUNCTUATION
            for piece in tokenizer.get_vocabulary()
        ],
        bool,
    )


# === 2. Sentence-order pairs ===


def create_segment_pairs(documents, max_seq_length, rng, short_seq_prob=0.1):
    """Cuts tokenized documents into (segment_a, segment_b, is_swapped).

    As the original `create_instances_from_document` with
    `random_next_sentence=False`: chunks of consecutive sentences fill a
    target length, split at a random sentence boundary into A and B;
    half of the pairs are swapped (label 1). Where a chunk holds a single
    (long) sentence, the original takes B from a random other document
    (an NSP pair); here the sentence is split at a random token instead,
    so every label means segment order. Pairs are truncated to
    `max_seq_length - 3` tokens as the original `truncate_seq_pair`.

    Yields:
        `(tokens_a, tokens_b, label)` with int32 arrays and label 0/1.
    """
    max_num_tokens = max_seq_length - 3
    if max_num_tokens < 2:
        raise ValueError(f"max_seq_length={max_seq_length} leaves no room for two segments.")
    for document in documents:
        target_length = max_num_tokens
        if rng.random() < short_seq_prob:
            target_length = int(rng.integers(2, max_num_tokens + 1))
        chunk, chunk_length = [], 0
        for i, sentence in enumerate(document):
            chunk.append(sentence)
            chunk_length += len(sentence)
            if i != len(document) - 1 and chunk_length < target_length:
                continue
            pair = _split_chunk(chunk, rng)
            if pair is not None:
                tokens_a, tokens_b = pair
                label = int(rng.random() < 0.5)
                if label:
                    tokens_a, tokens_b = tokens_b, tokens_a
                yield (*_truncate_pair(tokens_a, tokens_b, max_num_tokens, rng), label)
            chunk, chunk_length = [], 0
            target_length = max_num_tokens
            if rng.random() < short_seq_prob:
                target_length = int(rng.integers(2, max_num_tokens + 1))


def _split_chunk(chunk, rng):
    if len(chunk) >= 2:
        a_end = int(rng.integers(1, len(chunk)))
        return np.concatenate(chunk[:a_end]), np.concatenate(chunk[a_end:])
    tokens = chunk[0]
    if len(tokens) < 2:
        return None
    split = int(rng.integers(1, len(tokens)))
    return tokens[:split], tokens[split:]


def _truncate_pair(tokens_a, tokens_b, max_num_tokens, rng):
    """The original `truncate_seq_pair`: trims the longer segment, from the
    front or the back at random, until the pair fits."""
    tokens_a, tokens_b = list(tokens_a), list(tokens_b)
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()
    return np.asarray(tokens_a, np.int32), np.asarray(tokens_b, np.int32)


# === 3. Masking ===


def mask_tokens(
    token_ids,
    word_starts,
    maskable,
    rng,
    *,
    vocabulary_size,
    mask_token_id,
    first_random_id,
    masked_lm_prob=0.15,
    max_predictions_per_seq=20,
    max_ngram=3,
    num_tokens=None,
):
    """ALBERT's n-gram masking of one sequence.

    Whole words (a word-start token and the tokens after it up to the next
    word start) are the units. Visiting words in random order, an n-gram
    of `n <= max_ngram` words is drawn with p(n) proportional to 1/n (the
    original `favor_shorter_ngram`), shortened while it would exceed the
    prediction budget and skipped if it overlaps a masked one. Each chosen
    token becomes `[MASK]` (80%), stays (10%) or becomes a random id in
    `[first_random_id, vocabulary_size)` (10%; the original draws any
    piece, special ones included).

    Args:
        token_ids: int array `[L]`.
        word_starts: bool array `[L]`, true where a word starts.
        maskable: bool array `[L]`, false for `[CLS]`, `[SEP]`, padding.
        rng: `np.random.Generator`.
        num_tokens: sequence length the 15% is taken of (default: the
            number of non-padding tokens, the original's `len(tokens)`).

    Returns:
        `(masked_ids [L], positions [K], labels [K])`, positions ascending,
        `K <= max_predictions_per_seq`.
    """
    if num_tokens is None:
        num_tokens = len(token_ids)
    words = []
    for i in np.flatnonzero(maskable):
        if words and not word_starts[i] and words[-1][-1] == i - 1:
            words[-1].append(i)
        else:
            words.append([i])
    num_to_predict = min(max_predictions_per_seq, max(1, int(round(num_tokens * masked_lm_prob))))
    ngram_probs = 1.0 / np.arange(1, max_ngram + 1)
    covered = np.zeros(len(token_ids), bool)
    positions = []
    for start in rng.permutation(len(words)):
        if len(positions) >= num_to_predict:
            break
        longest = min(max_ngram, len(words) - start)
        p = ngram_probs[:longest] / ngram_probs[:longest].sum()
        n = int(rng.choice(longest, p=p)) + 1
        index_set = sum(words[start : start + n], [])
        while len(positions) + len(index_set) > num_to_predict and n > 1:
            n -= 1
            index_set = sum(words[start : start + n], [])
        if len(positions) + len(index_set) > num_to_predict or covered[index_set].any():
            continue
        covered[index_set] = True
        positions.extend(index_set)
    positions = np.sort(np.asarray(positions, np.int64))
    labels = token_ids[positions]
    masked_ids = np.array(token_ids, copy=True)
    draws = rng.random(len(positions))
    random_ids = rng.integers(first_random_id, vocabulary_size, len(positions))
    masked_ids[positions] = np.where(
        draws < 0.8, mask_token_id, np.where(draws < 0.9, labels, random_ids)
    )
    return masked_ids, positions, labels


def create_examples(documents, masking, max_seq_length, rng, dupe_factor=1, short_seq_prob=0.1):
    """Pretraining examples (padded numpy features) from tokenized documents.

    Args:
        documents: output of `tokenize_documents`.
        masking: dict from `masking_config` (special ids, vocabulary
            size, masking rates and the word-start table under
            "word_starts").
        max_seq_length: int.
        rng: `np.random.Generator`.
        dupe_factor: int. Passes over the corpus, each with new pairs and
            masks (the original's 40 makes static masks vary).

    Returns:
        A list of dicts of the features in `SEQUENCE_FEATURES`,
        `PREDICTION_FEATURES` and `LABEL_FEATURE`.
    """
    examples = []
    for _ in range(dupe_factor):
        for tokens_a, tokens_b, label in create_segment_pairs(documents, max_seq_length, rng, short_seq_prob):
            examples.append(_pack_and_mask(tokens_a, tokens_b, label, masking, max_seq_length, rng))
    return examples


def _pack_and_mask(tokens_a, tokens_b, label, masking, max_seq_length, rng):
    cls_id, sep_id = masking["cls_token_id"], masking["sep_token_id"]
    packed, _ = pack_segments([tokens_a, tokens_b], cls_id, sep_id)
    token_ids = packed["token_ids"].astype(np.int64)
    length = len(token_ids)
    segment_ids = packed["segment_ids"]
    special = (token_ids == cls_id) | (token_ids == sep_id)
    word_starts = masking["word_starts"][token_ids] | special
    masked_ids, positions, labels = mask_tokens(
        token_ids, word_starts, ~special, rng, **_mask_kwargs(masking)
    )
    return _padded_example(masked_ids, segment_ids, word_starts, positions, labels, label, length, masking, max_seq_length)


def _mask_kwargs(masking):
    return {
        name: masking[name]
        for name in (
            "vocabulary_size", "mask_token_id", "first_random_id",
            "masked_lm_prob", "max_predictions_per_seq", "max_ngram",
        )
    }


def _padded_example(masked_ids, segment_ids, word_starts, positions, labels, label, length, masking, max_seq_length):
    def pad(values, size):
        out = np.zeros(size, np.int64)
        out[: len(values)] = values
        return out

    max_predictions = masking["max_predictions_per_seq"]
    return {
        "input_ids": pad(masked_ids, max_seq_length),
        "input_mask": pad(np.ones(length), max_seq_length),
        "segment_ids": pad(segment_ids, max_seq_length),
        "token_boundary": pad(word_starts, max_seq_length),
        "masked_lm_positions": pad(positions, max_predictions),
        "masked_lm_ids": pad(labels, max_predictions),
        "masked_lm_weights": pad(np.ones(len(positions)), max_predictions).astype(np.float32),
        LABEL_FEATURE: np.array([label], np.int64),
    }


def masking_config(
    tokenizer, max_seq_length, max_predictions_per_seq=20, masked_lm_prob=0.15, max_ngram=3
):
    """What masking needs to know, from the tokenizer and the rates.

    Everything but "word_starts" goes into `pretraining_data.json`, so the
    reader can re-mask without the tokenizer.
    """
    return {
        "max_seq_length": max_seq_length,
        "max_predictions_per_seq": max_predictions_per_seq,
        "masked_lm_prob": masked_lm_prob,
        "max_ngram": max_ngram,
        "vocabulary_size": tokenizer.vocabulary_size(),
        "cls_token_id": tokenizer.cls_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "mask_token_id": tokenizer.mask_token_id,
        # Ids 0-4 are <pad> <unk> [CLS] [SEP] [MASK]; random replacements
        # come from the regular pieces after them.
        "first_random_id": tokenizer.mask_token_id + 1,
        "word_starts": word_start_table(tokenizer),
    }


# === 4. TFRecords ===


def write_examples(examples, output_dir, num_shards, metadata, rng=None):
    """Writes examples round-robin into `num_shards` TFRecord shards.

    Examples are shuffled first (as the original) when `rng` is given.
    Each shard is written under a temporary name and renamed when complete,
    so a killed writer never leaves a truncated shard behind;
    `pretraining_data.json` (metadata + shard names + example count) is
    written last, the same way.

    Returns:
        The list of shard paths.
    """
    if not examples:
        raise ValueError("No pretraining examples to write.")
    num_shards = max(1, min(num_shards, len(examples)))
    os.makedirs(output_dir, exist_ok=True)
    order = rng.permutation(len(examples)) if rng is not None else np.arange(len(examples))
    paths = [os.path.join(output_dir, SHARD_PATTERN.format(index=i, count=num_shards)) for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(path + ".tmp") for path in paths]
    for n, index in enumerate(order):
        writers[n % num_shards].write(_serialize(examples[index]))
    for writer, path in zip(writers, paths):
        writer.close()
        replace_durably(path + ".tmp", path)
    metadata = dict(metadata, num_examples=len(examples), shards=[os.path.basename(p) for p in paths])
    metadata.pop("word_starts", None)
    _write_json_atomically(os.path.join(output_dir, METADATA_FILE), metadata)
    logging.info("Wrote %d examples to %d shards in %s", len(examples), num_shards, output_dir)
    return paths


def _serialize(example):
    def feature(values):
        values = np.asarray(values).reshape(-1)
        if values.dtype.kind == "f":
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    return tf.train.Example(
        features=tf.train.Features(feature={name: feature(v) for name, v in example.items()})
    ).SerializeToString()


def _write_json_atomically(path, value):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")
    replace_durably(path + ".tmp", path)


def resolve_input_files(input_file):
    """Comma-separated paths or globs (or a directory written by
    `create_pretraining_data`) -> sorted list of existing shard paths."""
    paths = []
    for pattern in str(input_file).split(","):
        pattern = pattern.strip()
        if os.path.isdir(pattern):
            pattern = os.path.join(pattern, "*.tfrecord")
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise ValueError(f"--input_file: no file matches {pattern!r}.")
        paths.extend(matches)
    return paths


def read_metadata(input_files):
    """The `pretraining_data.json` beside the first shard, or None."""
    path = os.path.join(os.path.dirname(input_files[0]), METADATA_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def validate_shards(paths, max_seq_length, max_predictions_per_seq):
    """Reads every record of every shard; counts them.

    Raises:
        ValueError: naming the shard that is missing, empty, corrupt, or
            whose records do not have the expected lengths.
    """
    counts = []
    for path in paths:
        try:
            dataset = tf.data.TFRecordDataset(path).map(
                lambda record: _parse(record, max_seq_length, max_predictions_per_seq)[LABEL_FEATURE]
            )
            count = int(dataset.reduce(np.int64(0), lambda n, _: n + 1))
        except (tf.errors.OpError, ValueError) as e:
            # TF prefixes the cause with the failing graph node's name.
            message = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", getattr(e, "message", str(e)))
            message = message.splitlines()[0]
            raise ValueError(
                f"Unreadable pretraining shard {path}: {message} (expected TFRecords of "
                f"tf.train.Example with max_seq_length={max_seq_length}, "
                f"max_predictions_per_seq={max_predictions_per_seq})."
            ) from e
        if not count:
            raise ValueError(f"Pretraining shard {path} holds no records.")
        counts.append(count)
    return counts


def _parse(records, max_seq_length, max_predictions_per_seq):
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in SEQUENCE_FEATURES}
    spec["token_boundary"] = tf.io.FixedLenFeature([max_seq_length], tf.int64, default_value=[0] * max_seq_length)
    spec["masked_lm_positions"] = tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
    spec["masked_lm_ids"] = tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
    spec["masked_lm_weights"] = tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32)
    spec[LABEL_FEATURE] = tf.io.FixedLenFeature([1], tf.int64)
    if records.shape.rank == 0:
        return tf.io.parse_single_example(records, spec)
    return tf.io.parse_example(records, spec)


# === 5. tf.data ===


def pretraining_dataset(
    input_files,
    batch_size,
    max_seq_length,
    max_predictions_per_seq,
    *,
    seed=0,
    shuffle_buffer_size=10_000,
    repeat=True,
    skip_examples=0,
    num_input_pipelines=1,
    input_pipeline_id=0,
    dynamic_masking=None,
):
    """Batches `(x, y, sample_weight)` for `AlbertPretrainer.fit`.

    The example stream is deterministic for a given `seed` (shuffled with
    that seed, repeated, then split between input pipelines), so a resumed
    run can `skip_examples` what it already trained on and see exactly the
    data it would have seen, and W workers with batch B/W together see the
    examples one worker sees with batch B.

    Args:
        input_files: list of TFRecord paths.
        batch_size: int. Batch size of *this* pipeline (per replica under
            `distribute_datasets_from_function`).
        max_seq_length, max_predictions_per_seq: ints the records were
            written with.
        seed: int. Shuffle (and dynamic masking) seed.
        shuffle_buffer_size: int; 0 keeps the file order.
        repeat: bool. Repeat forever (training).
        skip_examples: int. Examples of the global stream to skip (resume).
        num_input_pipelines, input_pipeline_id: shard the stream, after the
            skip, between pipelines (workers).
        dynamic_masking: None (use the records' masks), or the masking dict
            (`pretraining_data.json`'s fields): re-mask each example with a
            seed of (`seed`, its index in the stream).

    Returns:
        A `tf.data.Dataset` of `(x, y, sample_weight)`: x has `token_ids`,
        `segment_ids`, `padding_mask` `[B, max_seq_length]` and
        `mask_positions` `[B, P]` (int32); y has `mlm_logits` (masked token
        ids `[B, P]`) and `sop_logits` (`[B]`, 1 = swapped); sample weights
        are `mlm_logits` (`[B, P]`, 0 for padded prediction slots) and
        `sop_logits` (ones).
    """
    dataset = tf.data.TFRecordDataset(list(input_files))
    if shuffle_buffer_size:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.enumerate()
    if skip_examples:
        dataset = dataset.skip(skip_examples)
    if num_input_pipelines > 1:
        dataset = dataset.shard(num_input_pipelines, input_pipeline_id)
    dataset = dataset.batch(batch_size, drop_remainder=True)

    def parse(indices, records):
        features = _parse(records, max_seq_length, max_predictions_per_seq)
        if dynamic_masking is not None:
            features.update(_remask(indices, features, dynamic_masking, seed, max_predictions_per_seq))
        return _model_inputs(features)

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _remask(indices, features, masking, seed, max_predictions_per_seq):
    """Restores the original tokens and masks them again (numpy)."""
    masking = dict(masking, max_predictions_per_seq=max_predictions_per_seq)
    special_ids = np.array([masking["cls_token_id"], masking["sep_token_id"]])

    def remask_batch(indices, input_ids, input_mask, token_boundary, positions, ids, weights):
        out_ids = np.empty_like(input_ids)
        out_positions = np.zeros_like(positions)
        out_labels = np.zeros_like(ids)
        out_weights = np.zeros_like(weights)
        for row, index in enumerate(indices):
            original = input_ids[row].copy()
            real = weights[row] > 0
            original[positions[row][real]] = ids[row][real]
            maskable = (input_mask[row] > 0) & ~np.isin(original, special_ids)
            rng = np.random.default_rng([seed, int(index)])
            masked, new_positions, labels = mask_tokens(
                original, token_boundary[row] > 0, maskable, rng,
                num_tokens=int(input_mask[row].sum()), **_mask_kwargs(masking),
            )
            out_ids[row] = masked
            out_positions[row, : len(new_positions)] = new_positions
            out_labels[row, : len(labels)] = labels
            out_weights[row, : len(labels)] = 1.0
        return out_ids, out_positions, out_labels, out_weights

    outputs = tf.numpy_function(
        remask_batch,
        [indices, features["input_ids"], features["input_mask"], features["token_boundary"],
         features["masked_lm_positions"], features["masked_lm_ids"], features["masked_lm_weights"]],
        [tf.int64, tf.int64, tf.int64, tf.float32],
        stateful=False,
    )
    names = ("input_ids", "masked_lm_positions", "masked_lm_ids", "masked_lm_weights")
    return {name: tf.ensure_shape(t, features[name].shape) for name, t in zip(names, outputs)}


def _model_inputs(features):
    def int32(name):
        return tf.cast(features[name], tf.int32)

    x = {
        "token_ids": int32("input_ids"),
        "segment_ids": int32("segment_ids"),
        "padding_mask": int32("input_mask"),
        "mask_positions": int32("masked_lm_positions"),
    }
    sop_labels = int32(LABEL_FEATURE)[:, 0]
    y = {"mlm_logits": int32("masked_lm_ids"), "sop_logits": sop_labels}
    sample_weight = {
        "mlm_logits": features["masked_lm_weights"],
        "sop_logits": tf.ones_like(sop_labels, tf.float32),
    }
    return x, y, sample_weight
