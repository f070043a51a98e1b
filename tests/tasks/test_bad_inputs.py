"""Bad input to the readers and programs: every error names the file, line, field or flag.

Two tables. READER_CASES: a file with one bad spot, the reader that reads
it, and the message, which must give the file and line (or question id).
PROGRAM_CASES: a program's command line and the message, which must name
the flag or file at fault; all but a few fail in the up-front checks,
before any model is built.
"""

import json
import re
import types

import pytest
import sentencepiece

from tasks import (
    common,
    conll,
    create_pretraining_data,
    glue,
    multiple_choice,
    pretraining_data,
    run_classifier,
    run_multiple_choice,
    run_ner,
    run_pretraining,
    run_squad,
    squad,
)

INVALID_UTF8 = b"caf\xe9"  # Latin-1 "café"


def squad_json(qas, context="The cat sat on the mat."):
    return json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]})


def squad_question(qid, text, answer_start):
    return {"id": qid, "question": "Where did the cat sit?", "answers": [{"text": text, "answer_start": answer_start}]}


# (file name, content, reader, expected message with "{path}" for the file's path)
READER_CASES = {
    "glue_tsv_invalid_utf8": (
        "dev.tsv",
        b"sentence\tlabel\na fine film\t1\n" + INVALID_UTF8 + b" au lait\t0\n",
        lambda path: glue.read_examples(glue.get_task("sst-2"), path, labeled=True),
        "{path}:3:4: not valid UTF-8",
    ),
    "squad_json_invalid_utf8": (
        "train.json",
        b'{"data": [{"title": "t", "paragraphs": [\n {"context": "The ' + INVALID_UTF8 + b' sat.", "qas": []}]}]}\n',
        squad.read_squad_examples,
        "{path}:2:22: not valid UTF-8",
    ),
    "multiple_choice_jsonl_invalid_utf8": (
        "dev.jsonl",
        b'{"question": "q", "options": ["a", "b"], "label": 0}\n'
        b'{"question": "' + INVALID_UTF8 + b'", "options": ["a", "b"], "label": 1}\n',
        lambda path: multiple_choice.read_examples(path, labeled=True),
        "{path}:2:18: not valid UTF-8",
    ),
    "multiple_choice_jsonl_question_not_a_string": (
        "dev.jsonl",
        b'{"question": "q", "options": ["a", "b"], "label": 0}\n{"question": null, "options": ["a", "b"], "label": 1}\n',
        lambda path: multiple_choice.read_examples(path, labeled=True),
        "{path}:2: `question` must be a string and `context` a string or absent; found question NoneType",
    ),
    "multiple_choice_jsonl_context_a_list": (
        "dev.jsonl",
        b'{"context": ["c"], "question": "q", "options": ["a", "b"], "label": 0}\n',
        lambda path: multiple_choice.read_examples(path, labeled=True),
        "{path}:1: `question` must be a string and `context` a string or absent; found question str, context list",
    ),
    "swag_csv_invalid_utf8": (
        "val.csv",
        b",fold-ind,sent1,sent2,ending0,ending1,ending2,ending3,label\n0,1,A,B,c,d,e,f,0\n"
        b"1,2,A," + INVALID_UTF8 + b",c,d,e,f,1\n",
        lambda path: multiple_choice.read_examples(path, labeled=True),
        "{path}:3:10: not valid UTF-8",
    ),
    "pretraining_corpus_invalid_utf8": (
        "corpus.txt",
        b"First sentence.\nSecond sentence.\n\nA " + INVALID_UTF8 + b" sentence.\n",
        pretraining_data.read_documents,
        "{path}:4:6: not valid UTF-8",
    ),
    "conll_invalid_utf8": (
        "train.conll",
        b"Paris\tB-LOC\n\n" + INVALID_UTF8 + b"\tO\n",
        conll.read_conll,
        "{path}:3:4: not valid UTF-8",
    ),
    "squad_json_syntax": (
        "train.json",
        b'{"data": [\n  {"paragraphs": ]}\n',
        squad.read_squad_examples,
        "{path}: invalid JSON at line 2, column 18",
    ),
    "squad_answer_start_not_an_int": (
        "train.json",
        squad_json([squad_question("q7", "the mat", "15")]).encode(),
        squad.read_squad_examples,
        "{path}: question 'q7', answer 0: field 'answer_start' must be int",
    ),
}


@pytest.mark.parametrize("case", list(READER_CASES))
def test_readers_name_the_file_and_line_of_bad_input(tmp_path, case):
    file_name, content, read, expected = READER_CASES[case]
    path = tmp_path / file_name
    path.write_bytes(content)
    with pytest.raises(ValueError, match="^" + re.escape(expected.format(path=path))):
        read(str(path))


def test_a_squad_file_whose_every_answer_is_misaligned_is_an_error_naming_it(tmp_path, albert_tokenizer):
    path = tmp_path / "train.json"
    # "the mat" is at 15; the first starts elsewhere, the second before the context.
    path.write_text(squad_json([squad_question("q1", "the mat", 3), squad_question("q2", "the mat", -8)]))
    examples = squad.read_squad_examples(str(path))
    with pytest.raises(ValueError, match=(
        f"^{re.escape(str(path))}: none of the 2 training questions has a usable answer: 2 first answers "
        r"are blank or not at their 'answer_start' in the context, 0 cover no token \(e.g. ids \['q1', 'q2'\]\)"
    )):
        squad.encode_examples(
            albert_tokenizer, examples, max_seq_length=32, doc_stride=8, is_training=True, path=str(path)
        )


def test_a_negative_answer_start_counts_as_misaligned(albert_tokenizer):
    context = "mat on the cat."
    examples = [
        # context[-15:-12] == "mat": a negative start indexes from the end and matches.
        squad.SquadExample("negative", "Where?", context, [("mat", -15)], False),
        squad.SquadExample("good", "Where?", context, [("cat", 11)], False),
    ]
    stats = squad.encode_examples(albert_tokenizer, examples, max_seq_length=32, doc_stride=8, is_training=True)["stats"]
    assert (stats["num_skipped_answer_mismatch"], stats["num_skipped_answer_not_tokenized"]) == (1, 0)
    assert stats["num_windows"] >= 1


PROGRAMS = {
    "run_classifier": run_classifier.main,
    "run_squad": run_squad.main,
    "run_ner": run_ner.main,
    "run_multiple_choice": run_multiple_choice.main,
    "run_pretraining": run_pretraining.main,
    "create_pretraining_data": create_pretraining_data.main,
}
# Enough flags for create_pretraining_data to reach its range checks.
CORPUS_FLAGS = ("--input_file=corpus.txt", "--output_dir=out", "--spm_model_file=spm.model")

# (program, flags, expected message); the flags range checks run before anything is read.
RANGE_CASES = [
    ("run_classifier", ["--train_batch_size=0"], "--train_batch_size must be at least 1. Got 0."),
    ("run_classifier", ["--train_batch_size=-4"], "--train_batch_size must be at least 1. Got -4."),
    ("run_classifier", ["--eval_batch_size=0"], "--eval_batch_size must be at least 1. Got 0."),
    ("run_classifier", ["--predict_batch_size=-1"], "--predict_batch_size must be at least 1. Got -1."),
    ("run_classifier", ["--learning_rate=0"], "--learning_rate must be above 0. Got 0.0."),
    ("run_classifier", ["--learning_rate=-2e-5"], "--learning_rate must be above 0. Got -2e-05."),
    ("run_classifier", ["--learning_rate=nan"], "--learning_rate must be above 0. Got nan."),
    ("run_classifier", ["--num_train_epochs=0"], "--num_train_epochs must be above 0. Got 0.0."),
    ("run_classifier", ["--warmup_proportion=1.5"], "--warmup_proportion must be in [0, 1]. Got 1.5."),
    ("run_classifier", ["--weight_decay=-0.01"], "--weight_decay must be at least 0. Got -0.01."),
    ("run_classifier", ["--max_seq_length=2"], "--max_seq_length must be at least 3. Got 2."),
    ("run_classifier", ["--max_train_examples=0"], "--max_train_examples must be at least 1. Got 0."),
    ("run_classifier", ["--gradient_accumulation_steps=0"], "--gradient_accumulation_steps must be at least 1. Got 0."),
    ("run_classifier", ["--steps_per_execution=0"], "--steps_per_execution must be at least 1. Got 0."),
    ("run_squad", ["--doc_stride=0"], "--doc_stride must be at least 1. Got 0."),
    ("run_squad", ["--max_query_length=-1"], "--max_query_length must be at least 1. Got -1."),
    ("run_squad", ["--n_best_size=0"], "--n_best_size must be at least 1. Got 0."),
    ("run_squad", ["--max_answer_length=0"], "--max_answer_length must be at least 1. Got 0."),
    ("run_ner", ["--window_stride=0"], "--window_stride must be at least 1. Got 0."),
    ("run_multiple_choice", ["--train_batch_size=0"], "--train_batch_size must be at least 1. Got 0."),
    ("run_pretraining", ["--num_train_steps=0"], "--num_train_steps must be at least 1. Got 0."),
    ("run_pretraining", ["--num_warmup_steps=-1"], "--num_warmup_steps must be at least 0. Got -1."),
    ("run_pretraining", ["--save_checkpoints_steps=0"], "--save_checkpoints_steps must be at least 1. Got 0."),
    ("run_pretraining", ["--poly_power=0"], "--poly_power must be above 0. Got 0.0."),
    ("run_pretraining", ["--max_predictions_per_seq=0"], "--max_predictions_per_seq must be at least 1. Got 0."),
    ("create_pretraining_data", [*CORPUS_FLAGS, "--masked_lm_prob=0"], "--masked_lm_prob must be in (0, 1]. Got 0.0."),
    ("create_pretraining_data", [*CORPUS_FLAGS, "--short_seq_prob=-0.1"], "--short_seq_prob must be in [0, 1]. Got -0.1."),
    ("create_pretraining_data", [*CORPUS_FLAGS, "--dupe_factor=0"], "--dupe_factor must be at least 1. Got 0."),
    ("create_pretraining_data", [*CORPUS_FLAGS, "--ngram=0"], "--ngram must be at least 1. Got 0."),
    ("create_pretraining_data", [*CORPUS_FLAGS, "--num_shards=0"], "--num_shards must be at least 1. Got 0."),
    (
        "run_classifier",
        ["--do_train", "--output_dir=out", "--albert_config_file=c.json", "--task_name=sst-2", "--data_dir=d",
         "--train_file=train.tsv", "--eval_file=dev.tsv"],
        "run_classifier reads the GLUE files of --data_dir; it does not take --train_file, --eval_file.",
    ),
]


@pytest.mark.parametrize("program, args, expected", RANGE_CASES, ids=[f"{p}{a[-1]}" for p, a, _ in RANGE_CASES])
def test_programs_check_every_numeric_flag_up_front_by_name(program, args, expected):
    with pytest.raises(ValueError, match="^" + re.escape(expected) + "$"):
        common.run_program(PROGRAMS[program], [program, *args])


@pytest.fixture(scope="module")
def albert_config_file(tmp_path_factory, spm_model_path):
    """A tiny model with 128 positions."""
    vocab_size = sentencepiece.SentencePieceProcessor(model_file=str(spm_model_path)).get_piece_size()
    config = {
        "vocab_size": vocab_size, "embedding_size": 8, "hidden_size": 16, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 128,
        "type_vocab_size": 2, "initializer_range": 0.02, "num_hidden_groups": 1, "inner_group_num": 1,
    }
    path = tmp_path_factory.mktemp("config") / "albert_config.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.fixture
def common_flag_defaults():
    """The common flags' own defaults (importing run_pretraining sets its own, e.g. --max_seq_length=512)."""
    FLAGS = common.flags.FLAGS
    changed = {"max_seq_length": 128, "train_batch_size": 32}
    saved = {name: FLAGS[name].default for name in changed}
    for name, value in changed.items():
        FLAGS.set_default(name, value)
    yield
    for name, value in saved.items():
        FLAGS.set_default(name, value)


def test_run_squad_checks_the_sequence_length_it_uses_not_the_flag_default(
    tmp_path, spm_model_path, albert_config_file, common_flag_defaults
):
    train_file = tmp_path / "train.json"
    train_file.write_text(squad_json([squad_question("q1", "the mat", 15)]))
    with pytest.raises(ValueError, match=re.escape(
        "--max_seq_length=384 (this program's default: the flag was not given) exceeds the model's 128 "
        "positions; pass --max_seq_length=128 or less."
    )):
        common.run_program(run_squad.main, [
            "run_squad", "--do_train", f"--train_file={train_file}", f"--output_dir={tmp_path / 'out'}",
            f"--spm_model_file={spm_model_path}", f"--albert_config_file={albert_config_file}",
        ])


def test_run_squad_on_a_file_of_misaligned_answers_names_the_file(tmp_path, spm_model_path, albert_config_file):
    train_file = tmp_path / "train.json"
    train_file.write_text(squad_json([squad_question("q1", "the mat", 2), squad_question("q2", "a dog", 15)]))
    expected = f"^{re.escape(str(train_file))}: none of the 2 training questions has a usable answer"
    with pytest.raises(ValueError, match=expected):
        common.run_program(run_squad.main, [
            "run_squad", "--do_train", f"--train_file={train_file}", f"--output_dir={tmp_path / 'out'}",
            f"--spm_model_file={spm_model_path}", f"--albert_config_file={albert_config_file}",
            "--max_seq_length=64", "--doc_stride=16", "--max_query_length=16",
        ])


def classifier_args(tmp_path, *args):
    # A valid SST-2 train file: the files are read before the model is built.
    (tmp_path / "train.tsv").write_text("sentence\tlabel\na fine film\t1\n", encoding="utf-8")
    return [
        "run_classifier", "--do_train", "--task_name=sst-2", f"--data_dir={tmp_path}",
        f"--output_dir={tmp_path / 'out'}", *args,
    ]


def test_run_classifier_names_a_file_that_is_not_a_sentencepiece_model(tmp_path, albert_config_file):
    spm_file = tmp_path / "30k-clean.model"
    spm_file.write_text("<unk>\t0\n<pad>\t0\n")  # A vocabulary listing, not the model.
    with pytest.raises(ValueError, match=f"^not a SentencePiece model: {re.escape(str(spm_file))}$"):
        common.run_program(run_classifier.main, classifier_args(
            tmp_path, f"--spm_model_file={spm_file}", f"--albert_config_file={albert_config_file}"
        ))


def test_run_classifier_names_a_truncated_init_checkpoint(tmp_path, spm_model_path, albert_config_file):
    checkpoint = tmp_path / "backbone.weights.h5"
    backbone = common.build_backbone(types.SimpleNamespace(
        preset=None, albert_config_file=albert_config_file, init_checkpoint=None, max_seq_length=128
    ))
    backbone.save_weights(str(checkpoint))
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"^Weights file {re.escape(str(checkpoint))} is truncated or corrupt"):
        common.run_program(run_classifier.main, classifier_args(
            tmp_path, f"--spm_model_file={spm_model_path}", f"--albert_config_file={albert_config_file}",
            f"--init_checkpoint={checkpoint}",
        ))


@pytest.mark.parametrize("content", [b'{"vocab_size": 30000,\n', b'{"vocab_size": "caf\xe9"}'], ids=["json", "utf8"])
def test_run_classifier_names_an_unreadable_albert_config_file(tmp_path, spm_model_path, content):
    config = tmp_path / "albert_config.json"
    config.write_bytes(content)
    with pytest.raises(ValueError, match=f"^Could not read JSON file {re.escape(str(config))}: "):
        common.run_program(run_classifier.main, classifier_args(
            tmp_path, f"--spm_model_file={spm_model_path}", f"--albert_config_file={config}"
        ))


def test_create_pretraining_data_names_the_line_of_invalid_utf8(tmp_path, spm_model_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"One sentence.\nAnother one.\n\nThird " + INVALID_UTF8 + b".\nFourth.\n")
    with pytest.raises(ValueError, match=f"^{re.escape(str(corpus))}:4:10: not valid UTF-8"):
        common.run_program(create_pretraining_data.main, [
            "create_pretraining_data", f"--input_file={corpus}", f"--output_dir={tmp_path / 'out'}",
            f"--spm_model_file={spm_model_path}",
        ])
