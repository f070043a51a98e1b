"""keras_albert/question_answering.py: windows with offsets, span decoding, exact answer text."""

import json

import numpy as np
import pytest

from keras_albert.question_answering import (
    answer_token_span,
    decode_answer,
    encode_question_and_context,
    split_words,
    tokenize_with_offsets,
)
from keras_albert.text_normalization import normalize_text

LONG_CONTEXT = (
    "The Normans (Norman: Nourmands; French: Normands; Latin: Normanni) were the people who in "
    "the 10th and 11th centuries gave their name to Normandy, a region in France. They were "
    "descended from Norse raiders and pirates from Denmark, Iceland and Norway who, under their "
    "leader Rollo, agreed to swear fealty to King Charles III of West Francia. Through generations "
    "of assimilation and mixing with the native Frankish and Roman-Gaulish populations, their "
    "descendants would gradually merge with the Carolingian-based cultures of West Francia."
)


def window_logits(windows, spans=None):
    """Zero logits per window; 10 at the (start, end) of `spans[window_index]`."""
    starts, ends = [], []
    for index, window in enumerate(windows):
        start, end = np.zeros(len(window["token_ids"])), np.zeros(len(window["token_ids"]))
        if spans and index in spans:
            start[spans[index][0]] = 10.0
            end[spans[index][1]] = 10.0
        starts.append(start)
        ends.append(end)
    return starts, ends


def test_split_words_gives_character_spans_at_any_unicode_whitespace():
    text = " Crème\u00a0 brûlée\u2009(1895)\n"
    assert [text[s:e] for s, e in split_words(text)] == ["Crème", "brûlée", "(1895)"]
    assert split_words("   ") == []


def test_token_offsets_point_at_the_original_characters_of_each_piece(albert_tokenizer):
    text = "  Crème BRÛLÉE,  in (1895), naïve  Ångström café!"
    ids, offsets = tokenize_with_offsets(albert_tokenizer, text)
    assert list(ids) == albert_tokenizer.tokenize_python(text)
    pieces = albert_tokenizer.tokenize_python(text, as_pieces=True)
    for piece, (start, end) in zip(pieces, offsets):
        # Normalizing the original characters gives the piece back.
        assert normalize_text(text[start:end]) == piece.lstrip("\u2581")
    # Pieces tile every word without gaps.
    assert {start for start, _ in offsets} >= {start for start, _ in split_words(text)}
    assert {end for _, end in offsets} >= {end for _, end in split_words(text)}


def test_words_that_normalization_lengthens_give_every_piece_the_whole_word(albert_tokenizer):
    text = "said ``hello''"  # `` and '' become one character each.
    _, offsets = tokenize_with_offsets(albert_tokenizer, text)
    word_tokens = [tuple(span) for span in offsets if span[0] >= 5]
    assert len(word_tokens) > 1
    assert set(word_tokens) == {(5, len(text))}


def test_answer_token_span_covers_every_token_touching_the_answer():
    offsets = np.array([[0, 3], [4, 7], [7, 9], [10, 14]])
    assert answer_token_span(offsets, 4, 9) == (1, 2)
    assert answer_token_span(offsets, 5, 8) == (1, 2)  # Inside tokens: widened to them.
    assert answer_token_span(offsets, 9, 10) is None  # Only whitespace.


def test_windows_pack_cls_question_sep_context_sep_with_stride(albert_tokenizer):
    question = "Who agreed to swear fealty to King Charles III?"
    windows, info = encode_question_and_context(
        albert_tokenizer, question, LONG_CONTEXT, max_seq_length=48, doc_stride=16, max_query_length=64
    )
    question_ids = albert_tokenizer.tokenize_python(question)
    context_ids, context_offsets = tokenize_with_offsets(albert_tokenizer, LONG_CONTEXT)
    context_length = 48 - len(question_ids) - 3
    assert not info["question_truncated"]
    assert len(windows) == 1 + -(-(len(context_ids) - context_length) // 16)
    is_max_context_count = np.zeros(len(context_ids), int)
    for index, window in enumerate(windows):
        ids = list(window["token_ids"])
        assert len(ids) <= 48
        first = len(question_ids) + 2
        assert ids[: first] == [albert_tokenizer.cls_token_id, *question_ids, albert_tokenizer.sep_token_id]
        assert ids[-1] == albert_tokenizer.sep_token_id
        start = 16 * index
        assert ids[first:-1] == list(context_ids[start : start + context_length])
        np.testing.assert_array_equal(window["token_offsets"][first:-1], context_offsets[start : start + context_length])
        assert (window["token_offsets"][:first] == -1).all() and (window["token_offsets"][-1] == -1).all()
        assert list(window["segment_ids"]) == [0] * first + [1] * (len(ids) - first)
        assert (window["padding_mask"] == 1).all()
        is_max_context_count[start : start + len(ids) - first - 1] += window["token_is_max_context"][first:-1]
    # Every context token is scored in exactly one window.
    assert (is_max_context_count == 1).all()


def test_max_context_goes_to_the_window_with_more_context_on_both_sides(albert_tokenizer):
    windows, _ = encode_question_and_context(
        albert_tokenizer, "Who?", LONG_CONTEXT, max_seq_length=32, doc_stride=8
    )
    first = len(albert_tokenizer.tokenize_python("Who?")) + 2
    context_length = 32 - first - 1
    assert len(windows) > 3
    middle = first + context_length // 2
    # The 2nd window's middle token is also 8 tokens from the 1st window's
    # end and 8 from the 3rd window's start: the 2nd window wins.
    assert windows[1]["token_is_max_context"][middle]
    # Its first context token has no left context; the 1st window, where
    # it sits 8 tokens in, scores it.
    assert not windows[1]["token_is_max_context"][first]
    assert windows[0]["token_is_max_context"][first + 8]
    # The first window scores its leading tokens: no other window has them.
    assert windows[0]["token_is_max_context"][first : first + 8].all()


def test_answer_positions_are_set_only_in_windows_that_hold_the_whole_answer(albert_tokenizer):
    answer = "Rollo"
    char_start = LONG_CONTEXT.index(answer)
    windows, info = encode_question_and_context(
        albert_tokenizer, "Who led them?", LONG_CONTEXT, max_seq_length=40, doc_stride=10,
        answer_char_span=(char_start, char_start + len(answer)),
    )
    assert info["answer_found"]
    holding = [w for w in windows if w["start_position"] > 0]
    assert holding and len(holding) < len(windows)
    for window in holding:
        start = window["token_offsets"][window["start_position"], 0]
        end = window["token_offsets"][window["end_position"], 1]
        assert LONG_CONTEXT[start:end] == answer
    assert all(w["end_position"] == 0 for w in windows if w["start_position"] == 0)


def test_an_unanswerable_answer_span_targets_cls(albert_tokenizer):
    windows, info = encode_question_and_context(
        albert_tokenizer, "Who?", "Normandy is in France.", answer_char_span=(0, 0)
    )
    assert info["answer_found"]
    assert [(w["start_position"], w["end_position"]) for w in windows] == [(0, 0)]


def test_long_questions_are_cut_to_max_query_length(albert_tokenizer):
    question = "What " * 40 + "?"
    windows, info = encode_question_and_context(
        albert_tokenizer, question, "Normandy is in France.", max_seq_length=64, max_query_length=10
    )
    assert info["question_truncated"]
    assert list(windows[0]["token_ids"][1:11]) == albert_tokenizer.tokenize_python(question)[:10]
    assert windows[0]["token_ids"][11] == albert_tokenizer.sep_token_id


def test_encoding_rejects_windows_without_room_and_contexts_without_tokens(albert_tokenizer):
    with pytest.raises(ValueError, match="max_seq_length=8"):
        encode_question_and_context(albert_tokenizer, "Who ruled Normandy then?", "x", max_seq_length=8)
    with pytest.raises(ValueError, match="no tokens"):
        encode_question_and_context(albert_tokenizer, "Who?", " \u0301 \n")
    with pytest.raises(ValueError, match="doc_stride"):
        encode_question_and_context(albert_tokenizer, "Who?", "France", doc_stride=0)


def test_decoding_returns_the_original_text_with_case_accents_and_spacing(albert_tokenizer):
    context = "It was the  CRÈME   Brûlée ``Café'' of 1895."
    answer_start = context.index("CRÈME")
    answer = "CRÈME   Brûlée ``Café''"
    windows, _ = encode_question_and_context(
        albert_tokenizer, "What?", context, answer_char_span=(answer_start, answer_start + len(answer))
    )
    window = windows[0]
    starts, ends = window_logits(windows, {0: (window["start_position"], window["end_position"])})
    result = decode_answer(context, windows, starts, ends)
    assert result["text"] == answer
    assert result["nbest"][0]["text"] == answer


def test_decoding_ignores_invalid_spans_and_ranks_by_start_plus_end(albert_tokenizer):
    context = "Rollo agreed to swear fealty to King Charles III of West Francia."
    windows, _ = encode_question_and_context(albert_tokenizer, "Who?", context)
    window = windows[0]
    first = int(np.flatnonzero(window["token_offsets"][:, 0] >= 0)[0])
    starts, ends = window_logits(windows)
    starts[0][:], ends[0][:] = -100.0, -100.0
    starts[0][0] = ends[0][0] = 50.0  # [CLS]: not a span in v1.1.
    starts[0][1] = ends[0][1] = 40.0  # A question token.
    starts[0][first + 8], ends[0][first + 1] = 30.0, 30.0  # Ends before it starts.
    starts[0][first + 3], ends[0][first + 6] = 5.0, 6.0  # The best allowed span.
    result = decode_answer(context, windows, starts, ends, n_best_size=20)
    offsets = window["token_offsets"]
    assert result["text"] == context[offsets[first + 3, 0] : offsets[first + 6, 1]]
    assert result["nbest"][0]["start_logit"] == 5.0 and result["nbest"][0]["end_logit"] == 6.0
    # Too long: the best is then a one-token span with a background end.
    short = decode_answer(context, windows, starts, ends, max_answer_length=3)
    assert short["nbest"][0]["start_logit"] + short["nbest"][0]["end_logit"] < 11.0


def test_nbest_has_distinct_texts_and_probabilities_summing_to_one(albert_tokenizer):
    windows, _ = encode_question_and_context(
        albert_tokenizer, "Who?", LONG_CONTEXT, max_seq_length=48, doc_stride=16
    )
    rng = np.random.default_rng(0)
    starts = [rng.normal(size=len(w["token_ids"]) + 5) for w in windows]  # Padded logits too.
    ends = [rng.normal(size=len(w["token_ids"]) + 5) for w in windows]
    result = decode_answer(LONG_CONTEXT, windows, starts, ends, n_best_size=7, max_answer_length=5)
    texts = [entry["text"] for entry in result["nbest"]]
    assert len(texts) == 7 and len(set(texts)) == 7
    assert all(text and text in LONG_CONTEXT for text in texts)
    assert sum(entry["probability"] for entry in result["nbest"]) == pytest.approx(1.0)
    scores = [entry["start_logit"] + entry["end_logit"] for entry in result["nbest"]]
    assert scores == sorted(scores, reverse=True)
    json.dumps(result)  # Plain Python values, ready for nbest_predictions.json.


def test_no_answer_wins_when_null_odds_exceed_the_threshold(albert_tokenizer):
    context = "Normandy is a region in France."
    answer_start = context.index("France")
    windows, _ = encode_question_and_context(
        albert_tokenizer, "Where?", context, answer_char_span=(answer_start, answer_start + 6)
    )
    span = (windows[0]["start_position"], windows[0]["end_position"])
    starts, ends = window_logits(windows, {0: span})
    starts[0][0], ends[0][0] = 12.0, 11.0  # Null score 23 against the best span's 20.

    def decode(**kwargs):
        return decode_answer(context, windows, starts, ends, version_2_with_negative=True, **kwargs)

    result = decode()
    assert result["text"] == ""
    assert result["null_odds"] == pytest.approx(3.0)
    assert result["best_non_null_text"] == "France"
    assert decode(null_score_diff_threshold=3.5)["text"] == "France"
    assert "" in [entry["text"] for entry in result["nbest"]]
    # "No answer" fills an n-best of one; the odds still come from the best span.
    alone = decode(n_best_size=1)
    assert [entry["text"] for entry in alone["nbest"]] == [""]
    assert alone["null_odds"] == pytest.approx(3.0) and alone["best_non_null_text"] == "France"
    # Without v2.0 "no answer" is never predicted (the odds are still reported).
    v1 = decode_answer(context, windows, starts, ends)
    assert v1["text"] == "France" and v1["null_odds"] == pytest.approx(3.0)
    assert "" not in [entry["text"] for entry in v1["nbest"]]


def test_the_null_score_is_the_lowest_over_windows(albert_tokenizer):
    windows, _ = encode_question_and_context(
        albert_tokenizer, "Who?", LONG_CONTEXT, max_seq_length=48, doc_stride=16
    )
    assert len(windows) > 2
    starts, ends = window_logits(windows)
    for index, (start, end) in enumerate(zip(starts, ends)):
        start[0], end[0] = 5.0 + index, 5.0
    result = decode_answer(LONG_CONTEXT, windows, starts, ends, version_2_with_negative=True)
    assert result["null_odds"] == pytest.approx(10.0 - 0.0)
    null_entry = next(e for e in result["nbest"] if e["text"] == "")
    assert (null_entry["start_logit"], null_entry["end_logit"]) == (5.0, 5.0)


def _recovery_counts(tokenizer, path, version_2_with_negative):
    """(recovered, total) distinct gold answers whose token span decodes back
    to them (official normalization)."""
    from tasks.squad import read_squad_examples
    from tasks.squad_metrics import normalize_answer

    examples = read_squad_examples(path)
    total = recovered = 0
    encoded_context, context_encoding = None, None
    for example in examples:
        if example.context is not encoded_context:
            context_encoding = tokenize_with_offsets(tokenizer, example.context)
            encoded_context = example.context
        for text, answer_start in sorted(set(example.answers)):
            windows, _ = encode_question_and_context(
                tokenizer, example.question, example.context,
                answer_char_span=(answer_start, answer_start + len(text)),
                context_encoding=context_encoding,
            )
            spans = {i: (w["start_position"], w["end_position"]) for i, w in enumerate(windows) if w["start_position"]}
            starts, ends = window_logits(windows, spans)
            # No answer-length cap: this measures the offsets, not the decoder's limit.
            predicted = decode_answer(
                example.context, windows, starts, ends, max_answer_length=384,
                version_2_with_negative=version_2_with_negative,
            )["text"]
            total += 1
            recovered += normalize_answer(predicted) == normalize_answer(text)
    return recovered, total


# The README's figures: 99.75 % of 9,738 (v1.1) and 99.83 % of 2,336 (v2.0).
@pytest.mark.heavy
@pytest.mark.parametrize(
    "path, version_2_with_negative, expected_recovered, expected_total, readme_percent",
    [
        ("squad_v1.1_part_a/dev-v1.1-part-a.json", False, 9714, 9738, "99.75"),
        ("squad_v2.0_part_a/dev-v2.0-part-a.json", True, 2332, 2336, "99.83"),
    ],
)
def test_gold_answers_decode_back_from_their_token_spans_at_the_readme_counts(
    albert_tokenizer, shared_data_dir, path, version_2_with_negative,
    expected_recovered, expected_total, readme_percent,
):
    # Gold char span -> tokens in the windows -> decode_answer -> text. The
    # misses are gold answers that split a token ("4" of "49", "e Red Army").
    # Exact counts: a change to normalization, offsets, windows or decoding
    # that gains or loses one answer must update the README with this test.
    recovered, total = _recovery_counts(albert_tokenizer, shared_data_dir / path, version_2_with_negative)
    print(f"{path}: {recovered} of {total} distinct gold answers recovered")
    assert (recovered, total) == (expected_recovered, expected_total)
    assert f"{100 * recovered / total:.2f}" == readme_percent
