"""Word-level tags <-> sub-word model positions, for token classification.

Shared by training and evaluation (`tasks/run_ner.py`) and serving
(`export/`), so that what is trained is what is served. Pure Python and
NumPy: words come in as lists of SentencePiece ids, tags as strings.

The pieces of this module, in the order data flows through them:

0. `tokenize_words`: words -> piece ids per word, each word tokenized as if
   preceded by a space (HuggingFace's `is_split_into_words`).
1. `windows_for_words`: a sentence's per-word pieces -> `TokenWindow`s of at
   most `max_seq_length` ids (`[CLS] pieces [SEP]`). A sentence too long for
   one window is covered by overlapping windows; every word is *predicted*
   from exactly one of them, the one where it has the most context on both
   sides (BERT's `_check_is_max_context`).
2. `window_labels`: word tag ids -> per-position labels. The first piece of
   a word carries its tag; the other pieces, `[CLS]` and `[SEP]` get
   `IGNORE_LABEL`, left out of the loss (as HuggingFace `run_ner`'s -100).
3. `merge_window_predictions`: per-position model outputs of a sentence's
   windows -> one output per original word.
4. `tags_to_spans` / `spans_to_tags`: word tags <-> entity spans in the IOB1,
   IOB2 and BIOES schemes, with conlleval's chunking (seqeval's default mode),
   so that spans served are the entities the metric counts.

Example:
```python
words = ["Empire", "State", "Building", "is", "tall"]
pieces, _ = tokenize_words(tokenizer, words)        # one id list per word
windows = windows_for_words(pieces, max_seq_length=128,
                            cls_token_id=2, sep_token_id=3)
label_ids = window_labels(windows[0], [1, 2, 2, 0, 0])  # -1 off first pieces
logits = tagger.predict(...)  # windows padded to T: [num_windows, T, C]
word_logits = merge_window_predictions(windows, logits, len(words))
tags = [labels[i] for i in word_logits.argmax(-1)]
tags_to_spans(tags)  # [EntitySpan(type='location', start_word=0, end_word=2)]
```
"""

from typing import NamedTuple

import numpy as np

from keras_albert.packing import pack_segments
from keras_albert.sliding_windows import max_context_windows, window_spans

TAG_SCHEMES = ("IOB1", "IOB2", "BIOES")
_SCHEME_PREFIXES = {"IOB1": ("B", "I"), "IOB2": ("B", "I"), "BIOES": ("B", "I", "E", "S")}
OUTSIDE_TAG = "O"
# Label of positions that carry no word tag; the loss ignores it.
IGNORE_LABEL = -1


class EntitySpan(NamedTuple):
    """An entity over words `start_word..end_word` (both inclusive, as
    seqeval's `get_entities` and conlleval)."""

    type: str
    start_word: int
    end_word: int


class TokenWindow(NamedTuple):
    """One model input cut from a sentence, unpadded; arrays of length L.

    Attributes:
        token_ids: int32 `[L]`, `[CLS] pieces [SEP]`.
        word_ids: int32 `[L]`, at the position of a word's first piece the
            word's index in the sentence, -1 everywhere else.
        is_max_context: bool `[L]`, True at the first-piece positions from
            which their word is predicted (one window per word).
    """

    token_ids: np.ndarray
    word_ids: np.ndarray
    is_max_context: np.ndarray


def _check_scheme(scheme):
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"`scheme` must be one of {TAG_SCHEMES}. Received: scheme={scheme!r}")


def check_tag(tag, scheme="IOB2"):
    """Raises `ValueError` unless `tag` is `"O"` or `<prefix>-<type>` with a
    prefix of `scheme` (`B`, `I`; BIOES adds `E`, `S`)."""
    _check_scheme(scheme)
    if tag == OUTSIDE_TAG:
        return
    prefix, _, entity_type = tag.partition("-")
    if prefix not in _SCHEME_PREFIXES[scheme] or not entity_type:
        expected = ", ".join(f"'{p}-<type>'" for p in _SCHEME_PREFIXES[scheme])
        raise ValueError(f"tag {tag!r} is not a {scheme} tag: expected 'O', {expected}")


def tags_to_spans(tags, scheme="IOB2"):
    """Entity spans of one sentence's tags, chunked as conlleval.

    Every tag is first checked against `scheme`; chunking is then
    seqeval's default (conlleval) mode, which reads IOB1, IOB2 and BIOES
    alike and is lenient with invalid sequences (an `I-x` after `O` opens an
    entity), exactly as the entity metric counts them.

    Args:
        tags: sequence of str, one tag per word.
        scheme: one of `TAG_SCHEMES`.

    Returns:
        list of `EntitySpan`, in order.

    Example:
    >>> tags_to_spans(["B-person", "I-person", "O", "I-location"])
    [EntitySpan(type='person', start_word=0, end_word=1),
     EntitySpan(type='location', start_word=3, end_word=3)]
    """
    for index, tag in enumerate(tags):
        try:
            check_tag(tag, scheme)
        except ValueError as error:
            raise ValueError(f"word {index}: {error}") from None
    # Imported here: seqeval pulls in scikit-learn, which the models on
    # JAX/PyTorch (and the GPU machines) do without.
    from seqeval.metrics.sequence_labeling import get_entities

    return [EntitySpan(*chunk) for chunk in get_entities(list(tags))]


def spans_to_tags(spans, num_words, scheme="IOB2"):
    """Tags of `num_words` words with the entity `spans`, written in `scheme`.

    The inverse of `tags_to_spans`; with it a tag sequence converts between
    schemes: `spans_to_tags(tags_to_spans(tags, "IOB1"), len(tags), "BIOES")`.

    Args:
        spans: iterable of `(type, start_word, end_word)`, non-overlapping.
        num_words: int.
        scheme: one of `TAG_SCHEMES`. IOB1 writes `B-` only on an entity
            that directly follows one of the same type.

    Returns:
        list of str of length `num_words`.
    """
    _check_scheme(scheme)
    tags = [OUTSIDE_TAG] * num_words
    previous_end, previous_type = -2, None
    for entity_type, start, end in sorted(spans, key=lambda span: span[1]):
        if not 0 <= start <= end < num_words or start <= previous_end:
            raise ValueError(
                f"span {(entity_type, start, end)} is out of range [0, {num_words}) "
                "or overlaps the previous span"
            )
        tags[start : end + 1] = [f"I-{entity_type}"] * (end - start + 1)
        if scheme == "IOB2" or (
            scheme == "IOB1" and previous_end == start - 1 and previous_type == entity_type
        ):
            tags[start] = f"B-{entity_type}"
        elif scheme == "BIOES":
            if start == end:
                tags[start] = f"S-{entity_type}"
            else:
                tags[start], tags[end] = f"B-{entity_type}", f"E-{entity_type}"
        previous_end, previous_type = end, entity_type
    return tags


def label_list_from_tags(tag_sequences, scheme="IOB2"):
    """The labels of a model trained on `tag_sequences`, sorted: deterministic ids.

    Every entity type seen gets all of `scheme`'s tags for it, and "O" is
    always a label: a training sample that has `B-product` but no
    `I-product` still evaluates files where a product spans two words.
    """
    _check_scheme(scheme)
    entity_types = {tag.partition("-")[2] for tags in tag_sequences for tag in tags if tag != OUTSIDE_TAG}
    prefixes = _SCHEME_PREFIXES[scheme]
    return sorted({OUTSIDE_TAG} | {f"{prefix}-{entity_type}" for entity_type in entity_types for prefix in prefixes})


def tokenize_words(tokenizer, words):
    """Per-word piece ids, each word tokenized as if preceded by a space.

    As HuggingFace's `is_split_into_words=True`: ALBERT's SentencePiece adds
    the leading "▁" to every word, and normalization applies per word. A
    word that tokenizes to nothing (a no-break space, a lone combining
    accent, a zero-width space) becomes `[<unk>]`, so that every word still gets a
    prediction and the entity metric is not skewed.

    Args:
        tokenizer: `keras_albert.AlbertTokenizer`.
        words: list of str.

    Returns:
        `(pieces, num_empty_words)`: list of lists of int, and how many
        words were replaced by `<unk>`.
    """
    pieces = tokenizer.tokenize_python(list(words))
    empty = [index for index, ids in enumerate(pieces) if not ids]
    for index in empty:
        pieces[index] = [tokenizer.unk_token_id]
    return pieces, len(empty)


def windows_for_words(word_pieces, max_seq_length, cls_token_id, sep_token_id, window_stride=None):
    """Cuts a sentence into model windows of at most `max_seq_length` ids.

    Windows slide over the sentence's pieces (words may be cut between
    pieces; a word belongs to the windows holding its first piece), starting
    every `window_stride` pieces, the last one ending at the last piece.
    Each word is predicted from the window where `min(left, right) context +
    0.01 * window length` is largest (the first such window on ties), as
    BERT's SQuAD code picks a token's window.

    Args:
        word_pieces: list of non-empty lists of int, the pieces of each
            word (see `tokenize_words`).
        max_seq_length: int >= 3, including `[CLS]` and `[SEP]`.
        cls_token_id, sep_token_id: int.
        window_stride: int, pieces between the starts of consecutive
            windows (BERT's `doc_stride`), in `[1, max_seq_length - 2]`;
            default half a window.

    Returns:
        list of `TokenWindow`; empty for a sentence with no words.
    """
    capacity = max_seq_length - 2
    if capacity < 1:
        raise ValueError(f"`max_seq_length` must be >= 3. Received: max_seq_length={max_seq_length}")
    if window_stride is None:
        window_stride = max(1, capacity // 2)
    first_piece_word = []  # per piece: its word's index if it is the word's first piece, else -1
    for index, ids in enumerate(word_pieces):
        if len(ids) == 0:
            raise ValueError(f"word {index} has no pieces; `tokenize_words` maps such words to <unk>")
        first_piece_word.extend([index] + [-1] * (len(ids) - 1))
    pieces = [i for ids in word_pieces for i in ids]
    first_piece_word = np.array(first_piece_word, dtype="int32")
    spans = window_spans(
        len(pieces), capacity, window_stride, window_for_empty=False, stride_name="window_stride"
    )
    # A word is predicted from the window with the most context around its first piece.
    best_window = max_context_windows(spans, len(pieces))

    windows = []
    for window_index, (start, end) in enumerate(spans):
        features, _ = pack_segments([pieces[start:end]], cls_token_id, sep_token_id)
        word_ids = np.concatenate([[-1], first_piece_word[start:end], [-1]]).astype("int32")
        is_max_context = np.concatenate([[False], best_window[start:end] == window_index, [False]])
        windows.append(TokenWindow(features["token_ids"], word_ids, is_max_context & (word_ids >= 0)))
    return windows


def window_labels(window, word_label_ids):
    """Per-position training targets of a window.

    Args:
        window: `TokenWindow`.
        word_label_ids: sequence of int, the tag id of every word of the
            sentence.

    Returns:
        int32 `[L]`: a word's first piece carries its tag id (in every
        window that holds it); every other position is `IGNORE_LABEL`, which
        `keras.losses.SparseCategoricalCrossentropy(ignore_class=IGNORE_LABEL)`
        leaves out of the loss.
    """
    word_label_ids = np.asarray(word_label_ids, dtype="int32")
    has_word = window.word_ids >= 0
    label_ids = np.where(has_word, word_label_ids[np.maximum(window.word_ids, 0)], IGNORE_LABEL)
    return label_ids.astype("int32")


def merge_window_predictions(windows, window_outputs, num_words):
    """One output per word from the outputs of a sentence's windows.

    Args:
        windows: list of `TokenWindow` from `windows_for_words`.
        window_outputs: sequence, per window, of an array `[T, ...]`
            (`T >= L`; padding beyond the window's length is ignored), e.g.
            logits `[T, num_classes]` or class ids `[T]`.
        num_words: int, the number of words of the sentence.

    Returns:
        array `[num_words, ...]`: for every word, the output at its first
        piece in the window that has the most context for it.
    """
    if len(windows) != len(window_outputs):
        raise ValueError(f"got {len(window_outputs)} window outputs for {len(windows)} windows")
    merged, filled = None, np.zeros(num_words, dtype=bool)
    for window, outputs in zip(windows, window_outputs):
        outputs = np.asarray(outputs)
        positions = np.flatnonzero(window.is_max_context)
        if merged is None:
            merged = np.zeros((num_words,) + outputs.shape[1:], dtype=outputs.dtype)
        words = window.word_ids[positions]
        merged[words] = outputs[positions]
        filled[words] = True
    if not filled.all():
        raise ValueError(
            f"the windows predict {int(filled.sum())} of {num_words} words: were they built "
            "from this sentence?"
        )
    return merged if merged is not None else np.zeros((0,))
