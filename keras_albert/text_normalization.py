"""ALBERT's text normalization, in Python and as TensorFlow ops.

ALBERT normalizes text before SentencePiece (HuggingFace's
`AlbertTokenizer.preprocess_text`; `preprocess_text` in google-research
albert's `tokenization.py` is the same without step 2 and `keep_accents`):

1. `" ".join(text.strip().split())`: collapse whitespace runs to one space.
2. Replace ``` `` ``` and `''` with `"`.
3. Unless `keep_accents`: NFKD, then drop every character with a non-zero
   canonical combining class (`unicodedata.combining`).
4. If `lower_case`: `str.lower()`.

`normalize_text` is that function; `normalize_characters` is steps 2-4
alone, which the character offsets of question answering
(`question_answering`, `graph_piece_offsets`) and the TFLite
tokenizer's folded SentencePiece map (`export/tflite_tokenizer.py`) apply
character by character. `normalize_text_tf` computes the same strings
in-graph (for `tf.data` and SavedModels; its regex, ICU and lower-casing ops
run in TFLite only with the Flex delegate; it imports TensorFlow when
called, so the Python functions need none), and the tests compare the two
on every Unicode code point and on real data sets.

Where Python and the graph ops disagree, and how they are made to agree:

- Whitespace: `str.split()` splits on `str.isspace()` characters, which
  include `\\v`, `\\x1c`-`\\x1f`, `\\x85`, NBSP and the other `Zs`, `\\u2028`
  and `\\u2029`; RE2's `\\s` is only `[\\t\\n\\f\\r ]`. The graph uses a
  character class built from `str.isspace()` itself.
- Combining marks: `unicodedata.combining(c) != 0` is not `\\p{Mn}` (e.g.
  U+034F COMBINING GRAPHEME JOINER is Mn with class 0 and is kept, while
  U+1D165 is Mc with class 216 and is dropped). The graph uses a class
  built from `unicodedata.combining` itself.
- NUL: `tf.strings.lower` stops at the first `\\x00` and drops the rest of
  the string; NULs are escaped around it (see `_lower`).
- Unicode versions: the classes come from the running Python's
  `unicodedata` (14.0.0 on Python 3.11). TensorFlow Text's NFKD uses a newer
  ICU, which also decomposes some code points that are unassigned in
  Python's tables. `tf.strings.lower` uses an older one (Unicode 13): it
  leaves the ~40 capitals added in Unicode 14 (Vithkuqi, U+2C2F, U+A7C0,
  U+A7D0, U+A7D6, U+A7D8) upper-case, and, choosing between final and
  medial sigma, does not know Unicode 14's new marks nor that U+1734
  became a spacing mark. Those code points are the only differences (the
  tests check every code point); no ALBERT vocabulary contains them.

Text must be valid UTF-8.
"""

import functools
import unicodedata


def normalize_text(text, lower_case=True, keep_accents=False):
    """Normalizes one string exactly as ALBERT's `preprocess_text`.

    Args:
        text: str.
        lower_case: bool. Lower-case the result (uncased ALBERT models).
        keep_accents: bool. Skip NFKD and the removal of combining marks.

    Returns:
        str.

    Example:
    ```python
    normalize_text("  Crème  ``brûlée''\\n")  # 'creme "brulee"'
    ```
    """
    return _normalize_marks_and_case(" ".join(text.split()), lower_case, keep_accents)


def normalize_characters(text, lower_case=True, keep_accents=False):
    """`normalize_text` without the whitespace collapse and strip.

    Every `str.isspace()` character becomes one space (the collapse would
    have split on it); then steps 2-4. `normalize_text(t)` is
    `normalize_characters(" ".join(t.split()))`.

    Args:
        text: str.
        lower_case, keep_accents: as `normalize_text`.

    Returns:
        str.
    """
    text = "".join(" " if char.isspace() else char for char in text)
    return _normalize_marks_and_case(text, lower_case, keep_accents)


def _normalize_marks_and_case(text, lower_case, keep_accents):
    """Steps 2-4."""
    text = text.replace("``", '"').replace("''", '"')
    if not keep_accents:
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    if lower_case:
        text = text.lower()
    return text


def normalize_text_tf(inputs, lower_case=True, keep_accents=False):
    """`normalize_text` as TensorFlow ops, for string tensors of any shape.

    Args:
        inputs: string tensor (or anything `tf.convert_to_tensor` accepts).
        lower_case: bool. Lower-case the result.
        keep_accents: bool. Skip NFKD and the removal of combining marks.

    Returns:
        A string tensor of the same shape.

    Example:
    ```python
    normalize_text_tf(tf.constant(["  Crème\\t``brûlée''"]))
    # <tf.Tensor: ... numpy=array([b'creme "brulee"'], dtype=object)>
    ```
    """
    # TensorFlow only here: the Python rules above serve every backend.
    from keras_albert.tensorflow_dependency import require_tensorflow

    require_tensorflow("normalize_text_tf")
    import tensorflow as tf
    import tensorflow_text as tf_text

    x = tf.convert_to_tensor(inputs, dtype=tf.string)
    x = tf.strings.regex_replace(x, whitespace_run_pattern(), " ")
    # After the collapse at most one space is left at either end.
    x = tf.strings.regex_replace(x, "^ | $", "")
    # Two patterns with no characters in common, neither producing the
    # other: one alternation equals Python's two sequential replaces.
    x = tf.strings.regex_replace(x, "``|''", '"')
    if not keep_accents:
        x = tf_text.normalize_utf8(x, "NFKD")
        x = tf.strings.regex_replace(x, f"[{_combining_class()}]+", "")
    if lower_case:
        x = _lower(x)
    return x


# Private-use code points used to escape NUL around `tf.strings.lower`.
# Like NUL they are neither cased nor case-ignorable, so swapping them in
# leaves the final-sigma context that `str.lower()` and ICU look at intact.
# They are literal characters: RE2 reads them the same way in a pattern and
# in a rewrite string.
_ESCAPE = "\ue000"
_ESCAPED_ESCAPE = "\ue000\ue001"
_ESCAPED_NUL = "\ue000\ue002"


def _lower(x):
    """`str.lower()` on a string tensor, NULs included."""
    import tensorflow as tf

    x = tf.strings.regex_replace(x, _ESCAPE, _ESCAPED_ESCAPE)
    x = tf.strings.regex_replace(x, "\\x00", _ESCAPED_NUL)
    # ICU's full lower-casing: final sigma and U+0130 as in `str.lower()`.
    x = tf.strings.lower(x, encoding="utf-8")
    # Every original U+E000 is now followed by U+E001, so U+E000 U+E002
    # can only be an escaped NUL.
    x = tf.strings.regex_replace(x, _ESCAPED_NUL, "\x00")
    return tf.strings.regex_replace(x, _ESCAPED_ESCAPE, _ESCAPE)


def _re2_class(predicate):
    """An RE2 character-class body matching the code points `predicate` accepts."""
    ranges = []
    for code_point in range(0x110000):
        if not predicate(chr(code_point)):
            continue
        if ranges and ranges[-1][1] == code_point - 1:
            ranges[-1][1] = code_point
        else:
            ranges.append([code_point, code_point])
    return "".join(
        f"\\x{{{start:x}}}" if start == end else f"\\x{{{start:x}}}-\\x{{{end:x}}}"
        for start, end in ranges
    )


@functools.cache
def whitespace_run_pattern():
    """RE2 pattern of a run of `str.isspace()` characters (`str.split()`'s separators)."""
    return f"[{_re2_class(str.isspace)}]+"


@functools.cache
def _combining_class():
    return _re2_class(unicodedata.combining)
