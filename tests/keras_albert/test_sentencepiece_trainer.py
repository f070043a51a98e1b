import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import sentencepiece
from sentencepiece import sentencepiece_model_pb2

from keras_albert.albert_tokenizer import AlbertTokenizer
from keras_albert.sentencepiece_trainer import main, train_sentencepiece

REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPE_PIECES = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]", "(", ")", '"', "-", ".", "–", "£", "€"]
ACCENTED_LINES = [
    "Crème Brûlée À LA FAÇON de l'ÉCOLE ``quoted'' (1990) - 5 £ / 6 € – ok.",
    "Ünïcödé Ñandú São Paulo Zürich Ångström",
] * 30


@pytest.fixture(scope="module")
def corpus(shared_data_dir, tmp_path_factory):
    """2,000 lines of Tiny Shakespeare plus cased, accented lines."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    with open(shared_data_dir / "tinyshakespeare" / "input.txt", encoding="utf-8") as f:
        lines = f.read().splitlines()[:2000]
    path.write_text("\n".join(lines + ACCENTED_LINES), encoding="utf-8")
    return str(path)


def load_proto(model_path):
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(model_path).read_bytes())
    return proto


def test_albert_recipe(corpus, tmp_path):
    model_path = train_sentencepiece(corpus, vocab_size=300, model_prefix=str(tmp_path / "sp"))
    assert model_path == str(tmp_path / "sp.model")
    assert os.path.exists(tmp_path / "sp.vocab")
    proto = load_proto(model_path)
    assert [p.piece for p in proto.pieces[: len(RECIPE_PIECES)]] == RECIPE_PIECES
    types = [p.type for p in proto.pieces[: len(RECIPE_PIECES)]]
    piece_type = sentencepiece_model_pb2.ModelProto.SentencePiece
    assert types[2:5] == [piece_type.CONTROL] * 3
    assert types[5:] == [piece_type.USER_DEFINED] * 8
    spec = proto.trainer_spec
    assert spec.model_type == sentencepiece_model_pb2.TrainerSpec.UNIGRAM
    assert (spec.pad_id, spec.unk_id, spec.bos_id, spec.eos_id) == (0, 1, -1, -1)
    assert spec.character_coverage == pytest.approx(0.99995)
    assert spec.shuffle_input_sentence and spec.input_sentence_size == 10_000_000
    assert proto.normalizer_spec.name == "nmt_nfkc"
    assert len(proto.pieces) == 300

    tokenizer = AlbertTokenizer(model_path)
    assert tokenizer.tokenize_python(ACCENTED_LINES[0]) == tokenizer(ACCENTED_LINES[0]).numpy().tolist()


def test_text_is_normalized_before_training(corpus, tmp_path):
    def vocabulary(**options):
        path = train_sentencepiece(corpus, 400, str(tmp_path / str(options)), **options)
        model = sentencepiece.SentencePieceProcessor(model_file=path)
        return "".join(model.id_to_piece(i) for i in range(5, model.get_piece_size()))

    uncased = vocabulary()
    assert uncased == uncased.lower()
    assert "ç" not in uncased and "ü" not in uncased
    assert not any(unicodedata.combining(c) for c in uncased)
    cased_accented = vocabulary(lower_case=False, keep_accents=True)
    assert "É" in cased_accented and "ü" in cased_accented


def train_in_subprocess(corpus, prefix, *flags):
    """`python -m keras_albert.sentencepiece_trainer` in a fresh process."""
    result = subprocess.run(
        [
            sys.executable, "-m", "keras_albert.sentencepiece_trainer",
            "--input", corpus, "--vocab_size", "200", "--model_prefix", str(prefix), *flags,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def pieces(model_path):
    return [(p.piece, p.score) for p in load_proto(model_path).pieces]


@pytest.mark.heavy
def test_a_seed_gives_the_same_vocabulary_in_every_process(corpus, tmp_path):
    # SentencePiece's own sampling differs from one process to the next
    # whatever its seed; two runs in one process would not show that.
    flags = ("--input_sentence_size", "500", "--seed", "7", "--num_threads", "2")
    first = train_in_subprocess(corpus, tmp_path / "a", *flags)
    second = train_in_subprocess(corpus, tmp_path / "b", *flags)
    assert pieces(first) == pieces(second)
    other_seed = train_sentencepiece(
        corpus, 200, str(tmp_path / "c"), input_sentence_size=500, seed=8, num_threads=2
    )
    assert pieces(other_seed) != pieces(first)


def test_cli_main(corpus, tmp_path, capsys):
    second = tmp_path / "second.txt"
    second.write_text("A second file.\n", encoding="utf-8")
    prefix = tmp_path / "new_dir" / "spiece"
    main(
        [
            "--input", f"{corpus},{second}",
            "--vocab_size", "250",
            "--model_prefix", str(prefix),
            "--lower_case", "false",
            "--seed", "1",
        ]
    )
    assert capsys.readouterr().out.strip() == f"{prefix}.model"
    tokenizer = AlbertTokenizer(f"{prefix}.model", lower_case=False)
    assert tokenizer.vocabulary_size() == 250
    assert any(c.isupper() for c in "".join(tokenizer.get_vocabulary()))
    with pytest.raises(SystemExit):
        main(["--input", corpus, "--model_prefix", str(prefix)])  # no --vocab_size


@pytest.mark.heavy
def test_cli_module_entry_point(corpus, tmp_path):
    prefix = tmp_path / "spiece"
    assert train_in_subprocess(corpus, prefix).endswith(f"{prefix}.model")
    assert load_proto(f"{prefix}.model").pieces[4].piece == "[MASK]"


def test_errors(corpus, tmp_path):
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        train_sentencepiece([corpus, missing], 300, str(tmp_path / "sp"))
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n\t\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="blank.txt.*has no text"):
        train_sentencepiece([corpus, str(blank)], 300, str(tmp_path / "sp"))
    with pytest.raises(ValueError, match="`vocab_size` must be larger than the 13"):
        train_sentencepiece(corpus, 13, str(tmp_path / "sp"))
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("a b c\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"tiny.txt: Vocabulary size too high \(100\)"):
        train_sentencepiece(str(tiny), 100, str(tmp_path / "sp"))
    with pytest.raises(ValueError, match="`files` is empty"):
        train_sentencepiece([], 100, str(tmp_path / "sp"))
    for size in (-5, 100):
        with pytest.raises(ValueError, match=rf"`input_sentence_size` must be 0 .* Received: input_sentence_size={size}"):
            train_sentencepiece(corpus, 300, str(tmp_path / "sp"), input_sentence_size=size)
    for threads in (0, -1, 1025):
        with pytest.raises(ValueError, match=rf"`num_threads` must be between 1 and 1024\. Received: num_threads={threads}"):
            train_sentencepiece(corpus, 300, str(tmp_path / "sp"), num_threads=threads)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        main(["--input", missing, "--vocab_size", "100", "--model_prefix", str(tmp_path / "sp")])
