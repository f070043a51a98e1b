import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from keras_albert.text_normalization import normalize_characters, normalize_text, normalize_text_tf

OPTIONS = [
    {"lower_case": True, "keep_accents": False},
    {"lower_case": True, "keep_accents": True},
    {"lower_case": False, "keep_accents": False},
    {"lower_case": False, "keep_accents": True},
]


def reference_preprocess_text(text, lower_case, keep_accents):
    """HuggingFace `AlbertTokenizer.preprocess_text`, written out again."""
    outputs = " ".join(text.strip().split())
    outputs = outputs.replace("``", '"').replace("''", '"')
    if not keep_accents:
        outputs = unicodedata.normalize("NFKD", outputs)
        outputs = "".join([c for c in outputs if not unicodedata.combining(c)])
    if lower_case:
        outputs = outputs.lower()
    return outputs


def graph_strings(texts, **options):
    return [s.decode("utf-8") for s in normalize_text_tf(tf.constant(texts), **options).numpy()]


HAND_CASES = [
    # (text, lower_case, keep_accents, expected)
    ("", True, False, ""),
    (" \t\n ", True, False, ""),
    ("  Hello\t\tWorld \n", True, False, "hello world"),
    ("Hello\r\n\x0bWorld\x0c!", False, False, "Hello World !"),
    # Whitespace only Python knows: NBSP, EM SPACE, U+3000, \x1c-\x1f, NEL, LS.
    ("\u00a0a\u2003b\u3000c\x1cd\x1fe\x85f\u2028g", True, False, "a b c d e f g"),
    # Zero-width space and BOM are not whitespace for `str.split()`.
    ("a\u200bb\ufeffc", True, False, "a\u200bb\ufeffc"),
    ("``Quoted'' and ```three'''", False, False, '"Quoted" and "`three"\''),
    ("Crème Brûlée à la Façon", True, False, "creme brulee a la facon"),
    ("Crème Brûlée", True, True, "crème brûlée"),
    ("Crème Brûlée", False, False, "Creme Brulee"),
    # NFKD compatibility forms: ligature, full-width, superscript, U+00BD.
    ("ﬁne Ｆｕｌｌ x² ½", True, False, "fine full x2 1⁄2"),
    # A spacing diaeresis decomposes to a space and a mark; the space stays.
    ("a ¨ b", True, False, "a   b"),
    # U+0130 loses its dot with NFKD; with accents kept `lower()` adds U+0307.
    ("İstanbul", True, False, "istanbul"),
    ("İstanbul", True, True, "i\u0307stanbul"),
    # Final sigma, as `str.lower()` decides it.
    ("ΟΔΟΣ ΣΑΣ Σ", True, True, "οδος σας σ"),
    ("Ἀθῆναι ΚΑΙ ΑΘΗΝΑ", True, False, "αθηναι και αθηνα"),
    # U+034F is Mn with combining class 0 (kept); U+1D165 is Mc with class
    # 216 (dropped): `unicodedata.combining`, not \p{Mn}.
    ("a\u034fb\U0001d165c", False, False, "a\u034fbc"),
    # NUL survives lower-casing, and so do the private-use escapes.
    ("A\x00B\x00", True, False, "a\x00b\x00"),
    ("\ue000\ue002X\ue000\ue001\x00Σ", True, False, "\ue000\ue002x\ue000\ue001\x00σ"),
    # Hangul syllables decompose to conjoining jamo (class 0, kept).
    ("Дом Ünïcödé 東京 한국", True, False, "дом unicode 東京 \u1112\u1161\u11ab\u1100\u116e\u11a8"),
]


@pytest.mark.parametrize("text,lower_case,keep_accents,expected", HAND_CASES)
def test_hand_cases(text, lower_case, keep_accents, expected):
    options = {"lower_case": lower_case, "keep_accents": keep_accents}
    assert normalize_text(text, **options) == expected
    assert reference_preprocess_text(text, **options) == expected
    assert graph_strings([text], **options) == [expected]


@pytest.mark.parametrize("keep_accents", [False, True])
def test_graph_matches_python_on_every_code_point(keep_accents):
    """Every code point, alone and in a final-sigma and whitespace context.

    Left out are the code points the Unicode databases disagree on (see the
    module docstring): those unassigned in Python's (TensorFlow Text's
    newer ICU decomposes some), and those TensorFlow's older ICU lower-cases
    differently: characters it does not know (script Unknown, private use
    aside) and U+1734, which Unicode 14 moved from Mn to Mc, so that it no
    longer hides a preceding letter from a final sigma.
    """
    options = {"lower_case": True, "keep_accents": keep_accents}
    code_points = np.array([c for c in range(0x110000) if not 0xD800 <= c < 0xE000])
    categories = np.array([unicodedata.category(chr(c)) for c in code_points])
    scripts = tf.strings.unicode_script(tf.constant(code_points, "int32")).numpy()
    keep = (categories != "Cn") & ((scripts != 103) | (categories == "Co"))
    keep &= code_points != 0x1734
    chars = [chr(c) for c in code_points[keep]]
    assert len(chars) > 280_000
    units = [f"A{c}Σ {c}\t" for c in chars]
    # 512 code points per string keeps this to a few seconds.
    texts = ["".join(units[i : i + 512]) for i in range(0, len(units), 512)]
    expected = [normalize_text(t, **options) for t in texts]
    got = graph_strings(texts, **options)
    # On a mismatch, name the code points.
    mismatched = [
        hex(ord(unit[1]))
        for i, (a, b) in enumerate(zip(expected, got))
        if a != b
        for unit in units[i * 512 : (i + 1) * 512]
        if normalize_text(unit, **options) != graph_strings([unit], **options)[0]
    ]
    assert not mismatched


@pytest.mark.parametrize("options", OPTIONS)
def test_normalize_characters_is_preprocess_text_without_the_whitespace_collapse(options):
    """Per code point (as QA offsets and the TFLite fold use it), and on text with runs of spaces."""
    # Every code point once, under one of the options each (a few seconds in all).
    for code_point in range(OPTIONS.index(options), 0x110000, len(OPTIONS)):
        if 0xD800 <= code_point < 0xE000:
            continue
        char = chr(code_point)
        expected = " " if char.isspace() else reference_preprocess_text(char, **options)
        assert normalize_characters(char, **options) == expected, hex(code_point)
    # Spaces are kept, one per whitespace character; the rest as `normalize_text`.
    text = "  ``Crème''\u00a0\u2003Brûlée \x1c"
    expected = '  "Creme"  Brulee  ' if not options["keep_accents"] else '  "Crème"  Brûlée  '
    assert normalize_characters(text, **options) == (expected.lower() if options["lower_case"] else expected)
    assert normalize_text(text, **options) == normalize_characters(text, **options).strip().replace("  ", " ")


@pytest.mark.parametrize("options", OPTIONS)
def test_graph_matches_python_on_sst2_dev(sst2_dev_sentences, options):
    expected = [reference_preprocess_text(s, **options) for s in sst2_dev_sentences]
    assert [normalize_text(s, **options) for s in sst2_dev_sentences] == expected
    assert graph_strings(sst2_dev_sentences, **options) == expected


@pytest.mark.parametrize("options", OPTIONS)
def test_graph_matches_python_on_mrpc_dev(mrpc_dev_sentences, options):
    assert len(mrpc_dev_sentences) == 816
    # Cased text with accents and quotes: the normalization does something.
    assert any(not s.isascii() for s in mrpc_dev_sentences)
    expected = [reference_preprocess_text(s, **options) for s in mrpc_dev_sentences]
    assert [normalize_text(s, **options) for s in mrpc_dev_sentences] == expected
    assert graph_strings(mrpc_dev_sentences, **options) == expected


def test_graph_keeps_shape_and_runs_in_tf_data():
    texts = tf.constant([["  A  b ", "Ç"], ["``x''", ""]])
    out = normalize_text_tf(texts)
    assert out.shape == (2, 2)
    assert out.numpy().tolist() == [[b"a b", b"c"], [b'"x"', b""]]
    assert normalize_text_tf("  Été ").numpy() == b"ete"
    dataset = tf.data.Dataset.from_tensor_slices(["  Été ", "A\tB"]).map(normalize_text_tf)
    assert list(dataset.as_numpy_iterator()) == [b"ete", b"a b"]
