"""Text corpus -> sharded TFRecords of ALBERT pretraining examples.

    python -m tasks.create_pretraining_data \
        --input_file=../shared/data/wikitext2/valid.txt --input_format=wikitext \
        --spm_model_file=out/spiece.model --output_dir=out/pretraining_data \
        --max_seq_length=128 --max_predictions_per_seq=20 --dupe_factor=5

Flags follow google-research/albert's `create_pretraining_data.py`
(`--input_file`, `--spm_model_file`, `--max_seq_length`,
`--max_predictions_per_seq`, `--masked_lm_prob`, `--short_seq_prob`,
`--ngram`, `--dupe_factor`, `--random_seed`); the output is a directory of
shards plus `pretraining_data.json`, read by `tasks.run_pretraining
--input_file=<output_dir>`. See `tasks.pretraining_data` for the recipe.
"""

import os

import numpy as np
from absl import flags, logging

import keras_albert_cli
from . import common, pretraining_data

# --output_dir, --spm_model_file, --do_lower_case and --max_seq_length mean
# the same here as in every task program: share their definitions.
common.define_common_flags()
flags.DEFINE_string("input_file", None, "Corpus text files, comma-separated (globs allowed).",
    # Both pretraining programs take --input_file, as in the original; one
    # process (the tests) may import both.
    allow_override=True,
)
flags.DEFINE_enum(
    "input_format", "lines", list(pretraining_data.INPUT_FORMATS),
    "lines: one sentence per line, blank line between documents (the original format); "
    "wikitext: ' = Title = ' lines start documents, paragraphs are split into sentences.",
)
flags.DEFINE_integer(
    "max_predictions_per_seq", 20, "Most masked tokens per example.", allow_override=True
)
flags.DEFINE_float("masked_lm_prob", 0.15, "Fraction of tokens masked.")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of a shorter target length.")
flags.DEFINE_integer("ngram", 3, "Longest masked n-gram (in words); p(n) is proportional to 1/n.")
flags.DEFINE_integer("dupe_factor", 40, "Passes over the corpus, each with new pairs and masks.")
flags.DEFINE_integer("random_seed", 12345, "Seed of pairs, masks and shuffling.")
flags.DEFINE_integer("num_shards", 4, "TFRecord shards to write (whole files go to workers).")

FLAGS = flags.FLAGS


def main(argv):
    del argv
    for name in ("input_file", "output_dir", "spm_model_file"):
        if not getattr(FLAGS, name):
            raise ValueError(f"--{name} is required.")
    common.check_flag_ranges(FLAGS)
    from keras_albert.albert_tokenizer import AlbertTokenizer

    tokenizer = AlbertTokenizer(FLAGS.spm_model_file, lower_case=FLAGS.do_lower_case)
    rng = np.random.default_rng(FLAGS.random_seed)
    documents = []
    for path in pretraining_data.resolve_input_files(FLAGS.input_file):
        raw = pretraining_data.read_documents(path, FLAGS.input_format)
        documents.extend(pretraining_data.tokenize_documents(raw, tokenizer, path))
        logging.info("%s: %d documents", path, len(raw))
    if not documents:
        raise ValueError(
            f"--input_file={FLAGS.input_file}: no document has two sentences, so no "
            "sentence-order pair can be made (is --input_format right?)."
        )
    masking = pretraining_data.masking_config(
        tokenizer, FLAGS.max_seq_length, FLAGS.max_predictions_per_seq, FLAGS.masked_lm_prob, FLAGS.ngram
    )
    examples = pretraining_data.create_examples(
        documents, masking, FLAGS.max_seq_length, rng, FLAGS.dupe_factor, FLAGS.short_seq_prob
    )
    if not examples:
        raise ValueError(f"--input_file={FLAGS.input_file}: the corpus is too small to make one example.")
    metadata = dict(
        masking,
        spm_model_file=os.path.abspath(FLAGS.spm_model_file),
        do_lower_case=FLAGS.do_lower_case,
        input_file=FLAGS.input_file,
        dupe_factor=FLAGS.dupe_factor,
        random_seed=FLAGS.random_seed,
    )
    return pretraining_data.write_examples(examples, FLAGS.output_dir, FLAGS.num_shards, metadata, rng)


def _command_line(argv):
    # absl hands main's return value to sys.exit; the shard list is no exit code.
    main(argv)


def run_command():
    """The command line: `python -m` this module, or its console script."""
    flags.mark_flags_as_required(["input_file", "output_dir", "spm_model_file"])
    keras_albert_cli.run(_command_line)


if __name__ == "__main__":
    run_command()
