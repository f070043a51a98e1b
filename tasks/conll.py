"""CoNLL column files: the NER data format (CoNLL-2003, WNUT-17, ...).

One token per line, columns separated by tabs (or, in files without tabs,
by spaces as in CoNLL-2003), the token in the first column and the
tag in the last; a blank line ends a sentence; `-DOCSTART-` lines separate
documents and are skipped. Written from scratch rather than through a
library because the readers around (`datasets`, `flair`, `nltk`) are heavy
dependencies that do not report `file:line` on malformed input.

Example:
```python
sentences = read_conll("wnut17train.conll", scheme="IOB2")
sentences[0].words[:3], sentences[0].tags[:3]  # ['@paulwalk', 'It', "'s"], ['O', 'O', 'O']
write_conll("predictions.txt", [(s.words, s.tags, s.tags) for s in sentences])
```
"""

import re
from typing import NamedTuple

from keras_albert.text_files import text_lines
from keras_albert.token_labels import check_tag

DOCUMENT_SEPARATOR = "-DOCSTART-"


class Sentence(NamedTuple):
    """A sentence of a CoNLL file.

    Attributes:
        words: list of str, the first column.
        tags: list of str, the last column (None when read without tags).
        line_numbers: list of int, the 1-based line of each word, for
            messages that point into the file.
    """

    words: list
    tags: list
    line_numbers: list


def _columns(line):
    stripped = line.strip(" \t")
    if "\t" in stripped:
        return [column.strip(" ") for column in stripped.split("\t")]
    return re.split(" +", stripped)


def read_conll(path, scheme="IOB2", with_tags=True):
    """Reads the sentences of a CoNLL column file.

    Lines with only spaces or tabs count as blank (WNUT-17 ends sentences
    with a lone tab). Every line of a file must have the same number of
    columns, a non-empty token and, `with_tags`, a tag of `scheme` in a
    last column (at least the second).

    Args:
        path: str, a UTF-8 file.
        scheme: str, one of `keras_albert.token_labels.TAG_SCHEMES`; the
            tags are checked against it.
        with_tags: bool. False reads only the tokens (text to tag); the
            sentences' `tags` are then None.

    Returns:
        list of `Sentence`; consecutive blank lines give no empty sentence.

    Raises:
        ValueError: naming `path:line` and what was expected there.
    """
    sentences = []
    words, tags, line_numbers = [], [], []
    num_columns, num_columns_line = None, None
    min_columns = 2 if with_tags else 1

    def end_sentence():
        if words:
            sentences.append(Sentence(list(words), list(tags) if with_tags else None, list(line_numbers)))
        words.clear(), tags.clear(), line_numbers.clear()

    for line_number, line in text_lines(path):
        where = f"{path}:{line_number}"
        if not line.strip(" \t"):
            end_sentence()
            continue
        columns = _columns(line)
        if columns[0] == DOCUMENT_SEPARATOR:
            end_sentence()
            continue
        if num_columns is None:
            num_columns, num_columns_line = len(columns), line_number
        if len(columns) < min_columns or len(columns) != num_columns:
            raise ValueError(
                f"{where}: expected {max(num_columns, min_columns)} tab- or space-separated "
                f"columns ({'token ... tag' if with_tags else 'token ...'}, as on line "
                f"{num_columns_line}), got {len(columns)}: {line!r}"
            )
        if not columns[0]:
            raise ValueError(f"{where}: expected a token in the first column, got {line!r}")
        if with_tags:
            try:
                check_tag(columns[-1], scheme)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            tags.append(columns[-1])
        words.append(columns[0])
        line_numbers.append(line_number)
    end_sentence()
    return sentences


def write_conll(path, sentences):
    """Writes sentences as tab-separated columns, a blank line after each.

    Args:
        path: str.
        sentences: iterable of sentences, each a sequence of columns of
            equal length, e.g. `(words, gold_tags, predicted_tags)`.

    Raises:
        ValueError: if columns differ in length, or a value is empty or
            holds a tab or newline (the file would not read back).
    """
    with open(path, "w", encoding="utf-8") as file:
        for sentence_index, columns in enumerate(sentences):
            lengths = {len(column) for column in columns}
            if len(lengths) != 1:
                raise ValueError(f"sentence {sentence_index}: columns of different lengths {sorted(lengths)}")
            for row in zip(*columns):
                for value in row:
                    if not value or any(c in value for c in "\t\r\n"):
                        raise ValueError(
                            f"sentence {sentence_index}: value {value!r} is empty or holds a tab "
                            "or newline"
                        )
                file.write("\t".join(row) + "\n")
            file.write("\n")
