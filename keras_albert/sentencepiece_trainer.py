"""Trains a SentencePiece vocabulary with ALBERT's recipe.

The original release trained its `30k-clean.model` with (README of
google-research/albert):

    spm_train --input all.txt --model_prefix=30k-clean --vocab_size=30000
      --pad_id=0 --unk_id=1 --eos_id=-1 --bos_id=-1
      --control_symbols=[CLS],[SEP],[MASK]
      --user_defined_symbols="(,),\\",-,.,–,£,€"
      --shuffle_input_sentence=true --input_sentence_size=10000000
      --character_coverage=0.99995 --model_type=unigram

`train_sentencepiece` runs the same recipe on text normalized with
`normalize_text` first, so that the vocabulary is learned from the strings
`AlbertTokenizer` will feed it.

Command line:

    python -m keras_albert.sentencepiece_trainer --input a.txt,b.txt \\
        --vocab_size 30000 --model_prefix out/spiece
"""

import argparse
import os
import random

import sentencepiece

from keras_albert.text_files import text_lines
from keras_albert.text_normalization import normalize_text

CONTROL_SYMBOLS = ("[CLS]", "[SEP]", "[MASK]")
USER_DEFINED_SYMBOLS = ("(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac")
# <pad>, <unk>, the control and the user-defined symbols.
NUM_RESERVED_PIECES = 2 + len(CONTROL_SYMBOLS) + len(USER_DEFINED_SYMBOLS)


def train_sentencepiece(
    files,
    vocab_size,
    model_prefix,
    lower_case=True,
    keep_accents=False,
    input_sentence_size=10_000_000,
    character_coverage=0.99995,
    seed=None,
    num_threads=None,
    **kwargs,
):
    """Trains an ALBERT SentencePiece model on text files.

    Each line of each file is one sentence; lines that are empty after
    normalization are skipped.

    Args:
        files: str or list of str. Paths of UTF-8 text files.
        vocab_size: int. Number of pieces, the special ones included.
        model_prefix: str. Writes `{model_prefix}.model` and
            `{model_prefix}.vocab`, creating the directory if needed.
        lower_case: bool. Lower-case the text (uncased model); use the
            same value for `AlbertTokenizer`.
        keep_accents: bool. Keep accents; use the same value for
            `AlbertTokenizer`.
        input_sentence_size: int. Sentences sampled uniformly for
            training (all of them when there are fewer, or when 0); 0 or
            more than 100.
        character_coverage: float. Fraction of characters the vocabulary
            must cover; the rest become `<unk>`.
        seed: int or None. Seed of the sentence sampling: the same seed,
            files and `num_threads` give the same vocabulary in every run.
            The sample is drawn here because SentencePiece's own sampling
            does not follow `set_random_generator_seed` across processes.
        num_threads: int or None. Training threads (1 to 1024); default
            all CPUs. The vocabulary depends on the thread count too.
        **kwargs: further `spm_train` options, e.g. `max_sentence_length`.

    Returns:
        The path of the `.model` file.

    Example:
    ```python
    path = keras_albert.train_sentencepiece(
        ["wiki.txt", "books.txt"], vocab_size=30000, model_prefix="out/spiece"
    )
    tokenizer = keras_albert.AlbertTokenizer(path)
    ```
    """
    files = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    if not files:
        raise ValueError("`files` is empty: pass at least one text file.")
    for path in files:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"SentencePiece training file not found: {path!r}")
        if not any(_sentences([path], lower_case, keep_accents)):
            raise ValueError(f"SentencePiece training file {path!r} has no text.")
    if vocab_size <= NUM_RESERVED_PIECES:
        raise ValueError(
            f"`vocab_size` must be larger than the {NUM_RESERVED_PIECES} "
            "reserved pieces (<pad>, <unk>, [CLS], [SEP], [MASK] and "
            f"{' '.join(USER_DEFINED_SYMBOLS)}). Received: vocab_size={vocab_size}"
        )
    # SentencePiece's own bounds, checked here to name the argument.
    if input_sentence_size != 0 and input_sentence_size <= 100:
        raise ValueError(
            "`input_sentence_size` must be 0 (every sentence) or more than 100. "
            f"Received: input_sentence_size={input_sentence_size}"
        )
    if num_threads is not None and not 1 <= num_threads <= 1024:
        raise ValueError(f"`num_threads` must be between 1 and 1024. Received: num_threads={num_threads}")
    directory = os.path.dirname(os.fspath(model_prefix))
    if directory:
        os.makedirs(directory, exist_ok=True)
    sentences = _sentences(files, lower_case, keep_accents)
    if input_sentence_size:
        sentences = _sample(sentences, input_sentence_size, random.Random(seed))
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_prefix=os.fspath(model_prefix),
            vocab_size=vocab_size,
            model_type="unigram",
            pad_id=0,
            unk_id=1,
            bos_id=-1,
            eos_id=-1,
            # Lists, not comma-joined strings: SentencePiece reads a string
            # as CSV, where '"' opens a quoted field.
            control_symbols=list(CONTROL_SYMBOLS),
            user_defined_symbols=list(USER_DEFINED_SYMBOLS),
            shuffle_input_sentence=True,
            input_sentence_size=input_sentence_size,
            character_coverage=character_coverage,
            num_threads=num_threads or os.cpu_count(),
            minloglevel=2,
            **kwargs,
        )
    except RuntimeError as error:
        # SentencePiece's own message says which bound was hit ("Vocabulary
        # size too high (8000). Please set it to a value <= 5120.").
        if "Vocabulary size" in str(error):
            raise ValueError(
                f"Cannot train a {vocab_size}-piece vocabulary on {', '.join(map(str, files))}: "
                f"{str(error).split('] ')[-1]}"
            ) from error
        raise
    return f"{model_prefix}.model"


def _sentences(files, lower_case, keep_accents):
    """The normalized, non-empty lines of `files`."""
    for path in files:
        for _, line in text_lines(path):
            text = normalize_text(line, lower_case, keep_accents)
            if text:
                yield text


def _sample(items, size, rng):
    """A uniform sample of `size` items (all of them when fewer), by
    reservoir sampling (Algorithm R)."""
    reservoir = []
    for count, item in enumerate(items):
        if count < size:
            reservoir.append(item)
        else:
            slot = rng.randrange(count + 1)
            if slot < size:
                reservoir[slot] = item
    return reservoir


def _parse_bool(value):
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def main(argv=None):
    """Command line entry point (`albert-train-sentencepiece`)."""
    # Imported here: `import keras_albert` (which imports this module) needs no command-line code.
    import keras_albert_cli

    command = keras_albert_cli.invoked_command("keras_albert.sentencepiece_trainer")
    parser = argparse.ArgumentParser(
        prog=command,
        description="Train a SentencePiece model with ALBERT's recipe.",
        epilog=f"Example:\n    {command} --input corpus_a.txt,corpus_b.txt "
        "--vocab_size 8000 --model_prefix out/spiece --seed 0",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", required=True, help="Comma-separated text files.")
    parser.add_argument("--vocab_size", type=int, required=True)
    parser.add_argument(
        "--model_prefix", required=True, help="Writes PREFIX.model and PREFIX.vocab."
    )
    parser.add_argument("--lower_case", type=_parse_bool, default=True)
    parser.add_argument("--keep_accents", type=_parse_bool, default=False)
    parser.add_argument("--input_sentence_size", type=int, default=10_000_000)
    parser.add_argument("--character_coverage", type=float, default=0.99995)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--num_threads", type=int, default=None)
    args = parser.parse_args(argv)
    path = train_sentencepiece(
        files=[name for name in args.input.split(",") if name],
        vocab_size=args.vocab_size,
        model_prefix=args.model_prefix,
        lower_case=args.lower_case,
        keep_accents=args.keep_accents,
        input_sentence_size=args.input_sentence_size,
        character_coverage=args.character_coverage,
        seed=args.seed,
        num_threads=args.num_threads,
    )
    print(path)


if __name__ == "__main__":
    main()
