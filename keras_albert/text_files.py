"""UTF-8 input files read so that a bad byte is reported with its file and line.

Python's own decoding error says only "position 609" of some buffer. Every
reader (the programs' GLUE TSV, SQuAD JSON, multiple-choice JSONL/CSV,
CoNLL and pretraining corpora; SentencePiece training text) reads its text
through these two functions instead, so that invalid UTF-8 raises a
`ValueError` of the form `path:line:column: not valid UTF-8 (byte(s) e9 ...)`.
"""

import os


def _decoding_error(path, data, error, first_line=1):
    """A ValueError naming `path:line:column` of the byte `error` points at in `data`."""
    line = first_line + data.count(b"\n", 0, error.start)
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    bad = data[error.start : error.end].hex(" ")
    return ValueError(f"{path}:{line}:{column}: not valid UTF-8 (byte(s) {bad}: {error.reason}).")


def read_text(path, encoding="utf-8"):
    """The whole file as a string (`encoding` "utf-8" or "utf-8-sig")."""
    path = os.fspath(path)
    with open(path, "rb") as file:
        data = file.read()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise _decoding_error(path, data, error) from None


def text_lines(path):
    """Yields `(line_number, line)` from 1, each line without its "\\n" or "\\r\\n".

    Reads line by line (corpora can be large); a byte-order mark at the
    start of the file is dropped.
    """
    path = os.fspath(path)
    with open(path, "rb") as file:
        for line_number, raw_line in enumerate(file, start=1):
            try:
                line = raw_line.decode("utf-8-sig" if line_number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise _decoding_error(path, raw_line, error, first_line=line_number) from None
            yield line_number, line.rstrip("\r\n")
