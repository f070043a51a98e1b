"""Extractive question answering: windows with offsets, and span decoding.

The SQuAD recipe of the original BERT/ALBERT `run_squad.py`, shared by
training (`tasks/run_squad.py`) and serving (`export/`) so that both turn
logits into the same answer text.

Encoding (`encode_question_and_context`): the context is split into words at
whitespace (`str.isspace`, as ALBERT's normalization splits), each word is
tokenized on its own with the tokenizer's Python path (SentencePiece starts a
piece at every word, so this equals tokenizing the whole context), and every
sub-word token keeps the character span `[start, end)` of the ORIGINAL
context it came from. The question is cut to `max_query_length` tokens; the
context is covered by windows of `max_seq_length` tokens packed as
`[CLS] question [SEP] context-window [SEP]`, each window starting
`doc_stride` tokens after the previous one. A token seen by several windows
is scored only in the window where it has the most context on both sides
(`token_is_max_context`, the original's `_check_is_max_context`).

Decoding (`decode_answer`): over all windows of one question, the
`n_best_size` best starts and ends give candidate spans (start <= end, both
in the context, at most `max_answer_length` tokens, start in its
max-context window), ranked by `start_logit + end_logit`. The answer text
is the original context between the first character of the start token
and the last character of the end token. So accents, case, quotes and
extra whitespace removed by normalization come back exactly as written,
and an answer inside a word ("1895" in "(1895),") is a token span of its
own without the original's `get_final_text` re-alignment. Only when a
word's normalized text cannot be aligned character by character with its
pieces (normalization changed its length, e.g. ``` `` ``` to `"`, or a
ligature expanded) do that word's tokens all carry the whole word's span.

"No answer" (SQuAD v2.0) is the span `[CLS]`-`[CLS]`: its score
`start_logits[0] + end_logits[0]` is taken from the window where it is
lowest, and the question is unanswerable when
`null_score - best_span_score > null_score_diff_threshold`.
"""

import sys

import numpy as np

from keras_albert.packing import pack_segments, place_segment
from keras_albert.sliding_windows import max_context_windows, window_spans
from keras_albert.text_normalization import normalize_characters, normalize_text

SPIECE_UNDERLINE = "\u2581"


def split_words(text):
    """Character spans `[start, end)` of the whitespace-separated words of `text`.

    Whitespace is `str.isspace`, as in ALBERT's `" ".join(text.split())`.

    Example:
    ```python
    split_words(" Crème  brûlée")  # [(1, 6), (8, 14)]
    ```
    """
    spans = []
    start = None
    for index, char in enumerate(text):
        if char.isspace():
            if start is not None:
                spans.append((start, index))
                start = None
        elif start is None:
            start = index
    if start is not None:
        spans.append((start, len(text)))
    return spans


def tokenize_with_offsets(tokenizer, text):
    """Token ids of `text` and the character span each came from.

    Args:
        tokenizer: `keras_albert.AlbertTokenizer` (its `tokenize_python` path).
        text: str.

    Returns:
        `(token_ids, offsets)`: int32 `[num_tokens]` and int32
        `[num_tokens, 2]` of `[start, end)` character positions in `text`.

    Example:
    ```python
    ids, offsets = tokenize_with_offsets(tokenizer, "Crème brûlée")
    [ "Crème brûlée"[s:e] for s, e in offsets ]  # e.g. ['Crème', 'brû', 'lée']
    ```
    """
    token_ids, offsets = [], []
    for word_start, word_end in split_words(text):
        word = text[word_start:word_end]
        pieces = tokenizer.tokenize_python(word, as_pieces=True)
        token_ids.extend(tokenizer.token_to_id(piece) for piece in pieces)
        for start, end in _piece_spans(word, pieces, tokenizer):
            offsets.append((word_start + start, word_start + end))
    return (
        np.asarray(token_ids, dtype=np.int32).reshape(-1),
        np.asarray(offsets, dtype=np.int32).reshape(-1, 2),
    )


def _piece_spans(word, pieces, tokenizer):
    """Character spans in `word` of its `pieces`; the whole word where unaligned."""
    normalized = normalize_text(word, tokenizer.lower_case, tokenizer.keep_accents)
    surfaces = [piece.lstrip(SPIECE_UNDERLINE) for piece in pieces]
    char_origins = _normalized_char_origins(word, tokenizer)
    if "".join(surfaces) != normalized or len(char_origins) != len(normalized):
        return [(0, len(word))] * len(pieces)
    spans = []
    position = 0
    for surface in surfaces:
        if surface:
            start = char_origins[position]
            end = char_origins[position + len(surface) - 1] + 1
        else:  # A bare word-start piece "▁": empty, before what follows.
            start = end = char_origins[position] if position < len(char_origins) else len(word)
        spans.append((start, end))
        position += len(surface)
    return spans


def _normalized_char_origins(word, tokenizer):
    """For each character of the normalized word, the index of its source character.

    Normalizes character by character; when that gives a different length
    than normalizing the word at once (a rule spanning characters), the
    caller falls back to whole-word spans.
    """
    if word.isascii():  # Lower-casing and NFKD keep ASCII one to one.
        return list(range(len(word)))
    origins = []
    for index, char in enumerate(word):
        normalized = normalize_characters(char, tokenizer.lower_case, tokenizer.keep_accents)
        origins.extend([index] * len(normalized))
    return origins


def answer_token_span(offsets, char_start, char_end):
    """First and last token overlapping the characters `[char_start, char_end)`.

    Args:
        offsets: int `[num_tokens, 2]` from `tokenize_with_offsets`.
        char_start, char_end: the answer's character span.

    Returns:
        `(first_token, last_token)`, or None when no token overlaps (the
        answer is only whitespace or characters the tokenizer drops).
    """
    offsets = np.asarray(offsets).reshape(-1, 2)
    overlapping = np.flatnonzero(
        (offsets[:, 0] < char_end) & (offsets[:, 1] > char_start)
    )
    if overlapping.size == 0:
        return None
    return int(overlapping[0]), int(overlapping[-1])


def encode_question_and_context(
    tokenizer,
    question,
    context,
    max_seq_length=384,
    doc_stride=128,
    max_query_length=64,
    answer_char_span=None,
    context_encoding=None,
):
    """Windows `[CLS] question [SEP] context-window [SEP]` over a long context.

    Args:
        tokenizer: `keras_albert.AlbertTokenizer`.
        question: str.
        context: str.
        max_seq_length: int. Tokens per window, special tokens included.
        doc_stride: int. Context tokens between the starts of two windows.
        max_query_length: int. The question is cut to this many tokens.
        answer_char_span: optional `(start, end)` character span of the
            answer in `context` (training). `(0, 0)` or None: no answer.
        context_encoding: optional `tokenize_with_offsets(tokenizer, context)`,
            to tokenize a context shared by several questions once.

    Returns:
        `(windows, info)`. `windows` is a list (at least one) of dicts with
        `token_ids`, `segment_ids`, `padding_mask` (int32 `[length]`,
        unpadded), `token_offsets` (int32 `[length, 2]`: character span in
        `context` of each context token, -1 elsewhere),
        `token_is_max_context` (bool `[length]`), and `start_position`,
        `end_position` (the answer's tokens in this window; 0, i.e.
        `[CLS]`, when there is no answer or it is not inside the window).
        `info` has `question_truncated` (bool) and `answer_found` (False
        when an answer span was given but covers no token).

    Example:
    ```python
    windows, info = encode_question_and_context(
        tokenizer, "Where is Normandy?", "Normandy is in France.",
        answer_char_span=(15, 21),
    )
    windows[0]["start_position"], windows[0]["end_position"]
    ```
    """
    question_ids = np.asarray(tokenizer.tokenize_python(question), dtype=np.int32)
    info = {"question_truncated": len(question_ids) > max_query_length, "answer_found": True}
    question_ids = question_ids[:max_query_length]
    context_ids, context_offsets = context_encoding or tokenize_with_offsets(tokenizer, context)
    if len(context_ids) == 0:
        raise ValueError(
            f"The context has no tokens (it is empty or only characters the tokenizer drops): {context!r:.80}"
        )
    max_context_tokens = max_seq_length - len(question_ids) - 3
    if max_context_tokens < 1:
        raise ValueError(
            f"`max_seq_length={max_seq_length}` leaves no room for the context after "
            f"a question of {len(question_ids)} tokens and 3 special tokens; raise "
            "`max_seq_length` or lower `max_query_length`."
        )
    if doc_stride < 1:
        raise ValueError(f"`doc_stride` must be a positive int. Received: doc_stride={doc_stride}")

    answer_tokens = None
    if answer_char_span is not None and tuple(answer_char_span) != (0, 0):
        answer_tokens = answer_token_span(context_offsets, *answer_char_span)
        info["answer_found"] = answer_tokens is not None

    spans = window_spans(len(context_ids), max_context_tokens, min(max_context_tokens, doc_stride))
    max_context_window = max_context_windows(spans, len(context_ids))
    windows = []
    for window_index, (window_start, window_end) in enumerate(spans):
        windows.append(
            _pack_window(
                tokenizer,
                question_ids,
                context_ids[window_start:window_end],
                context_offsets[window_start:window_end],
                max_context_window[window_start:window_end] == window_index,
                _answer_in_window(answer_tokens, window_start, window_end),
            )
        )
    return windows, info


def _answer_in_window(answer_tokens, window_start, window_end):
    """The answer's first and last token relative to the window, or None."""
    if answer_tokens is None:
        return None
    first, last = answer_tokens
    if window_start <= first and last < window_end:
        return first - window_start, last - window_start
    return None


def _pack_window(tokenizer, question_ids, context_ids, context_offsets, is_max_context, answer):
    features, (_, context_position) = pack_segments(
        [question_ids, context_ids], tokenizer.cls_token_id, tokenizer.sep_token_id
    )
    length = len(features["token_ids"])
    start_position = end_position = 0
    if answer is not None:
        start_position, end_position = (context_position + i for i in answer)
    return {
        **features,
        "token_offsets": place_segment(context_offsets, context_position, length, -1),
        "token_is_max_context": place_segment(is_max_context, context_position, length, False),
        "start_position": start_position,
        "end_position": end_position,
    }


def span_text(context, window, start, end):
    """The text of `context` from the first character of the window's token
    `start` to the last character of its token `end` (both context tokens)."""
    offsets = window["token_offsets"]
    return context[offsets[start, 0] : offsets[end, 1]]


def decode_answer(
    context,
    windows,
    start_logits,
    end_logits,
    n_best_size=20,
    max_answer_length=30,
    version_2_with_negative=False,
    null_score_diff_threshold=0.0,
):
    """The answer text of one question from the logits of all its windows.

    Args:
        context: str. The context the windows were made from.
        windows: the windows of `encode_question_and_context` (at least
            `token_offsets` and `token_is_max_context`).
        start_logits, end_logits: one float array per window, `[length]`
            or longer (padding is ignored).
        n_best_size: int. Best starts, best ends and answers kept.
        max_answer_length: int. Longest answer, in tokens.
        version_2_with_negative: bool. Whether "no answer" may be predicted.
        null_score_diff_threshold: float. Predict "no answer" when
            `null_odds > null_score_diff_threshold`.

    Returns:
        A dict: `text` (the prediction, "" for no answer),
        `best_non_null_text` (the best span's text, "" if there is none),
        `null_odds` (`null_score - best_span_score`; +inf when no span is
        possible, see `null_odds_for_json`), and `nbest`: up to `n_best_size` dicts `text`,
        `probability` (softmax over the n-best scores), `start_logit`,
        `end_logit`, best first, distinct texts; with
        `version_2_with_negative` the "" entry is always among them.

    Example:
    ```python
    answer = decode_answer(context, windows, starts, ends)["text"]
    ```
    """
    window_logits = [
        (
            np.asarray(starts, np.float64)[: len(window["token_offsets"])],
            np.asarray(ends, np.float64)[: len(window["token_offsets"])],
        )
        for window, starts, ends in zip(windows, start_logits, end_logits)
    ]
    null_window = int(np.argmin([starts[0] + ends[0] for starts, ends in window_logits]))
    null_logits = (window_logits[null_window][0][0], window_logits[null_window][1][0])
    null_score = sum(null_logits)
    spans = _candidate_spans(windows, window_logits, n_best_size, max_answer_length)
    if len(spans) == 0:  # No allowed pair among the best: search them all.
        spans = _candidate_spans(windows, window_logits, None, max_answer_length)
    if version_2_with_negative:  # "No answer" is a candidate like any span.
        spans = np.concatenate([spans, [[*null_logits, -1, 0, 0]]])
    # Stable: on equal scores earlier windows and spans before "no answer".
    order = np.argsort(-(spans[:, 0] + spans[:, 1]), kind="stable")

    # The best non-empty span sets `null_odds` even where "no answer" and
    # other texts fill the n-best (`n_best_size=1`), as the graph twin does.
    nbest, seen, best_span_score, best_non_null_text = [], set(), None, ""
    for start_logit, end_logit, window_index, start, end in spans[order]:
        if window_index < 0:
            text = ""
        else:
            text = span_text(context, windows[int(window_index)], int(start), int(end))
            if not text:  # A span of bare word-start pieces.
                continue
            if best_span_score is None:
                best_span_score, best_non_null_text = start_logit + end_logit, text
        if text not in seen and len(nbest) < n_best_size:
            seen.add(text)
            nbest.append({"text": text, "start_logit": start_logit, "end_logit": end_logit})
        if len(nbest) == n_best_size and best_span_score is not None:
            break
    if version_2_with_negative and "" not in seen:
        nbest.append({"text": "", "start_logit": null_logits[0], "end_logit": null_logits[1]})
    if not nbest:  # v1.1, and every span is of bare word-start pieces.
        nbest.append({"text": "", "start_logit": 0.0, "end_logit": 0.0})
    scores = np.array([e["start_logit"] + e["end_logit"] for e in nbest])
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    for entry, probability in zip(nbest, probabilities):
        entry["probability"] = float(probability)
        entry["start_logit"] = float(entry["start_logit"])
        entry["end_logit"] = float(entry["end_logit"])

    null_odds = float("inf") if best_span_score is None else float(null_score - best_span_score)
    if version_2_with_negative and null_odds > null_score_diff_threshold:
        text = ""
    else:
        text = best_non_null_text
    return {
        "text": text,
        "best_non_null_text": best_non_null_text,
        "null_odds": null_odds,
        "nbest": nbest,
    }


def null_odds_for_json(null_odds):
    """`null_odds` as a JSON number: +inf (no allowed span) becomes the
    largest float, which strict JSON readers accept and which exceeds every
    threshold, so the official SQuAD v2.0 script reads it as "no answer"."""
    return sys.float_info.max if null_odds == float("inf") else float(null_odds)


def _candidate_spans(windows, window_logits, n_best_size, max_answer_length):
    """Rows `(start_logit, end_logit, window index, start, end)` of allowed spans.

    Spans are ranked as numbers; text is cut only for the few kept.
    """
    spans = [np.zeros((0, 5))]
    for window_index, (window, (starts_logits, end_logits)) in enumerate(zip(windows, window_logits)):
        starts, ends = _valid_spans(window, starts_logits, end_logits, n_best_size, max_answer_length)
        spans.append(
            np.stack(
                [starts_logits[starts], end_logits[ends], np.full(len(starts), window_index), starts, ends],
                axis=1,
            )
        )
    return np.concatenate(spans)


def _valid_spans(window, start_logits, end_logits, n_best_size, max_answer_length):
    """Start and end positions of the allowed spans among a window's best.

    Starts are context tokens in their max-context window, ends context
    tokens, each among the `n_best_size` best (all if None); a span ends at
    or after its start and is at most `max_answer_length` tokens long.
    """
    in_context = window["token_offsets"][:, 0] >= 0
    starts = _best_indices(start_logits, in_context & window["token_is_max_context"], n_best_size)
    ends = _best_indices(end_logits, in_context, n_best_size)
    starts, ends = (grid.reshape(-1) for grid in np.meshgrid(starts, ends, indexing="ij"))
    allowed = (ends >= starts) & (ends - starts + 1 <= max_answer_length)
    return starts[allowed], ends[allowed]


def _best_indices(logits, allowed, n):
    """Indices of the `n` largest `logits` where `allowed`, largest first."""
    indices = np.flatnonzero(allowed)
    order = np.argsort(-logits[indices], kind="stable")
    return indices[order if n is None else order[:n]]
