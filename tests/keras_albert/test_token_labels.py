"""Word tags <-> sub-word windows: alignment, long-sentence windows, merging, entity spans."""

import numpy as np
import pytest
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB1, IOB2, IOBES, Tokens

from keras_albert.token_labels import (
    IGNORE_LABEL,
    EntitySpan,
    check_tag,
    label_list_from_tags,
    merge_window_predictions,
    spans_to_tags,
    tags_to_spans,
    tokenize_words,
    window_labels,
    windows_for_words,
)

CLS, SEP = 2, 3

# Hand-checked conlleval chunks, (scheme, tags, entities).
HAND_CHECKED_SPANS = [
    (
        "IOB2",
        ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"],
        [("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 5)],
    ),
    (  # IOB1: B- only separates adjacent entities of one type.
        "IOB1",
        ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"],
        [("PER", 0, 1), ("PER", 2, 2), ("LOC", 4, 4), ("ORG", 5, 5)],
    ),
    (
        "BIOES",
        ["S-PER", "B-LOC", "I-LOC", "E-LOC", "O", "B-ORG", "E-ORG", "S-ORG"],
        [("PER", 0, 0), ("LOC", 1, 3), ("ORG", 5, 6), ("ORG", 7, 7)],
    ),
    (  # Invalid IOB2 as a tagger may predict it: conlleval opens an entity at I- after O.
        "IOB2",
        ["O", "I-person", "I-person", "I-location", "B-creative-work"],
        [("person", 1, 2), ("location", 3, 3), ("creative-work", 4, 4)],
    ),
    ("IOB2", ["O", "O"], []),
    ("IOB2", [], []),
]


@pytest.mark.parametrize("scheme,tags,expected", HAND_CHECKED_SPANS)
def test_tags_to_spans_gives_the_hand_checked_conlleval_entities_as_seqeval(scheme, tags, expected):
    spans = tags_to_spans(tags, scheme)
    assert spans == expected
    assert spans == get_entities(tags)
    assert all(isinstance(span, EntitySpan) for span in spans)


@pytest.mark.parametrize(
    "tag,scheme",
    [("E-PER", "IOB2"), ("S-PER", "IOB1"), ("B-", "IOB2"), ("X-PER", "BIOES"), ("PER", "IOB2"), ("o", "IOB2")],
)
def test_check_tag_rejects_tags_outside_the_scheme(tag, scheme):
    with pytest.raises(ValueError, match=f"tag {tag!r} is not a {scheme} tag"):
        check_tag(tag, scheme)


def test_tags_to_spans_names_the_word_of_a_bad_tag_and_unknown_schemes():
    with pytest.raises(ValueError, match="word 1: tag 'S-PER'"):
        tags_to_spans(["O", "S-PER"], "IOB2")
    with pytest.raises(ValueError, match="scheme"):
        tags_to_spans(["O"], "BILOU")


_SEQEVAL_SCHEMES = {"IOB1": IOB1, "IOB2": IOB2, "BIOES": IOBES}


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "BIOES"])
def test_spans_to_tags_writes_valid_tags_that_seqeval_strict_mode_reads_back(scheme):
    rng = np.random.default_rng(0)
    for _ in range(200):
        num_words = int(rng.integers(0, 12))
        spans, position = [], 0
        while position < num_words:
            position += int(rng.integers(0, 3))
            end = position + int(rng.integers(0, 3))
            if end < num_words:
                spans.append((str(rng.choice(["PER", "LOC"])), position, end))
            position = end + 1
        tags = spans_to_tags(spans, num_words, scheme)
        assert tags_to_spans(tags, scheme) == spans
        strict = Tokens(tags, _SEQEVAL_SCHEMES[scheme]).entities  # Raises on invalid prefixes.
        assert [(e.tag, e.start, e.end - 1) for e in strict] == spans


def test_spans_to_tags_converts_between_schemes():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]
    assert spans_to_tags(tags_to_spans(iob1, "IOB1"), 5, "IOB2") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert spans_to_tags(tags_to_spans(iob1, "IOB1"), 5, "BIOES") == ["B-PER", "E-PER", "S-PER", "O", "S-LOC"]


def test_spans_to_tags_rejects_overlapping_or_out_of_range_spans():
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags([("PER", 0, 2), ("LOC", 2, 3)], 5)
    with pytest.raises(ValueError, match="out of range"):
        spans_to_tags([("PER", 3, 5)], 5)


def test_label_list_is_sorted_and_has_every_tag_of_each_type_seen():
    labels = label_list_from_tags([["O", "B-person"], ["I-person", "O", "B-group"]])
    assert labels == ["B-group", "B-person", "I-group", "I-person", "O"]
    assert label_list_from_tags([["S-loc"]], "BIOES") == ["B-loc", "E-loc", "I-loc", "O", "S-loc"]


def test_a_short_sentence_is_one_window_whose_first_pieces_carry_the_labels():
    windows = windows_for_words([[10], [11, 12], [13]], max_seq_length=16, cls_token_id=CLS, sep_token_id=SEP)
    assert len(windows) == 1
    window = windows[0]
    np.testing.assert_array_equal(window.token_ids, [CLS, 10, 11, 12, 13, SEP])
    np.testing.assert_array_equal(window.word_ids, [-1, 0, 1, -1, 2, -1])
    np.testing.assert_array_equal(window.is_max_context, [0, 1, 1, 0, 1, 0])
    x = IGNORE_LABEL
    np.testing.assert_array_equal(window_labels(window, [5, 6, 7]), [x, 5, 6, x, 7, x])


def test_long_sentences_are_cut_into_windows_and_each_word_is_predicted_where_it_has_most_context():
    pieces = [[100 + word] for word in range(10)]
    windows = windows_for_words(pieces, max_seq_length=6, cls_token_id=CLS, sep_token_id=SEP, window_stride=2)
    # Windows over pieces [0, 4), [2, 6), [4, 8), [6, 10); owners hand-computed
    # from min(left, right) context.
    assert [w.token_ids[1:-1].tolist() for w in windows] == [
        [100, 101, 102, 103], [102, 103, 104, 105], [104, 105, 106, 107], [106, 107, 108, 109]
    ]
    owners = np.full(10, -1)
    for index, window in enumerate(windows):
        assert len(window.token_ids) <= 6 and window.token_ids[0] == CLS and window.token_ids[-1] == SEP
        words = window.word_ids[window.is_max_context]
        assert np.all(owners[words] == -1), "a word is predicted from two windows"
        owners[words] = index
    np.testing.assert_array_equal(owners, [0, 0, 0, 1, 1, 2, 2, 3, 3, 3])
    # Merging takes, per word, the output at its first piece in its window.
    outputs = [w.token_ids * 10 + i for i, w in enumerate(windows)]
    merged = merge_window_predictions(windows, outputs, num_words=10)
    np.testing.assert_array_equal(merged, (np.arange(10) + 100) * 10 + owners)


def test_windows_cover_words_longer_than_a_window_and_merge_ignores_padding():
    pieces = [[20, 21, 22, 23, 24], [30], [40, 41]]
    windows = windows_for_words(pieces, max_seq_length=5, cls_token_id=CLS, sep_token_id=SEP)
    assert all(len(w.token_ids) <= 5 for w in windows)
    assert windows[-1].token_ids[-2] == 41, "the last window ends at the last piece"
    padded = [np.pad(np.eye(50)[w.token_ids], [[0, 7], [0, 0]]) for w in windows]  # [T, C] "logits"
    merged = merge_window_predictions(windows, padded, num_words=3)
    np.testing.assert_array_equal(merged.argmax(-1), [20, 30, 40])


def test_an_empty_sentence_has_no_windows_and_merges_to_nothing():
    windows = windows_for_words([], max_seq_length=8, cls_token_id=CLS, sep_token_id=SEP)
    assert windows == []
    assert merge_window_predictions(windows, [], num_words=0).shape == (0,)


def test_bad_window_arguments_are_named():
    with pytest.raises(ValueError, match="max_seq_length"):
        windows_for_words([[5]], max_seq_length=2, cls_token_id=CLS, sep_token_id=SEP)
    with pytest.raises(ValueError, match="window_stride"):
        windows_for_words([[5]], max_seq_length=8, cls_token_id=CLS, sep_token_id=SEP, window_stride=7)
    with pytest.raises(ValueError, match="word 1 has no pieces"):
        windows_for_words([[5], []], max_seq_length=8, cls_token_id=CLS, sep_token_id=SEP)
    windows = windows_for_words([[5], [6]], max_seq_length=8, cls_token_id=CLS, sep_token_id=SEP)
    with pytest.raises(ValueError, match="predict 2 of 3 words"):
        merge_window_predictions(windows, [w.token_ids for w in windows], num_words=3)


def test_tokenize_words_tokenizes_each_word_as_if_preceded_by_a_space(spm_model_path):
    from keras_albert.albert_tokenizer import AlbertTokenizer

    tokenizer = AlbertTokenizer(proto=str(spm_model_path))
    words = ["The", "Empire", "State", "Building", ",", "1,000", "feet", "tall!"]
    pieces, num_empty = tokenize_words(tokenizer, words)
    assert num_empty == 0
    assert len(pieces) == len(words) and all(pieces)
    assert [i for ids in pieces for i in ids] == tokenizer.tokenize_python(" ".join(words))


def test_tokenize_words_maps_words_that_normalize_to_nothing_to_unk(spm_model_path):
    from keras_albert.albert_tokenizer import AlbertTokenizer

    tokenizer = AlbertTokenizer(proto=str(spm_model_path))
    # A no-break space collapses as whitespace; a lone combining accent is stripped.
    pieces, num_empty = tokenize_words(tokenizer, ["a", "\u00a0", "b", "\u0301"])
    assert num_empty == 2
    assert pieces[1] == [tokenizer.unk_token_id] and pieces[3] == [tokenizer.unk_token_id]
