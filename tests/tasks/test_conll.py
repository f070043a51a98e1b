"""CoNLL column files: sentences, tags, document breaks, file:line errors, round trips."""

import pytest

from tasks.conll import Sentence, read_conll, write_conll


def write(tmp_path, text, name="data.conll", mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def test_reads_sentences_split_by_blank_lines_and_documents_with_the_tag_in_the_last_column(tmp_path):
    path = write(
        tmp_path,
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n"  # Two blank lines: still one break.
        "Peter NNP B-NP B-PER\n"
        "-DOCSTART- -X- -X- O\n"  # A document break also ends a sentence.
        "Blackburn NNP B-NP B-PER\n",
    )
    assert read_conll(path) == [
        Sentence(["EU", "rejects"], ["B-ORG", "O"], [3, 4]),
        Sentence(["Peter"], ["B-PER"], [7]),
        Sentence(["Blackburn"], ["B-PER"], [9]),
    ]


def test_tab_separated_lines_keep_spaces_in_tokens_and_whitespace_only_lines_are_breaks(tmp_path):
    path = write(tmp_path, "\ufeffNew York\tB-location\r\n \t \r\n&amp;\tO\n\u00a0\tO\n")
    sentences = read_conll(path)
    assert [s.words for s in sentences] == [["New York"], ["&amp;", "\u00a0"]]
    assert [s.tags for s in sentences] == [["B-location"], ["O", "O"]]


def test_reading_without_tags_takes_the_first_column_of_one_column_files(tmp_path):
    path = write(tmp_path, "Hello\nworld\n\nBye\n")
    sentences = read_conll(path, with_tags=False)
    assert [s.words for s in sentences] == [["Hello", "world"], ["Bye"]]
    assert sentences[0].tags is None


@pytest.mark.parametrize(
    "text,message",
    [
        ("a\tO\nb\tO\tO\n", r"data.conll:2: expected 2 tab- or space-separated columns .*as on line 1.*got 3"),
        ("a\tO\n\nlonely\n", r"data.conll:3: expected 2 .*got 1"),
        ("a\tO\nb\tE-person\n", r"data.conll:2: tag 'E-person' is not a IOB2 tag: expected 'O', 'B-<type>', 'I-<type>'"),
        ("a\tO\nb\tB-\n", r"data.conll:2: tag 'B-' is not a IOB2 tag"),
        ("a\tO\n\tO\n", r"data.conll:2: expected 2 .*got 1"),
    ],
)
def test_malformed_lines_stop_with_file_line_and_what_was_expected(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_conll(write(tmp_path, text))


def test_bioes_files_read_with_their_scheme_and_invalid_utf8_names_the_line(tmp_path):
    path = write(tmp_path, "a\tS-PER\nb\tB-LOC\nc\tE-LOC\n")
    assert read_conll(path, scheme="BIOES")[0].tags == ["S-PER", "B-LOC", "E-LOC"]
    with pytest.raises(ValueError, match="data.conll:2:1: not valid UTF-8"):
        read_conll(write(tmp_path, b"a\tO\n\xff\tO\n", mode="wb"))


def test_written_predictions_read_back_column_by_column(tmp_path):
    sentences = [(["New York", "is"], ["B-LOC", "O"], ["B-LOC", "I-LOC"]), (["ok"], ["O"], ["O"])]
    path = str(tmp_path / "predictions.txt")
    write_conll(path, sentences)
    assert open(path, encoding="utf-8").read() == "New York\tB-LOC\tB-LOC\nis\tO\tI-LOC\n\nok\tO\tO\n\n"
    assert [(s.words, s.tags) for s in read_conll(path)] == [(w, p) for w, _, p in sentences]


def test_write_rejects_values_that_would_not_read_back(tmp_path):
    path = str(tmp_path / "out.txt")
    with pytest.raises(ValueError, match="sentence 0: value 'a\\\\tb'"):
        write_conll(path, [(["a\tb"], ["O"])])
    with pytest.raises(ValueError, match="sentence 1: columns of different lengths"):
        write_conll(path, [(["a"], ["O"]), (["a", "b"], ["O"])])


def test_the_real_wnut17_files_parse_fully_with_the_readme_counts(shared_data_dir):
    expected = {"wnut17train.conll": (3394, 62730, 1975), "emerging.dev.conll": (1009, 15733, 836)}
    for name, (num_sentences, num_tokens, num_entities) in expected.items():
        sentences = read_conll(str(shared_data_dir / "wnut17" / name))
        assert len(sentences) == num_sentences
        assert sum(len(s.words) for s in sentences) == num_tokens
        assert sum(tag.startswith("B-") for s in sentences for tag in s.tags) == num_entities
