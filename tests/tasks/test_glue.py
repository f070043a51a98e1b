"""GLUE TSV readers: the real SST-2/MRPC files and hand-made files of the other formats."""

import pytest

from tasks import glue

# Hand-made files in each task's official layout (header names and column
# order as in the GLUE release; CoLA's train/dev files have no header).
COLA_TRAIN = (
    "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n"
    "gj04\t0\t*\tThey drank the pub.\n"
)
COLA_TEST = "index\tsentence\n0\tBill whistled past the house.\n1\tThe car honked its way down the road.\n"
STSB_DEV = (
    "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    "0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\tA man with a hard hat is dancing.\t"
    "A man wearing a hard hat is dancing.\t5.000\n"
    "1\tmain-captions\tMSRvid\t2012test\t0002\tnone\tnone\tA young child is riding a horse.\t"
    "A child is riding a horse.\t4.750\n"
)
STSB_TEST = (
    "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\n"
    "0\tmain-captions\tMSRvid\t2012test\t0024\tnone\tnone\tA girl is styling her hair.\tA girl is brushing her hair.\n"
)
MNLI_HEAD = (
    "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
    "sentence1_parse\tsentence2_parse\tsentence1\tsentence2"
)
MNLI_TRAIN = (
    MNLI_HEAD + "\tlabel1\tgold_label\n"
    "0\t31193\t31193n\tgovernment\t( ( a ) )\t( b )\t(ROOT a)\t(ROOT b)\t"
    "Conceptually cream skimming has two basic dimensions.\tProduct and geography are what make cream skimming work. "
    "\tneutral\tneutral\n"
)
MNLI_DEV = (
    MNLI_HEAD + "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"
    "0\t63735\t63735n\tslate\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tThe new rights are nice enough\t"
    "Everyone really likes the newest benefits \tneutral\tentailment\tneutral\tneutral\tneutral\tneutral\n"
    "1\t91383\t91383c\tgovernment\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tThis site includes a list.\t"
    "The Government Executive articles housed on the website are not able to be searched .\t"
    "contradiction\tcontradiction\tcontradiction\tcontradiction\tcontradiction\tcontradiction\n"
)
MNLI_TEST = MNLI_HEAD + "\n" + "0\t31\t31n\tfiction\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tHe said.\tHe spoke.\n"
QQP_TRAIN = (
    "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
    '133273\t213221\t213222\tHow is the life of a math student? Could you describe your own experiences?\t'
    "Which level of prepration is enough for the exam jlpt5?\t0\n"
    '402555\t536040\t536041\tHow do I control my horny emotions?\tHow do you control your horniness?\t1\n'
)
QQP_TEST = "id\tquestion1\tquestion2\n0\tWhy am I mentally very lonely?\tHow can I fix \"loneliness?\n"
QNLI_DEV = (
    "index\tquestion\tsentence\tlabel\n"
    "0\tWhat came into force after the new constitution was herald?\t"
    "As of that day, the new constitution heralding the Second Republic came into force.\tentailment\n"
    "1\tWhat is the first major city in the stream of the Rhine?\t"
    "The most important tributaries in this area are the Ill below of Strasbourg.\tnot_entailment\n"
)
RTE_TRAIN = (
    "index\tsentence1\tsentence2\tlabel\n"
    "0\tNo Weapons of Mass Destruction Found in Iraq Yet.\tWeapons of Mass Destruction Found in Iraq.\tnot_entailment\n"
)
RTE_TEST = "index\tsentence1\tsentence2\n0\tMangla was summoned.\tMangla was summoned to court.\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sst2_dev_reads_every_sentence_with_its_label(shared_data_dir):
    task = glue.get_task("sst-2")
    examples = glue.read_examples(task, shared_data_dir / "sst2" / "dev.tsv", labeled=True)
    assert len(examples) == 872
    assert [e.label for e in examples].count("1") == 444
    assert examples[0].text_a == "it 's a charming and often affecting journey . "
    assert examples[0].text_b is None


def test_mrpc_train_skips_the_byte_order_mark_and_keeps_quotes(shared_data_dir):
    task = glue.get_task("mrpc")
    examples = glue.read_examples(task, shared_data_dir / "glue_mrpc" / "train.tsv", labeled=True)
    assert len(examples) == 3668
    assert [e.label for e in examples].count("1") == 2474
    assert examples[0].text_a.startswith('Amrozi accused his brother, whom he called "the witness"')
    assert examples[0].text_b.startswith('Referring to him as only "the witness"')
    # No id column in MRPC train: ids name the file and line.
    assert examples[0].guid == "train.tsv:2"


def test_mrpc_test_file_has_no_labels_and_keeps_the_submission_index(shared_data_dir):
    task = glue.get_task("mrpc")
    examples = glue.read_examples(task, shared_data_dir / "glue_mrpc" / "test.tsv", labeled=False)
    assert len(examples) == 1725
    assert [e.guid for e in examples[:3]] == ["0", "1", "2"]
    assert all(e.label is None for e in examples)


def test_mrpc_test_file_is_rejected_where_labels_are_required(shared_data_dir):
    task = glue.get_task("mrpc")
    with pytest.raises(ValueError, match=r"test.tsv:1: .*lacks the column\(s\) \['Quality'\]"):
        glue.read_examples(task, shared_data_dir / "glue_mrpc" / "test.tsv", labeled=True)


def test_cola_train_without_header_and_test_with_header(tmp_path):
    task = glue.get_task("CoLA")
    train = glue.read_examples(task, write(tmp_path, "train.tsv", COLA_TRAIN), labeled=True)
    assert [(e.text_a, e.label) for e in train] == [
        ("Our friends won't buy this analysis, let alone the next one we propose.", "1"),
        ("They drank the pub.", "0"),
    ]
    test = glue.read_examples(task, write(tmp_path, "test.tsv", COLA_TEST), labeled=False)
    assert [(e.guid, e.text_a) for e in test] == [
        ("0", "Bill whistled past the house."),
        ("1", "The car honked its way down the road."),
    ]


def test_a_cola_train_file_with_a_header_is_an_error_saying_so(tmp_path):
    path = write(tmp_path, "train.tsv", "sentence_source\tlabel\tlabel_notes\tsentence\n" + COLA_TRAIN)
    with pytest.raises(ValueError, match=r"train.tsv:1: looks like a header .* cola train and dev files have none"):
        glue.read_examples(glue.get_task("cola"), path, labeled=True)


def test_stsb_scores_are_floats_and_the_task_is_regression(tmp_path):
    task = glue.get_task("sts-b")
    assert task.is_regression and task.num_classes == 1
    dev = glue.read_examples(task, write(tmp_path, "dev.tsv", STSB_DEV), labeled=True)
    assert [e.label for e in dev] == [5.0, 4.75]
    assert dev[1].text_b == "A child is riding a horse."
    test = glue.read_examples(task, write(tmp_path, "test.tsv", STSB_TEST), labeled=False)
    assert test[0].text_a == "A girl is styling her hair." and test[0].label is None
    assert task.label_name(3.14159) == "3.142"


def test_stsb_score_that_is_not_a_number_names_file_and_line(tmp_path):
    bad = STSB_DEV.replace("4.750", "high")
    with pytest.raises(ValueError, match=r"dev.tsv:3: score must be a number, got 'high'"):
        glue.read_examples(glue.get_task("stsb"), write(tmp_path, "dev.tsv", bad), labeled=True)


def test_mnli_label_is_the_last_column_in_train_and_dev(tmp_path):
    task = glue.get_task("mnli")
    assert task.labels == ("contradiction", "entailment", "neutral")
    train = glue.read_examples(task, write(tmp_path, "train.tsv", MNLI_TRAIN), labeled=True)
    assert train[0].label == "neutral"
    assert train[0].text_b == "Product and geography are what make cream skimming work. "
    dev = glue.read_examples(task, write(tmp_path, "dev_matched.tsv", MNLI_DEV), labeled=True)
    assert [e.label for e in dev] == ["neutral", "contradiction"]
    assert [task.label_id(e.label) for e in dev] == [2, 0]
    test = glue.read_examples(task, write(tmp_path, "test_matched.tsv", MNLI_TEST), labeled=False)
    assert (test[0].text_a, test[0].text_b) == ("He said.", "He spoke.")
    assert [name for _, name in task.predict_files] == ["MNLI-m.tsv", "MNLI-mm.tsv"]


def test_qqp_uses_the_id_column(tmp_path):
    task = glue.get_task("qqp")
    train = glue.read_examples(task, write(tmp_path, "train.tsv", QQP_TRAIN), labeled=True)
    assert [(e.guid, e.label) for e in train] == [("133273", "0"), ("402555", "1")]
    test = glue.read_examples(task, write(tmp_path, "test.tsv", QQP_TEST), labeled=False)
    assert test[0].text_b == 'How can I fix "loneliness?'


def test_qnli_and_rte_use_entailment_labels(tmp_path):
    qnli = glue.read_examples(glue.get_task("qnli"), write(tmp_path, "dev.tsv", QNLI_DEV), labeled=True)
    assert [e.label for e in qnli] == ["entailment", "not_entailment"]
    rte_task = glue.get_task("rte")
    rte = glue.read_examples(rte_task, write(tmp_path, "train.tsv", RTE_TRAIN), labeled=True)
    assert rte[0].label == "not_entailment" and rte_task.label_id(rte[0].label) == 1
    test = glue.read_examples(rte_task, write(tmp_path, "test.tsv", RTE_TEST), labeled=False)
    assert test[0].text_b == "Mangla was summoned to court."


def test_line_with_missing_field_names_file_line_and_expected_columns(tmp_path):
    text = "sentence\tlabel\ngood film \t1\nno tab here\n"
    with pytest.raises(ValueError, match=r"train.tsv:3: expected 2 tab-separated fields \(sentence, label\), found 1"):
        glue.read_examples(glue.get_task("sst-2"), write(tmp_path, "train.tsv", text), labeled=True)


def test_unknown_label_names_the_label_and_the_allowed_set(tmp_path):
    text = "sentence\tlabel\ngood film \t1\nbad film \tnegative\n"
    with pytest.raises(ValueError, match=r"train.tsv:3: unknown sst-2 label 'negative'; allowed: 0, 1"):
        glue.read_examples(glue.get_task("sst-2"), write(tmp_path, "train.tsv", text), labeled=True)


def test_windows_line_endings_and_trailing_blank_lines_are_accepted(tmp_path):
    text = "sentence\tlabel\r\ngood film \t1\r\nbad film \t0\r\n\r\n"
    examples = glue.read_examples(glue.get_task("sst-2"), write(tmp_path, "train.tsv", text), labeled=True)
    assert [(e.text_a, e.label) for e in examples] == [("good film ", "1"), ("bad film ", "0")]


def test_max_examples_stops_reading_early(shared_data_dir):
    task = glue.get_task("sst-2")
    examples = glue.read_examples(task, shared_data_dir / "sst2" / "train.tsv", labeled=True, max_examples=5)
    assert len(examples) == 5


def test_task_names_are_case_and_hyphen_insensitive_and_unknown_names_list_the_known_ones():
    assert glue.get_task("SST2") is glue.get_task("sst-2") is glue.get_task("sst_2")
    with pytest.raises(ValueError, match=r"Unknown --task_name 'squad'.*cola, sst-2, mrpc"):
        glue.get_task("squad")
