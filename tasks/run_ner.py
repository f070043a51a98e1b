r"""Fine-tunes, evaluates and predicts ALBERT for named-entity recognition.

Data are CoNLL column files (`tasks.conll`): a token per line, the tag in
the last column (IOB1, IOB2 or BIOES: --tag_scheme), blank lines between
sentences, `-DOCSTART-` lines skipped. Each word is tokenized on its own (as
HuggingFace's `is_split_into_words`); its first piece carries its tag and
the other pieces are left out of the loss. Sentences longer than
--max_seq_length are cut into overlapping windows (--window_stride) and every
word is predicted from the window where it has the most context, so no word
is dropped or counted twice (`keras_albert.token_labels`).

Writes to --output_dir:
  - the fine-tuned `AlbertTokenClassifier` as a preset with its tokenizer,
    and `task_spec.json` (tags in class-id order, tag scheme, sequence length
    and window stride; read it with `keras_albert.task_spec.load_task_spec`);
    `checkpoint.weights.h5` after every epoch;
  - `eval_results.json`: entity-level micro `precision`, `recall`, `f1`
    (seqeval's default mode, i.e. conlleval), per entity type
    `<type>_precision/_recall/_f1`, token `accuracy`, and counts;
  - `predictions.txt`: --eval_file in CoNLL columns token, gold, predicted
    (`conlleval -d '\t'` on it gives eval_results' numbers);
  - `test_predictions.txt` for --do_predict: --predict_file's tokens (first
    column; the file may have no tags) and the predicted tag.

Example (a tiny model from scratch on WNUT-17, a cased vocabulary since
capitals are most of what such a model can learn about names; ~5 minutes on
2 busy CPU cores, dev entity F1 0.065 against 0 for the all-O baseline):

    cut -f1 wnut17train.conll | awk 'BEGIN{ORS=""} /^$/{print "\n"; next} {print $0" "}' > wnut.txt
    python -m keras_albert.sentencepiece_trainer --input wnut.txt,wikitext2/valid.txt \
      --vocab_size 4000 --model_prefix spm_cased/spiece --lower_case false --seed 0
    echo '{"vocabulary_size": 4000, "num_layers": 2, "num_heads": 2, "embedding_dim": 64,
      "hidden_dim": 128, "intermediate_dim": 256, "dropout": 0.1,
      "attention_dropout": 0.1, "max_sequence_length": 64}' > tiny.json
    python -m tasks.run_ner \
      --train_file=wnut17train.conll --eval_file=emerging.dev.conll \
      --spm_model_file=spm_cased/spiece.model --do_lower_case=false \
      --albert_config_file=tiny.json --output_dir=/tmp/wnut \
      --do_train --do_eval --max_seq_length=64 --train_batch_size=32 \
      --eval_batch_size=64 --num_train_epochs=6 --learning_rate=2e-3
"""

import os

import numpy as np
from absl import flags, logging
from seqeval.metrics import accuracy_score, classification_report
from seqeval.metrics.sequence_labeling import get_entities

import keras_albert_cli
import keras_albert
from keras_albert import task_spec, token_labels
from . import common, conll

common.define_common_flags()
# --train_file (its tags make the label set), --eval_file and --predict_file
# (only its first column is read) are common flags.
flags.DEFINE_enum(
    "tag_scheme",
    None,
    list(token_labels.TAG_SCHEMES),
    "Tag scheme of the files. Default: IOB2 when training, else the scheme saved with --preset.",
)
flags.DEFINE_integer(
    "window_stride",
    None,
    "Pieces between the starts of consecutive windows of a sentence longer than "
    "--max_seq_length (BERT's doc_stride). Default: half a window.",
)
FLAGS = flags.FLAGS

PREDICTIONS_FILE = "predictions.txt"
TEST_PREDICTIONS_FILE = "test_predictions.txt"


def _read(path, flag_name, scheme, max_sentences, with_tags=True):
    if not path:
        raise ValueError(f"--{flag_name} is required.")
    if not os.path.isfile(path):
        raise ValueError(f"--{flag_name}={path} does not exist.")
    sentences = conll.read_conll(path, scheme=scheme, with_tags=with_tags)[:max_sentences]
    if not sentences:
        raise ValueError(f"--{flag_name}={path} has no sentences.")
    logging.info("Read %d sentences (%d words) from %s", len(sentences), sum(len(s.words) for s in sentences), path)
    return sentences


def tag_ids(sentences, labels, path):
    """Class ids of the sentences' tags; an unknown tag names itself and `labels`."""
    index = {label: i for i, label in enumerate(labels)}
    ids = []
    for sentence in sentences:
        for tag, line in zip(sentence.tags, sentence.line_numbers):
            if tag not in index:
                raise ValueError(
                    f"{path}:{line}: tag {tag!r} is not in the model's label set "
                    f"(from the training file): {labels}"
                )
        ids.append([index[tag] for tag in sentence.tags])
    return ids


def encode_sentences(tokenizer, sentences, max_seq_length, window_stride, split):
    """Model windows of every sentence; counts and logs what needed care.

    Returns:
        `(features, windows)`: `features` as `common.encode_segments` gives
        them (one example per window, in sentence order) plus `stats`, and
        the list of `TokenWindow`s of each sentence.
    """
    pieces, num_unknown_words = token_labels.tokenize_words(
        tokenizer, [word for sentence in sentences for word in sentence.words]
    )
    windows, start = [], 0
    for sentence in sentences:
        end = start + len(sentence.words)
        windows.append(
            token_labels.windows_for_words(
                pieces[start:end], max_seq_length, tokenizer.cls_token_id, tokenizer.sep_token_id, window_stride
            )
        )
        start = end
    all_windows = [window for sentence_windows in windows for window in sentence_windows]
    stats = {
        "num_sentences": len(sentences),
        "num_windows": len(all_windows),
        "num_split_sentences": sum(len(sentence_windows) > 1 for sentence_windows in windows),
        "num_unknown_words": num_unknown_words,
    }
    if stats["num_split_sentences"]:
        logging.warning(
            "%s: %d of %d sentences are longer than --max_seq_length=%d and were cut into "
            "overlapping windows (%d windows in all); each word is predicted once.",
            split, stats["num_split_sentences"], len(sentences), max_seq_length, len(all_windows),
        )
    if num_unknown_words:
        logging.warning(
            "%s: %d words tokenize to no pieces (e.g. a no-break space) and are tokenized "
            "as <unk>; they keep their tags.", split, num_unknown_words,
        )
    features = {
        "token_ids": [window.token_ids for window in all_windows],
        "segment_ids": [np.zeros_like(window.token_ids) for window in all_windows],
        "padding_mask": [np.ones_like(window.token_ids) for window in all_windows],
        "stats": stats,
    }
    return features, windows


def predict_tags(model, tokenizer, sentences, spec, batch_size, split):
    """The predicted tag of every word of every sentence, and the encoding stats."""
    labels = spec.labels
    features, windows = encode_sentences(tokenizer, sentences, spec.sequence_length, spec.window_stride, split)
    logits = common.predict_in_length_order(model, features, batch_size, spec.sequence_length)
    class_ids = np.argmax(logits, axis=-1)
    predicted, start = [], 0
    for sentence, sentence_windows in zip(sentences, windows):
        end = start + len(sentence_windows)
        word_class_ids = token_labels.merge_window_predictions(
            sentence_windows, class_ids[start:end], len(sentence.words)
        )
        predicted.append([labels[i] for i in word_class_ids])
        start = end
    return predicted, features["stats"]


def entity_metrics(gold_tags, predicted_tags):
    """Entity-level scores of tag sequences, as seqeval's default mode (conlleval).

    Returns:
        dict: micro `precision`, `recall`, `f1`; `<type>_precision`,
        `<type>_recall`, `<type>_f1` per entity type; token `accuracy`;
        `num_gold_entities`, `num_predicted_entities`.
    """
    report = classification_report(gold_tags, predicted_tags, output_dict=True, zero_division=0)
    micro = report.pop("micro avg")
    results = {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "accuracy": float(accuracy_score(gold_tags, predicted_tags)),
        "num_gold_entities": int(micro["support"]),
        "num_predicted_entities": len(get_entities(list(predicted_tags))),
    }
    for entity_type, scores in report.items():
        if entity_type not in ("macro avg", "weighted avg"):
            for name, key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
                results[f"{entity_type}_{name}"] = float(scores[key])
    return results


def _labels_and_scheme(config, tag_scheme):
    """The label set and tag scheme: from --train_file, else saved with --preset.

    `tag_scheme` is --tag_scheme (None: the preset's, or IOB2 to train).
    """
    if config.do_train:
        scheme = tag_scheme or "IOB2"
        sentences = _read(config.train_file, "train_file", scheme, config.max_train_examples)
        labels = token_labels.label_list_from_tags((sentence.tags for sentence in sentences), scheme)
        saved = None
        if config.preset and not config.init_checkpoint and os.path.isdir(config.preset):
            saved = task_spec.load_task_spec(config.preset, required=False)
        if saved and list(saved.labels) != labels:
            raise ValueError(
                f"--preset={config.preset} was trained on the labels {list(saved.labels)}, --train_file has "
                f"{labels}. To train a new head on its backbone pass --init_checkpoint={config.preset}."
            )
        return labels, scheme, sentences
    if not config.preset or not os.path.isdir(config.preset):
        raise ValueError("Without --do_train, pass --preset=<output_dir of a training run> (it holds task_spec.json).")
    saved = task_spec.load_task_spec(config.preset)
    if not isinstance(saved, task_spec.TokenClassificationSpec):
        raise ValueError(f"--preset={config.preset} holds a {saved.TASK!r} model, not a token classifier.")
    labels, scheme = list(saved.labels), saved.tag_scheme
    if tag_scheme and tag_scheme != scheme:
        raise ValueError(f"--tag_scheme={tag_scheme}, but --preset={config.preset} was trained on {scheme} tags.")
    return labels, scheme, None


@common.stops_cleanly
def main(argv):
    del argv
    config = common.RunConfig.from_flags(FLAGS)
    labels, scheme, train_sentences = _labels_and_scheme(config, FLAGS.tag_scheme)
    logging.info("%d labels (%s): %s", len(labels), scheme, labels)
    spec = task_spec.TokenClassificationSpec(
        labels=tuple(labels), tag_scheme=scheme, sequence_length=FLAGS.max_seq_length,
        window_stride=FLAGS.window_stride,
    )
    # Every input file is read and checked before any model is built.
    if config.do_eval:
        eval_sentences = _read(config.eval_file, "eval_file", scheme, config.max_eval_examples)
        tag_ids(eval_sentences, labels, config.eval_file)
    if config.do_predict:
        predict_sentences = _read(
            config.predict_file, "predict_file", scheme, config.max_predict_examples, with_tags=False
        )
    strategy = common.watch_workers(common.configure_runtime(config))
    tokenizer = common.load_tokenizer(config)
    with strategy.scope():
        model = common.build_task_model(
            keras_albert.AlbertTokenClassifier, config, spec.sequence_length, num_classes=len(labels)
        )
    common.check_vocabulary(tokenizer, model.backbone)

    if config.do_train:
        features, windows = encode_sentences(
            tokenizer, train_sentences, spec.sequence_length, spec.window_stride, "train"
        )
        window_label_ids = [
            token_labels.window_labels(window, ids)
            for sentence_windows, ids in zip(windows, tag_ids(train_sentences, labels, config.train_file))
            for window in sentence_windows
        ]
        dataset = common.training_dataset(
            features,
            window_label_ids,
            config.train_batch_size,
            spec.sequence_length,
            seed=config.seed,
            label_padding_value=token_labels.IGNORE_LABEL,
        )
        steps_per_epoch = common.num_length_bucketed_batches(features, config.train_batch_size, spec.sequence_length)
        # The head's default loss and accuracy leave out IGNORE_LABEL (off
        # words' first pieces): they average over words. Entity F1 is --do_eval's.
        common.train_model(model, dataset, steps_per_epoch, config, strategy)
        common.save_trained_model(model, config.output_dir, tokenizer, spec)

    if config.do_eval:
        predicted, stats = predict_tags(model, tokenizer, eval_sentences, spec, config.eval_batch_size, "eval")
        results = entity_metrics([sentence.tags for sentence in eval_sentences], predicted)
        results.update(stats)
        common.write_eval_results(config.output_dir, results)
        conll.write_conll(
            os.path.join(config.output_dir, PREDICTIONS_FILE),
            [(sentence.words, sentence.tags, tags) for sentence, tags in zip(eval_sentences, predicted)],
        )

    if config.do_predict:
        predicted, _ = predict_tags(
            model, tokenizer, predict_sentences, spec, config.predict_batch_size, "predict"
        )
        os.makedirs(config.output_dir, exist_ok=True)
        conll.write_conll(
            os.path.join(config.output_dir, TEST_PREDICTIONS_FILE),
            [(sentence.words, tags) for sentence, tags in zip(predict_sentences, predicted)],
        )


def run_command():
    """The command line: `python -m` this module, or its console script."""
    keras_albert_cli.run(main)


if __name__ == "__main__":
    run_command()
